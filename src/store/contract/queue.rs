//! The fenced hot path: what workers do to jobs. Every write that settles a claim
//! presents its execution id (the fencing token): a claim that moved on makes it
//! `Stale`, and nothing changes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::job::NewJob;
use crate::store::{
    Applied, ClaimRef, ClaimRequest, ClaimedJob, Completed, Completion, Enqueued, Failed, Failure, Rescued, StoreResult,
};
use uuid::Uuid;

/// The hot path: submit, claim, settle, renew, rescue.
#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Writes new jobs, all or nothing. A job whose idempotency key is already taken is
    /// not written: its entry in the answer names the existing job instead. A job with
    /// dependencies is `WAITING` until they finish (or `PENDING` / `CANCELLED` at once
    /// if they already have); a dependency that does not exist refuses the whole submit.
    async fn enqueue(&self, jobs: Vec<NewJob>, now: DateTime<Utc>) -> StoreResult<Vec<Enqueued>>;

    /// Claims ready jobs for the workers asking, up to each one's room, highest priority
    /// then oldest, in one statement; each claim gets a new execution id (its fencing
    /// token). The attempt's execution row is written when the attempt ends.
    async fn claim(&self, request: ClaimRequest, now: DateTime<Utc>) -> StoreResult<Vec<ClaimedJob>>;

    /// Completes jobs with their results. A completion whose execution no longer holds
    /// the claim is `Stale` and changes nothing.
    /// Dependents whose last dependency this completes become `PENDING` in the same
    /// transaction.
    async fn complete(&self, completions: Vec<Completion>, now: DateTime<Utc>) -> StoreResult<Completed>;

    /// Records failed attempts: each job is retried with backoff or dead-lettered.
    /// A dead-lettered job's dependents are cancelled (policy `cancel`, transitively)
    /// or released (policy `continue`) in the same transaction.
    async fn fail(&self, failures: Vec<Failure>, now: DateTime<Utc>) -> StoreResult<Failed>;

    /// Gives claims back (a draining node, a snoozing handler): the job is `PENDING`
    /// again from `params.run_at` (`now` when `None`), the attempt does not count, and
    /// its execution is recorded `CANCELLED` with `params.reason`.
    async fn release(&self, params: ReleaseParams, now: DateTime<Utc>) -> StoreResult<Vec<Applied>>;

    /// Gives back claims whose handler never started (queued in a worker, claimed for
    /// a worker that died, or while the node drains): the job is `PENDING` again, the
    /// attempt does not count, and no execution row is written, since nothing ran.
    async fn give_back(&self, claims: Vec<ClaimRef>, now: DateTime<Utc>) -> StoreResult<Vec<Applied>>;

    /// Pushes the leases of these claims, where their executions still hold them, to
    /// `until`. Each row is found by its job id (the primary key), so the cost does not
    /// grow with the number of running jobs.
    async fn extend_leases(&self, claims: Vec<ClaimRef>, until: DateTime<Utc>) -> StoreResult<u64>;

    /// Takes back up to `limit` jobs whose lease expired: the attempt is recorded
    /// `CRASHED` and the job is retried or dead-lettered like any failure.
    async fn rescue_expired(&self, limit: u32, now: DateTime<Utc>) -> StoreResult<Vec<Rescued>>;

    /// Voids every claim a dead worker holds, at once rather than at lease expiry:
    /// each attempt is recorded `CRASHED` and the job retried or dead-lettered.
    async fn rescue_worker(&self, worker_id: Uuid, now: DateTime<Utc>) -> StoreResult<Vec<Rescued>>;

    /// Saves a running attempt's checkpoint as its job's latest, replacing the one
    /// before. Written only while `params.claim`'s execution holds the job (`Stale`
    /// otherwise, nothing written): a lost attempt cannot overwrite its successor's.
    async fn save_checkpoint(&self, params: SaveCheckpointParams, now: DateTime<Utc>) -> StoreResult<Applied>;
}

/// What [`Queue::release`] gives back, and until when.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseParams {
    pub claims: Vec<ClaimRef>,
    /// When the jobs may run again; `None`: at once (`now`).
    pub run_at: Option<DateTime<Utc>>,
    /// Why, kept on each attempt's `CANCELLED` execution row.
    pub reason: String,
}

/// A running attempt's checkpoint, for [`Queue::save_checkpoint`].
#[derive(Debug, Clone, PartialEq)]
pub struct SaveCheckpointParams {
    /// The attempt saving it (its execution id fences the write).
    pub claim: ClaimRef,
    pub data: serde_json::Value,
}
