//! The shapes the API answers with, as the OpenAPI document describes them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::job::{Execution, Job};
use crate::store::{DeadLetter, WorkerRecord};

/// A job as `GET /v1/jobs/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub job_id: Uuid,
    #[serde(rename = "type")]
    pub job_type: String,
    /// `WAITING`, `PENDING`, `RUNNING`, `COMPLETED`, `DEAD_LETTER` or `CANCELLED`.
    pub status: String,
    pub priority: i32,
    pub attempts: i32,
    pub max_retries: i32,
    pub timeout_ms: i32,
    #[schema(value_type = Object)]
    pub payload: Value,
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    pub error: Option<String>,
    pub scheduled_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The jobs this one waits for.
    pub depends_on: Vec<Uuid>,
    /// The jobs that wait for this one (only in single-job answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependents: Option<Vec<Uuid>>,
    /// Every attempt, oldest first (only in single-job answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executions: Option<Vec<ExecutionView>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionView {
    pub execution_id: Uuid,
    pub attempt: i32,
    pub worker_id: Uuid,
    pub execution_status: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

impl JobView {
    pub fn new(job: Job, executions: Option<Vec<Execution>>) -> Self {
        Self {
            job_id: job.job_id,
            job_type: job.job_type,
            status: job.status.as_str().to_string(),
            priority: job.priority,
            attempts: job.attempts,
            max_retries: job.max_retries,
            timeout_ms: job.timeout_ms,
            payload: job.payload,
            result: job.result,
            error: job.error,
            scheduled_at: job.scheduled_at,
            created_at: job.created_at,
            started_at: job.started_at,
            completed_at: job.completed_at,
            depends_on: Vec::new(),
            dependents: None,
            executions: executions.map(|all| {
                all.into_iter()
                    .map(|e| ExecutionView {
                        execution_id: e.execution_id,
                        attempt: e.attempt,
                        worker_id: e.worker_id,
                        execution_status: e.execution_status.as_str().to_string(),
                        started_at: e.started_at,
                        finished_at: e.finished_at,
                        error: e.error,
                    })
                    .collect()
            }),
        }
    }
}

/// The answer to a submit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Submitted {
    pub job_id: Uuid,
    pub status: String,
    /// What the submitter should know, the job being accepted all the same: no worker
    /// of this node handles its type (it stays `PENDING` until a node that does runs).
    /// Absent when there is nothing to say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1 to 10,000 jobs, written all or nothing.
    #[schema(min_items = 1, max_items = 10000)]
    pub jobs: Vec<crate::job::JobRequest>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BatchSubmitted {
    pub job_ids: Vec<Uuid>,
    /// As in [`Submitted`]: one per job type of the batch that no worker of this node
    /// handles. Absent when there is nothing to say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A page of jobs; pass `next_cursor` as `cursor` for the next one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobPage {
    pub jobs: Vec<JobView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkerView {
    pub worker_id: Uuid,
    pub node_id: String,
    pub status: String,
    pub capacity: i32,
    pub current_load: i32,
    pub health_score: f64,
    /// Why the score is under 1, or why the worker is dead or failed, for people:
    /// `"4 of its last 50 runs crashed or timed out"`, `"dead: no heartbeat for 5.2 s"`;
    /// `null` at a full score. Runs whose handler returned a failure do not count
    /// against a worker: only crashes, timeouts and missed heartbeats do.
    pub health_reason: Option<String>,
    pub failure_count: i32,
    pub last_heartbeat: Option<DateTime<Utc>>,
}

impl From<WorkerRecord> for WorkerView {
    fn from(w: WorkerRecord) -> Self {
        let health_reason = w.metadata.get("health_reason").and_then(|r| r.as_str()).map(String::from);
        Self {
            health_reason,
            worker_id: w.worker_id,
            node_id: w.node_id,
            status: w.status.as_str().to_string(),
            capacity: w.capacity,
            current_load: w.current_load,
            health_score: w.health_score,
            failure_count: w.failure_count,
            last_heartbeat: w.last_heartbeat,
        }
    }
}

/// `POST /v1/workers/{id}/crash`: `{"mode": "panic" | "hang" | "slow" | "exit", "ms"?}`
/// (`ms` only, and always, with `slow`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CrashRequest {
    pub mode: String,
    pub ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterView {
    pub job_id: Uuid,
    #[serde(rename = "type")]
    pub job_type: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub last_error: Option<String>,
    pub attempts: i32,
    pub failed_at: DateTime<Utc>,
}

impl From<DeadLetter> for DeadLetterView {
    fn from(d: DeadLetter) -> Self {
        Self {
            job_id: d.job_id,
            job_type: d.job_type,
            payload: d.payload,
            last_error: d.last_error,
            attempts: d.attempts,
            failed_at: d.failed_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterPage {
    pub dead_letters: Vec<DeadLetterView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Stats {
    /// Jobs by status (every status, zeros included).
    pub jobs: BTreeMap<String, i64>,
    /// Jobs completed in the last minute, cluster-wide.
    pub completed_last_minute: i64,
    /// Workers by status, cluster-wide.
    pub workers: BTreeMap<String, i64>,
    /// Job types with `PENDING` jobs that no live worker of the cluster handles: they
    /// wait until a node with a handler for the type runs.
    pub unhandled_types: Vec<UnhandledType>,
}

/// Pending jobs of a type no live worker handles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnhandledType {
    #[serde(rename = "type")]
    pub job_type: String,
    /// How many are `PENDING`.
    pub pending: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Optional components that do not work (e.g. `qdrant`): the node still takes
    /// work, without them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub degraded: Vec<String>,
}

/// A workflow: a root job and every job that depends on it, transitively.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkflowView {
    pub root: Uuid,
    /// In submission order; each with the jobs it waits for.
    pub jobs: Vec<WorkflowJob>,
    /// Whether the workflow had more jobs than the answer holds.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkflowJob {
    pub job_id: Uuid,
    #[serde(rename = "type")]
    pub job_type: String,
    pub status: String,
    pub depends_on: Vec<Uuid>,
}

/// What the caller may do on this node (`GET /v1/session`): the dashboard shows its
/// buttons from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    /// `write` (everything) or `read` (GETs only: every write is 403).
    pub access: String,
    /// Whether `POST /v1/workers/{id}/crash` is allowed on this node.
    pub allow_crash: bool,
    /// The node answering.
    pub node_id: String,
}

/// The dashboard's overview: runs per minute over the last hour, and ready jobs by
/// type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryView {
    /// The node whose runs `minutes` counts (each node counts its own).
    pub node_id: String,
    /// The last 60 minutes, oldest first, the current (partial) minute last.
    pub minutes: Vec<MinuteView>,
    /// `PENDING` jobs by type, cluster-wide.
    pub pending_by_type: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MinuteView {
    /// The minute's start.
    pub at: DateTime<Utc>,
    /// Runs that succeeded.
    pub succeeded: u64,
    /// Attempts that failed (errors, timeouts, panics), retried or dead-lettered.
    pub failed: u64,
}

/// A worker's health metric over time (`GET /v1/workers/{id}/health`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthHistoryView {
    pub worker_id: Uuid,
    pub metric: String,
    /// Oldest first.
    pub samples: Vec<HealthSampleView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthSampleView {
    pub logged_at: DateTime<Utc>,
    pub value: f64,
}
