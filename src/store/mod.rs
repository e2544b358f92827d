//! The store: the contract every database backend fulfils.
//!
//! This module is the contract alone: the [`Store`] trait and the values that cross it
//! ([`types`]), in the runtime's own types, with no driver and no actor in sight. Each
//! backend lives in its own folder: [`postgres`] (production, several nodes) and
//! [`sqlite`] (the embedded default, one node); [`open`] picks one from a URL. Both
//! pass one conformance suite (`tests/aeon/`). Inside a node only the
//! [`StoreActor`](crate::actors::store::StoreActor) calls a store.
//!
//! Every method takes `now` from the caller's injected clock: scheduling, leases and
//! backoff follow simulated time in tests.

mod driver_error;
mod failure;
mod open;
pub mod postgres;
pub mod sqlite;
mod types;

pub use failure::{FailureDecision, decide_failure};
pub use open::{Backend, open};
pub use types::*;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::job::{Execution, Job, JobStatus, NewJob, ValidationError};

/// Why a store operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("job {0} not found")]
    NotFound(Uuid),
    #[error("job {job_id} is {status}: {reason}")]
    Conflict { job_id: Uuid, status: JobStatus, reason: &'static str },
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A row that this build cannot read (an unknown status, say).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database refused or could not be reached.
    /// (Its text carries the driver's message; it is not also reported as a source, so
    /// an error chain prints it once.)
    #[error("database error: {0}")]
    Database(Box<dyn std::error::Error + Send + Sync>),
    /// The StoreActor has stopped; the request was not delivered.
    #[error("store actor unavailable")]
    Unavailable,
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<crate::job::ParseStatusError> for StoreError {
    fn from(e: crate::job::ParseStatusError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Everything the runtime asks of a database. Batch methods take many items and run
/// each as one statement (or one transaction of a few), whatever the batch size.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;

    /// Whether the database answers.
    async fn ping(&self) -> StoreResult<()>;

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
    /// again from `run_at`, the attempt does not count, and its execution is recorded
    /// `CANCELLED` with `reason`.
    async fn release(
        &self,
        claims: Vec<ClaimRef>,
        run_at: DateTime<Utc>,
        reason: String,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Applied>>;

    /// Gives back claims whose handler never started (queued in a worker, claimed for
    /// a worker that died, or while the node drains): the job is `PENDING` again, the
    /// attempt does not count, and no execution row is written, since nothing ran.
    async fn give_back(&self, claims: Vec<ClaimRef>, now: DateTime<Utc>) -> StoreResult<Vec<Applied>>;

    /// Pushes the leases of the claims these executions hold to `until`.
    async fn extend_leases(&self, execution_ids: Vec<Uuid>, until: DateTime<Utc>) -> StoreResult<u64>;

    /// Takes back up to `limit` jobs whose lease expired: the attempt is recorded
    /// `CRASHED` and the job is retried or dead-lettered like any failure.
    async fn rescue_expired(&self, limit: u32, now: DateTime<Utc>) -> StoreResult<Vec<Rescued>>;

    /// Voids every claim a dead worker holds, at once rather than at lease expiry:
    /// each attempt is recorded `CRASHED` and the job retried or dead-lettered.
    async fn rescue_worker(&self, worker_id: Uuid, now: DateTime<Utc>) -> StoreResult<Vec<Rescued>>;

    /// Cancels a job that has not finished. A running attempt is recorded `CANCELLED`.
    async fn cancel(&self, job_id: Uuid, now: DateTime<Utc>) -> StoreResult<Job>;

    /// Puts a dead-lettered job back to `PENDING` with a fresh set of retries.
    async fn requeue_dead_letter(&self, job_id: Uuid, now: DateTime<Utc>) -> StoreResult<Job>;

    async fn get_job(&self, job_id: Uuid) -> StoreResult<Option<Job>>;

    /// What a job waits for, and what waits for it.
    async fn edges(&self, job_id: Uuid) -> StoreResult<Edges>;

    /// A root job and everything that depends on it, transitively (at most `limit`).
    async fn workflow(&self, root: Uuid, limit: u32) -> StoreResult<Vec<WorkflowNode>>;

    /// The attempts of a job, oldest first.
    async fn executions(&self, job_id: Uuid) -> StoreResult<Vec<Execution>>;

    /// A page of jobs, newest id first, after `filter.before` when given.
    async fn list_jobs(&self, filter: JobFilter) -> StoreResult<Vec<Job>>;

    /// Open dead-letter entries, newest first, older than entry `before` when given.
    async fn dead_letters(&self, limit: u32, before: Option<i64>) -> StoreResult<Vec<DeadLetter>>;

    /// How many jobs completed at or after `since`.
    async fn completed_since(&self, since: DateTime<Utc>) -> StoreResult<i64>;

    /// Inserts or updates workers' rows (heartbeats, load, health), in one statement.
    async fn upsert_workers(&self, workers: Vec<WorkerRecord>) -> StoreResult<()>;

    async fn list_workers(&self) -> StoreResult<Vec<WorkerRecord>>;

    /// Appends health metrics, in one statement.
    async fn write_health_logs(&self, logs: Vec<HealthLog>) -> StoreResult<()>;

    /// Counts of jobs by status.
    async fn count_by_status(&self) -> StoreResult<Vec<(JobStatus, i64)>>;
}
