//! The Postgres statements of dependencies inside the transactions that submit and settle jobs: edges, releasing
//! dependents, cancelling the doomed (the reads of edges and workflows are in [`super::reads`]).

statements! {
    // --- Dependencies -------------------------------------------------------------------

    /// $1 dependency ids. Locks the existing ones against change until the submit commits,
    /// so a dependency cannot finish unseen between this check and the new edges.
    pub const ENQUEUE_LOCK_DEPENDENCIES: &str = "SELECT job_id FROM jobs WHERE job_id = ANY($1::uuid[]) ORDER BY job_id FOR SHARE";

    /// $1 dependents, $2 dependencies, $3 policies, $4 now.
    pub const ENQUEUE_EDGES: &str = "
    INSERT INTO job_dependencies (job_id, depends_on_job_id, failure_policy, created_at)
    SELECT t.job_id, t.depends_on_job_id, t.failure_policy, $4
    FROM UNNEST($1::uuid[], $2::uuid[], $3::text[]) AS t(job_id, depends_on_job_id, failure_policy)";

    /// $1 jobs that just finished. Locks their waiting dependents, in id order, so two
    /// dependencies finishing at once on two connections settle a dependent one after
    /// the other: the second then sees the first's commit.
    /// The dependents are listed first (an array, from the edges' index) and then found
    /// by primary key: no index lists the waiting jobs, and a plan that started from the
    /// jobs would read every job to find the few that wait.
    pub const LOCK_WAITING_DEPENDENTS: &str = "
    SELECT j.job_id FROM jobs j
    WHERE j.job_id = ANY(ARRAY(SELECT d.job_id FROM job_dependencies d WHERE d.depends_on_job_id = ANY($1::uuid[])))
      AND j.status = 'WAITING'
    ORDER BY j.job_id
    FOR UPDATE";

    /// $1 waiting jobs, $2 now. Cancels those with a failed `cancel` dependency, and
    /// their waiting `cancel` dependents, transitively, naming the failed job.
    pub const CANCEL_DOOMED: &str = "
    WITH RECURSIVE doomed(job_id, cause) AS (
        SELECT d.job_id, d.depends_on_job_id
        FROM job_dependencies d JOIN jobs p ON p.job_id = d.depends_on_job_id
        WHERE d.job_id = ANY($1::uuid[]) AND d.failure_policy = 'cancel'
          AND p.status IN ('DEAD_LETTER', 'CANCELLED')
      UNION
        SELECT d.job_id, doomed.cause
        FROM job_dependencies d JOIN doomed ON d.depends_on_job_id = doomed.job_id
        WHERE d.failure_policy = 'cancel'
    )
    UPDATE jobs j
    SET status = 'CANCELLED', error = 'dependency ' || c.cause || ' failed', updated_at = $2
    FROM (SELECT DISTINCT ON (job_id) job_id, cause FROM doomed ORDER BY job_id, cause) c
    WHERE j.job_id = c.job_id AND j.status = 'WAITING'
    RETURNING j.job_id";

    /// $1 waiting jobs, $2 now. Releases those whose every dependency has completed (or
    /// failed, where the edge says `continue`).
    pub const RELEASE_READY: &str = "
    UPDATE jobs j SET status = 'PENDING', updated_at = $2
    WHERE j.job_id = ANY($1::uuid[]) AND j.status = 'WAITING'
      AND NOT EXISTS (
        SELECT 1 FROM job_dependencies d JOIN jobs p ON p.job_id = d.depends_on_job_id
        WHERE d.job_id = j.job_id
          AND p.status <> 'COMPLETED'
          AND NOT (d.failure_policy = 'continue' AND p.status IN ('DEAD_LETTER', 'CANCELLED')))
    RETURNING j.job_id";
}
