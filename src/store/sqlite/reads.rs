//! The reads of the contract ([`Reads`](crate::store::Reads)) on SQLite: a job, its
//! attempts, edges and workflow, listings, dead letters, counts, workers, nodes and the
//! latest checkpoint. They run on the read-only connections, beside the writer (WAL): a
//! read never waits for a write, and each sees every write committed before it began.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::codec::{parse_json, parse_time, parse_uuid, time, uuid_list};
use super::snapshots::{snapshot_type, whole};
use super::{SqliteStore, rows, sql};
use crate::job::{Execution, Job, JobStatus};
use crate::store::{
    Checkpoint, DeadLetter, Edges, HealthHistoryParams, HealthSample, JobFilter, NodeRecord, NodeStatus, Reads,
    StoreError, StoreResult, WorkerRecord, WorkflowNode,
};
use crate::store::{SnapshotFilter, SnapshotRow, SnapshotSummary};

/// Binds [`sql::LIST_JOBS`]'s parameters (?1 to ?7) from a [`JobFilter`].
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

#[async_trait]
impl Reads for SqliteStore {
    async fn get_job(&self, job_id: Uuid) -> StoreResult<Option<Job>> {
        let row = sqlx::query(sql::GET_JOB).bind(job_id.to_string()).fetch_optional(&self.readers).await?;
        self.sent(1);
        row.as_ref().map(rows::job).transpose()
    }

    async fn edges(&self, job_id: Uuid) -> StoreResult<Edges> {
        let found = sqlx::query(sql::EDGES).bind(job_id.to_string()).fetch_all(&self.readers).await?;
        self.sent(1);
        let mut edges = Edges::default();
        for row in found {
            let side: String = row.try_get(0)?;
            let other = rows::uuid(&row, 1)?;
            if side == "depends_on" { edges.depends_on.push(other) } else { edges.dependents.push(other) }
        }
        Ok(edges)
    }

    async fn workflow(&self, root: Uuid, limit: u32) -> StoreResult<Vec<WorkflowNode>> {
        let found =
            sqlx::query(sql::WORKFLOW).bind(root.to_string()).bind(i64::from(limit)).fetch_all(&self.readers).await?;
        self.sent(1);
        found
            .iter()
            .map(|row| {
                let depends_on: Vec<String> = match row.try_get::<Option<String>, _>(3)? {
                    None => Vec::new(),
                    Some(list) => serde_json::from_str(&list).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                };
                let mut depends_on: Vec<Uuid> =
                    depends_on.iter().map(|id| parse_uuid(id)).collect::<StoreResult<_>>()?;
                depends_on.sort();
                Ok(WorkflowNode {
                    job_id: rows::uuid(row, 0)?,
                    job_type: row.try_get(1)?,
                    status: row.try_get::<String, _>(2)?.parse()?,
                    depends_on,
                })
            })
            .collect()
    }

    async fn executions(&self, job_id: Uuid) -> StoreResult<Vec<Execution>> {
        let found = sqlx::query(sql::EXECUTIONS).bind(job_id.to_string()).fetch_all(&self.readers).await?;
        self.sent(1);
        found.iter().map(rows::execution).collect()
    }

    async fn list_jobs(&self, filter: JobFilter) -> StoreResult<Vec<Job>> {
        let found = bind_filter!(sqlx::query(sql::LIST_JOBS), &filter).fetch_all(&self.readers).await?;
        self.sent(1);
        found.iter().map(rows::job).collect()
    }

    async fn job_ids(&self, filter: JobFilter) -> StoreResult<Vec<Uuid>> {
        let found: Vec<String> =
            bind_filter!(sqlx::query_scalar(sql::JOB_IDS), &filter).fetch_all(&self.readers).await?;
        self.sent(1);
        found.iter().map(|id| parse_uuid(id)).collect()
    }

    async fn count_jobs(&self, filter: JobFilter) -> StoreResult<u64> {
        let n: i64 = bind_filter!(sqlx::query_scalar(sql::COUNT_JOBS), &filter).fetch_one(&self.readers).await?;
        self.sent(1);
        Ok(n.max(0) as u64)
    }

    async fn health_history(&self, params: HealthHistoryParams) -> StoreResult<Vec<HealthSample>> {
        let HealthHistoryParams { worker_id, metric_type, limit } = params;
        let found: Vec<(String, f64)> = sqlx::query_as(sql::HEALTH_HISTORY)
            .bind(worker_id.to_string())
            .bind(metric_type)
            .bind(i64::from(limit))
            .fetch_all(&self.readers)
            .await?;
        self.sent(1);
        found.iter().map(|(at, value)| Ok(HealthSample { logged_at: parse_time(at)?, value: *value })).collect()
    }

