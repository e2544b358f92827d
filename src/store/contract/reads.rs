//! Reads: what the API, the dashboard, the CLI and snapshots look at, snapshot rows
//! included. Nothing here writes. The node hands these, and only these, to its API
//! and snapshots (`Node::reads`, a watched `&dyn Reads`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::job::{Execution, Job, JobStatus};
use crate::store::{
    Checkpoint, DeadLetter, Edges, HealthSample, JobFilter, NodeRecord, SnapshotFilter, SnapshotRow, SnapshotSummary,
    StoreResult, WorkerRecord, WorkflowNode,
};
use uuid::Uuid;

/// What can be read, without writing.
#[async_trait]
pub trait Reads: Send + Sync + 'static {
    async fn get_job(&self, job_id: Uuid) -> StoreResult<Option<Job>>;

    /// What a job waits for, and what waits for it.
    async fn edges(&self, job_id: Uuid) -> StoreResult<Edges>;

    /// A root job and everything that depends on it, transitively (at most `limit`).
    async fn workflow(&self, root: Uuid, limit: u32) -> StoreResult<Vec<WorkflowNode>>;

    /// The attempts of a job, oldest first.
    async fn executions(&self, job_id: Uuid) -> StoreResult<Vec<Execution>>;

    /// A page of jobs, newest id first, after `filter.before` when given.
    async fn list_jobs(&self, filter: JobFilter) -> StoreResult<Vec<Job>>;

    /// The ids of a page of jobs, as [`Reads::list_jobs`] would answer them.
    async fn job_ids(&self, filter: JobFilter) -> StoreResult<Vec<Uuid>>;

    /// How many jobs match `filter`, counting at most `filter.limit` (the count stops
    /// there, so a preview over millions of rows stays bounded).
    async fn count_jobs(&self, filter: JobFilter) -> StoreResult<u64>;

    /// A worker's last `params.limit` samples of one health metric, newest first (on
    /// the `(worker_id, metric_type, logged_at DESC)` index).
    async fn health_history(&self, params: HealthHistoryParams) -> StoreResult<Vec<HealthSample>>;

    /// Ready jobs (`PENDING`) by type: the queue depth of each.
    async fn pending_by_type(&self) -> StoreResult<Vec<(String, i64)>>;

    /// Open dead-letter entries, newest first, older than entry `before` when given.
    async fn dead_letters(&self, limit: u32, before: Option<i64>) -> StoreResult<Vec<DeadLetter>>;

    /// How many jobs completed at or after `since`.
    async fn completed_since(&self, since: DateTime<Utc>) -> StoreResult<i64>;

    async fn list_workers(&self) -> StoreResult<Vec<WorkerRecord>>;

    /// Counts of jobs by status.
    async fn count_by_status(&self) -> StoreResult<Vec<(JobStatus, i64)>>;

    /// Every node's row, by id.
    async fn list_nodes(&self) -> StoreResult<Vec<NodeRecord>>;

    /// The latest checkpoint any attempt of the job saved.
    async fn last_checkpoint(&self, job_id: Uuid) -> StoreResult<Option<Checkpoint>>;

    /// Snapshots without their state, newest first (`created_at`, then id).
    async fn list_snapshots(&self, filter: SnapshotFilter) -> StoreResult<Vec<SnapshotSummary>>;

    /// One snapshot, whole.
    async fn get_snapshot(&self, snapshot_id: Uuid) -> StoreResult<Option<SnapshotRow>>;

    /// The newest snapshot, whole; of the node `node_id` names when given.
    async fn latest_snapshot(&self, node_id: Option<String>) -> StoreResult<Option<SnapshotRow>>;
}

/// Which samples [`Reads::health_history`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthHistoryParams {
    pub worker_id: Uuid,
    /// The metric, as [`crate::store::HealthLog::metric_type`] names it (`health_score`, …).
    pub metric_type: String,
    /// The most samples to answer.
    pub limit: u32,
}
