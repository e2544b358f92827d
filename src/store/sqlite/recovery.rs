//! Taking jobs back and putting them right: rescuing claims whose lease ran out or
//! whose worker died (each attempt recorded `CRASHED`, then retried or dead-lettered
//! like any failure), and the operator's cancel and dead-letter requeue. The error
//! texts are Postgres's, word for word: operators and tests read them.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Sqlite, Transaction};
use uuid::Uuid;

use super::codec::{opt_time, parse_uuid, time, uuid_list};
use super::settle::{Held, claims_json, parse_ids};
use super::{SqliteStore, rows, sql};
use crate::job::{ExecutionStatus, Job, JobStatus};
use crate::store::{
    BulkAction, ClaimRef, FailOutcome, Failure, Rescued, StoreError, StoreResult, UNSTARTED, gives_back_unstarted,
};

/// Why an expired claim was taken back (`{worker}` names its holder).
const LEASE_EXPIRED: &str = "lease expired: worker {worker} stopped renewing its claim";
/// Why a dead worker's claims were taken back.
const WORKER_DIED: &str = "worker {worker} died while running this attempt";

impl SqliteStore {
    pub(super) async fn rescue_expired_claims(&self, limit: u32, now: DateTime<Utc>) -> StoreResult<Vec<Rescued>> {
        let mut tx = self.begin().await?;
        let held = sqlx::query(sql::LOCK_EXPIRED).bind(i64::from(limit)).bind(time(now)).fetch_all(&mut *tx).await?;
        self.rescue(tx, &held, LEASE_EXPIRED, now).await
    }

    pub(super) async fn rescue_worker_claims(&self, worker_id: Uuid, now: DateTime<Utc>) -> StoreResult<Vec<Rescued>> {
        let mut tx = self.begin().await?;
        let held = sqlx::query(sql::LOCK_WORKER_CLAIMS).bind(worker_id.to_string()).fetch_all(&mut *tx).await?;
        self.rescue(tx, &held, WORKER_DIED, now).await
    }

    /// Settles each claim of `held` (read in `tx`) and commits. A claim that was only
    /// queued where it was held goes back to `PENDING` without costing an attempt
    /// ([`sql::RETURN_UNSTARTED`]), at most [`crate::store::MAX_UNSTARTED_RETURNS`]
    /// times per job; every other one is a crashed attempt, retried or dead-lettered.
    pub(super) async fn rescue(
        &self,
        mut tx: Transaction<'static, Sqlite>,
        held: &[SqliteRow],
        why: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Rescued>> {
        self.sent(1);
        let mut failures = Vec::with_capacity(held.len());
        let mut holders = Vec::with_capacity(held.len());
        let mut unstarted = Vec::new();
        for row in held {
            let claim = Held::read(row)?;
            let claim_ref = ClaimRef { job_id: claim.job_id, execution_id: claim.execution_id };
            if gives_back_unstarted(claim.queued, claim.unstarted_returns) {
                unstarted.push((claim_ref, claim.worker_id));
                continue;
            }
            holders.push(claim.worker_id);
            let failure = Failure {
                claim: claim_ref,
                status: ExecutionStatus::Crashed,
                error: why.replace("{worker}", &claim.worker_id.to_string()),
                permanent: false,
            };
            failures.push((failure, claim.attempts, claim.max_retries));
        }
        let mut rescued = Vec::with_capacity(held.len());
        if !unstarted.is_empty() {
            let claims: Vec<ClaimRef> = unstarted.iter().map(|(c, _)| *c).collect();
            let given: Vec<String> = sqlx::query_scalar(sql::RETURN_UNSTARTED)
                .bind(claims_json(&claims))
                .bind(time(now))
                .bind(UNSTARTED)
                .fetch_all(&mut *tx)
                .await?;
            self.sent(1);
            let given: std::collections::HashSet<Uuid> = parse_ids(&given)?.into_iter().collect();
            rescued.extend(unstarted.iter().filter(|(c, _)| given.contains(&c.execution_id)).map(|(c, worker_id)| {
                Rescued {
                    job_id: c.job_id,
                    execution_id: c.execution_id,
                    worker_id: *worker_id,
                    outcome: FailOutcome::GivenBack,
                }
            }));
        }
        let (settled, _) = self.settle(&mut tx, &failures, now).await?;
        self.commit(tx).await?;
        rescued.extend(failures.iter().zip(holders).zip(settled).map(
            |(((f, _, _), worker_id), (execution_id, outcome))| Rescued {
                job_id: f.claim.job_id,
                execution_id,
                worker_id,
                outcome,
            },
        ));
        Ok(rescued)
    }

    pub(super) async fn cancel_job(&self, job_id: Uuid, now: DateTime<Utc>) -> StoreResult<Job> {
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
        let row = sqlx::query(sql::CANCEL_JOB).bind(job_id.to_string()).bind(time(now)).fetch_one(&mut *tx).await?;
        self.sent(1);
        let cancelled = rows::job(&row)?;
        self.settle_dependents(&mut tx, &[job_id], now).await?;
        self.commit(tx).await?;
        Ok(cancelled)
    }

    pub(super) async fn requeue_dead_job(&self, job_id: Uuid, now: DateTime<Utc>) -> StoreResult<Job> {
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
        sqlx::query(sql::CLOSE_DEAD_LETTER).bind(job_id.to_string()).bind(time(now)).execute(&mut *tx).await?;
        let row = sqlx::query(sql::REQUEUE_JOB).bind(job_id.to_string()).bind(time(now)).fetch_one(&mut *tx).await?;
        self.sent(2);
        let requeued = rows::job(&row)?;
        self.commit(tx).await?;
        Ok(requeued)
    }

    pub(super) async fn apply_bulk_action(
        &self,
        action: BulkAction,
        job_ids: Vec<Uuid>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Uuid>> {
        if job_ids.is_empty() {
            return Ok(Vec::new());
        }
        let statement = match action {
            BulkAction::Cancel => sql::BULK_CANCEL,
            BulkAction::RetryNow => sql::BULK_RETRY_NOW,
            BulkAction::Requeue => sql::BULK_REQUEUE,
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

    /// A job read inside a write transaction (which holds the write lock, so the row
    /// stays as read until commit: Postgres's `FOR UPDATE`).
    async fn job_in(&self, tx: &mut Transaction<'static, Sqlite>, job_id: Uuid) -> StoreResult<Job> {
        let row = sqlx::query(sql::SELECT_JOB).bind(job_id.to_string()).fetch_optional(&mut **tx).await?;
        self.sent(1);
        rows::job(&row.ok_or(StoreError::NotFound(job_id))?)
    }
}
