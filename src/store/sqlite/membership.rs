//! Nodes and workers ([`Membership`](crate::store::Membership)) on SQLite. A file
//! serves one node, so the rescue lease is always its own and no other node dies on
//! it; the statements are Postgres's all the same, so the contract holds on both.
//! Workers' rows and health metrics go in one statement per batch. Postgres keeps
//! `health_score` as NUMERIC(3,2) and `metric_value` as NUMERIC(10,4); SQLite keeps
//! floats, so the values are clamped and rounded here exactly as Postgres would store
//! them (see [`round_decimal`]), and both backends read back the same numbers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::codec::{opt_time, round_decimal, time};
use super::{SqliteStore, sql};
use crate::store::{
    AcquireLeaseParams, HealthLog, Membership, NodeRecord, RescueNodeParams, Rescued, StoreResult, TakeNodeParams,
    WorkerRecord,
};

#[async_trait]
impl Membership for SqliteStore {
    async fn heartbeat_node(&self, node: NodeRecord, now: DateTime<Utc>) -> StoreResult<bool> {
        let written = sqlx::query(sql::HEARTBEAT_NODE)
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

    async fn take_node(&self, params: TakeNodeParams, now: DateTime<Utc>) -> StoreResult<Option<Vec<Rescued>>> {
        let TakeNodeParams { node, seen } = params;
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

    /// The file's lock (`lock.rs`) keeps every other process out.
    fn exclusive(&self) -> bool {
        true
    }

    async fn rescue_node(&self, params: RescueNodeParams, now: DateTime<Utc>) -> StoreResult<Option<Vec<Rescued>>> {
        let RescueNodeParams { node_id, silent_since, fence } = params;
        let mut tx = self.begin().await?;
        let fenced = sqlx::query(sql::RESCUE_NODE_CHECK_FENCE)
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
        let dead = sqlx::query(sql::RESCUE_NODE_MARK_DEAD)
            .bind(&node_id)
            .bind(time(silent_since))
            .fetch_optional(&mut *tx)
            .await?;
        if dead.is_none() {
            tx.rollback().await?;
            return Ok(Some(Vec::new()));
        }
        sqlx::query(sql::MARK_NODE_WORKERS_DEAD).bind(&node_id).bind(time(now)).execute(&mut *tx).await?;
        let held = sqlx::query(sql::LOCK_NODE_CLAIMS).bind(&node_id).fetch_all(&mut *tx).await?;
        self.sent(3);
        let why = format!("node {node_id} stopped heartbeating; its worker {{worker}} was running this attempt");
        self.rescue(tx, &held, &why, now).await.map(Some)
    }

    async fn acquire_lease(&self, params: AcquireLeaseParams, now: DateTime<Utc>) -> StoreResult<Option<i64>> {
        let AcquireLeaseParams { name, holder, until } = params;
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

    async fn upsert_workers(&self, workers: Vec<WorkerRecord>) -> StoreResult<()> {
        if workers.is_empty() {
            return Ok(());
        }
        let batch: Vec<Value> = workers
            .iter()
            .map(|w| {
                json!({
                    "id": w.worker_id,
                    "node": w.node_id,
                    "status": w.status.as_str(),
                    "capacity": w.capacity,
                    "load": w.current_load,
                    "score": round_decimal(clamp_score(w.health_score), 2),
                    "failures": w.failure_count,
                    "metadata": w.metadata.to_string(),
                    "beat": opt_time(w.last_heartbeat),
                })
            })
            .collect();
        // Postgres stamps these rows with the database's NOW(); here the node's clock.
        sqlx::query(sql::UPSERT_WORKERS)
            .bind(Value::Array(batch).to_string())
            .bind(time(Utc::now()))
            .execute(&self.writer)
            .await?;
        self.sent(1);
        Ok(())
    }

    async fn write_health_logs(&self, logs: Vec<HealthLog>) -> StoreResult<()> {
        if logs.is_empty() {
            return Ok(());
        }
        let batch: Vec<Value> = logs
            .iter()
            .map(|l| {
                json!({
                    "worker": l.worker_id,
                    "metric": l.metric_type,
                    "value": round_decimal(l.storable_value(), 4),
                    "metadata": l.metadata.to_string(),
                    "at": time(l.logged_at),
                })
            })
            .collect();
        sqlx::query(sql::WRITE_HEALTH_LOGS).bind(Value::Array(batch).to_string()).execute(&self.writer).await?;
        self.sent(1);
        Ok(())
    }
}

/// Health scores are NUMERIC(3,2) in 0..=1.
fn clamp_score(score: f64) -> f64 {
    if score.is_finite() { score.clamp(0.0, 1.0) } else { 0.0 }
}
