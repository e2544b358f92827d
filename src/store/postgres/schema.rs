//! The schema the code expects, column by column. The schema test compares it with the
//! live database (information_schema) in both directions, and prepares every statement
//! of [`super::sql`] against it: the code and the schema cannot drift apart unnoticed.

/// (table, column, information_schema data type, nullable).
pub const EXPECTED_COLUMNS: &[(&str, &str, &str, bool)] = &[
    ("jobs", "job_id", "uuid", false),
    ("jobs", "job_type", "character varying", false),
    ("jobs", "payload", "jsonb", false),
    ("jobs", "status", "character varying", false),
    ("jobs", "priority", "integer", false),
    ("jobs", "attempts", "integer", false),
    ("jobs", "max_retries", "integer", false),
    ("jobs", "timeout_ms", "integer", false),
    ("jobs", "result", "jsonb", true),
    ("jobs", "error", "text", true),
    ("jobs", "idempotency_key", "character varying", true),
    ("jobs", "scheduled_at", "timestamp with time zone", false),
    ("jobs", "started_at", "timestamp with time zone", true),
    ("jobs", "completed_at", "timestamp with time zone", true),
    ("jobs", "worker_id", "uuid", true),
    ("jobs", "current_execution_id", "uuid", true),
    ("jobs", "lease_expires_at", "timestamp with time zone", true),
    ("jobs", "created_at", "timestamp with time zone", false),
    ("jobs", "updated_at", "timestamp with time zone", false),
    ("workers", "worker_id", "uuid", false),
    ("workers", "node_id", "character varying", false),
    ("workers", "status", "character varying", false),
    (
        "workers",
        "last_heartbeat",
        "timestamp with time zone",
        true,
    ),
    ("workers", "capacity", "integer", false),
    ("workers", "current_load", "integer", false),
    ("workers", "health_score", "numeric", false),
    ("workers", "failure_count", "integer", false),
    ("workers", "metadata", "jsonb", false),
    ("workers", "created_at", "timestamp with time zone", false),
    ("workers", "updated_at", "timestamp with time zone", false),
    ("job_executions", "execution_id", "uuid", false),
    ("job_executions", "job_id", "uuid", false),
    ("job_executions", "worker_id", "uuid", false),
    ("job_executions", "attempt", "integer", false),
    (
        "job_executions",
        "execution_status",
        "character varying",
        false,
    ),
    (
        "job_executions",
        "started_at",
        "timestamp with time zone",
        true,
    ),
    (
        "job_executions",
        "finished_at",
        "timestamp with time zone",
        true,
    ),
    ("job_executions", "error", "text", true),
    (
        "job_executions",
        "created_at",
        "timestamp with time zone",
        false,
    ),
    ("dead_letter_queue", "dlq_id", "bigint", false),
    ("dead_letter_queue", "job_id", "uuid", false),
    ("dead_letter_queue", "job_type", "character varying", false),
    ("dead_letter_queue", "payload", "jsonb", false),
    ("dead_letter_queue", "last_error", "text", true),
    ("dead_letter_queue", "attempts", "integer", false),
    (
        "dead_letter_queue",
        "failed_at",
        "timestamp with time zone",
        false,
    ),
    ("dead_letter_queue", "requeued", "boolean", false),
    (
        "dead_letter_queue",
        "requeued_at",
        "timestamp with time zone",
        true,
    ),
    ("job_dependencies", "job_id", "uuid", false),
    ("job_dependencies", "depends_on_job_id", "uuid", false),
    (
        "job_dependencies",
        "failure_policy",
        "character varying",
        false,
    ),
    (
        "job_dependencies",
        "created_at",
        "timestamp with time zone",
        false,
    ),
    ("worker_health_logs", "log_id", "bigint", false),
    ("worker_health_logs", "worker_id", "uuid", false),
    (
        "worker_health_logs",
        "metric_type",
        "character varying",
        false,
    ),
    ("worker_health_logs", "metric_value", "numeric", false),
    ("worker_health_logs", "metadata", "jsonb", false),
    (
        "worker_health_logs",
        "logged_at",
        "timestamp with time zone",
        false,
    ),
    ("state_snapshots", "snapshot_id", "uuid", false),
    (
        "state_snapshots",
        "snapshot_type",
        "character varying",
        false,
    ),
    ("state_snapshots", "state_data", "jsonb", false),
    ("state_snapshots", "metadata", "jsonb", false),
    (
        "state_snapshots",
        "created_at",
        "timestamp with time zone",
        false,
    ),
];

/// (table, column, the values its CHECK constraint allows): kept equal to the Rust enums.
pub fn expected_status_values() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    use crate::job::{ExecutionStatus, JobStatus};
    use crate::store::WorkerStatus;
    vec![
        (
            "jobs",
            "status",
            JobStatus::ALL.iter().map(|s| s.as_str()).collect(),
        ),
        (
            "job_executions",
            "execution_status",
            ExecutionStatus::ALL.iter().map(|s| s.as_str()).collect(),
        ),
        (
            "workers",
            "status",
            WorkerStatus::ALL.iter().map(|s| s.as_str()).collect(),
        ),
        (
            "state_snapshots",
            "snapshot_type",
            vec!["FULL", "INCREMENTAL", "AUTO"],
        ),
        (
            "job_dependencies",
            "failure_policy",
            vec!["cancel", "continue"],
        ),
    ]
}
