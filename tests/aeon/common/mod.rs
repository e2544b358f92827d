//! Fixtures shared by the integration tests: a database of either backend for each
//! test ([`backend`]), a manual clock, and helpers.

pub mod actors;
pub mod api;
pub mod backend;
pub mod browser;
pub mod cluster;
pub mod postgres;
pub mod redis;

pub use backend::{AnyStore, Backend, TestDb};
pub(crate) use backend::{on_every_backend, postgres_only};
pub use postgres::database_url;

use std::sync::Arc;

use aeon::clock::{ManualClock, SharedClock};
use aeon::job::{JobRequest, NewJob, SubmitLimits};
use aeon::retry::BackoffPolicy;
use aeon::store::{ClaimRequest, ClaimedJob};
use rstest::fixture;
use serde_json::{Value, json};
use uuid::Uuid;

#[fixture]
pub fn clock() -> ManualClock {
    ManualClock::starting_now()
}

pub fn shared(clock: &ManualClock) -> SharedClock {
    Arc::new(clock.clone())
}

/// Backoff without jitter: delays are exactly 1 s, 2 s, 4 s, ...
pub fn exact_backoff() -> BackoffPolicy {
    BackoffPolicy { base_ms: 1_000, max_ms: 60_000, jitter: 0.0 }
}

/// A valid job of `job_type` with `payload`.
pub fn new_job(job_type: &str, payload: Value) -> NewJob {
    JobRequest::new(job_type, payload).validate(&SubmitLimits::default()).expect("valid job")
}

pub fn job_with(f: impl FnOnce(&mut JobRequest)) -> NewJob {
    let mut request = JobRequest::new("noop", json!({}));
    f(&mut request);
    request.validate(&SubmitLimits::default()).expect("valid job")
}

/// A claim for the job types the tests submit.
pub fn claim_request(worker_id: Uuid, limit: u32, lease: std::time::Duration) -> ClaimRequest {
    ClaimRequest::one(worker_id, limit, lease, ["echo", "noop"].map(String::from).into())
}

pub const LEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// Claims up to `limit` jobs for a fresh worker.
pub async fn claim(store: &AnyStore, limit: u32, clock: &ManualClock) -> Vec<ClaimedJob> {
    let request = claim_request(Uuid::new_v4(), limit, LEASE);
    store.claim(request, aeon::clock::Clock::now(clock)).await.expect("claim")
}
