//! The fenced hot path ([`Queue`](crate::store::Queue)) on SQLite: submitting and
//! claiming jobs, ending claims (completions, failures, releases, give-backs), lease
//! renewal, rescues and checkpoints. It mirrors `PgStore` (idempotency keys answered
//! with the existing job, dependencies decided in the submitting transaction, one
//! statement per claim for every worker asking); here each batch travels as one JSON
//! parameter. Every write that settles a claim is fenced by the execution id it holds;
//! a duplicate in one batch is settled once and reads as stale the second time.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use super::codec::{self, time, uuid_list};
use super::dependencies::Settled;
use super::settle::{Held, claims_json, parse_ids};
use super::{SqliteStore, rows, sql};
use crate::clock::after;
use crate::job::{JobStatus, NewJob};
use crate::store::answers::{
    answer_enqueue, applied_in_order, fail_outcomes_in_order, inserted_with_resolved_dependencies, live_failures,
};
use crate::store::{
    Applied, ClaimRef, ClaimRequest, ClaimedJob, Completed, Completion, DependencyOutcome, Enqueued, Failed, Failure,
    Queue, ReleaseParams, Rescued, SaveCheckpointParams, StoreError, StoreResult,
};

/// Why an expired claim was taken back (`{worker}` names its holder).
const LEASE_EXPIRED: &str = "lease expired: worker {worker} stopped renewing its claim";
/// Why a dead worker's claims were taken back.
const WORKER_DIED: &str = "worker {worker} died while running this attempt";

