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

pub mod answers;
mod cluster;
mod contexts;
mod driver_error;
mod failure;
mod open;
pub mod postgres;
mod snapshots;
pub mod sqlite;
mod types;

pub use cluster::{Fence, NodeRecord, NodeStatus, RESCUE_LEASE, RESTARTED};
pub use contexts::{Checkpoint, MAX_CHECKPOINT_BYTES, PointKeys, decode_point, distinct_points, encode_point};
pub use failure::{FailureDecision, UNSTARTED, decide_failure, gives_back_unstarted};
pub use open::{Backend, open};
pub use snapshots::*;
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

impl StoreError {
    /// A submit naming a dependency that does not exist, refused whole. The field is
    /// `depends_on` for a single job and `jobs[i].depends_on` for the first job of a
    /// batch that names it, as the submitter numbered them.
    pub fn unknown_dependency(jobs: &[NewJob], missing: Uuid) -> StoreError {
        let field = match jobs.iter().position(|j| j.depends_on.contains(&missing)) {
            Some(i) if jobs.len() > 1 => format!("jobs[{i}].depends_on"),
            _ => "depends_on".to_string(),
        };
        StoreError::Invalid(ValidationError::new(field, format!("job {missing} does not exist")))
    }
}

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

    /// Voids every claim the workers of node `node_id` hold, when it has been silent
    /// since before `silent_since` and `fence` still holds: the node and its workers
    /// are marked `DEAD`, each attempt is recorded `CRASHED` and the job retried or
    /// dead-lettered. `None` when the fence no longer holds (nothing changed); no
    /// jobs when the node spoke again meanwhile.
    async fn rescue_node(
        &self,
        node_id: &str,
        silent_since: DateTime<Utc>,
        fence: Fence,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<Rescued>>>;

    /// Writes a node's row: its address and status, last seen `now`, if the row is
    /// still `node.incarnation`'s. `false`: another process has taken the node id over
    /// (see [`Store::take_node`]); nothing was written.
    async fn heartbeat_node(&self, node: NodeRecord, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Takes node id `node.node_id` for the process `node.incarnation`, provided its row
    /// is still as the caller saw it (`seen`; `None`: there was no row), and voids at
    /// once what an earlier process of that id left behind: its workers not stopped
    /// are marked `DEAD`, and each claim they hold is settled as a crashed attempt
    /// (retried or dead-lettered) or given back if it never started. Call it before
    /// this process registers any worker. `None`: the row moved since it was read
    /// (nothing changed); read it again.
    async fn take_node(
        &self,
        node: NodeRecord,
        seen: Option<NodeRecord>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<Rescued>>>;

    /// Whether a lock proves that no other process uses this store (SQLite's file
    /// lock): a node row that looks alive can then only be a process that is gone.
    fn exclusive(&self) -> bool {
        false
    }

    /// Every node's row, by id.
    async fn list_nodes(&self) -> StoreResult<Vec<NodeRecord>>;

    /// Takes lease `name` for `holder` until `until` if it is free, expired or already
    /// `holder`'s; answers its fencing token then (a new, larger one when the lease
    /// changed hands), `None` while another holds it.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>>;

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

    /// The ids of a page of jobs, as [`Store::list_jobs`] would answer them.
    async fn job_ids(&self, filter: JobFilter) -> StoreResult<Vec<Uuid>>;

    /// How many jobs match `filter`, counting at most `filter.limit` (the count stops
    /// there, so a preview over millions of rows stays bounded).
    async fn count_jobs(&self, filter: JobFilter) -> StoreResult<u64>;

    /// Applies `action` to those of `job_ids` it fits ([`BulkAction::statuses`]), in
    /// one transaction of a few statements; the others are left alone. Answers the
    /// ids it changed.
    async fn apply_bulk(&self, action: BulkAction, job_ids: Vec<Uuid>, now: DateTime<Utc>) -> StoreResult<Vec<Uuid>>;

    /// A worker's last `limit` samples of one health metric, newest first (on the
    /// `(worker_id, metric_type, logged_at DESC)` index).
    async fn health_history(&self, worker_id: Uuid, metric_type: &str, limit: u32) -> StoreResult<Vec<HealthSample>>;

    /// Ready jobs (`PENDING`) by type: the queue depth of each.
    async fn pending_by_type(&self) -> StoreResult<Vec<(String, i64)>>;

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

    /// Retention: deletes at most `policy.batch` rows of each kind older than its
    /// cutoff — finished jobs (with their executions), dead-lettered jobs (with their
    /// queue entries), health logs — in short statements that never wait on a row
    /// another transaction holds. A job that a job still waiting or running depends on
    /// is kept. On a shared database one node prunes at a time: a caller that finds
    /// another pruning gets `Pruned { skipped: true, .. }`.
    async fn prune(&self, policy: PrunePolicy) -> StoreResult<Pruned>;

    /// Writes a snapshot row as given (its JSON texts are stored as they are; on
    /// Postgres they must be valid JSON).
    async fn insert_snapshot(&self, snapshot: SnapshotRow) -> StoreResult<()>;

    /// Snapshots without their state, newest first (`created_at`, then id).
    async fn list_snapshots(&self, filter: SnapshotFilter) -> StoreResult<Vec<SnapshotSummary>>;

    /// One snapshot, whole.
    async fn get_snapshot(&self, snapshot_id: Uuid) -> StoreResult<Option<SnapshotRow>>;

    /// The newest snapshot, whole; of the node `node_id` names when given.
    async fn latest_snapshot(&self, node_id: Option<String>) -> StoreResult<Option<SnapshotRow>>;

    /// Deletes snapshots (retention). Answers how many rows went.
    async fn delete_snapshots(&self, snapshot_ids: Vec<Uuid>) -> StoreResult<u64>;

    /// Saves a running attempt's checkpoint as its job's latest, replacing the one
    /// before. Written only while `claim`'s execution holds the job (`Stale`
    /// otherwise, nothing written): a lost attempt cannot overwrite its successor's.
    async fn save_checkpoint(
        &self,
        claim: ClaimRef,
        data: serde_json::Value,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied>;

    /// The latest checkpoint any attempt of the job saved.
    async fn last_checkpoint(&self, job_id: Uuid) -> StoreResult<Option<Checkpoint>>;

    /// The embedded vector store: writes execution contexts, replacing those with the
    /// same execution id, in one transaction.
    async fn put_contexts(&self, points: Vec<crate::vector::ContextPoint>) -> StoreResult<()>;

    /// The embedded vector store: exact cosine search over every stored context the
    /// query's filters let through, best first.
    async fn search_contexts(&self, query: crate::vector::SimilarQuery) -> StoreResult<Vec<crate::vector::Scored>>;

    /// The embedded vector store: a job's contexts, oldest attempt first.
    async fn job_contexts(&self, job_id: Uuid) -> StoreResult<Vec<crate::vector::ContextPoint>>;
}
