//! An operator's writes: cancel, requeue, bulk actions, retention.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::job::Job;
use crate::store::{BulkAction, PrunePolicy, Pruned, StoreResult};
use uuid::Uuid;

/// What an operator (or retention) does to jobs.
#[async_trait]
pub trait Operator: Send + Sync + 'static {
    /// Cancels a job that has not finished. A running attempt is recorded `CANCELLED`.
    async fn cancel(&self, job_id: Uuid, now: DateTime<Utc>) -> StoreResult<Job>;

    /// Puts a dead-lettered job back to `PENDING` with a fresh set of retries.
    async fn requeue_dead_letter(&self, job_id: Uuid, now: DateTime<Utc>) -> StoreResult<Job>;

    /// Applies `params.action` to those of `params.job_ids` it fits
    /// ([`BulkAction::statuses`]), in one transaction of a few statements; the others
    /// are left alone. Answers the ids it changed.
    async fn apply_bulk(&self, params: ApplyBulkParams, now: DateTime<Utc>) -> StoreResult<Vec<Uuid>>;

    /// Retention: deletes at most `policy.batch` rows of each kind older than its
    /// cutoff — finished jobs (with their executions), dead-lettered jobs (with their
    /// queue entries), health logs — in short statements that never wait on a row
    /// another transaction holds. A job that a job still waiting or running depends on
    /// is kept. On a shared database one node prunes at a time: a caller that finds
    /// another pruning gets `Pruned { skipped: true, .. }`.
    async fn prune(&self, policy: PrunePolicy) -> StoreResult<Pruned>;
}

/// An operator's action and the jobs it is for, for [`Operator::apply_bulk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyBulkParams {
    pub action: BulkAction,
    pub job_ids: Vec<Uuid>,
}
