//! The sections of job submission and retry: `[jobs]` and `[retry]`.

use serde::{Deserialize, Serialize};

/// Limits and defaults applied to every submission (from the `[jobs]` config section).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubmitLimits {
    /// The largest payload accepted, measured as compact JSON.
    pub max_payload_bytes: usize,
    /// `timeout_ms` when the submitter gives none.
    pub default_timeout_ms: i32,
    /// `max_retries` when the submitter gives none.
    pub default_max_retries: i32,
    /// The most retries a submitter may ask for.
    pub max_retries_limit: i32,
}

impl Default for SubmitLimits {
    fn default() -> Self {
        Self {
            max_payload_bytes: 1024 * 1024,
            default_timeout_ms: 300_000,
            default_max_retries: 3,
            max_retries_limit: 100,
        }
    }
}

/// How long a failed job waits before it may run again (the `[retry]` config section).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffPolicy {
    /// Delay after the first failed attempt, in milliseconds.
    pub base_ms: u64,
    /// Upper bound of the exponential part, in milliseconds.
    pub max_ms: u64,
    /// Extra random delay, as a fraction (0..=1) of the exponential part.
    pub jitter: f64,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self { base_ms: 1_000, max_ms: 3_600_000, jitter: 0.2 }
    }
}
