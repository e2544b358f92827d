//! The SQLite statements of reads ([`Reads`](crate::store::Reads)).

statements! {
    /// ?1 job. (Inside a `BEGIN IMMEDIATE` transaction it is as good as `FOR UPDATE`.)
    pub const GET_JOB: &str = concat!("SELECT ", job_columns!(), " FROM jobs WHERE job_id = ?1");

    /// ?1 job. Its ended attempts, and the running one (from the job's row).
    pub const EXECUTIONS: &str = "
    SELECT execution_id, job_id, worker_id, attempt, execution_status, started_at, finished_at, error
    FROM job_executions WHERE job_id = ?1
    UNION ALL
    SELECT current_execution_id, job_id, worker_id, attempts, 'RUNNING', started_at, NULL, NULL
    FROM jobs WHERE job_id = ?1 AND current_execution_id IS NOT NULL
    ORDER BY attempt, started_at NULLS LAST, finished_at NULLS LAST";

    /// ?1 limit, ?2 entries before this id (nullable).
    pub const DEAD_LETTERS: &str = "
    SELECT dlq_id, job_id, job_type, payload, last_error, attempts, failed_at FROM dead_letter_queue
    WHERE NOT requeued AND (?2 IS NULL OR dlq_id < ?2)
    ORDER BY dlq_id DESC LIMIT ?1";

    /// [`job_filter!`], ?7 limit: a page, newest first.
    pub const LIST_JOBS: &str = concat!("SELECT ", job_columns!(), job_filter!(), " ORDER BY job_id DESC LIMIT ?7");

    /// [`job_filter!`], ?7 limit: the ids of a page, newest first.
    pub const JOB_IDS: &str = concat!("SELECT job_id", job_filter!(), " ORDER BY job_id DESC LIMIT ?7");

    /// [`job_filter!`], ?7 the most to count.
    pub const COUNT_JOBS: &str = concat!("SELECT COUNT(*) FROM (SELECT 1", job_filter!(), " LIMIT ?7)");

    /// ?1 worker, ?2 metric type, ?3 limit: the newest samples first.
    pub const HEALTH_HISTORY: &str = "
    SELECT logged_at, metric_value FROM worker_health_logs
    WHERE worker_id = ?1 AND metric_type = ?2 ORDER BY logged_at DESC LIMIT ?3";

    /// Ready jobs by type.
    pub const PENDING_BY_TYPE: &str =
        "SELECT job_type, COUNT(*) FROM jobs WHERE status = 'PENDING' GROUP BY job_type ORDER BY job_type";

    /// ?1 since.
    pub const COMPLETED_SINCE: &str = "SELECT COUNT(*) FROM jobs WHERE status = 'COMPLETED' AND completed_at >= ?1";

    pub const COUNT_BY_STATUS: &str = "SELECT status, COUNT(*) FROM jobs GROUP BY status";

    /// ?1 job id.
    pub const LAST_CHECKPOINT: &str =
        "SELECT job_id, execution_id, attempt, data, saved_at FROM job_checkpoints WHERE job_id = ?1";

    pub const LIST_WORKERS: &str = "
    SELECT worker_id, node_id, status, capacity, current_load, health_score, failure_count,
           metadata, last_heartbeat
    FROM workers ORDER BY node_id, created_at, worker_id";

    pub const LIST_NODES: &str =
        "SELECT node_id, address, status, started_at, last_seen, incarnation FROM nodes ORDER BY node_id";

    /// ?1 job: what it waits for, and what waits for it.
    pub const EDGES: &str = "
    SELECT 'depends_on' AS side, depends_on_job_id AS other FROM job_dependencies WHERE job_id = ?1
    UNION ALL
    SELECT 'dependent', job_id FROM job_dependencies WHERE depends_on_job_id = ?1
    ORDER BY 1, 2";

    /// ?1 root, ?2 limit. The root and every job that depends on it, transitively, with
    /// each one's dependencies (a JSON array, in id order).
    pub const WORKFLOW: &str = "
    WITH RECURSIVE dag(job_id) AS (
        SELECT ?1
      UNION
        SELECT d.job_id FROM job_dependencies d JOIN dag ON d.depends_on_job_id = dag.job_id
    )
    SELECT j.job_id, j.job_type, j.status,
           (SELECT json_group_array(d.depends_on_job_id ORDER BY d.depends_on_job_id)
            FROM job_dependencies d WHERE d.job_id = j.job_id) AS depends_on
    FROM jobs j JOIN dag ON dag.job_id = j.job_id
    ORDER BY j.created_at, j.job_id
    LIMIT ?2";

    /// ?1 type (nullable), ?2 node id (nullable), ?3 the previous page's last id (nullable),
    /// ?4 limit. Newest first; no state.
    pub const LIST_SNAPSHOTS: &str = concat!(
        "SELECT snapshot_id, snapshot_type, metadata, created_at
    FROM state_snapshots
    WHERE (?1 IS NULL OR snapshot_type = ?1)
      AND (?2 IS NULL OR ",
        snapshot_node!(),
        " = ?2)
      AND (?3 IS NULL OR (created_at, snapshot_id) <
           (SELECT created_at, snapshot_id FROM state_snapshots WHERE snapshot_id = ?3))
    ORDER BY created_at DESC, snapshot_id DESC
    LIMIT ?4"
    );

    /// ?1 id.
    pub const GET_SNAPSHOT: &str =
        "SELECT snapshot_id, snapshot_type, state_data, metadata, created_at FROM state_snapshots WHERE snapshot_id = ?1";

    /// ?1 node id (nullable). The newest snapshot, whole.
    pub const LATEST_SNAPSHOT: &str = concat!(
        "SELECT snapshot_id, snapshot_type, state_data, metadata, created_at FROM state_snapshots
    WHERE (?1 IS NULL OR ",
        snapshot_node!(),
        " = ?1)
    ORDER BY created_at DESC, snapshot_id DESC LIMIT 1"
    );
}