    async fn pending_by_type(&self) -> StoreResult<Vec<(String, i64)>> {
        let found = sqlx::query_as(sql::PENDING_BY_TYPE).fetch_all(&self.readers).await?;
        self.sent(1);
        Ok(found)
    }

    async fn dead_letters(&self, limit: u32, before: Option<i64>) -> StoreResult<Vec<DeadLetter>> {
        let found = sqlx::query(sql::DEAD_LETTERS).bind(i64::from(limit)).bind(before).fetch_all(&self.readers).await?;
        self.sent(1);
        found.iter().map(rows::dead_letter).collect()
    }

    async fn completed_since(&self, since: DateTime<Utc>) -> StoreResult<i64> {
        let n = sqlx::query_scalar(sql::COMPLETED_SINCE).bind(time(since)).fetch_one(&self.readers).await?;
        self.sent(1);
        Ok(n)
    }

    async fn list_workers(&self) -> StoreResult<Vec<WorkerRecord>> {
        let found = sqlx::query(sql::LIST_WORKERS).fetch_all(&self.readers).await?;
        self.sent(1);
        found.iter().map(rows::worker).collect()
    }

    async fn count_by_status(&self) -> StoreResult<Vec<(JobStatus, i64)>> {
        let found: Vec<(String, i64)> = sqlx::query_as(sql::COUNT_BY_STATUS).fetch_all(&self.readers).await?;
        self.sent(1);
        found.into_iter().map(|(s, n)| Ok((s.parse()?, n))).collect()
    }

    async fn list_nodes(&self) -> StoreResult<Vec<NodeRecord>> {
        let rows: Vec<(String, String, String, String, String, String)> =
            sqlx::query_as(sql::LIST_NODES).fetch_all(&self.readers).await?;
        self.sent(1);
        rows.into_iter()
            .map(|(node_id, address, status, started_at, last_seen, incarnation)| {
                let status = NodeStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("node {node_id} has status {status:?}")))?;
                Ok(NodeRecord {
                    node_id,
                    address,
                    status,
                    started_at: parse_time(&started_at)?,
                    last_seen: parse_time(&last_seen)?,
                    incarnation,
                })
            })
            .collect()
    }

    async fn last_checkpoint(&self, job_id: Uuid) -> StoreResult<Option<Checkpoint>> {
        let row = sqlx::query(sql::LAST_CHECKPOINT).bind(job_id.to_string()).fetch_optional(&self.readers).await?;
        self.sent(1);
        row.map(|r| {
            Ok(Checkpoint {
                job_id: parse_uuid(&r.try_get::<String, _>(0)?)?,
                execution_id: parse_uuid(&r.try_get::<String, _>(1)?)?,
                attempt: r.try_get(2)?,
                data: parse_json(&r.try_get::<String, _>(3)?)?,
                saved_at: parse_time(&r.try_get::<String, _>(4)?)?,
            })
        })
        .transpose()
    }

    async fn list_snapshots(&self, filter: SnapshotFilter) -> StoreResult<Vec<SnapshotSummary>> {
        let found = sqlx::query(sql::LIST_SNAPSHOTS)
            .bind(filter.snapshot_type.map(|t| t.as_str()))
            .bind(filter.node_id)
            .bind(filter.before.map(|id| id.to_string()))
            .bind(i64::from(filter.limit))
            .fetch_all(&self.readers)
            .await?;
        self.sent(1);
        found
            .iter()
            .map(|row| {
                Ok(SnapshotSummary {
                    snapshot_id: rows::uuid(row, "snapshot_id")?,
                    snapshot_type: snapshot_type(row)?,
                    metadata: row.try_get("metadata")?,
                    created_at: rows::time(row, "created_at")?,
                })
            })
            .collect()
    }

    async fn get_snapshot(&self, snapshot_id: Uuid) -> StoreResult<Option<SnapshotRow>> {
        let row = sqlx::query(sql::GET_SNAPSHOT).bind(snapshot_id.to_string()).fetch_optional(&self.readers).await?;
        self.sent(1);
        row.as_ref().map(whole).transpose()
    }

    async fn latest_snapshot(&self, node_id: Option<String>) -> StoreResult<Option<SnapshotRow>> {
        let row = sqlx::query(sql::LATEST_SNAPSHOT).bind(node_id).fetch_optional(&self.readers).await?;
        self.sent(1);
        row.as_ref().map(whole).transpose()
    }
}
