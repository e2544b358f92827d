//! The SQLite statements of the fenced hot path ([`Queue`](crate::store::Queue)): submit, claim, settle, renew, rescue.

statements! {
    /// ?1 `[{"id", "type", "payload" (JSON text), "priority", "max_retries", "timeout_ms",
    /// "scheduled_at", "key" (nullable), "waits"}]`, ?2 now. A job that waits for
    /// dependencies is `WAITING`, else `PENDING`. A job whose idempotency key is taken
    /// (also by an earlier job of the same batch) is not inserted. Answers the inserted ids.
    pub const ENQUEUE: &str = "
    INSERT INTO jobs (job_id, job_type, payload, status, priority, max_retries, timeout_ms,
                      scheduled_at, idempotency_key, created_at, updated_at)
    SELECT value ->> 'id', value ->> 'type', value ->> 'payload',
           CASE WHEN value ->> 'waits' THEN 'WAITING' ELSE 'PENDING' END,
           value ->> 'priority', value ->> 'max_retries', value ->> 'timeout_ms', value ->> 'scheduled_at',
           value ->> 'key', ?2, ?2
    FROM json_each(?1) WHERE true
    ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING job_id";

    /// ?1 idempotency keys (JSON array).
    pub const ENQUEUE_TAKEN_KEYS: &str =
        "SELECT idempotency_key, job_id, status FROM jobs WHERE idempotency_key IN (SELECT value FROM json_each(?1))";

    /// ?1 the slots, `[[worker, execution id], …]` (one per job wanted, best first), ?2 now,
    /// ?3 lease expiry, ?4 the job types the workers can run (JSON array), ?5 how many of
    /// the slots (the first ones) start at once: the others are a worker's queue, and their
    /// claims are marked `claim_queued` (see [`RETURN_UNSTARTED`]). Picks ready
    /// jobs on the partial claim index, gives the n-th picked job to the n-th slot, and
    /// answers each job's dependencies' outcomes. The pick walks `jobs_claim_idx` in
    /// order and stops at the limit (`INDEXED BY`: without statistics the planner would
    /// rather sort every pending job of the types on each claim). `RETURNING` order is
    /// arbitrary in SQLite: each row carries `priority` and `created_at`, and the store
    /// sorts.
    pub const CLAIM: &str = "
    UPDATE jobs
    SET status = 'RUNNING', attempts = jobs.attempts + 1, worker_id = a.worker_id,
        current_execution_id = a.execution_id, lease_expires_at = ?3, started_at = ?2, updated_at = ?2,
        claim_queued = a.queued
    FROM (
        SELECT p.job_id, s.value ->> 0 AS worker_id, s.value ->> 1 AS execution_id, s.key >= ?5 AS queued
        FROM (SELECT job_id, row_number() OVER (ORDER BY priority DESC, created_at, job_id) - 1 AS n
              FROM (SELECT job_id, priority, created_at FROM jobs INDEXED BY jobs_claim_idx
                    WHERE status = 'PENDING' AND scheduled_at <= ?2
                      AND job_type IN (SELECT value FROM json_each(?4))
                    ORDER BY priority DESC, created_at, job_id
                    LIMIT json_array_length(?1))) p
        JOIN json_each(?1) s ON s.key = p.n
    ) a
    WHERE jobs.job_id = a.job_id
    RETURNING job_id, current_execution_id, attempts, job_type, payload, max_retries, timeout_ms,
              lease_expires_at, worker_id, priority, created_at,
              (SELECT json_group_array(json_object('job_id', p.job_id, 'status', p.status, 'result', json(p.result))
                                       ORDER BY p.job_id)
               FROM job_dependencies d JOIN jobs p ON p.job_id = d.depends_on_job_id
               WHERE d.job_id = jobs.job_id) AS dependencies";

    /// Script. ?1 `[{"job", "exec", "result" (JSON text)}]` (one entry per execution), ?2
    /// now. Only a completion presenting the current execution id (the fencing token)
    /// changes anything. Answers `(execution_id, job_id)` of the completions that hold
    /// their claim; writes their `SUCCEEDED` execution rows; completes the jobs.
    pub const COMPLETE: &str = concat!(
        "SELECT i.execution_id, j.job_id FROM ",
        claims_input!(),
        " i JOIN jobs j ON j.job_id = i.job_id AND j.current_execution_id = i.execution_id;
    INSERT INTO job_executions (execution_id, job_id, worker_id, attempt, execution_status, started_at,
                                finished_at, created_at)
    SELECT i.execution_id, j.job_id, j.worker_id, j.attempts, 'SUCCEEDED', j.started_at, ?2, ?2 FROM ",
        claims_input!(),
        " i JOIN jobs j ON j.job_id = i.job_id AND j.current_execution_id = i.execution_id;
    UPDATE jobs
    SET status = 'COMPLETED', result = i.result, error = NULL, completed_at = ?2, updated_at = ?2,
        current_execution_id = NULL, lease_expires_at = NULL
    FROM (SELECT value ->> 'job' AS job_id, value ->> 'exec' AS execution_id, value ->> 'result' AS result
          FROM json_each(?1)) i
    WHERE jobs.job_id = i.job_id AND jobs.current_execution_id = i.execution_id"
    );

    /// ?1 job ids, ?2 their execution ids (JSON arrays). The claims that failures are
    /// about to settle, and only those the failing executions still hold.
    pub const FAIL_LOCK_RUNNING: &str = "
    SELECT job_id, current_execution_id, worker_id, attempts, max_retries, claim_queued, unstarted_returns
    FROM jobs
    WHERE job_id IN (SELECT value FROM json_each(?1))
      AND current_execution_id IN (SELECT value FROM json_each(?2))
    ORDER BY job_id";

    /// ?1 limit, ?2 now. Running jobs whose lease has expired, oldest lease first, read
    /// in order from the partial lease index.
    pub const RESCUE_EXPIRED_LOCK: &str = "
    SELECT job_id, current_execution_id, worker_id, attempts, max_retries, claim_queued, unstarted_returns
    FROM jobs INDEXED BY jobs_lease_idx
    WHERE status = 'RUNNING' AND lease_expires_at < ?2
    ORDER BY lease_expires_at
    LIMIT ?1";

    /// ?1 worker. Every job a worker holds (it died: its claims are void).
    pub const RESCUE_WORKER_LOCK: &str = "
    SELECT job_id, current_execution_id, worker_id, attempts, max_retries, claim_queued, unstarted_returns
    FROM jobs
    WHERE status = 'RUNNING' AND worker_id = ?1
    ORDER BY job_id";

    /// Script. ?1 `[{"job", "exec", "status", "error", "retry_at" (null: dead-letter)}]`
    /// (decided in Rust, one entry per execution), ?2 now. Writes the attempts' execution
    /// rows and the dead letters' queue entries, then settles the jobs. Answers
    /// `(job_id, dead)` of the jobs settled.
    pub const SETTLE_FAILURES: &str = concat!(
        "INSERT INTO job_executions (execution_id, job_id, worker_id, attempt, execution_status, started_at,
                                finished_at, error, created_at)
    SELECT i.execution_id, j.job_id, j.worker_id, j.attempts, i.execution_status, j.started_at, ?2, i.error, ?2
    FROM ",
        failures_input!(),
        " i JOIN jobs j ON j.job_id = i.job_id AND j.current_execution_id = i.execution_id;
    INSERT INTO dead_letter_queue (job_id, job_type, payload, last_error, attempts, failed_at)
    SELECT j.job_id, j.job_type, j.payload, i.error, j.attempts, ?2
    FROM ",
        failures_input!(),
        " i JOIN jobs j ON j.job_id = i.job_id AND j.current_execution_id = i.execution_id
    WHERE i.retry_at IS NULL;
    UPDATE jobs
    SET status = CASE WHEN i.retry_at IS NULL THEN 'DEAD_LETTER' ELSE 'PENDING' END,
        scheduled_at = COALESCE(i.retry_at, jobs.scheduled_at), error = i.error,
        worker_id = CASE WHEN i.retry_at IS NULL THEN jobs.worker_id END,
        current_execution_id = NULL, lease_expires_at = NULL, updated_at = ?2
    FROM ",
        failures_input!(),
        " i
    WHERE jobs.job_id = i.job_id AND jobs.current_execution_id = i.execution_id
    RETURNING job_id, status = 'DEAD_LETTER' AS dead"
    );

    /// Script. ?1 `[{"job", "exec"}]` (one entry per execution), ?2 now, ?3 when the job
    /// may run again, ?4 why. Gives claims back (a draining node, a snooze); the attempt
    /// does not count and is recorded `CANCELLED` with the reason. Answers the execution
    /// ids that held their claim.
    pub const RELEASE: &str = concat!(
        "SELECT i.execution_id FROM ",
        claims_input!(),
        " i JOIN jobs j ON j.job_id = i.job_id AND j.current_execution_id = i.execution_id;
    INSERT INTO job_executions (execution_id, job_id, worker_id, attempt, execution_status, started_at,
                                finished_at, error, created_at)
    SELECT i.execution_id, j.job_id, j.worker_id, j.attempts, 'CANCELLED', j.started_at, ?2, ?4, ?2 FROM ",
        claims_input!(),
        " i JOIN jobs j ON j.job_id = i.job_id AND j.current_execution_id = i.execution_id;
    UPDATE jobs
    SET status = 'PENDING', attempts = max(jobs.attempts - 1, 0), current_execution_id = NULL,
        worker_id = NULL, lease_expires_at = NULL, scheduled_at = ?3, updated_at = ?2
    FROM ",
        claims_input!(),
        " i
    WHERE jobs.job_id = i.job_id AND jobs.current_execution_id = i.execution_id"
    );

    /// Script. ?1 `[{"job", "exec"}]` (one entry per execution), ?2 now. Gives back claims
    /// that never ran: like [`RELEASE`], without an execution row. The `SELECT` writes
    /// nothing and the single writer runs nothing between it and the `UPDATE`, so the
    /// pair needs no transaction.
    pub const GIVE_BACK: &str = concat!(
        "SELECT i.execution_id FROM ",
        claims_input!(),
        " i JOIN jobs j ON j.job_id = i.job_id AND j.current_execution_id = i.execution_id;
    UPDATE jobs
    SET status = 'PENDING', attempts = max(jobs.attempts - 1, 0), current_execution_id = NULL,
        worker_id = NULL, lease_expires_at = NULL, updated_at = ?2
    FROM ",
        claims_input!(),
        " i
    WHERE jobs.job_id = i.job_id AND jobs.current_execution_id = i.execution_id"
    );

    /// Script. ?1 `[{"job", "exec"}]` (one entry per execution), ?2 now, ?3 why (kept as
    /// the job's `error`). Gives back rescued claims that were only queued where they were
    /// held (never known to start): like [`GIVE_BACK`], and counted in
    /// `unstarted_returns`, which bounds how often a job gets this for free. Runs in the
    /// rescue's transaction.
    pub const RETURN_UNSTARTED: &str = concat!(
        "SELECT i.execution_id FROM ",
        claims_input!(),
        " i JOIN jobs j ON j.job_id = i.job_id AND j.current_execution_id = i.execution_id;
    UPDATE jobs
    SET status = 'PENDING', attempts = max(jobs.attempts - 1, 0), current_execution_id = NULL,
        worker_id = NULL, lease_expires_at = NULL, claim_queued = 0,
        unstarted_returns = jobs.unstarted_returns + 1, error = ?3, updated_at = ?2
    FROM ",
        claims_input!(),
        " i
    WHERE jobs.job_id = i.job_id AND jobs.current_execution_id = i.execution_id"
    );

    /// ?1 `[{"job", "exec"}]`, ?2 new expiry. Only claims these executions still hold are
    /// renewed; each row is found by its job id (the primary key).
    pub const EXTEND_LEASES: &str = concat!(
        "UPDATE jobs SET lease_expires_at = ?2
    FROM ",
        claims_input!(),
        " i
    WHERE jobs.job_id = i.job_id AND jobs.current_execution_id = i.execution_id"
    );

    /// ?1 job id, ?2 execution id, ?3 data (JSON text), ?4 now. Saves the checkpoint only
    /// while the execution holds the claim (the fence): no row, no write.
    pub const SAVE_CHECKPOINT: &str = "
    INSERT INTO job_checkpoints (job_id, execution_id, attempt, data, saved_at)
    SELECT job_id, current_execution_id, attempts, ?3, ?4 FROM jobs
    WHERE job_id = ?1 AND current_execution_id = ?2
    ON CONFLICT (job_id) DO UPDATE
    SET execution_id = excluded.execution_id, attempt = excluded.attempt, data = excluded.data,
        saved_at = excluded.saved_at";
}
