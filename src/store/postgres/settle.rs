//! The transaction steps the Postgres backend's operations share: settling failed
//! attempts (retry or dead-letter, dependents included), rescuing locked claims,
//! inserting a submit's jobs, and the transaction bookkeeping that counts statements.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use super::{LockedClaim, PgStore, rows, sql};
use crate::job::{ExecutionStatus, Job, JobStatus, NewJob};
use crate::store::{
    ClaimRef, FailOutcome, Failure, FailureDecision, Rescued, StoreError, StoreResult, UNSTARTED, decide_failure,
    gives_back_unstarted,
};

impl PgStore {
    /// Decides each failure (retry or dead-letter) and settles them all in one
    /// statement, inside the caller's transaction, which holds the jobs' row locks;
    /// then settles the dead-lettered jobs' dependents. Answers the outcomes by
    /// execution, and how many dependents became ready.
    pub(super) async fn settle(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        failures: &[(Failure, i32, i32)],
        now: DateTime<Utc>,
    ) -> StoreResult<(Vec<(Uuid, FailOutcome)>, u64)> {
        let (mut job_ids, mut exec_ids, mut statuses, mut errors, mut retry_at) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut outcomes = Vec::with_capacity(failures.len());
        {
            // The thread's RNG must not live across an await.
            let mut rng = rand::rng();
            for (failure, attempts, max_retries) in failures {
                let decision = decide_failure(*attempts, *max_retries, failure.permanent, &self.backoff, now, &mut rng);
                let (at, outcome) = match decision {
                    FailureDecision::RetryAt(at) => (Some(at), FailOutcome::Retrying { at }),
                    FailureDecision::DeadLetter => (None, FailOutcome::DeadLettered),
                };
                job_ids.push(failure.claim.job_id);
                exec_ids.push(failure.claim.execution_id);
                statuses.push(failure.status.as_str());
                errors.push(failure.error.as_str());
                retry_at.push(at);
                outcomes.push((failure.claim.execution_id, outcome));
            }
        }
        if outcomes.is_empty() {
            return Ok((outcomes, 0));
        }
        let settled: Vec<(Uuid, Uuid, bool)> = sqlx::query_as(sql::SETTLE_FAILURES)
            .bind(&job_ids)
            .bind(&exec_ids)
            .bind(&statuses)
            .bind(&errors)
            .bind(&retry_at)
            .bind(now)
            .fetch_all(&mut **tx)
            .await?;
        self.sent(1);
        let dead: Vec<Uuid> = settled.iter().filter(|(_, _, dead)| *dead).map(|(_, job_id, _)| *job_id).collect();
        let released = self.settle_dependents(tx, &dead, now).await?.released.len() as u64;
        Ok((outcomes, released))
    }

