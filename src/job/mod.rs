//! Jobs: their states, their attempts, and what a submitter may ask for.
//!
//! The state machine is drawn in `docs/job-states.md`.

mod dependencies;
mod numbers;
mod status;
mod submit;

pub use crate::config::SubmitLimits;
pub use dependencies::DependencyPolicy;
pub use numbers::{inexact_number, inexact_reason};
pub use status::{ExecutionStatus, JobStatus, ParseStatusError, RunResult};
pub use submit::{
    JobRequest, MAX_NESTING, NewJob, ValidationError, nesting, parse_job_id, parse_json, unstorable, validate_batch,
    validate_job_type,
};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// A job as the store holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub job_id: Uuid,
    pub job_type: String,
    pub payload: Value,
    pub status: JobStatus,
    pub priority: i32,
    pub attempts: i32,
    pub max_retries: i32,
    pub timeout_ms: i32,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub idempotency_key: Option<String>,
    pub scheduled_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The worker holding the current claim, while `RUNNING`.
    pub worker_id: Option<Uuid>,
    /// The execution of the current claim (the fencing token), while `RUNNING`.
    pub current_execution_id: Option<Uuid>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One attempt of a job (a row of `job_executions`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Execution {
    pub execution_id: Uuid,
    pub job_id: Uuid,
    pub worker_id: Uuid,
    pub attempt: i32,
    pub execution_status: ExecutionStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}
