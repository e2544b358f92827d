//! Ending claims: completions, failures (retry or dead letter, decided in Rust by
//! [`decide_failure`], shared with Postgres), give-backs, releases, and lease renewal.
//! Every write is fenced by the execution id a claim holds; a duplicate in one batch
//! is settled once and reads as stale the second time, as in `PgStore`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};
use uuid::Uuid;

use super::codec::{opt_time, time, uuid_list};
use super::{SqliteStore, rows, sql};
use crate::store::answers::{applied_in_order, fail_outcomes_in_order, live_failures};
use crate::store::{
    Applied, ClaimRef, Completed, Completion, FailOutcome, Failed, Failure, FailureDecision, StoreError, StoreResult,
    decide_failure,
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
    pub(super) async fn complete_jobs(
        &self,
        completions: Vec<Completion>,
        now: DateTime<Utc>,
    ) -> StoreResult<Completed> {
        if completions.is_empty() {
            return Ok(Completed::default());
        }
        let asked: Vec<Uuid> = completions.iter().map(|c| c.claim.execution_id).collect();
        let mut seen = HashSet::new();
        let batch: Vec<Value> = completions
            .iter()
            .filter(|c| seen.insert(c.claim.execution_id))
            .map(|c| json!({ "job": c.claim.job_id, "exec": c.claim.execution_id, "result": c.result.to_string() }))
            .collect();
        // One transaction: a dependent is released with its last dependency's
        // completion, so no crash can come between the two.
        let mut tx = self.begin().await?;
        let found = sqlx::query(sql::COMPLETE)
            .bind(Value::Array(batch).to_string())
            .bind(time(now))
            .fetch_all(&mut *tx)
            .await?;
        self.sent(1);
        let done: Vec<(Uuid, Uuid)> =
            found.iter().map(|row| Ok((rows::uuid(row, 0)?, rows::uuid(row, 1)?))).collect::<StoreResult<_>>()?;
        let finished: Vec<Uuid> = done.iter().map(|(_, job_id)| *job_id).collect();
        let released = self.settle_dependents(&mut tx, &finished, now).await?.released.len() as u64;
        self.commit(tx).await?;
        let applied = applied_in_order(&asked, done.into_iter().map(|(execution_id, _)| execution_id).collect());
        Ok(Completed { applied, released })
    }

    pub(super) async fn fail_jobs(&self, failures: Vec<Failure>, now: DateTime<Utc>) -> StoreResult<Failed> {
        if failures.is_empty() {
            return Ok(Failed::default());
        }
        let mut tx = self.begin().await?;
        let job_ids = uuid_list(failures.iter().map(|f| f.claim.job_id));
        let exec_ids = uuid_list(failures.iter().map(|f| f.claim.execution_id));
        let locked = sqlx::query(sql::LOCK_RUNNING).bind(job_ids).bind(exec_ids).fetch_all(&mut *tx).await?;
        self.sent(1);
        let mut by_execution = HashMap::new();
        for row in &locked {
            let held = Held::read(row)?;
            by_execution.insert(held.execution_id, (held.attempts, held.max_retries));
        }
        let live = live_failures(&failures, &by_execution);
        let (settled, released) = self.settle(&mut tx, &live, now).await?;
        self.commit(tx).await?;
        Ok(Failed { outcomes: fail_outcomes_in_order(&failures, settled), released })
    }

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

    pub(super) async fn give_back_claims(
        &self,
        claims: Vec<ClaimRef>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Applied>> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let asked: Vec<Uuid> = claims.iter().map(|c| c.execution_id).collect();
        let given: Vec<String> = sqlx::query_scalar(sql::GIVE_BACK)
            .bind(claims_json(&claims))
            .bind(time(now))
            .fetch_all(&self.writer)
            .await?;
        self.sent(1);
        Ok(applied_in_order(&asked, parse_ids(&given)?))
    }

    pub(super) async fn release_claims(
        &self,
        claims: Vec<ClaimRef>,
        run_at: DateTime<Utc>,
        reason: String,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Applied>> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let asked: Vec<Uuid> = claims.iter().map(|c| c.execution_id).collect();
        // Writes execution rows and jobs: one transaction, so a crash keeps both or neither.
        let mut tx = self.begin().await?;
        let released: Vec<String> = sqlx::query_scalar(sql::RELEASE)
            .bind(claims_json(&claims))
            .bind(time(now))
            .bind(time(run_at))
            .bind(reason)
            .fetch_all(&mut *tx)
            .await?;
        self.sent(1);
        self.commit(tx).await?;
        Ok(applied_in_order(&asked, parse_ids(&released)?))
    }

    pub(super) async fn extend_claim_leases(&self, claims: Vec<ClaimRef>, until: DateTime<Utc>) -> StoreResult<u64> {
        if claims.is_empty() {
            return Ok(0);
        }
        let done =
            sqlx::query(sql::EXTEND_LEASES).bind(claims_json(&claims)).bind(time(until)).execute(&self.writer).await?;
        self.sent(1);
        Ok(done.rows_affected())
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
