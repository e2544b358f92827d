//! Reading SQLite rows into the runtime's types. UUIDs, times and JSON are text here
//! (see [`super::codec`]), decoded by hand: a value this build cannot read (a
//! malformed UUID, an unknown status) is a [`StoreError::Corrupt`], never a panic.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use super::codec::{parse_json, parse_time, parse_uuid};
use crate::job::{Execution, Job};
use crate::store::{DeadLetter, StoreError, StoreResult, WorkerRecord, WorkerStatus};

/// A UUID column (by name or position).
pub fn uuid<I: sqlx::ColumnIndex<SqliteRow>>(row: &SqliteRow, column: I) -> StoreResult<Uuid> {
    parse_uuid(&row.try_get::<String, _>(column)?)
}

pub fn opt_uuid<I: sqlx::ColumnIndex<SqliteRow>>(row: &SqliteRow, column: I) -> StoreResult<Option<Uuid>> {
    row.try_get::<Option<String>, _>(column)?.as_deref().map(parse_uuid).transpose()
}

/// A time column (by name or position).
pub fn time<I: sqlx::ColumnIndex<SqliteRow>>(row: &SqliteRow, column: I) -> StoreResult<DateTime<Utc>> {
    parse_time(&row.try_get::<String, _>(column)?)
}

pub fn opt_time<I: sqlx::ColumnIndex<SqliteRow>>(row: &SqliteRow, column: I) -> StoreResult<Option<DateTime<Utc>>> {
    row.try_get::<Option<String>, _>(column)?.as_deref().map(parse_time).transpose()
}

/// A JSON column (by name or position).
pub fn json<I: sqlx::ColumnIndex<SqliteRow>>(row: &SqliteRow, column: I) -> StoreResult<Value> {
    parse_json(&row.try_get::<String, _>(column)?)
}

pub fn opt_json<I: sqlx::ColumnIndex<SqliteRow>>(row: &SqliteRow, column: I) -> StoreResult<Option<Value>> {
    row.try_get::<Option<String>, _>(column)?.as_deref().map(parse_json).transpose()
}

pub fn job(row: &SqliteRow) -> StoreResult<Job> {
    Ok(Job {
        job_id: uuid(row, "job_id")?,
        job_type: row.try_get("job_type")?,
        payload: json(row, "payload")?,
        status: row.try_get::<String, _>("status")?.parse()?,
        priority: row.try_get("priority")?,
        attempts: row.try_get("attempts")?,
        max_retries: row.try_get("max_retries")?,
        timeout_ms: row.try_get("timeout_ms")?,
        result: opt_json(row, "result")?,
        error: row.try_get("error")?,
        idempotency_key: row.try_get("idempotency_key")?,
        scheduled_at: time(row, "scheduled_at")?,
        started_at: opt_time(row, "started_at")?,
        completed_at: opt_time(row, "completed_at")?,
        worker_id: opt_uuid(row, "worker_id")?,
        current_execution_id: opt_uuid(row, "current_execution_id")?,
        lease_expires_at: opt_time(row, "lease_expires_at")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub fn execution(row: &SqliteRow) -> StoreResult<Execution> {
    Ok(Execution {
        execution_id: uuid(row, "execution_id")?,
        job_id: uuid(row, "job_id")?,
        worker_id: uuid(row, "worker_id")?,
        attempt: row.try_get("attempt")?,
        execution_status: row.try_get::<String, _>("execution_status")?.parse()?,
        started_at: opt_time(row, "started_at")?,
        finished_at: opt_time(row, "finished_at")?,
        error: row.try_get("error")?,
    })
}

pub fn dead_letter(row: &SqliteRow) -> StoreResult<DeadLetter> {
    Ok(DeadLetter {
        dlq_id: row.try_get("dlq_id")?,
        job_id: uuid(row, "job_id")?,
        job_type: row.try_get("job_type")?,
        payload: json(row, "payload")?,
        last_error: row.try_get("last_error")?,
        attempts: row.try_get("attempts")?,
        failed_at: time(row, "failed_at")?,
    })
}

pub fn worker(row: &SqliteRow) -> StoreResult<WorkerRecord> {
    let status: String = row.try_get("status")?;
    Ok(WorkerRecord {
        worker_id: uuid(row, "worker_id")?,
        node_id: row.try_get("node_id")?,
        status: WorkerStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown worker status {status:?}")))?,
        capacity: row.try_get("capacity")?,
        current_load: row.try_get("current_load")?,
        health_score: row.try_get("health_score")?,
        failure_count: row.try_get("failure_count")?,
        metadata: json(row, "metadata")?,
        last_heartbeat: opt_time(row, "last_heartbeat")?,
    })
}
