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
