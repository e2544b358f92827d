//! Reading rows into the runtime's types. A value this build cannot read (an unknown
//! status) is a [`StoreError::Corrupt`], never a panic.

use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::job::{Execution, Job};
use crate::store::{DeadLetter, StoreError, StoreResult, WorkerRecord, WorkerStatus};

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

pub fn job(row: &PgRow) -> StoreResult<Job> {
    Ok(Job {
        job_id: row.try_get("job_id")?,
        job_type: row.try_get("job_type")?,
        payload: row.try_get("payload")?,
        status: row.try_get::<String, _>("status")?.parse().map_err(corrupt)?,
        priority: row.try_get("priority")?,
        attempts: row.try_get("attempts")?,
        max_retries: row.try_get("max_retries")?,
        timeout_ms: row.try_get("timeout_ms")?,
        result: row.try_get("result")?,
        error: row.try_get("error")?,
        idempotency_key: row.try_get("idempotency_key")?,
        scheduled_at: row.try_get("scheduled_at")?,
        started_at: row.try_get("started_at")?,
        completed_at: row.try_get("completed_at")?,
        worker_id: row.try_get("worker_id")?,
        current_execution_id: row.try_get("current_execution_id")?,
        lease_expires_at: row.try_get("lease_expires_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub fn execution(row: &PgRow) -> StoreResult<Execution> {
    Ok(Execution {
        execution_id: row.try_get("execution_id")?,
        job_id: row.try_get("job_id")?,
        worker_id: row.try_get("worker_id")?,
        attempt: row.try_get("attempt")?,
        execution_status: row.try_get::<String, _>("execution_status")?.parse().map_err(corrupt)?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        error: row.try_get("error")?,
    })
}

pub fn dead_letter(row: &PgRow) -> StoreResult<DeadLetter> {
    Ok(DeadLetter {
        dlq_id: row.try_get("dlq_id")?,
        job_id: row.try_get("job_id")?,
        job_type: row.try_get("job_type")?,
        payload: row.try_get("payload")?,
        last_error: row.try_get("last_error")?,
        attempts: row.try_get("attempts")?,
        failed_at: row.try_get("failed_at")?,
    })
}

pub fn worker(row: &PgRow) -> StoreResult<WorkerRecord> {
    let status: String = row.try_get("status")?;
    Ok(WorkerRecord {
        worker_id: row.try_get("worker_id")?,
        node_id: row.try_get("node_id")?,
        status: WorkerStatus::parse(&status).ok_or_else(|| corrupt(format!("unknown worker status {status:?}")))?,
        capacity: row.try_get("capacity")?,
        current_load: row.try_get("current_load")?,
        health_score: row.try_get(5)?,
        failure_count: row.try_get("failure_count")?,
        metadata: row.try_get("metadata")?,
        last_heartbeat: row.try_get("last_heartbeat")?,
    })
}
