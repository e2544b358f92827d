//! The Postgres statements of reads ([`Reads`](crate::store::Reads)).

statements! {
    pub const SELECT_JOB: &str = concat!("SELECT ", job_columns!(), " FROM jobs WHERE job_id = $1");

    /// $1 job. Its ended attempts, and the running one (from the job's row).
    pub const SELECT_EXECUTIONS: &str = "
    SELECT execution_id, job_id, worker_id, attempt, execution_status, started_at, finished_at, error
    FROM job_executions WHERE job_id = $1
    UNION ALL
    SELECT current_execution_id, job_id, worker_id, attempts, 'RUNNING', started_at, NULL, NULL
    FROM jobs WHERE job_id = $1 AND current_execution_id IS NOT NULL
    ORDER BY attempt, started_at NULLS LAST, finished_at NULLS LAST";

    /// $1 limit, $2 entries before this id (nullable).
    pub const SELECT_DEAD_LETTERS: &str = "
    SELECT dlq_id, job_id, job_type, payload, last_error, attempts, failed_at FROM dead_letter_queue
    WHERE NOT requeued AND ($2::bigint IS NULL OR dlq_id < $2)
    ORDER BY dlq_id DESC LIMIT $1";

    /// [`job_filter!`], $7 limit: a page, newest first.
    pub const FILTER_JOBS: &str = concat!("SELECT ", job_columns!(), job_filter!(), " ORDER BY job_id DESC LIMIT $7");

    /// [`job_filter!`], $7 limit: the ids of a page, newest first.
    pub const FILTER_JOB_IDS: &str = concat!("SELECT job_id", job_filter!(), " ORDER BY job_id DESC LIMIT $7");

    /// [`job_filter!`], $7 the most to count.
    pub const COUNT_JOBS: &str = concat!("SELECT COUNT(*) FROM (SELECT 1", job_filter!(), " LIMIT $7) matched");

    /// $1 worker, $2 metric type, $3 limit: the newest samples first.
    pub const HEALTH_HISTORY: &str = "
    SELECT logged_at, metric_value::float8 FROM worker_health_logs
    WHERE worker_id = $1 AND metric_type = $2 ORDER BY logged_at DESC LIMIT $3";

    /// Ready jobs by type (a walk of the claim index, which lists only them).
    pub const PENDING_BY_TYPE: &str =
        "SELECT job_type, COUNT(*) FROM jobs WHERE status = 'PENDING' GROUP BY job_type ORDER BY job_type";

    /// $1 since. A completion sets `updated_at` to `completed_at` and later changes only
    /// move it on, so the test on `updated_at` is implied; it lets the count walk the
    /// recent end of `jobs_finished_idx` instead of every completed job ever kept.
    pub const COMPLETED_SINCE: &str = "
    SELECT COUNT(*) FROM jobs
    WHERE status = 'COMPLETED' AND updated_at >= $1 AND completed_at >= $1";

    pub const COUNT_BY_STATUS: &str = "SELECT status, COUNT(*) FROM jobs GROUP BY status";

    pub const SELECT_WORKERS: &str = "
    SELECT worker_id, node_id, status, capacity, current_load, health_score::float8, failure_count,
           metadata, last_heartbeat
    FROM workers ORDER BY node_id, created_at, worker_id";
}
