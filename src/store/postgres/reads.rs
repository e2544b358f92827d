//! Reads ([`Reads`](crate::store::Reads)) on Postgres: a job, its attempts, edges and
//! workflow, listings, dead letters, counts, workers, nodes and the latest checkpoint.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::snapshots::{snapshot_type, whole};
use super::{PgStore, bind_filter, rows, sql};
use crate::job::{Execution, Job, JobStatus};
use crate::store::{
    Checkpoint, DeadLetter, Edges, HealthHistoryParams, JobFilter, NodeRecord, NodeStatus, Reads, StoreError,
    StoreResult, WorkerRecord, WorkflowNode,
};
use crate::store::{SnapshotFilter, SnapshotRow, SnapshotSummary};

/// A `nodes` row: id, address, status, started, last seen, incarnation.
type NodeRow = (String, String, String, DateTime<Utc>, DateTime<Utc>, String);

#[async_trait]
impl Reads for PgStore {
    async fn get_job(&self, job_id: Uuid) -> StoreResult<Option<Job>> {
        let row = sqlx::query(sql::GET_JOB).bind(job_id).fetch_optional(&self.pool).await?;
        self.sent(1);
        row.as_ref().map(rows::job).transpose()
    }

    async fn edges(&self, job_id: Uuid) -> StoreResult<Edges> {
        let rows = sqlx::query(sql::EDGES).bind(job_id).fetch_all(&self.pool).await?;
        self.sent(1);
        let mut edges = Edges::default();
        for row in rows {
            let side: String = row.try_get(0)?;
            let other: Uuid = row.try_get(1)?;
            if side == "depends_on" { edges.depends_on.push(other) } else { edges.dependents.push(other) }
        }
        Ok(edges)
    }

    async fn workflow(&self, root: Uuid, limit: u32) -> StoreResult<Vec<WorkflowNode>> {
        let rows = sqlx::query(sql::WORKFLOW).bind(root).bind(i64::from(limit)).fetch_all(&self.pool).await?;
        self.sent(1);
        rows.iter()
            .map(|row| {
                Ok(WorkflowNode {
                    job_id: row.try_get(0)?,
                    job_type: row.try_get(1)?,
                    status: row.try_get::<String, _>(2)?.parse()?,
                    depends_on: row.try_get(3)?,
                })
            })
            .collect()
    }

    async fn executions(&self, job_id: Uuid) -> StoreResult<Vec<Execution>> {
        let found = sqlx::query(sql::EXECUTIONS).bind(job_id).fetch_all(&self.pool).await?;
        self.sent(1);
        found.iter().map(rows::execution).collect()
    }

    async fn list_jobs(&self, filter: JobFilter) -> StoreResult<Vec<Job>> {
        let found = bind_filter(sqlx::query(sql::LIST_JOBS), &filter).fetch_all(&self.pool).await?;
        self.sent(1);
        found.iter().map(rows::job).collect()
    }

    async fn job_ids(&self, filter: JobFilter) -> StoreResult<Vec<Uuid>> {
        let found = bind_filter(sqlx::query_scalar(sql::JOB_IDS), &filter).fetch_all(&self.pool).await?;
        self.sent(1);
        Ok(found)
    }

    async fn count_jobs(&self, filter: JobFilter) -> StoreResult<u64> {
        let n: i64 = bind_filter(sqlx::query_scalar(sql::COUNT_JOBS), &filter).fetch_one(&self.pool).await?;
        self.sent(1);
        Ok(n.max(0) as u64)
    }

    async fn health_history(&self, params: HealthHistoryParams) -> StoreResult<Vec<crate::store::HealthSample>> {
        let HealthHistoryParams { worker_id, metric_type, limit } = params;
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
        let found = sqlx::query(sql::DEAD_LETTERS).bind(i64::from(limit)).bind(before).fetch_all(&self.pool).await?;
        self.sent(1);
        found.iter().map(rows::dead_letter).collect()
    }

    async fn completed_since(&self, since: DateTime<Utc>) -> StoreResult<i64> {
        let n = sqlx::query_scalar(sql::COMPLETED_SINCE).bind(since).fetch_one(&self.pool).await?;
        self.sent(1);
        Ok(n)
    }

    async fn list_workers(&self) -> StoreResult<Vec<WorkerRecord>> {
        let found = sqlx::query(sql::LIST_WORKERS).fetch_all(&self.pool).await?;
        self.sent(1);
        found.iter().map(rows::worker).collect()
    }

    async fn count_by_status(&self) -> StoreResult<Vec<(JobStatus, i64)>> {
        let found: Vec<(String, i64)> = sqlx::query_as(sql::COUNT_BY_STATUS).fetch_all(&self.pool).await?;
        self.sent(1);
        found.into_iter().map(|(s, n)| Ok((s.parse()?, n))).collect()
    }

    async fn list_nodes(&self) -> StoreResult<Vec<NodeRecord>> {
        let rows: Vec<NodeRow> = sqlx::query_as(sql::LIST_NODES).fetch_all(&self.pool).await?;
        self.sent(1);
        rows.into_iter()
            .map(|(node_id, address, status, started_at, last_seen, incarnation)| {
                let status = NodeStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("node {node_id} has status {status:?}")))?;
                Ok(NodeRecord { node_id, address, status, started_at, last_seen, incarnation })
            })
            .collect()
    }

    async fn last_checkpoint(&self, job_id: Uuid) -> StoreResult<Option<Checkpoint>> {
        let row = sqlx::query(sql::LAST_CHECKPOINT).bind(job_id).fetch_optional(&self.pool).await?;
        self.sent(1);
        row.map(|r| {
            Ok(Checkpoint {
                job_id: r.try_get(0)?,
                execution_id: r.try_get(1)?,
                attempt: r.try_get(2)?,
                data: r.try_get(3)?,
                saved_at: r.try_get(4)?,
            })
        })
        .transpose()
    }

    async fn list_snapshots(&self, filter: SnapshotFilter) -> StoreResult<Vec<SnapshotSummary>> {
        let found = sqlx::query(sql::LIST_SNAPSHOTS)
            .bind(filter.snapshot_type.map(|t| t.as_str()))
            .bind(filter.node_id)
            .bind(filter.before)
            .bind(i64::from(filter.limit))
            .fetch_all(&self.pool)
            .await?;
        self.sent(1);
        found
            .iter()
            .map(|row| {
                Ok(SnapshotSummary {
                    snapshot_id: row.try_get("snapshot_id")?,
                    snapshot_type: snapshot_type(row)?,
                    metadata: row.try_get("metadata")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn get_snapshot(&self, snapshot_id: Uuid) -> StoreResult<Option<SnapshotRow>> {
        let row = sqlx::query(sql::GET_SNAPSHOT).bind(snapshot_id).fetch_optional(&self.pool).await?;
        self.sent(1);
        row.as_ref().map(whole).transpose()
    }

    async fn latest_snapshot(&self, node_id: Option<String>) -> StoreResult<Option<SnapshotRow>> {
        let row = sqlx::query(sql::LATEST_SNAPSHOT).bind(node_id).fetch_optional(&self.pool).await?;
        self.sent(1);
        row.as_ref().map(whole).transpose()
    }
}
