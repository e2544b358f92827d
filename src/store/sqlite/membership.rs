//! The cluster's rows on SQLite: a file serves one node, so the rescue lease is always
//! its own and no other node dies on it; the statements are Postgres's all the same,
//! so the contract holds on both.

use chrono::{DateTime, Utc};

use super::codec::{parse_time, time};
use super::{SqliteStore, sql};
use crate::store::{Fence, NodeRecord, NodeStatus, Rescued, StoreError, StoreResult};
use crate::store::{HealthLog, Membership, WorkerRecord};
use async_trait::async_trait;

impl SqliteStore {
    pub(super) async fn rescue_dead_node(
        &self,
        node_id: &str,
        silent_since: DateTime<Utc>,
        fence: Fence,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<Rescued>>> {
        let mut tx = self.begin().await?;
        let fenced = sqlx::query(sql::CHECK_FENCE)
            .bind(&fence.name)
            .bind(&fence.holder)
            .bind(fence.token)
            .bind(time(now))
            .fetch_optional(&mut *tx)
            .await?;
        if fenced.is_none() {
            tx.rollback().await?;
            return Ok(None);
        }
        let dead =
            sqlx::query(sql::MARK_NODE_DEAD).bind(node_id).bind(time(silent_since)).fetch_optional(&mut *tx).await?;
        if dead.is_none() {
            tx.rollback().await?;
            return Ok(Some(Vec::new()));
        }
        sqlx::query(sql::MARK_NODE_WORKERS_DEAD).bind(node_id).bind(time(now)).execute(&mut *tx).await?;
        let held = sqlx::query(sql::LOCK_NODE_CLAIMS).bind(node_id).fetch_all(&mut *tx).await?;
        self.sent(3);
        let why = format!("node {node_id} stopped heartbeating; its worker {{worker}} was running this attempt");
        self.rescue(tx, &held, &why, now).await.map(Some)
    }

    pub(super) async fn write_node(&self, node: NodeRecord, now: DateTime<Utc>) -> StoreResult<bool> {
        let written = sqlx::query(sql::UPSERT_NODE)
            .bind(&node.node_id)
            .bind(&node.address)
            .bind(node.status.as_str())
            .bind(time(now))
            .bind(&node.incarnation)
            .fetch_optional(&self.writer)
            .await?;
        self.sent(1);
        Ok(written.is_some())
    }

    pub(super) async fn take_over_node(
        &self,
        node: NodeRecord,
        seen: Option<NodeRecord>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<Rescued>>> {
        let mut tx = self.begin().await?;
        let (seen_incarnation, seen_beat) = seen.map(|s| (s.incarnation, time(s.last_seen))).unzip();
        let taken = sqlx::query(sql::TAKE_NODE)
            .bind(&node.node_id)
            .bind(&node.address)
            .bind(time(now))
            .bind(&node.incarnation)
            .bind(seen_incarnation)
            .bind(seen_beat)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !taken {
            tx.rollback().await?;
            self.sent(1);
            return Ok(None);
        }
        sqlx::query(sql::MARK_NODE_WORKERS_DEAD).bind(&node.node_id).bind(time(now)).execute(&mut *tx).await?;
        let held = sqlx::query(sql::LOCK_NODE_CLAIMS).bind(&node.node_id).fetch_all(&mut *tx).await?;
        self.sent(3);
        let why = crate::store::RESTARTED.replace("{node}", &node.node_id);
        self.rescue(tx, &held, &why, now).await.map(Some)
    }

    pub(super) async fn read_nodes(&self) -> StoreResult<Vec<NodeRecord>> {
        let rows: Vec<(String, String, String, String, String, String)> =
            sqlx::query_as(sql::SELECT_NODES).fetch_all(&self.readers).await?;
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

    pub(super) async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>> {
        let token: Option<i64> = sqlx::query_scalar(sql::ACQUIRE_LEASE)
            .bind(name)
            .bind(holder)
            .bind(time(until))
            .bind(time(now))
            .fetch_optional(&self.writer)
            .await?;
        self.sent(1);
        Ok(token)
    }
}

#[async_trait]
impl Membership for SqliteStore {
    async fn heartbeat_node(&self, node: NodeRecord, now: DateTime<Utc>) -> StoreResult<bool> {
        self.write_node(node, now).await
    }

    async fn take_node(
        &self,
        node: NodeRecord,
        seen: Option<NodeRecord>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<Rescued>>> {
        self.take_over_node(node, seen, now).await
    }

    /// The file's lock (`lock.rs`) keeps every other process out.
    fn exclusive(&self) -> bool {
        true
    }

    async fn rescue_node(
        &self,
        node_id: &str,
        silent_since: DateTime<Utc>,
        fence: Fence,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<Rescued>>> {
        self.rescue_dead_node(node_id, silent_since, fence, now).await
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

    async fn upsert_workers(&self, workers: Vec<WorkerRecord>) -> StoreResult<()> {
        self.upsert_worker_rows(workers).await
    }

    async fn write_health_logs(&self, logs: Vec<HealthLog>) -> StoreResult<()> {
        self.insert_health_logs(logs).await
    }
}
