//! The transaction steps SQLite's operations share: settling failed attempts (retry or
//! dead letter, decided in Rust by [`decide_failure`], shared with Postgres), rescuing
//! the claims a lock query read (each attempt recorded `CRASHED`, or given back if it
//! never started), and reading a job inside a write transaction. The error texts are
//! Postgres's, word for word: operators and tests read them.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};
use uuid::Uuid;

use super::codec::{opt_time, time};
use super::{SqliteStore, rows, sql};
use crate::job::{ExecutionStatus, Job};
use crate::store::{
    ClaimRef, FailOutcome, Failure, FailureDecision, Rescued, StoreError, StoreResult, UNSTARTED, decide_failure,
    gives_back_unstarted,
};

/// A running claim as the lock queries read it.
pub(super) struct Held {
    pub job_id: Uuid,
    pub execution_id: Uuid,
    pub worker_id: Uuid,
    pub attempts: i32,
    pub max_retries: i32,
    /// The claim went to a worker's queue when it was made (see `claim_queued`).
    pub queued: bool,
    /// How often a rescue gave this job's queued claim back for free.
    pub unstarted_returns: i32,
}

impl Held {
    /// Reads `job_id, current_execution_id, worker_id, attempts, max_retries,
    /// claim_queued, unstarted_returns`.
    pub fn read(row: &SqliteRow) -> StoreResult<Self> {
        let job_id = rows::uuid(row, 0)?;
        let (Some(execution_id), Some(worker_id)) = (rows::opt_uuid(row, 1)?, rows::opt_uuid(row, 2)?) else {
            return Err(StoreError::Corrupt(format!("running job {job_id} has no claim")));
        };
        Ok(Self {
            job_id,
            execution_id,
            worker_id,
            attempts: row.try_get(3)?,
            max_retries: row.try_get(4)?,
            queued: row.try_get(5)?,
            unstarted_returns: row.try_get(6)?,
        })
    }
}

impl SqliteStore {
    /// Decides each failure (retry or dead-letter) and settles them all in one call,
    /// inside the caller's transaction (which holds the write lock, so the claims are
    /// as read); then settles the dead-lettered jobs' dependents. Answers the
    /// outcomes by execution, and how many dependents became ready.
    pub(super) async fn settle(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        failures: &[(Failure, i32, i32)],
        now: DateTime<Utc>,
    ) -> StoreResult<(Vec<(Uuid, FailOutcome)>, u64)> {
        let mut batch = Vec::with_capacity(failures.len());
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
                batch.push(json!({
                    "job": failure.claim.job_id,
                    "exec": failure.claim.execution_id,
                    "status": failure.status.as_str(),
                    "error": failure.error,
                    "retry_at": opt_time(at),
                }));
                outcomes.push((failure.claim.execution_id, outcome));
            }
        }
        if outcomes.is_empty() {
            return Ok((outcomes, 0));
        }
        let settled = sqlx::query(sql::SETTLE_FAILURES)
            .bind(Value::Array(batch).to_string())
            .bind(time(now))
            .fetch_all(&mut **tx)
            .await?;
        self.sent(1);
        let mut dead = Vec::new();
        for row in &settled {
            if row.try_get::<i64, _>(1)? != 0 {
                dead.push(rows::uuid(row, 0)?);
            }
        }
        let released = self.settle_dependents(tx, &dead, now).await?.released.len() as u64;
        Ok((outcomes, released))
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

    /// A job read inside a write transaction (which holds the write lock, so the row
    /// stays as read until commit: Postgres's `FOR UPDATE`).
    pub(super) async fn job_in(&self, tx: &mut Transaction<'static, Sqlite>, job_id: Uuid) -> StoreResult<Job> {
        let row = sqlx::query(sql::GET_JOB).bind(job_id.to_string()).fetch_optional(&mut **tx).await?;
        self.sent(1);
        rows::job(&row.ok_or(StoreError::NotFound(job_id))?)
    }
}

/// Claims as the scripts take them, one entry per execution (the first of duplicates).
pub(super) fn claims_json(claims: &[ClaimRef]) -> String {
    let mut seen = HashSet::new();
    let list = claims
        .iter()
        .filter(|c| seen.insert(c.execution_id))
        .map(|c| json!({ "job": c.job_id, "exec": c.execution_id }))
        .collect();
    Value::Array(list).to_string()
}

pub(super) fn parse_ids(ids: &[String]) -> StoreResult<Vec<Uuid>> {
    ids.iter().map(|id| super::codec::parse_uuid(id)).collect()
}
