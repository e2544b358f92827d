//! Workers' rows and health metrics, each batch in one statement. Postgres keeps
//! `health_score` as NUMERIC(3,2) and `metric_value` as NUMERIC(10,4); SQLite keeps
//! floats, so the values are clamped and rounded here exactly as Postgres would store
//! them (see [`round_decimal`]), and both backends read back the same numbers.

use chrono::Utc;
use serde_json::{Value, json};

use super::codec::{opt_time, round_decimal, time};
use super::{SqliteStore, rows, sql};
use crate::store::{HealthLog, StoreResult, WorkerRecord};

impl SqliteStore {
    pub(super) async fn upsert_worker_rows(&self, workers: Vec<WorkerRecord>) -> StoreResult<()> {
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

    pub(super) async fn read_workers(&self) -> StoreResult<Vec<WorkerRecord>> {
        let found = sqlx::query(sql::SELECT_WORKERS).fetch_all(&self.readers).await?;
        self.sent(1);
        found.iter().map(rows::worker).collect()
    }

    pub(super) async fn insert_health_logs(&self, logs: Vec<HealthLog>) -> StoreResult<()> {
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
        sqlx::query(sql::INSERT_HEALTH_LOGS).bind(Value::Array(batch).to_string()).execute(&self.writer).await?;
        self.sent(1);
        Ok(())
    }
}

/// Health scores are NUMERIC(3,2) in 0..=1.
pub(super) fn clamp_score(score: f64) -> f64 {
    if score.is_finite() { score.clamp(0.0, 1.0) } else { 0.0 }
}