#[async_trait]
impl Queue for SqliteStore {
    async fn enqueue(&self, jobs: Vec<NewJob>, now: DateTime<Utc>) -> StoreResult<Vec<Enqueued>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        if jobs.iter().all(|j| j.depends_on.is_empty()) {
            // One INSERT is atomic on its own; the key lookup after it only reads.
            let mut conn = self.writer.acquire().await?;
            let (inserted, existing) = self.insert_jobs(&mut conn, &jobs, now).await?;
            return answer_enqueue(&jobs, &inserted, &existing, &Settled::default());
        }
        // With dependencies: check them, insert, write edges, decide starting states,
        // in one transaction (dropped, it rolls back: nothing of the submit is written).
        let mut tx = self.begin().await?;
        self.lock_dependencies(&mut tx, &jobs).await?;
        let (inserted, existing) = self.insert_jobs(&mut tx, &jobs, now).await?;
        let new_jobs = inserted_with_resolved_dependencies(&jobs, &inserted, &existing);
        let settled = self.insert_edges(&mut tx, &new_jobs.iter().collect::<Vec<_>>(), now).await?;
        self.commit(tx).await?;
        answer_enqueue(&jobs, &inserted, &existing, &settled)
    }

    async fn claim(&self, request: ClaimRequest, now: DateTime<Utc>) -> StoreResult<Vec<ClaimedJob>> {
        let slots = request.slots();
        if slots.is_empty() {
            return Ok(Vec::new());
        }
        // Each slot with a new execution id (its fencing token), time-ordered (UUIDv7).
        let slots: Vec<Value> = slots.iter().map(|worker| json!([worker, Uuid::now_v7()])).collect();
        let job_types =
            serde_json::to_string(&request.job_types[..]).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let found = sqlx::query(sql::CLAIM)
            .bind(Value::Array(slots).to_string())
            .bind(time(now))
            .bind(time(after(now, request.lease)))
            .bind(job_types)
            .bind(request.starting())
            .fetch_all(&self.writer)
            .await?;
        self.sent(1);
        let mut unreadable = Vec::new();
        let mut claimed = Vec::with_capacity(found.len());
        for row in &found {
            let claim =
                ClaimRef { job_id: rows::uuid(row, "job_id")?, execution_id: rows::uuid(row, "current_execution_id")? };
            let read = || -> StoreResult<((i32, String), ClaimedJob)> {
                let order: (i32, String) = (row.try_get("priority")?, row.try_get("created_at")?);
                let dependencies: Option<String> = row.try_get("dependencies")?;
                let mut dependencies: Vec<DependencyOutcome> = match dependencies {
                    None => Vec::new(),
                    Some(list) => serde_json::from_str(&list).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                };
                dependencies.sort_by_key(|d| d.job_id);
                let job = ClaimedJob {
                    job_id: claim.job_id,
                    execution_id: claim.execution_id,
                    attempt: row.try_get("attempts")?,
                    job_type: row.try_get("job_type")?,
                    payload: rows::json(row, "payload")?,
                    max_retries: row.try_get("max_retries")?,
                    timeout_ms: row.try_get("timeout_ms")?,
                    lease_expires_at: rows::time(row, "lease_expires_at")?,
                    worker_id: rows::uuid(row, "worker_id")?,
                    dependencies,
                };
                Ok((order, job))
            };
            match read() {
                Ok(read) => claimed.push(read),
                Err(e) => unreadable.push(Failure::unreadable(claim, e)),
            }
        }
        // As on Postgres: should failing them fail, their leases run out; the rest goes out.
        if !unreadable.is_empty()
            && let Err(e) = crate::store::Queue::fail(self, unreadable, now).await
        {
            tracing::warn!(error = %e, "failing unreadable claims failed: their leases will run out");
        }
        // Highest priority, then oldest, then lowest id: the order they were picked in.
        claimed
            .sort_by(|((pa, ca), a), ((pb, cb), b)| pb.cmp(pa).then_with(|| ca.cmp(cb)).then(a.job_id.cmp(&b.job_id)));
        Ok(claimed.into_iter().map(|(_, job)| job).collect())
    }

    async fn complete(&self, completions: Vec<Completion>, now: DateTime<Utc>) -> StoreResult<Completed> {
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

    async fn fail(&self, failures: Vec<Failure>, now: DateTime<Utc>) -> StoreResult<Failed> {
        if failures.is_empty() {
            return Ok(Failed::default());
        }
        let mut tx = self.begin().await?;
        let job_ids = uuid_list(failures.iter().map(|f| f.claim.job_id));
        let exec_ids = uuid_list(failures.iter().map(|f| f.claim.execution_id));
        let locked = sqlx::query(sql::FAIL_LOCK_RUNNING).bind(job_ids).bind(exec_ids).fetch_all(&mut *tx).await?;
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

    async fn release(&self, params: ReleaseParams, now: DateTime<Utc>) -> StoreResult<Vec<Applied>> {
        let ReleaseParams { claims, run_at, reason } = params;
        let run_at = run_at.unwrap_or(now);
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

    async fn give_back(&self, claims: Vec<ClaimRef>, now: DateTime<Utc>) -> StoreResult<Vec<Applied>> {
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

    async fn extend_leases(&self, claims: Vec<ClaimRef>, until: DateTime<Utc>) -> StoreResult<u64> {
        if claims.is_empty() {
            return Ok(0);
        }
        let done =
            sqlx::query(sql::EXTEND_LEASES).bind(claims_json(&claims)).bind(time(until)).execute(&self.writer).await?;
        self.sent(1);
        Ok(done.rows_affected())
    }

    async fn rescue_expired(&self, limit: u32, now: DateTime<Utc>) -> StoreResult<Vec<Rescued>> {
        let mut tx = self.begin().await?;
        let held =
            sqlx::query(sql::RESCUE_EXPIRED_LOCK).bind(i64::from(limit)).bind(time(now)).fetch_all(&mut *tx).await?;
        self.rescue(tx, &held, LEASE_EXPIRED, now).await
    }

    async fn rescue_worker(&self, worker_id: Uuid, now: DateTime<Utc>) -> StoreResult<Vec<Rescued>> {
        let mut tx = self.begin().await?;
        let held = sqlx::query(sql::RESCUE_WORKER_LOCK).bind(worker_id.to_string()).fetch_all(&mut *tx).await?;
        self.rescue(tx, &held, WORKER_DIED, now).await
    }

    async fn save_checkpoint(&self, params: SaveCheckpointParams, now: DateTime<Utc>) -> StoreResult<Applied> {
        let SaveCheckpointParams { claim, data } = params;
        let written = sqlx::query(sql::SAVE_CHECKPOINT)
            .bind(claim.job_id.to_string())
            .bind(claim.execution_id.to_string())
            .bind(data.to_string())
            .bind(time(now))
            .execute(&self.writer)
            .await?;
        self.sent(1);
        Ok(if written.rows_affected() == 1 { Applied::Applied } else { Applied::Stale })
    }
}

impl SqliteStore {
    /// Inserts the jobs (those with dependencies as `WAITING`) and looks up the jobs
    /// that won their idempotency keys.
    async fn insert_jobs(
        &self,
        conn: &mut SqliteConnection,
        jobs: &[NewJob],
        now: DateTime<Utc>,
    ) -> StoreResult<(HashSet<Uuid>, HashMap<String, (Uuid, JobStatus)>)> {
        let batch: Vec<Value> = jobs
            .iter()
            .map(|j| {
                json!({
                    "id": j.job_id,
                    "type": j.job_type,
                    "payload": j.payload.to_string(),
                    "priority": j.priority,
                    "max_retries": j.max_retries,
                    "timeout_ms": j.timeout_ms,
                    "scheduled_at": time(j.run_at.unwrap_or(now)),
                    "key": j.idempotency_key,
                    "waits": !j.depends_on.is_empty(),
                })
            })
            .collect();
        let ids: Vec<String> = sqlx::query_scalar(sql::ENQUEUE)
            .bind(Value::Array(batch).to_string())
            .bind(time(now))
            .fetch_all(&mut *conn)
            .await?;
        self.sent(1);
        let inserted: HashSet<Uuid> = ids.iter().map(|id| codec::parse_uuid(id)).collect::<StoreResult<_>>()?;
        // Jobs not inserted lost to an existing idempotency key: answer with that job.
        let taken: Vec<&str> = jobs
            .iter()
            .filter(|j| !inserted.contains(&j.job_id))
            .filter_map(|j| j.idempotency_key.as_deref())
            .collect();
        let mut existing = HashMap::new();
        if !taken.is_empty() {
            let keys = serde_json::to_string(&taken).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            for row in sqlx::query(sql::ENQUEUE_TAKEN_KEYS).bind(keys).fetch_all(&mut *conn).await? {
                let status: String = row.try_get(2)?;
                existing.insert(row.try_get(0)?, (rows::uuid(&row, 1)?, status.parse()?));
            }
            self.sent(1);
        }
        Ok((inserted, existing))
    }
}
