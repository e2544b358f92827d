//! The SQLite statements of an operator's writes and retention ([`Operator`](crate::store::Operator)).

statements! {
    /// ?1 cutoff, ?2 limit. Finished jobs.
    pub const PRUNE_FINISHED: &str = prune_jobs!("('COMPLETED', 'CANCELLED')");

    /// ?1 cutoff, ?2 limit. Dead-lettered jobs.
    pub const PRUNE_DEAD_LETTERS: &str = prune_jobs!("('DEAD_LETTER')");

    /// ?1 cutoff, ?2 limit. Execution contexts of the embedded vector store, oldest first.
    pub const PRUNE_CONTEXTS: &str = "
    DELETE FROM execution_contexts WHERE execution_id IN (
        SELECT execution_id FROM execution_contexts WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)";

    /// ?1 cutoff, ?2 limit. Health logs, oldest first.
    pub const PRUNE_HEALTH_LOGS: &str = "
    DELETE FROM worker_health_logs WHERE log_id IN (
        SELECT log_id FROM worker_health_logs WHERE logged_at < ?1 ORDER BY logged_at LIMIT ?2)";

    /// ?1 job, ?2 now.
    pub const CANCEL: &str = concat!(
        "UPDATE jobs SET status = 'CANCELLED', error = 'cancelled', current_execution_id = NULL, ",
        "lease_expires_at = NULL, updated_at = ?2 WHERE job_id = ?1 RETURNING ",
        job_columns!()
    );

    /// ?1 execution, ?2 now, ?3 its job, ?4 worker, ?5 attempt, ?6 start: the cancelled
    /// attempt's row.
    pub const CANCEL_EXECUTION: &str = "
    INSERT INTO job_executions (execution_id, job_id, worker_id, attempt, execution_status, started_at, finished_at,
                                error, created_at)
    VALUES (?1, ?3, ?4, ?5, 'CANCELLED', ?6, ?2, 'cancelled', ?2)";

    /// ?1 job, ?2 now.
    pub const REQUEUE_DEAD_LETTER: &str = concat!(
        "UPDATE jobs SET status = 'PENDING', attempts = 0, unstarted_returns = 0, error = NULL, result = NULL, scheduled_at = ?2, worker_id = NULL, ",
        "completed_at = NULL, updated_at = ?2 WHERE job_id = ?1 RETURNING ",
        job_columns!()
    );

    /// ?1 job, ?2 now.
    pub const REQUEUE_DEAD_LETTER_ENTRY: &str =
        "UPDATE dead_letter_queue SET requeued = 1, requeued_at = ?2 WHERE job_id = ?1 AND NOT requeued";

    /// ?1 job ids (JSON array), ?2 now. Cancels those unfinished; a running attempt gets
    /// its `CANCELLED` row. Answers the ids.
    pub const APPLY_BULK_CANCEL: &str = "
    INSERT INTO job_executions (execution_id, job_id, worker_id, attempt, execution_status, started_at, finished_at,
                                error, created_at)
    SELECT current_execution_id, job_id, worker_id, attempts, 'CANCELLED', started_at, ?2, 'cancelled', ?2
    FROM jobs WHERE job_id IN (SELECT value FROM json_each(?1)) AND status IN ('WAITING', 'PENDING', 'RUNNING')
      AND current_execution_id IS NOT NULL AND worker_id IS NOT NULL;
    UPDATE jobs SET status = 'CANCELLED', error = 'cancelled', current_execution_id = NULL, lease_expires_at = NULL,
                    updated_at = ?2
    WHERE job_id IN (SELECT value FROM json_each(?1)) AND status IN ('WAITING', 'PENDING', 'RUNNING')
    RETURNING job_id";

    /// ?1 job ids (JSON array), ?2 now. Makes the pending ones due now.
    pub const APPLY_BULK_RETRY_NOW: &str = "
    UPDATE jobs SET scheduled_at = min(scheduled_at, ?2), updated_at = ?2
    WHERE job_id IN (SELECT value FROM json_each(?1)) AND status = 'PENDING'
    RETURNING job_id";

    /// ?1 job ids (JSON array), ?2 now. Requeues the dead-lettered ones with fresh
    /// retries and closes their dead-letter entries.
    pub const APPLY_BULK_REQUEUE: &str = "
    UPDATE dead_letter_queue SET requeued = 1, requeued_at = ?2
    WHERE NOT requeued AND job_id IN (SELECT job_id FROM jobs
                                      WHERE job_id IN (SELECT value FROM json_each(?1)) AND status = 'DEAD_LETTER');
    UPDATE jobs SET status = 'PENDING', attempts = 0, error = NULL, result = NULL, scheduled_at = ?2,
                    completed_at = NULL, updated_at = ?2
    WHERE job_id IN (SELECT value FROM json_each(?1)) AND status = 'DEAD_LETTER'
    RETURNING job_id";
}
