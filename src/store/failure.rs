//! The retry-or-dead-letter decision, shared by every backend so that they agree.

use chrono::{DateTime, Utc};
use rand::Rng;

use crate::clock::after;
use crate::retry::BackoffPolicy;

/// What to do with a job whose attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureDecision {
    RetryAt(DateTime<Utc>),
    DeadLetter,
}

/// `attempts` counts the attempts made so far, the failed one included; a job may make
/// `max_retries + 1` attempts in all.
pub fn decide_failure<R: Rng + ?Sized>(
    attempts: i32,
    max_retries: i32,
    permanent: bool,
    policy: &BackoffPolicy,
    now: DateTime<Utc>,
    rng: &mut R,
) -> FailureDecision {
    if permanent || attempts > max_retries {
        FailureDecision::DeadLetter
    } else {
        FailureDecision::RetryAt(after(now, policy.delay(attempts, rng)))
    }
}

/// The `error` a rescue leaves on a job whose claim it gave back unstarted.
pub const UNSTARTED: &str = "given back unstarted: its claim was queued on a worker that stopped";

/// Whether a rescue gives a claim back without counting its attempt: the claim was
/// queued where it was held (never known to start), and the job has had fewer than
/// [`MAX_UNSTARTED_RETURNS`](super::MAX_UNSTARTED_RETURNS) such free returns.
pub fn gives_back_unstarted(claim_queued: bool, unstarted_returns: i32) -> bool {
    claim_queued && unstarted_returns < super::MAX_UNSTARTED_RETURNS
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;
    use crate::store::MAX_UNSTARTED_RETURNS;

    const NO_JITTER: BackoffPolicy = BackoffPolicy { base_ms: 1_000, max_ms: 60_000, jitter: 0.0 };

    fn decide(attempts: i32, max_retries: i32, permanent: bool, now: DateTime<Utc>) -> FailureDecision {
        decide_failure(attempts, max_retries, permanent, &NO_JITTER, now, &mut StdRng::seed_from_u64(1))
    }

    #[test]
    fn a_failure_with_retries_left_is_retried_after_its_backoff() {
        let now = Utc::now();
        let secs = |s| FailureDecision::RetryAt(now + chrono::Duration::seconds(s));
        assert_eq!(decide(1, 3, false, now), secs(1));
        assert_eq!(decide(2, 3, false, now), secs(2));
        assert_eq!(decide(3, 3, false, now), secs(4), "the last retry allowed is still a retry");
    }

    #[test]
    fn a_failure_past_its_last_retry_is_dead_lettered() {
        let now = Utc::now();
        assert_eq!(decide(4, 3, false, now), FailureDecision::DeadLetter);
        assert_eq!(decide(9, 3, false, now), FailureDecision::DeadLetter);
        assert_eq!(decide(1, 0, false, now), FailureDecision::DeadLetter, "no retries: one attempt in all");
    }

    #[test]
    fn a_permanent_failure_is_dead_lettered_with_retries_left() {
        assert_eq!(decide(1, 3, true, Utc::now()), FailureDecision::DeadLetter);
    }

    #[test]
    fn only_a_queued_claim_goes_back_free_and_only_a_bounded_number_of_times() {
        assert!(gives_back_unstarted(true, 0));
        assert!(gives_back_unstarted(true, MAX_UNSTARTED_RETURNS - 1));
        assert!(!gives_back_unstarted(true, MAX_UNSTARTED_RETURNS), "the bound reached: the attempt counts");
        assert!(!gives_back_unstarted(false, 0), "a claim that may have started counts its attempt");
    }
}
