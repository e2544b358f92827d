//! The SQLite statements of dependencies inside the transactions that submit and settle jobs: edges, releasing
//! dependents, cancelling the doomed (the reads of edges and workflows are in [`super::reads`]).

statements! {
    // --- Dependencies -------------------------------------------------------------------

    /// ?1 dependency ids (JSON array): those that exist. Inside the submit's
    /// `BEGIN IMMEDIATE` transaction nothing can finish them unseen before it commits.
    pub const ENQUEUE_LOCK_DEPENDENCIES: &str =
        "SELECT job_id FROM jobs WHERE job_id IN (SELECT value FROM json_each(?1)) ORDER BY job_id";

    /// ?1 `[{"job", "dep", "policy"}]`, ?2 now.
    pub const ENQUEUE_EDGES: &str = "
    INSERT INTO job_dependencies (job_id, depends_on_job_id, failure_policy, created_at)
    SELECT value ->> 'job', value ->> 'dep', value ->> 'policy', ?2 FROM json_each(?1)";

    // The dependency statements find every row by key: from the jobs named, along
    // `job_dependencies`, to each job by its primary key. A unary `+` on `status` keeps
    // SQLite from walking `jobs_status_type_idx` instead, which would read every waiting
    // (or every dead-lettered) job of the table on each completion.

    /// ?1 jobs that just finished (JSON array): their waiting dependents, in id order.
    pub const LOCK_WAITING_DEPENDENTS: &str = "
    SELECT j.job_id FROM jobs j
    WHERE +j.status = 'WAITING'
      AND j.job_id IN (SELECT d.job_id FROM job_dependencies d
                       WHERE d.depends_on_job_id IN (SELECT value FROM json_each(?1)))
    ORDER BY j.job_id";

    /// ?1 waiting jobs (JSON array), ?2 now. Cancels those with a failed `cancel`
    /// dependency, and their waiting `cancel` dependents, transitively, naming the failed
    /// job (the least id, as Postgres's `DISTINCT ON … ORDER BY cause` picks).
    pub const CANCEL_DOOMED: &str = "
    WITH RECURSIVE doomed(job_id, cause) AS (
        SELECT d.job_id, d.depends_on_job_id
        FROM job_dependencies d JOIN jobs p ON p.job_id = d.depends_on_job_id
        WHERE d.job_id IN (SELECT value FROM json_each(?1)) AND d.failure_policy = 'cancel'
          AND +p.status IN ('DEAD_LETTER', 'CANCELLED')
      UNION
        SELECT d.job_id, doomed.cause
        FROM job_dependencies d JOIN doomed ON d.depends_on_job_id = doomed.job_id
        WHERE d.failure_policy = 'cancel'
    )
    UPDATE jobs
    SET status = 'CANCELLED', error = 'dependency ' || c.cause || ' failed', updated_at = ?2
    FROM (SELECT job_id, min(cause) AS cause FROM doomed GROUP BY job_id) c
    WHERE jobs.job_id = c.job_id AND +jobs.status = 'WAITING'
    RETURNING job_id";

    /// ?1 waiting jobs (JSON array), ?2 now. Releases those whose every dependency has
    /// completed (or failed, where the edge says `continue`).
    pub const RELEASE_READY: &str = "
    UPDATE jobs SET status = 'PENDING', updated_at = ?2
    WHERE job_id IN (SELECT value FROM json_each(?1)) AND +status = 'WAITING'
      AND NOT EXISTS (
        SELECT 1 FROM job_dependencies d JOIN jobs p ON p.job_id = d.depends_on_job_id
        WHERE d.job_id = jobs.job_id
          AND p.status <> 'COMPLETED'
          AND NOT (d.failure_policy = 'continue' AND p.status IN ('DEAD_LETTER', 'CANCELLED')))
    RETURNING job_id";
}
