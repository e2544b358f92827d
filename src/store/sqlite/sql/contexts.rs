//! The SQLite statements of checkpoints and the embedded vector store ([`Contexts`](crate::store::Contexts)).

statements! {
    /// ?1 job id, ?2 execution id, ?3 data (JSON text), ?4 now. Saves the checkpoint only
    /// while the execution holds the claim (the fence): no row, no write.
    pub const SAVE_CHECKPOINT: &str = "
    INSERT INTO job_checkpoints (job_id, execution_id, attempt, data, saved_at)
    SELECT job_id, current_execution_id, attempts, ?3, ?4 FROM jobs
    WHERE job_id = ?1 AND current_execution_id = ?2
    ON CONFLICT (job_id) DO UPDATE
    SET execution_id = excluded.execution_id, attempt = excluded.attempt, data = excluded.data,
        saved_at = excluded.saved_at";

    /// ?1 job id.
    pub const SELECT_CHECKPOINT: &str =
        "SELECT job_id, execution_id, attempt, data, saved_at FROM job_checkpoints WHERE job_id = ?1";

    /// ?1 execution id, ?2 job id, ?3 type, ?4 attempt, ?5 outcome, ?6 vector
    /// (little-endian float32s), ?7 context (JSON text), ?8 recorded at. One point; a
    /// batch runs it per point in one transaction.
    pub const UPSERT_CONTEXT: &str = "
    INSERT INTO execution_contexts (execution_id, job_id, job_type, attempt, outcome, vector, context, created_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
    ON CONFLICT (execution_id) DO UPDATE
    SET job_id = excluded.job_id, job_type = excluded.job_type, attempt = excluded.attempt,
        outcome = excluded.outcome, vector = excluded.vector, context = excluded.context,
        created_at = excluded.created_at";

    /// ?1 failed attempts only (0/1), ?2 a job to leave out (nullable). Every candidate of
    /// an exact search: the node scores them (cosine) as they stream by. The failed
    /// outcomes are [`crate::vector::FAILED_OUTCOMES`].
    pub const SCAN_CONTEXTS: &str = "
    SELECT vector, context, execution_id, job_id, job_type, attempt, outcome FROM execution_contexts
    WHERE (?1 = 0 OR outcome IN ('FAILED', 'TIMED_OUT', 'CRASHED')) AND (?2 IS NULL OR job_id <> ?2)";

    /// ?1 job id.
    pub const SELECT_JOB_CONTEXTS: &str = "
    SELECT vector, context, execution_id, job_id, job_type, attempt, outcome FROM execution_contexts
    WHERE job_id = ?1 ORDER BY attempt, created_at";
}
