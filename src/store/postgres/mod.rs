//! The Postgres backend of the [`Store`] contract.
//!
//! Each operation is one statement (or one short transaction) whatever the batch size;
//! the statements live in [`sql`]. The store counts the statements it sends, which is
//! how tests prove that batching really batches.

mod cluster;
mod contexts;
mod dependencies;
mod rows;
pub mod schema;
mod settle;
mod snapshots;
pub mod sql;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Row};
use uuid::Uuid;

use crate::clock::after;
use crate::job::{Execution, Job, JobStatus, NewJob};
use crate::retry::BackoffPolicy;
use crate::store::answers::{
    answer_enqueue, applied_in_order, fail_outcomes_in_order, inserted_with_resolved_dependencies, live_failures,
};
use crate::store::{
    Applied, ClaimRef, ClaimRequest, ClaimedJob, Completed, Completion, DeadLetter, Edges, Enqueued, Failed, Failure,
    Fence, HealthLog, JobFilter, NodeRecord, PrunePolicy, Pruned, Rescued, SnapshotFilter, SnapshotRow,
    SnapshotSummary, Store, StoreError, StoreResult, WorkerRecord, WorkflowNode,
};

/// The migrations of the Postgres schema, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A [`Store`] on Postgres.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Connections that run only claims, with [`sql::claim_session`] set.
    claims: PgPool,
    backoff: BackoffPolicy,
    statements: Arc<AtomicU64>,
}

impl PgStore {
    /// Connects a pool of up to `max_connections` to `url`.
    pub async fn connect(url: &str, max_connections: u32, backoff: BackoffPolicy) -> StoreResult<Self> {
        let options: PgConnectOptions = url.parse()?;
        // One plain connection first: a pool that cannot connect only says that it
        // timed out, while this says why (refused, no such database, bad password).
        sqlx::Connection::close(<sqlx::PgConnection as sqlx::Connection>::connect_with(&options).await?).await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self::from_pool(pool, backoff))
    }

    /// Wraps an existing pool (tests hand in one bound to their own schema).
    /// Claims run on two connections of their own, opened on first use with the
    /// pool's options and [`sql::claim_session`] (a node sends one claim at a time).
    pub fn from_pool(pool: PgPool, backoff: BackoffPolicy) -> Self {
        let options = (*pool.connect_options()).clone().options(sql::claim_session());
        let claims =
            PgPoolOptions::new().max_connections(2).acquire_timeout(Duration::from_secs(10)).connect_lazy_with(options);
        Self { pool, claims, backoff, statements: Arc::new(AtomicU64::new(0)) }
    }

    /// How many statements this store has sent to the database since it was created.
    pub fn statements_sent(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    fn sent(&self, n: u64) {
        self.statements.fetch_add(n, Ordering::Relaxed);
    }
}

