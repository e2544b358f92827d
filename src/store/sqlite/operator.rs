//! An operator's writes ([`Operator`](crate::store::Operator)) on SQLite: cancel,
//! dead-letter requeue, bulk actions, and retention (old finished jobs, dead letters,
//! health logs and contexts deleted in bounded batches; one node owns a SQLite file, so
//! no lock between nodes is needed, and the single writer runs each pass as one short
//! transaction between other writes). The error texts are Postgres's, word for word.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::codec::{opt_time, parse_uuid, time, uuid_list};
use super::{SqliteStore, rows, sql};
use crate::job::{Job, JobStatus};
use crate::store::{ApplyBulkParams, BulkAction, Operator, PrunePolicy, Pruned, StoreError, StoreResult};

#[async_trait]
impl Operator for SqliteStore {
    async fn cancel(&self, job_id: Uuid, now: DateTime<Utc>) -> StoreResult<Job> {
        let mut tx = self.begin().await?;
        let job = self.job_in(&mut tx, job_id).await?;
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
                .bind(execution_id.to_string())
                .bind(time(now))
                .bind(job_id.to_string())
                .bind(worker_id.to_string())
                .bind(job.attempts)
                .bind(opt_time(job.started_at))
                .execute(&mut *tx)
                .await?;
            self.sent(1);
        }
        let row = sqlx::query(sql::CANCEL).bind(job_id.to_string()).bind(time(now)).fetch_one(&mut *tx).await?;
        self.sent(1);
        let cancelled = rows::job(&row)?;
        self.settle_dependents(&mut tx, &[job_id], now).await?;
        self.commit(tx).await?;
        Ok(cancelled)
    }

    async fn requeue_dead_letter(&self, job_id: Uuid, now: DateTime<Utc>) -> StoreResult<Job> {
        let mut tx = self.begin().await?;
        let job = self.job_in(&mut tx, job_id).await?;
        if job.status != JobStatus::DeadLetter {
            tx.rollback().await?;
            return Err(StoreError::Conflict {
                job_id,
                status: job.status,
                reason: "only a dead-lettered job can be requeued",
            });
        }
        sqlx::query(sql::REQUEUE_DEAD_LETTER_ENTRY).bind(job_id.to_string()).bind(time(now)).execute(&mut *tx).await?;
        let row =
            sqlx::query(sql::REQUEUE_DEAD_LETTER).bind(job_id.to_string()).bind(time(now)).fetch_one(&mut *tx).await?;
        self.sent(2);
        let requeued = rows::job(&row)?;
        self.commit(tx).await?;
        Ok(requeued)
    }

    async fn apply_bulk(&self, params: ApplyBulkParams, now: DateTime<Utc>) -> StoreResult<Vec<Uuid>> {
        let ApplyBulkParams { action, job_ids } = params;
        if job_ids.is_empty() {
            return Ok(Vec::new());
        }
        let statement = match action {
            BulkAction::Cancel => sql::APPLY_BULK_CANCEL,
            BulkAction::RetryNow => sql::APPLY_BULK_RETRY_NOW,
            BulkAction::Requeue => sql::APPLY_BULK_REQUEUE,
        };
        let mut tx = self.begin().await?;
        let changed: Vec<String> =
            sqlx::query_scalar(statement).bind(uuid_list(job_ids)).bind(time(now)).fetch_all(&mut *tx).await?;
        self.sent(1);
        let mut changed = changed.iter().map(|id| parse_uuid(id)).collect::<StoreResult<Vec<Uuid>>>()?;
        changed.sort();
        if action == BulkAction::Cancel {
            self.settle_dependents(&mut tx, &changed, now).await?;
        }
        self.commit(tx).await?;
        Ok(changed)
    }

    async fn prune(&self, policy: PrunePolicy) -> StoreResult<Pruned> {
        let limit = i64::from(policy.batch);
        let mut pruned = Pruned::default();
        let mut tx = self.begin().await?;
        for (cutoff, statement, count) in [
            (policy.finished_before, sql::PRUNE_FINISHED, &mut pruned.finished),
            (policy.dead_letters_before, sql::PRUNE_DEAD_LETTERS, &mut pruned.dead_letters),
            (policy.health_logs_before, sql::PRUNE_HEALTH_LOGS, &mut pruned.health_logs),
            (policy.contexts_before, sql::PRUNE_CONTEXTS, &mut pruned.contexts),
        ] {
            if let Some(cutoff) = cutoff {
                *count = sqlx::query(statement).bind(time(cutoff)).bind(limit).execute(&mut *tx).await?.rows_affected();
                self.sent(1);
            }
        }
        self.commit(tx).await?;
        Ok(pruned)
    }
}
