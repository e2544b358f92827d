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
