//! Submitting and claiming jobs: the two writes that put work into motion. Both
//! mirror `PgStore` (idempotency keys answered with the existing job, dependencies
//! decided in the submitting transaction, one statement per claim for every worker
//! asking); here each batch travels as one JSON parameter.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use super::codec::{self, time};
use super::dependencies::Settled;
use super::{SqliteStore, rows, sql};
use crate::clock::after;
use crate::job::{JobStatus, NewJob};
use crate::store::answers::{answer_enqueue, inserted_with_resolved_dependencies};
use crate::store::{ClaimRef, ClaimRequest, ClaimedJob, DependencyOutcome, Enqueued, Failure, StoreError, StoreResult};

impl SqliteStore {
    pub(super) async fn enqueue_jobs(&self, jobs: Vec<NewJob>, now: DateTime<Utc>) -> StoreResult<Vec<Enqueued>> {
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
        self.check_dependencies(&mut tx, &jobs).await?;
        let (inserted, existing) = self.insert_jobs(&mut tx, &jobs, now).await?;
        let new_jobs = inserted_with_resolved_dependencies(&jobs, &inserted, &existing);
        let settled = self.insert_edges(&mut tx, &new_jobs.iter().collect::<Vec<_>>(), now).await?;
        self.commit(tx).await?;
        answer_enqueue(&jobs, &inserted, &existing, &settled)
    }

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
            for row in sqlx::query(sql::JOBS_BY_IDEMPOTENCY_KEY).bind(keys).fetch_all(&mut *conn).await? {
                let status: String = row.try_get(2)?;
                existing.insert(row.try_get(0)?, (rows::uuid(&row, 1)?, status.parse()?));
            }
            self.sent(1);
        }
        Ok((inserted, existing))
    }

    pub(super) async fn claim_jobs(&self, request: ClaimRequest, now: DateTime<Utc>) -> StoreResult<Vec<ClaimedJob>> {
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
}
