//! The Postgres statements of an operator's writes and retention ([`Operator`](crate::store::Operator)).

statements! {
    /// $1 job, $2 now.
    pub const CANCEL: &str = concat!(
        "UPDATE jobs SET status = 'CANCELLED', error = 'cancelled', current_execution_id = NULL, ",
        "lease_expires_at = NULL, updated_at = $2 WHERE job_id = $1 RETURNING ",
        job_columns!()
    );

    /// $1 execution, $2 now.
    /// $3 its job, $4 worker, $5 attempt, $6 start: the cancelled attempt's row.
    pub const CANCEL_EXECUTION: &str = "
    INSERT INTO job_executions (execution_id, job_id, worker_id, attempt, execution_status, started_at, finished_at,
                                error, created_at)
    VALUES ($1, $3, $4, $5, 'CANCELLED', $6, $2, 'cancelled', $2)";

    /// $1 job, $2 now.
    pub const REQUEUE_DEAD_LETTER: &str = concat!(
        "UPDATE jobs SET status = 'PENDING', attempts = 0, unstarted_returns = 0, error = NULL, result = NULL, scheduled_at = $2, worker_id = NULL, ",
        "completed_at = NULL, updated_at = $2 WHERE job_id = $1 RETURNING ",
        job_columns!()
    );

    /// $1 job, $2 now.
    pub const REQUEUE_DEAD_LETTER_ENTRY: &str =
        "UPDATE dead_letter_queue SET requeued = TRUE, requeued_at = $2 WHERE job_id = $1 AND NOT requeued";

    /// $1 job ids, $2 now. Cancels those unfinished, in id order; a running attempt gets
    /// its `CANCELLED` row (its handler's outcome is then fenced off). Answers the ids.
    pub const APPLY_BULK_CANCEL: &str = "
    WITH locked AS (
        SELECT job_id, current_execution_id, worker_id, attempts, started_at FROM jobs
        WHERE job_id = ANY($1::uuid[]) AND status IN ('WAITING', 'PENDING', 'RUNNING')
        ORDER BY job_id
        FOR UPDATE
    ), recorded AS (
        INSERT INTO job_executions (execution_id, job_id, worker_id, attempt, execution_status, started_at,
                                    finished_at, error, created_at)
        SELECT current_execution_id, job_id, worker_id, attempts, 'CANCELLED', started_at, $2, 'cancelled', $2
        FROM locked WHERE current_execution_id IS NOT NULL AND worker_id IS NOT NULL
    ), cancelled AS (
        UPDATE jobs j
        SET status = 'CANCELLED', error = 'cancelled', current_execution_id = NULL, lease_expires_at = NULL,
            updated_at = $2
        FROM locked l WHERE j.job_id = l.job_id
        RETURNING j.job_id
    )
    SELECT job_id FROM cancelled";

    /// $1 job ids, $2 now. Makes the pending ones due now.
    pub const APPLY_BULK_RETRY_NOW: &str = "
    UPDATE jobs SET scheduled_at = LEAST(scheduled_at, $2), updated_at = $2
    WHERE job_id IN (SELECT job_id FROM jobs WHERE job_id = ANY($1::uuid[]) AND status = 'PENDING'
                     ORDER BY job_id FOR UPDATE)
    RETURNING job_id";

    /// $1 job ids, $2 now. Requeues the dead-lettered ones with fresh retries and closes
    /// their dead-letter entries.
    pub const APPLY_BULK_REQUEUE: &str = "
    WITH requeued AS (
        UPDATE jobs SET status = 'PENDING', attempts = 0, error = NULL, result = NULL, scheduled_at = $2,
                        completed_at = NULL, updated_at = $2
        WHERE job_id IN (SELECT job_id FROM jobs WHERE job_id = ANY($1::uuid[]) AND status = 'DEAD_LETTER'
                         ORDER BY job_id FOR UPDATE)
        RETURNING job_id
    ), closed AS (
        UPDATE dead_letter_queue SET requeued = TRUE, requeued_at = $2
        WHERE job_id IN (SELECT job_id FROM requeued) AND NOT requeued
    )
    SELECT job_id FROM requeued";

    /// Taken by a retention pass for its transaction; a node that cannot take it leaves
    /// the pass to the node that holds it (one node prunes at a time).
    pub const PRUNE_TRY_LOCK: &str = "SELECT pg_try_advisory_xact_lock(hashtext('aeon.retention'))";

    /// $1 cutoff, $2 limit. Finished jobs.
    pub const PRUNE_FINISHED: &str = prune_jobs!("('COMPLETED', 'CANCELLED')");

    /// $1 cutoff, $2 limit. Dead-lettered jobs.
    pub const PRUNE_DEAD_LETTERS: &str = prune_jobs!("('DEAD_LETTER')");

    /// $1 cutoff, $2 limit. Health logs, oldest first.
    pub const PRUNE_HEALTH_LOGS: &str = "
    DELETE FROM worker_health_logs WHERE log_id IN (
        SELECT log_id FROM worker_health_logs WHERE logged_at < $1 ORDER BY logged_at LIMIT $2)";

    /// $1 cutoff, $2 limit. Execution contexts of the embedded vector store, oldest first,
    /// walking the primary key: execution ids are UUIDv7, so those claimed before the
    /// cutoff sort below the smallest UUIDv7 of its millisecond (built here from $1).
    pub const PRUNE_CONTEXTS: &str = "
    DELETE FROM execution_contexts WHERE execution_id IN (
        SELECT execution_id FROM execution_contexts
        WHERE execution_id < (SELECT (substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7000-8000-000000000000')::uuid
                              FROM lpad(to_hex((extract(epoch FROM $1::timestamptz) * 1000)::bigint), 12, '0') AS h)
          AND created_at < $1
        ORDER BY execution_id LIMIT $2)";
}
