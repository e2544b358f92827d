//! The fenced hot path ([`Queue`](crate::store::Queue)) on Postgres.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::{LockedClaim, PgStore, sql};
use crate::clock::after;
use crate::job::NewJob;
use crate::store::answers::{
    answer_enqueue, applied_in_order, fail_outcomes_in_order, inserted_with_resolved_dependencies, live_failures,
};
use crate::store::{
    Applied, ClaimRef, ClaimRequest, ClaimedJob, Completed, Completion, Enqueued, Failed, Failure, Queue,
    ReleaseParams, Rescued, SaveCheckpointParams, StoreError, StoreResult,
};

#[async_trait]
impl Queue for PgStore {
    async fn enqueue(&self, jobs: Vec<NewJob>, now: DateTime<Utc>) -> StoreResult<Vec<Enqueued>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        if jobs.iter().all(|j| j.depends_on.is_empty()) {
            let mut conn = self.pool.acquire().await?;
            let (inserted, existing) = self.insert_jobs(&mut conn, &jobs, now).await?;
            return answer_enqueue(&jobs, &inserted, &existing, &Default::default());
        }
        // With dependencies: lock them, insert, write edges, decide starting states, in
        // one transaction.
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
        let execution_ids: Vec<Uuid> = slots.iter().map(|_| Uuid::now_v7()).collect();
        let rows = sqlx::query(sql::CLAIM)
            .bind(&slots)
            .bind(now)
            .bind(after(now, request.lease))
            .bind(&request.job_types[..])
            .bind(&execution_ids)
            .bind(request.starting() as i32)
            .fetch_all(&self.claims)
            .await?;
        self.sent(1);
        let (mut claimed, mut unreadable) = (Vec::with_capacity(rows.len()), Vec::new());
        for row in &rows {
            let claim = ClaimRef { job_id: row.try_get(0)?, execution_id: row.try_get(1)? };
            let read = || -> StoreResult<ClaimedJob> {
                Ok(ClaimedJob {
                    job_id: claim.job_id,
                    execution_id: claim.execution_id,
                    attempt: row.try_get(2)?,
                    job_type: row.try_get(3)?,
                    payload: row.try_get(4)?,
                    max_retries: row.try_get(5)?,
                    timeout_ms: row.try_get(6)?,
                    lease_expires_at: row.try_get(7)?,
                    worker_id: row.try_get(8)?,
                    dependencies: match row.try_get::<Option<serde_json::Value>, _>(9)? {
                        None => Vec::new(),
                        Some(list) => serde_json::from_value(list).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    },
                })
            };
            match read() {
                Ok(job) => claimed.push(job),
                Err(e) => unreadable.push(Failure::unreadable(claim, e)),
            }
        }
        // Should failing them fail too, they stay claimed until their leases run out and a
        // sweep takes them: the readable ones are handed out all the same.
        if !unreadable.is_empty()
            && let Err(e) = self.fail(unreadable, now).await
        {
            tracing::warn!(error = %e, "failing unreadable claims failed: their leases will run out");
        }
        Ok(claimed)
    }

    async fn complete(&self, completions: Vec<Completion>, now: DateTime<Utc>) -> StoreResult<Completed> {
        if completions.is_empty() {
            return Ok(Completed::default());
        }
        // In id order, so that batches lock rows in the same order as every other
        // statement that locks several jobs.
        let mut sorted: Vec<&Completion> = completions.iter().collect();
        sorted.sort_by_key(|c| c.claim.job_id);
        let job_ids: Vec<Uuid> = sorted.iter().map(|c| c.claim.job_id).collect();
        let exec_ids: Vec<Uuid> = sorted.iter().map(|c| c.claim.execution_id).collect();
        let results: Vec<String> = sorted.iter().map(|c| c.result.to_string()).collect();
        let asked: Vec<Uuid> = completions.iter().map(|c| c.claim.execution_id).collect();
        // One transaction: a dependent is released with its last dependency's
        // completion, so no crash can come between the two.
        self.sent(1);
        let mut tx = self.pool.begin_with(sqlx::AssertSqlSafe(sql::BEGIN_COMPLETE.as_str())).await?;
        let done: Vec<(Uuid, Uuid)> = sqlx::query_as(sql::COMPLETE)
            .bind(&job_ids)
            .bind(&exec_ids)
            .bind(&results)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
        self.sent(1);
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
        let job_ids: Vec<Uuid> = failures.iter().map(|f| f.claim.job_id).collect();
        let exec_ids: Vec<Uuid> = failures.iter().map(|f| f.claim.execution_id).collect();
        let locked: Vec<LockedClaim> =
            sqlx::query_as(sql::FAIL_LOCK_RUNNING).bind(&job_ids).bind(&exec_ids).fetch_all(&mut *tx).await?;
        self.sent(1);
        let by_execution: HashMap<Uuid, (i32, i32)> =
            locked.iter().filter_map(|(_, exec, _, a, m, _, _)| exec.map(|e| (e, (*a, *m)))).collect();
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
        let job_ids: Vec<Uuid> = claims.iter().map(|c| c.job_id).collect();
        let exec_ids: Vec<Uuid> = claims.iter().map(|c| c.execution_id).collect();
        let released: Vec<Uuid> = sqlx::query_scalar(sql::RELEASE)
            .bind(&job_ids)
            .bind(&exec_ids)
            .bind(now)
            .bind(run_at)
            .bind(reason)
            .fetch_all(&self.pool)
            .await?;
        self.sent(1);
        Ok(applied_in_order(&exec_ids, released))
    }

    async fn give_back(&self, mut claims: Vec<ClaimRef>, now: DateTime<Utc>) -> StoreResult<Vec<Applied>> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        claims.sort_by_key(|c| c.job_id); // lock in id order
        let job_ids: Vec<Uuid> = claims.iter().map(|c| c.job_id).collect();
        let exec_ids: Vec<Uuid> = claims.iter().map(|c| c.execution_id).collect();
        let given: Vec<Uuid> =
            sqlx::query_scalar(sql::GIVE_BACK).bind(&job_ids).bind(&exec_ids).bind(now).fetch_all(&self.pool).await?;
        self.sent(1);
        Ok(applied_in_order(&exec_ids, given))
    }

    async fn extend_leases(&self, claims: Vec<ClaimRef>, until: DateTime<Utc>) -> StoreResult<u64> {
        if claims.is_empty() {
            return Ok(0);
        }
        let job_ids: Vec<Uuid> = claims.iter().map(|c| c.job_id).collect();
        let exec_ids: Vec<Uuid> = claims.iter().map(|c| c.execution_id).collect();
        // On the claim connections: their plans are pinned to index paths, so a renewal
        // finds its rows by key whatever the statistics say.
        let done =
            sqlx::query(sql::EXTEND_LEASES).bind(&job_ids).bind(&exec_ids).bind(until).execute(&self.claims).await?;
        self.sent(1);
        Ok(done.rows_affected())
    }

    async fn rescue_expired(&self, limit: u32, now: DateTime<Utc>) -> StoreResult<Vec<Rescued>> {
        let lock = sqlx::query_as(sql::RESCUE_EXPIRED_LOCK).bind(i64::from(limit)).bind(now);
        self.rescue(lock, "lease expired: worker {worker} stopped renewing its claim", now).await
    }

    async fn rescue_worker(&self, worker_id: Uuid, now: DateTime<Utc>) -> StoreResult<Vec<Rescued>> {
        let lock = sqlx::query_as(sql::RESCUE_WORKER_LOCK).bind(worker_id);
        self.rescue(lock, "worker {worker} died while running this attempt", now).await
    }

    async fn save_checkpoint(&self, params: SaveCheckpointParams, now: DateTime<Utc>) -> StoreResult<Applied> {
        let SaveCheckpointParams { claim, data } = params;
        let written = sqlx::query(sql::SAVE_CHECKPOINT)
            .bind(claim.job_id)
            .bind(claim.execution_id)
            .bind(data.to_string())
            .bind(now)
            .execute(&self.pool)
            .await?;
        self.sent(1);
        Ok(if written.rows_affected() == 1 { Applied::Applied } else { Applied::Stale })
    }
}
