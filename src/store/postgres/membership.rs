//! The cluster's rows on Postgres: node membership, the fenced leases (rescue), and
//! the rescue of a node that stopped heartbeating.

use chrono::{DateTime, Utc};

use super::clamp_score;
use super::{LockedClaim, PgStore, sql};
use crate::store::{AcquireLeaseParams, HealthLog, Membership, RescueNodeParams, TakeNodeParams, WorkerRecord};
use crate::store::{NodeRecord, Rescued, StoreResult};
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
impl Membership for PgStore {
    async fn heartbeat_node(&self, node: NodeRecord, now: DateTime<Utc>) -> StoreResult<bool> {
        let written = sqlx::query(sql::HEARTBEAT_NODE)
            .bind(&node.node_id)
            .bind(&node.address)
            .bind(node.status.as_str())
            .bind(now)
            .bind(&node.incarnation)
            .fetch_optional(&self.pool)
            .await?;
        self.sent(1);
        Ok(written.is_some())
    }

    async fn take_node(&self, params: TakeNodeParams, now: DateTime<Utc>) -> StoreResult<Option<Vec<Rescued>>> {
        let TakeNodeParams { node, seen } = params;
        let mut tx = self.begin().await?;
        let (seen_incarnation, seen_beat) = seen.map(|s| (s.incarnation, s.last_seen)).unzip();
        let taken = sqlx::query(sql::TAKE_NODE)
            .bind(&node.node_id)
            .bind(&node.address)
            .bind(now)
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
        sqlx::query(sql::MARK_NODE_WORKERS_DEAD).bind(&node.node_id).bind(now).execute(&mut *tx).await?;
        let locked: Vec<LockedClaim> =
            sqlx::query_as(sql::LOCK_NODE_CLAIMS).bind(&node.node_id).fetch_all(&mut *tx).await?;
        self.sent(3);
        let why = crate::store::RESTARTED.replace("{node}", &node.node_id);
        self.rescue_locked(tx, locked, &why, now).await.map(Some)
    }

    async fn rescue_node(&self, params: RescueNodeParams, now: DateTime<Utc>) -> StoreResult<Option<Vec<Rescued>>> {
        let RescueNodeParams { node_id, silent_since, fence } = params;
        let mut tx = self.begin().await?;
        let fenced = sqlx::query(sql::RESCUE_NODE_CHECK_FENCE)
            .bind(&fence.name)
            .bind(&fence.holder)
            .bind(fence.token)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        if fenced.is_none() {
            tx.rollback().await?;
            return Ok(None);
        }
        let dead =
            sqlx::query(sql::RESCUE_NODE_MARK_DEAD).bind(&node_id).bind(silent_since).fetch_optional(&mut *tx).await?;
        if dead.is_none() {
            tx.rollback().await?;
            return Ok(Some(Vec::new()));
        }
        sqlx::query(sql::MARK_NODE_WORKERS_DEAD).bind(&node_id).bind(now).execute(&mut *tx).await?;
        let locked: Vec<LockedClaim> = sqlx::query_as(sql::LOCK_NODE_CLAIMS).bind(&node_id).fetch_all(&mut *tx).await?;
        self.sent(4);
        let why = format!("node {node_id} stopped heartbeating; its worker {{worker}} was running this attempt");
        self.rescue_locked(tx, locked, &why, now).await.map(Some)
    }

    async fn acquire_lease(&self, params: AcquireLeaseParams, now: DateTime<Utc>) -> StoreResult<Option<i64>> {
        let AcquireLeaseParams { name, holder, until } = params;
        let token: Option<i64> = sqlx::query_scalar(sql::ACQUIRE_LEASE)
            .bind(name)
            .bind(holder)
            .bind(until)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        self.sent(1);
        Ok(token)
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

    async fn write_health_logs(&self, logs: Vec<HealthLog>) -> StoreResult<()> {
        if logs.is_empty() {
            return Ok(());
        }
        let workers: Vec<Uuid> = logs.iter().map(|l| l.worker_id).collect();
        let metrics: Vec<&str> = logs.iter().map(|l| l.metric_type.as_str()).collect();
        let values: Vec<f64> = logs.iter().map(HealthLog::storable_value).collect();
        let metadata: Vec<String> = logs.iter().map(|l| l.metadata.to_string()).collect();
        let times: Vec<DateTime<Utc>> = logs.iter().map(|l| l.logged_at).collect();
        sqlx::query(sql::WRITE_HEALTH_LOGS)
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
}
