//! The Postgres statements of the embedded vector store ([`Contexts`](crate::store::Contexts)).

statements! {
    /// $1 execution ids (distinct), $2 job ids, $3 types, $4 attempts, $5 outcomes,
    /// $6 vectors (little-endian float32s; none: the derived embedding), $7 contexts (JSON
    /// text), $8 recorded at. New points only; a batch written again uses [`PUT_CONTEXTS_UPSERT`].
    pub const PUT_CONTEXTS: &str = insert_contexts!("");

    /// [`PUT_CONTEXTS`], replacing the points that exist.
    pub const PUT_CONTEXTS_UPSERT: &str = insert_contexts!(
        "
    ON CONFLICT (execution_id) DO UPDATE
    SET job_id = EXCLUDED.job_id, job_type = EXCLUDED.job_type, attempt = EXCLUDED.attempt,
        outcome = EXCLUDED.outcome, vector = EXCLUDED.vector, context = EXCLUDED.context,
        created_at = EXCLUDED.created_at"
    );

    /// $1 failed attempts only, $2 a job to leave out (nullable). Every candidate of an
    /// exact search: the node scores them (cosine) as they stream by. The failed outcomes
    /// are [`crate::vector::FAILED_OUTCOMES`].
    pub const SEARCH_CONTEXTS: &str = "
    SELECT vector, context::text, execution_id, job_id, job_type, attempt, outcome FROM execution_contexts
    WHERE (NOT $1 OR outcome IN ('FAILED', 'TIMED_OUT', 'CRASHED')) AND ($2::uuid IS NULL OR job_id <> $2)";

    /// $1 job id.
    pub const JOB_CONTEXTS: &str = "
    SELECT vector, context::text, execution_id, job_id, job_type, attempt, outcome FROM execution_contexts
    WHERE job_id = $1 ORDER BY attempt, created_at";
}
