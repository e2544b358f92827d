//! An operator's writes ([`Operator`](crate::store::Operator)) on Postgres.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{PgStore, rows, sql};
use crate::job::{Job, JobStatus};
use crate::store::{ApplyBulkParams, BulkAction, Operator, PrunePolicy, Pruned, StoreError, StoreResult};

#[async_trait]
impl Operator for PgStore {
    async fn cancel(&self, job_id: Uuid, now: DateTime<Utc>) -> StoreResult<Job> {
        let mut tx = self.begin().await?;
        let job = self.job_for_update(&mut tx, job_id).await?;
        if job.status.is_terminal() {
            tx.rollback().await?;
            return Err(StoreError::Conflict {
                job_id,
                status: job.status,
                reason: "only an unfinished job can be cancelled",
            });
        }
        if let Some(execution_id) = job.current_execution_id {
            let worker_id =
                job.worker_id.ok_or_else(|| StoreError::Corrupt(format!("running job {job_id} has no worker")))?;
            sqlx::query(sql::CANCEL_EXECUTION)
                .bind(execution_id)
                .bind(now)
                .bind(job_id)
                .bind(worker_id)
                .bind(job.attempts)
                .bind(job.started_at)
                .execute(&mut *tx)
                .await?;
            self.sent(1);
        }
        let row = sqlx::query(sql::CANCEL).bind(job_id).bind(now).fetch_one(&mut *tx).await?;
        self.sent(1);
        let cancelled = rows::job(&row)?;
        self.settle_dependents(&mut tx, &[job_id], now).await?;
        self.commit(tx).await?;
        Ok(cancelled)
    }

    async fn requeue_dead_letter(&self, job_id: Uuid, now: DateTime<Utc>) -> StoreResult<Job> {
        let mut tx = self.begin().await?;
        let job = self.job_for_update(&mut tx, job_id).await?;
        if job.status != JobStatus::DeadLetter {
            tx.rollback().await?;
            return Err(StoreError::Conflict {
                job_id,
                status: job.status,
                reason: "only a dead-lettered job can be requeued",
            });
        }
        sqlx::query(sql::REQUEUE_DEAD_LETTER_ENTRY).bind(job_id).bind(now).execute(&mut *tx).await?;
        let row = sqlx::query(sql::REQUEUE_DEAD_LETTER).bind(job_id).bind(now).fetch_one(&mut *tx).await?;
        self.sent(2);
        let requeued = rows::job(&row)?;
        self.commit(tx).await?;
        Ok(requeued)
    }

    async fn apply_bulk(&self, params: ApplyBulkParams, now: DateTime<Utc>) -> StoreResult<Vec<Uuid>> {
        let ApplyBulkParams { action, mut job_ids } = params;
        if job_ids.is_empty() {
            return Ok(Vec::new());
        }
        job_ids.sort();
        job_ids.dedup();
        let statement = match action {
            BulkAction::Cancel => sql::APPLY_BULK_CANCEL,
            BulkAction::RetryNow => sql::APPLY_BULK_RETRY_NOW,
            BulkAction::Requeue => sql::APPLY_BULK_REQUEUE,
        };
        let mut tx = self.begin().await?;
        let changed: Vec<Uuid> = sqlx::query_scalar(statement).bind(&job_ids).bind(now).fetch_all(&mut *tx).await?;
        self.sent(1);
        if action == BulkAction::Cancel {
            self.settle_dependents(&mut tx, &changed, now).await?;
        }
        self.commit(tx).await?;
        Ok(changed)
    }

    async fn prune(&self, policy: PrunePolicy) -> StoreResult<Pruned> {
        let mut tx = self.begin().await?;
        let ours: bool = sqlx::query_scalar(sql::PRUNE_TRY_LOCK).fetch_one(&mut *tx).await?;
        self.sent(1);
        if !ours {
            tx.rollback().await?;
            return Ok(Pruned { skipped: true, ..Pruned::default() });
        }
        let limit = i64::from(policy.batch);
        let mut pruned = Pruned::default();
        for (cutoff, statement, count) in [
            (policy.finished_before, sql::PRUNE_FINISHED, &mut pruned.finished),
            (policy.dead_letters_before, sql::PRUNE_DEAD_LETTERS, &mut pruned.dead_letters),
            (policy.health_logs_before, sql::PRUNE_HEALTH_LOGS, &mut pruned.health_logs),
            (policy.contexts_before, sql::PRUNE_CONTEXTS, &mut pruned.contexts),
        ] {
            if let Some(cutoff) = cutoff {
                *count = sqlx::query(statement).bind(cutoff).bind(limit).execute(&mut *tx).await?.rows_affected();
                self.sent(1);
            }
        }
        self.commit(tx).await?;
        Ok(pruned)
    }
}
