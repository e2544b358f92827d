//! The SQLite statements of the embedded vector store ([`Contexts`](crate::store::Contexts)).

statements! {
    /// ?1 execution id, ?2 job id, ?3 type, ?4 attempt, ?5 outcome, ?6 vector
    /// (little-endian float32s), ?7 context (JSON text), ?8 recorded at. One point; a
    /// batch runs it per point in one transaction.
    pub const PUT_CONTEXTS: &str = "
    INSERT INTO execution_contexts (execution_id, job_id, job_type, attempt, outcome, vector, context, created_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
    ON CONFLICT (execution_id) DO UPDATE
    SET job_id = excluded.job_id, job_type = excluded.job_type, attempt = excluded.attempt,
        outcome = excluded.outcome, vector = excluded.vector, context = excluded.context,
        created_at = excluded.created_at";

    /// ?1 failed attempts only (0/1), ?2 a job to leave out (nullable). Every candidate of
    /// an exact search: the node scores them (cosine) as they stream by. The failed
    /// outcomes are [`crate::vector::FAILED_OUTCOMES`].
    pub const SEARCH_CONTEXTS: &str = "
    SELECT vector, context, execution_id, job_id, job_type, attempt, outcome FROM execution_contexts
    WHERE (?1 = 0 OR outcome IN ('FAILED', 'TIMED_OUT', 'CRASHED')) AND (?2 IS NULL OR job_id <> ?2)";

    /// ?1 job id.
    pub const JOB_CONTEXTS: &str = "
    SELECT vector, context, execution_id, job_id, job_type, attempt, outcome FROM execution_contexts
    WHERE job_id = ?1 ORDER BY attempt, created_at";
}