    /// Locks the claims `lock` selects and settles each as a crashed attempt (or gives
    /// it back, if it never started: see [`PgStore::rescue_locked`]).
    /// `why` names the holder with `{worker}`.
    pub(super) async fn rescue(
        &self,
        lock: sqlx::query::QueryAs<'_, Postgres, LockedClaim, sqlx::postgres::PgArguments>,
        why: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Rescued>> {
        let mut tx = self.begin().await?;
        let locked: Vec<LockedClaim> = lock.fetch_all(&mut *tx).await?;
        self.sent(1);
        self.rescue_locked(tx, locked, why, now).await
    }

    /// Settles each claim of `locked` (locked in `tx`) and commits. A claim that was
    /// only queued where it was held goes back to `PENDING` without costing an attempt
    /// ([`sql::RETURN_UNSTARTED`]), at most [`crate::store::MAX_UNSTARTED_RETURNS`] times per job;
    /// every other one is a crashed attempt, retried or dead-lettered.
    pub(super) async fn rescue_locked(
        &self,
        mut tx: sqlx::Transaction<'static, Postgres>,
        locked: Vec<LockedClaim>,
        why: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Rescued>> {
        let mut failures = Vec::with_capacity(locked.len());
        let mut unstarted = Vec::new();
        let mut holders = HashMap::new();
        for (job_id, exec, worker, attempts, max_retries, queued, returns) in locked {
            let (Some(execution_id), Some(worker_id)) = (exec, worker) else {
                return Err(StoreError::Corrupt(format!("running job {job_id} has no claim")));
            };
            holders.insert(execution_id, worker_id);
            let claim = ClaimRef { job_id, execution_id };
            if gives_back_unstarted(queued, returns) {
                unstarted.push(claim);
                continue;
            }
            let error = why.replace("{worker}", &worker_id.to_string());
            let failure = Failure { claim, status: ExecutionStatus::Crashed, error, permanent: false };
            failures.push((failure, attempts, max_retries));
        }
        let mut rescued = Vec::with_capacity(unstarted.len() + failures.len());
        if !unstarted.is_empty() {
            let job_ids: Vec<Uuid> = unstarted.iter().map(|c| c.job_id).collect();
            let exec_ids: Vec<Uuid> = unstarted.iter().map(|c| c.execution_id).collect();
            let given: HashSet<Uuid> = sqlx::query_scalar(sql::RETURN_UNSTARTED)
                .bind(&job_ids)
                .bind(&exec_ids)
                .bind(now)
                .bind(UNSTARTED)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
            self.sent(1);
            rescued.extend(unstarted.iter().filter(|c| given.contains(&c.execution_id)).map(|c| Rescued {
                job_id: c.job_id,
                execution_id: c.execution_id,
                worker_id: holders[&c.execution_id],
                outcome: FailOutcome::GivenBack,
            }));
        }
        let (settled, _) = self.settle(&mut tx, &failures, now).await?;
        self.commit(tx).await?;
        rescued.extend(failures.iter().zip(settled).map(|((f, _, _), (execution_id, outcome))| Rescued {
            job_id: f.claim.job_id,
            execution_id,
            worker_id: holders[&execution_id],
            outcome,
        }));
        Ok(rescued)
    }

    /// Inserts the jobs (those with dependencies as `WAITING`) and looks up the jobs
    /// that won their idempotency keys.
    pub(super) async fn insert_jobs(
        &self,
        conn: &mut sqlx::PgConnection,
        jobs: &[NewJob],
        now: DateTime<Utc>,
    ) -> StoreResult<(HashSet<Uuid>, HashMap<String, (Uuid, JobStatus)>)> {
        let ids: Vec<Uuid> = jobs.iter().map(|j| j.job_id).collect();
        let types: Vec<&str> = jobs.iter().map(|j| j.job_type.as_str()).collect();
        let payloads: Vec<String> = jobs.iter().map(|j| j.payload.to_string()).collect();
        let priorities: Vec<i32> = jobs.iter().map(|j| j.priority).collect();
        let retries: Vec<i32> = jobs.iter().map(|j| j.max_retries).collect();
        let timeouts: Vec<i32> = jobs.iter().map(|j| j.timeout_ms).collect();
        let at: Vec<DateTime<Utc>> = jobs.iter().map(|j| j.run_at.unwrap_or(now)).collect();
        let keys: Vec<Option<&str>> = jobs.iter().map(|j| j.idempotency_key.as_deref()).collect();
        let waits: Vec<bool> = jobs.iter().map(|j| !j.depends_on.is_empty()).collect();
        let insert = if keys.iter().any(Option::is_some) { sql::ENQUEUE } else { sql::ENQUEUE_UNKEYED };
        let inserted: HashSet<Uuid> = sqlx::query_scalar(insert)
            .bind(&ids)
            .bind(&types)
            .bind(&payloads)
            .bind(&priorities)
            .bind(&retries)
            .bind(&timeouts)
            .bind(&at)
            .bind(&keys)
            .bind(now)
            .bind(&waits)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
        self.sent(1);
        // Jobs not inserted lost to an existing idempotency key: answer with that job.
        let taken: Vec<&str> = jobs
            .iter()
            .filter(|j| !inserted.contains(&j.job_id))
            .filter_map(|j| j.idempotency_key.as_deref())
            .collect();
        let mut existing = HashMap::new();
        if !taken.is_empty() {
            for row in sqlx::query(sql::ENQUEUE_TAKEN_KEYS).bind(&taken).fetch_all(&mut *conn).await? {
                let status: String = row.try_get(2)?;
                existing.insert(row.try_get(0)?, (row.try_get(1)?, status.parse()?));
            }
            self.sent(1);
        }
        Ok((inserted, existing))
    }

    pub(super) async fn job_for_update(&self, tx: &mut Transaction<'_, Postgres>, job_id: Uuid) -> StoreResult<Job> {
        let row = sqlx::query(sql::GET_JOB_FOR_UPDATE).bind(job_id).fetch_optional(&mut **tx).await?;
        self.sent(1);
        rows::job(&row.ok_or(StoreError::NotFound(job_id))?)
    }

    pub(super) async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.sent(1);
        Ok(self.pool.begin().await?)
    }

    pub(super) async fn commit(&self, tx: Transaction<'static, Postgres>) -> StoreResult<()> {
        self.sent(1);
        Ok(tx.commit().await?)
    }
}
