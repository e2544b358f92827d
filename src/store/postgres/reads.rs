//! Reads ([`Reads`](crate::store::Reads)) on Postgres.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{PgStore, bind_filter, rows, sql};
use crate::job::{Execution, Job, JobStatus};
use crate::store::{DeadLetter, Edges, JobFilter, NodeRecord, Reads, StoreResult, WorkerRecord, WorkflowNode};

#[async_trait]
impl Reads for PgStore {
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

    async fn list_workers(&self) -> StoreResult<Vec<WorkerRecord>> {
        let found = sqlx::query(sql::SELECT_WORKERS).fetch_all(&self.pool).await?;
        self.sent(1);
        found.iter().map(rows::worker).collect()
    }

    async fn count_by_status(&self) -> StoreResult<Vec<(JobStatus, i64)>> {
        let found: Vec<(String, i64)> = sqlx::query_as(sql::COUNT_BY_STATUS).fetch_all(&self.pool).await?;
        self.sent(1);
        found.into_iter().map(|(s, n)| Ok((s.parse()?, n))).collect()
    }

    async fn list_nodes(&self) -> StoreResult<Vec<NodeRecord>> {
        self.select_nodes().await
    }

    async fn last_checkpoint(&self, job_id: Uuid) -> StoreResult<Option<crate::store::Checkpoint>> {
        self.read_checkpoint(job_id).await
    }
}
