//! An operator's writes ([`Operator`](crate::store::Operator)) on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::SqliteStore;
use crate::job::Job;
use crate::store::{BulkAction, Operator, PrunePolicy, Pruned, StoreResult};

#[async_trait]
impl Operator for SqliteStore {
    async fn cancel(&self, job_id: Uuid, now: DateTime<Utc>) -> StoreResult<Job> {
        self.cancel_job(job_id, now).await
    }

    async fn requeue_dead_letter(&self, job_id: Uuid, now: DateTime<Utc>) -> StoreResult<Job> {
        self.requeue_dead_job(job_id, now).await
    }

    async fn apply_bulk(&self, action: BulkAction, job_ids: Vec<Uuid>, now: DateTime<Utc>) -> StoreResult<Vec<Uuid>> {
        self.apply_bulk_action(action, job_ids, now).await
    }

    async fn prune(&self, policy: PrunePolicy) -> StoreResult<Pruned> {
        self.prune_old_rows(policy).await
    }
}
