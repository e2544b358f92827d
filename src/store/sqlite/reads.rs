//! The reads of the contract: a job, its attempts, listings, dead letters and counts.
//! They run on the read-only connections, beside the writer (WAL): a read never waits
//! for a write, and each sees every write committed before it began.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::codec::{parse_time, parse_uuid, time, uuid_list};
use super::{SqliteStore, rows, sql};
use crate::job::{Execution, Job, JobStatus};
use crate::store::{DeadLetter, HealthSample, JobFilter, StoreResult};
use crate::store::{Edges, NodeRecord, Reads, WorkerRecord, WorkflowNode};
use async_trait::async_trait;

/// Binds [`sql::FILTER_JOBS`]'s parameters (?1 to ?7) from a [`JobFilter`].
macro_rules! bind_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &JobFilter = $filter;
        let (from, until) = filter.id_range();
        let statuses = serde_json::Value::from(filter.statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>());
        $query
            .bind(statuses.to_string())
            .bind(filter.job_type.clone())
            .bind(from.map(|id| id.to_string()))
            .bind(until.map(|id| id.to_string()))
            .bind(filter.search.clone())
            .bind(uuid_list(filter.job_ids.iter().copied()))
            .bind(i64::from(filter.limit))
    }};
}

impl SqliteStore {
    pub(super) async fn read_job(&self, job_id: Uuid) -> StoreResult<Option<Job>> {
        let row = sqlx::query(sql::SELECT_JOB).bind(job_id.to_string()).fetch_optional(&self.readers).await?;
        self.sent(1);
        row.as_ref().map(rows::job).transpose()
    }

    pub(super) async fn read_executions(&self, job_id: Uuid) -> StoreResult<Vec<Execution>> {
        let found = sqlx::query(sql::SELECT_EXECUTIONS).bind(job_id.to_string()).fetch_all(&self.readers).await?;
        self.sent(1);
        found.iter().map(rows::execution).collect()
    }

    pub(super) async fn read_jobs(&self, filter: JobFilter) -> StoreResult<Vec<Job>> {
        let found = bind_filter!(sqlx::query(sql::FILTER_JOBS), &filter).fetch_all(&self.readers).await?;
        self.sent(1);
        found.iter().map(rows::job).collect()
    }

    pub(super) async fn read_job_ids(&self, filter: JobFilter) -> StoreResult<Vec<Uuid>> {
        let found: Vec<String> =
            bind_filter!(sqlx::query_scalar(sql::FILTER_JOB_IDS), &filter).fetch_all(&self.readers).await?;
        self.sent(1);
        found.iter().map(|id| parse_uuid(id)).collect()
    }

    pub(super) async fn count_filtered(&self, filter: JobFilter) -> StoreResult<u64> {
        let n: i64 = bind_filter!(sqlx::query_scalar(sql::COUNT_JOBS), &filter).fetch_one(&self.readers).await?;
        self.sent(1);
        Ok(n.max(0) as u64)
    }

    pub(super) async fn read_health_history(
        &self,
        worker_id: Uuid,
        metric_type: &str,
        limit: u32,
    ) -> StoreResult<Vec<HealthSample>> {
        let found: Vec<(String, f64)> = sqlx::query_as(sql::HEALTH_HISTORY)
            .bind(worker_id.to_string())
            .bind(metric_type)
            .bind(i64::from(limit))
            .fetch_all(&self.readers)
            .await?;
        self.sent(1);
        found.iter().map(|(at, value)| Ok(HealthSample { logged_at: parse_time(at)?, value: *value })).collect()
    }

    pub(super) async fn count_pending_by_type(&self) -> StoreResult<Vec<(String, i64)>> {
        let found = sqlx::query_as(sql::PENDING_BY_TYPE).fetch_all(&self.readers).await?;
        self.sent(1);
        Ok(found)
    }

    pub(super) async fn read_dead_letters(&self, limit: u32, before: Option<i64>) -> StoreResult<Vec<DeadLetter>> {
        let found =
            sqlx::query(sql::SELECT_DEAD_LETTERS).bind(i64::from(limit)).bind(before).fetch_all(&self.readers).await?;
        self.sent(1);
        found.iter().map(rows::dead_letter).collect()
    }

    pub(super) async fn count_completed_since(&self, since: DateTime<Utc>) -> StoreResult<i64> {
        let n = sqlx::query_scalar(sql::COMPLETED_SINCE).bind(time(since)).fetch_one(&self.readers).await?;
        self.sent(1);
        Ok(n)
    }

    pub(super) async fn count_jobs_by_status(&self) -> StoreResult<Vec<(JobStatus, i64)>> {
        let found: Vec<(String, i64)> = sqlx::query_as(sql::COUNT_BY_STATUS).fetch_all(&self.readers).await?;
        self.sent(1);
        found.into_iter().map(|(s, n)| Ok((s.parse()?, n))).collect()
    }
}

#[async_trait]
impl Reads for SqliteStore {
    async fn get_job(&self, job_id: Uuid) -> StoreResult<Option<Job>> {
        self.read_job(job_id).await
    }

    async fn edges(&self, job_id: Uuid) -> StoreResult<Edges> {
        self.select_edges(job_id).await
    }

    async fn workflow(&self, root: Uuid, limit: u32) -> StoreResult<Vec<WorkflowNode>> {
        self.select_workflow(root, limit).await
    }

    async fn executions(&self, job_id: Uuid) -> StoreResult<Vec<Execution>> {
        self.read_executions(job_id).await
    }

    async fn list_jobs(&self, filter: JobFilter) -> StoreResult<Vec<Job>> {
        self.read_jobs(filter).await
    }

    async fn job_ids(&self, filter: JobFilter) -> StoreResult<Vec<Uuid>> {
        self.read_job_ids(filter).await
    }

    async fn count_jobs(&self, filter: JobFilter) -> StoreResult<u64> {
        self.count_filtered(filter).await
    }

    async fn health_history(
        &self,
        worker_id: Uuid,
        metric_type: &str,
        limit: u32,
    ) -> StoreResult<Vec<crate::store::HealthSample>> {
        self.read_health_history(worker_id, metric_type, limit).await
    }

    async fn pending_by_type(&self) -> StoreResult<Vec<(String, i64)>> {
        self.count_pending_by_type().await
    }

    async fn dead_letters(&self, limit: u32, before: Option<i64>) -> StoreResult<Vec<DeadLetter>> {
        self.read_dead_letters(limit, before).await
    }

    async fn completed_since(&self, since: DateTime<Utc>) -> StoreResult<i64> {
        self.count_completed_since(since).await
    }

    async fn list_workers(&self) -> StoreResult<Vec<WorkerRecord>> {
        self.read_workers().await
    }

    async fn count_by_status(&self) -> StoreResult<Vec<(JobStatus, i64)>> {
        self.count_jobs_by_status().await
    }

    async fn list_nodes(&self) -> StoreResult<Vec<NodeRecord>> {
        self.read_nodes().await
    }

    async fn last_checkpoint(&self, job_id: Uuid) -> StoreResult<Option<crate::store::Checkpoint>> {
        self.read_checkpoint(job_id).await
    }
}