/// The claims among `locked` rows (job, execution, worker, attempts, max_retries,
/// claim_queued, unstarted_returns) that still belong to the execution named.
type LockedClaim = (Uuid, Option<Uuid>, Option<Uuid>, i32, i32, bool, i32);

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await.map_err(|e| StoreError::Database(Box::new(e)))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

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
            sqlx::query_as(sql::LOCK_RUNNING).bind(&job_ids).bind(&exec_ids).fetch_all(&mut *tx).await?;
        self.sent(1);
        let by_execution: HashMap<Uuid, (i32, i32)> =
            locked.iter().filter_map(|(_, exec, _, a, m, _, _)| exec.map(|e| (e, (*a, *m)))).collect();
        let live = live_failures(&failures, &by_execution);
        let (settled, released) = self.settle(&mut tx, &live, now).await?;
        self.commit(tx).await?;
        Ok(Failed { outcomes: fail_outcomes_in_order(&failures, settled), released })
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

    async fn release(
        &self,
        claims: Vec<ClaimRef>,
        run_at: DateTime<Utc>,
        reason: String,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Applied>> {
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
        let lock = sqlx::query_as(sql::LOCK_EXPIRED).bind(i64::from(limit)).bind(now);
        self.rescue(lock, "lease expired: worker {worker} stopped renewing its claim", now).await
    }

    async fn rescue_worker(&self, worker_id: Uuid, now: DateTime<Utc>) -> StoreResult<Vec<Rescued>> {
        let lock = sqlx::query_as(sql::LOCK_WORKER_CLAIMS).bind(worker_id);
        self.rescue(lock, "worker {worker} died while running this attempt", now).await
    }

    async fn rescue_node(
        &self,
        node_id: &str,
        silent_since: DateTime<Utc>,
        fence: Fence,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<Rescued>>> {
        self.rescue_silent_node(node_id, silent_since, fence, now).await
    }

    async fn heartbeat_node(&self, node: NodeRecord, now: DateTime<Utc>) -> StoreResult<bool> {
        self.upsert_node(node, now).await
    }

    async fn take_node(
        &self,
        node: NodeRecord,
        seen: Option<NodeRecord>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<Rescued>>> {
        self.take_over_node(node, seen, now).await
    }

    async fn list_nodes(&self) -> StoreResult<Vec<NodeRecord>> {
        self.select_nodes().await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>> {
        self.take_lease(name, holder, until, now).await
    }

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
        let row = sqlx::query(sql::CANCEL_JOB).bind(job_id).bind(now).fetch_one(&mut *tx).await?;
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
        sqlx::query(sql::CLOSE_DEAD_LETTER).bind(job_id).bind(now).execute(&mut *tx).await?;
        let row = sqlx::query(sql::REQUEUE_JOB).bind(job_id).bind(now).fetch_one(&mut *tx).await?;
        self.sent(2);
        let requeued = rows::job(&row)?;
        self.commit(tx).await?;
        Ok(requeued)
    }

    async fn get_job(&self, job_id: Uuid) -> StoreResult<Option<Job>> {
        let row = sqlx::query(sql::SELECT_JOB).bind(job_id).fetch_optional(&self.pool).await?;
        self.sent(1);
        row.as_ref().map(rows::job).transpose()
    }

    async fn edges(&self, job_id: Uuid) -> StoreResult<Edges> {
        self.select_edges(job_id).await
    }

    async fn workflow(&self, root: Uuid, limit: u32) -> StoreResult<Vec<WorkflowNode>> {
        self.select_workflow(root, limit).await
    }

    async fn executions(&self, job_id: Uuid) -> StoreResult<Vec<Execution>> {
        let found = sqlx::query(sql::SELECT_EXECUTIONS).bind(job_id).fetch_all(&self.pool).await?;
        self.sent(1);
        found.iter().map(rows::execution).collect()
    }

    async fn list_jobs(&self, filter: JobFilter) -> StoreResult<Vec<Job>> {
        let found = bind_filter(sqlx::query(sql::FILTER_JOBS), &filter).fetch_all(&self.pool).await?;
        self.sent(1);
        found.iter().map(rows::job).collect()
    }

    async fn job_ids(&self, filter: JobFilter) -> StoreResult<Vec<Uuid>> {
        let found = bind_filter(sqlx::query_scalar(sql::FILTER_JOB_IDS), &filter).fetch_all(&self.pool).await?;
        self.sent(1);
        Ok(found)
    }

    async fn count_jobs(&self, filter: JobFilter) -> StoreResult<u64> {
        let n: i64 = bind_filter(sqlx::query_scalar(sql::COUNT_JOBS), &filter).fetch_one(&self.pool).await?;
        self.sent(1);
        Ok(n.max(0) as u64)
    }

    async fn apply_bulk(
        &self,
        action: crate::store::BulkAction,
        mut job_ids: Vec<Uuid>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Uuid>> {
        use crate::store::BulkAction;
        if job_ids.is_empty() {
            return Ok(Vec::new());
        }
        job_ids.sort();
        job_ids.dedup();
        let statement = match action {
            BulkAction::Cancel => sql::BULK_CANCEL,
            BulkAction::RetryNow => sql::BULK_RETRY_NOW,
            BulkAction::Requeue => sql::BULK_REQUEUE,
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

    async fn health_history(
        &self,
        worker_id: Uuid,
        metric_type: &str,
        limit: u32,
    ) -> StoreResult<Vec<crate::store::HealthSample>> {
        let found: Vec<(DateTime<Utc>, f64)> = sqlx::query_as(sql::HEALTH_HISTORY)
            .bind(worker_id)
            .bind(metric_type)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        self.sent(1);
        Ok(found.into_iter().map(|(logged_at, value)| crate::store::HealthSample { logged_at, value }).collect())
    }

    async fn pending_by_type(&self) -> StoreResult<Vec<(String, i64)>> {
        let found = sqlx::query_as(sql::PENDING_BY_TYPE).fetch_all(&self.pool).await?;
        self.sent(1);
        Ok(found)
    }

    async fn dead_letters(&self, limit: u32, before: Option<i64>) -> StoreResult<Vec<DeadLetter>> {
        let found =
            sqlx::query(sql::SELECT_DEAD_LETTERS).bind(i64::from(limit)).bind(before).fetch_all(&self.pool).await?;
        self.sent(1);
        found.iter().map(rows::dead_letter).collect()
    }

    async fn completed_since(&self, since: DateTime<Utc>) -> StoreResult<i64> {
        let n = sqlx::query_scalar(sql::COMPLETED_SINCE).bind(since).fetch_one(&self.pool).await?;
        self.sent(1);
        Ok(n)
    }

    async fn upsert_workers(&self, workers: Vec<WorkerRecord>) -> StoreResult<()> {
        if workers.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = workers.iter().map(|w| w.worker_id).collect();
        let nodes: Vec<&str> = workers.iter().map(|w| w.node_id.as_str()).collect();
        let statuses: Vec<&str> = workers.iter().map(|w| w.status.as_str()).collect();
        let capacities: Vec<i32> = workers.iter().map(|w| w.capacity).collect();
        let loads: Vec<i32> = workers.iter().map(|w| w.current_load).collect();
        let scores: Vec<f64> = workers.iter().map(|w| clamp_score(w.health_score)).collect();
        let failures: Vec<i32> = workers.iter().map(|w| w.failure_count).collect();
        let metadata: Vec<String> = workers.iter().map(|w| w.metadata.to_string()).collect();
        let beats: Vec<Option<DateTime<Utc>>> = workers.iter().map(|w| w.last_heartbeat).collect();
        sqlx::query(sql::UPSERT_WORKERS)
            .bind(&ids)
            .bind(&nodes)
            .bind(&statuses)
            .bind(&capacities)
            .bind(&loads)
            .bind(&scores)
            .bind(&failures)
            .bind(&metadata)
            .bind(&beats)
            .execute(&self.pool)
            .await?;
        self.sent(1);
        Ok(())
    }

    async fn list_workers(&self) -> StoreResult<Vec<WorkerRecord>> {
        let found = sqlx::query(sql::SELECT_WORKERS).fetch_all(&self.pool).await?;
        self.sent(1);
        found.iter().map(rows::worker).collect()
    }

    async fn write_health_logs(&self, logs: Vec<HealthLog>) -> StoreResult<()> {
        if logs.is_empty() {
            return Ok(());
        }
        let workers: Vec<Uuid> = logs.iter().map(|l| l.worker_id).collect();
        let metrics: Vec<&str> = logs.iter().map(|l| l.metric_type.as_str()).collect();
        let values: Vec<f64> = logs.iter().map(HealthLog::storable_value).collect();
        let metadata: Vec<String> = logs.iter().map(|l| l.metadata.to_string()).collect();
        let times: Vec<DateTime<Utc>> = logs.iter().map(|l| l.logged_at).collect();
        sqlx::query(sql::INSERT_HEALTH_LOGS)
            .bind(&workers)
            .bind(&metrics)
            .bind(&values)
            .bind(&metadata)
            .bind(&times)
            .execute(&self.pool)
            .await?;
        self.sent(1);
        Ok(())
    }

    async fn prune(&self, policy: PrunePolicy) -> StoreResult<Pruned> {
        let mut tx = self.begin().await?;
        let ours: bool = sqlx::query_scalar(sql::TRY_PRUNE_LOCK).fetch_one(&mut *tx).await?;
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

    async fn count_by_status(&self) -> StoreResult<Vec<(JobStatus, i64)>> {
        let found: Vec<(String, i64)> = sqlx::query_as(sql::COUNT_BY_STATUS).fetch_all(&self.pool).await?;
        self.sent(1);
        found.into_iter().map(|(s, n)| Ok((s.parse()?, n))).collect()
    }

    async fn insert_snapshot(&self, snapshot: SnapshotRow) -> StoreResult<()> {
        self.insert_snapshot_row(snapshot).await
    }

    async fn list_snapshots(&self, filter: SnapshotFilter) -> StoreResult<Vec<SnapshotSummary>> {
        self.select_snapshots(filter).await
    }

    async fn get_snapshot(&self, snapshot_id: Uuid) -> StoreResult<Option<SnapshotRow>> {
        self.select_snapshot(snapshot_id).await
    }

    async fn latest_snapshot(&self, node_id: Option<String>) -> StoreResult<Option<SnapshotRow>> {
        self.select_latest_snapshot(node_id).await
    }

    async fn delete_snapshots(&self, snapshot_ids: Vec<Uuid>) -> StoreResult<u64> {
        self.delete_snapshot_rows(snapshot_ids).await
    }

    async fn save_checkpoint(
        &self,
        claim: ClaimRef,
        data: serde_json::Value,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied> {
        self.save_job_checkpoint(claim, data, now).await
    }

    async fn last_checkpoint(&self, job_id: Uuid) -> StoreResult<Option<crate::store::Checkpoint>> {
        self.read_checkpoint(job_id).await
    }

    async fn put_contexts(&self, points: Vec<crate::vector::ContextPoint>) -> StoreResult<()> {
        self.upsert_contexts(points).await
    }

    async fn search_contexts(&self, query: crate::vector::SimilarQuery) -> StoreResult<Vec<crate::vector::Scored>> {
        self.scan_contexts(query).await
    }

    async fn job_contexts(&self, job_id: Uuid) -> StoreResult<Vec<crate::vector::ContextPoint>> {
        self.read_job_contexts(job_id).await
    }
}

/// Binds [`sql::FILTER_JOBS`]'s parameters ($1 to $7) from `filter`.
fn bind_filter<'q, Q: BindFilter<'q>>(query: Q, filter: &JobFilter) -> Q {
    let (from, until) = filter.id_range();
    let statuses: Vec<&'static str> = filter.statuses.iter().map(|s| s.as_str()).collect();
    query
        .bind_one(statuses)
        .bind_one(filter.job_type.clone())
        .bind_one(from)
        .bind_one(until)
        .bind_one(filter.search.clone())
        .bind_one(filter.job_ids.clone())
        .bind_one(i64::from(filter.limit))
}

/// The query kinds [`bind_filter`] fills (rows, or one column).
trait BindFilter<'q>: Sized {
    fn bind_one<T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + Send>(self, value: T) -> Self;
}

impl<'q> BindFilter<'q> for sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    fn bind_one<T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + Send>(self, value: T) -> Self {
        self.bind(value)
    }
}

impl<'q, O> BindFilter<'q> for sqlx::query::QueryScalar<'q, Postgres, O, sqlx::postgres::PgArguments> {
    fn bind_one<T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + Send>(self, value: T) -> Self {
        self.bind(value)
    }
}

/// Health scores are NUMERIC(3,2) in 0..=1.
fn clamp_score(score: f64) -> f64 {
    if score.is_finite() { score.clamp(0.0, 1.0) } else { 0.0 }
}
