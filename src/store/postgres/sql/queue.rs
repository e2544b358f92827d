//! The Postgres statements of the fenced hot path ([`Queue`](crate::store::Queue)): submit, claim, settle, renew, rescue.

statements! {
    /// A submit where some job has an idempotency key: a key already taken leaves its
    /// job out (the caller then answers with the job that holds it).
    pub const ENQUEUE: &str = enqueue!("ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING");

    /// A submit where no job has an idempotency key, the common case: a plain insert.
    /// `ON CONFLICT` makes every row a speculative insertion, which costs an index probe
    /// and a WAL record per row more, for a conflict that cannot happen here.
    pub const ENQUEUE_UNKEYED: &str = enqueue!("");

    /// $1 idempotency keys.
    pub const ENQUEUE_TAKEN_KEYS: &str =
        "SELECT idempotency_key, job_id, status FROM jobs WHERE idempotency_key = ANY($1::text[])";

    /// $1 the worker of each slot (one entry per job wanted), $2 now, $3 lease expiry,
    /// $4 job types the workers can run, $5 an execution id for each slot, $6 how many of
    /// the slots (the first ones) start at once: the others are a worker's queue, and their
    /// claims are marked `claim_queued` (see [`RETURN_UNSTARTED`]). Picks ready
    /// jobs on the partial claim index, skipping rows other claimers hold, gives the n-th
    /// picked job to the n-th slot, with a new execution id, and answers each job's
    /// dependencies' outcomes. One statement serves every worker of a node.
    /// Execution ids are time-ordered (UUIDv7), so their index grows at one end
    /// instead of touching a random page per insert.
    pub const CLAIM: &str = "
    WITH picked AS (
        SELECT job_id FROM jobs
        WHERE status = 'PENDING' AND scheduled_at <= $2 AND job_type = ANY($4::text[])
        ORDER BY priority DESC, created_at, job_id
        LIMIT cardinality($1::uuid[])
        FOR UPDATE SKIP LOCKED
    ), assigned AS (
        SELECT job_id, ($1::uuid[])[n] AS worker_id, ($5::uuid[])[n] AS execution_id, n > $6::int AS queued
        FROM (SELECT job_id, row_number() OVER () AS n FROM picked) numbered
    ), claimed AS (
        UPDATE jobs j
        SET status = 'RUNNING', attempts = j.attempts + 1, worker_id = a.worker_id,
            current_execution_id = a.execution_id, lease_expires_at = $3,
            started_at = $2, updated_at = $2, claim_queued = a.queued
        FROM assigned a
        WHERE j.job_id = a.job_id
        RETURNING j.job_id, j.current_execution_id, j.attempts, j.job_type, j.payload,
                  j.max_retries, j.timeout_ms, j.lease_expires_at, j.priority, j.created_at, j.worker_id
    )
    SELECT c.job_id, c.current_execution_id, c.attempts, c.job_type, c.payload, c.max_retries, c.timeout_ms,
           c.lease_expires_at, c.worker_id,
           (SELECT jsonb_agg(jsonb_build_object('job_id', p.job_id, 'status', p.status, 'result', p.result)
                             ORDER BY p.job_id)
            FROM job_dependencies d JOIN jobs p ON p.job_id = d.depends_on_job_id
            WHERE d.job_id = c.job_id) AS dependencies
    FROM claimed c
    ORDER BY c.priority DESC, c.created_at, c.job_id";

    /// $1 job ids (ascending), $2 execution ids, $3 results (JSON text), $4 now. Only a
    /// completion presenting the current execution id (the fencing token) changes
    /// anything; only a claim holds one, so no status test is needed. Every row is found
    /// through the primary key, in the order given (the store sorts by id, so batches
    /// lock in id order): a test on `status` would invite the planner, on stale
    /// statistics, to scan every running job for each batch. There is no separate
    /// locking step (a row lock costs a WAL record): the update is the lock.
    pub const COMPLETE: &str = "
    WITH done AS (
        UPDATE jobs j
        SET status = 'COMPLETED', result = i.result::jsonb, error = NULL, completed_at = $4,
            updated_at = $4, current_execution_id = NULL, lease_expires_at = NULL
        FROM UNNEST($1::uuid[], $2::uuid[], $3::text[]) AS i(job_id, execution_id, result)
        WHERE j.job_id = i.job_id AND j.current_execution_id = i.execution_id
        RETURNING i.execution_id, j.job_id, j.worker_id, j.attempts, j.started_at
    ), recorded AS (
        INSERT INTO job_executions (execution_id, job_id, worker_id, attempt, execution_status, started_at,
                                    finished_at, created_at)
        SELECT execution_id, job_id, worker_id, attempts, 'SUCCEEDED', started_at, $4, $4 FROM done
    )
    SELECT execution_id, job_id FROM done";

    /// $1 job ids, $2 their execution ids. Locks the claims that failures are about to
    /// settle, in id order (every statement locking several jobs does), and only those
    /// the failing executions still hold (only a running claim holds an execution id).
    pub const FAIL_LOCK_RUNNING: &str = "
    SELECT job_id, current_execution_id, worker_id, attempts, max_retries, claim_queued, unstarted_returns
    FROM jobs
    WHERE job_id = ANY($1::uuid[]) AND current_execution_id = ANY($2::uuid[])
    ORDER BY job_id
    FOR UPDATE";

    /// $1 limit, $2 now. Locks running jobs whose lease has expired.
    pub const RESCUE_EXPIRED_LOCK: &str = "
    SELECT job_id, current_execution_id, worker_id, attempts, max_retries, claim_queued, unstarted_returns
    FROM jobs
    WHERE status = 'RUNNING' AND lease_expires_at < $2
    ORDER BY lease_expires_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED";

    /// $1 worker. Locks every job a worker holds (it died: its claims are void).
    pub const RESCUE_WORKER_LOCK: &str = "
    SELECT job_id, current_execution_id, worker_id, attempts, max_retries, claim_queued, unstarted_returns
    FROM jobs
    WHERE status = 'RUNNING' AND worker_id = $1
    ORDER BY job_id
    FOR UPDATE";

    /// $1 job ids, $2 execution ids, $3 execution statuses, $4 errors, $5 retry times
    /// (NULL: dead-letter), $6 now. Settles failed attempts decided in Rust.
    pub const SETTLE_FAILURES: &str = "
    WITH input AS (
        SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[])
                 AS t(job_id, execution_id, execution_status, error, retry_at)
    ), settled AS (
        UPDATE jobs j
        SET status = CASE WHEN i.retry_at IS NULL THEN 'DEAD_LETTER' ELSE 'PENDING' END,
            scheduled_at = COALESCE(i.retry_at, j.scheduled_at), error = i.error,
            worker_id = CASE WHEN i.retry_at IS NULL THEN j.worker_id END,
            current_execution_id = NULL, lease_expires_at = NULL, updated_at = $6
        FROM input i, jobs old -- `old`: the row as it was, for the attempt's worker
        WHERE j.job_id = i.job_id AND j.current_execution_id = i.execution_id AND old.job_id = j.job_id
        RETURNING j.job_id, j.job_type, j.payload, j.attempts, old.worker_id, j.started_at, i.execution_id,
                  i.execution_status, i.error, i.retry_at
    ), recorded AS (
        INSERT INTO job_executions (execution_id, job_id, worker_id, attempt, execution_status, started_at,
                                    finished_at, error, created_at)
        SELECT execution_id, job_id, worker_id, attempts, execution_status, started_at, $6, error, $6 FROM settled
    ), dead AS (
        INSERT INTO dead_letter_queue (job_id, job_type, payload, last_error, attempts, failed_at)
        SELECT job_id, job_type, payload, error, attempts, $6 FROM settled WHERE retry_at IS NULL
    )
    SELECT execution_id, job_id, retry_at IS NULL AS dead FROM settled";

    /// $1 job ids, $2 execution ids, $3 now, $4 when the job may run again, $5 why.
    /// Gives claims back (a draining node, a snooze); the attempt does not count. Locks
    /// in id order, and reads the attempt's number before taking it back.
    pub const RELEASE: &str = "
    WITH input AS (
        SELECT * FROM UNNEST($1::uuid[], $2::uuid[]) AS t(job_id, execution_id)
    ), locked AS (
        SELECT j.job_id, i.execution_id, j.worker_id, j.attempts, j.started_at FROM jobs j
        JOIN input i ON i.job_id = j.job_id AND j.current_execution_id = i.execution_id
        ORDER BY j.job_id
        FOR UPDATE OF j
    ), released AS (
        UPDATE jobs j
        SET status = 'PENDING', attempts = GREATEST(j.attempts - 1, 0), current_execution_id = NULL,
            worker_id = NULL, lease_expires_at = NULL, scheduled_at = $4, updated_at = $3
        FROM locked l
        WHERE j.job_id = l.job_id AND j.current_execution_id = l.execution_id
        RETURNING l.execution_id, l.job_id, l.worker_id, l.attempts, l.started_at
    ), recorded AS (
        INSERT INTO job_executions (execution_id, job_id, worker_id, attempt, execution_status, started_at,
                                    finished_at, error, created_at)
        SELECT execution_id, job_id, worker_id, attempts, 'CANCELLED', started_at, $3, $5, $3 FROM released
    )
    SELECT execution_id FROM released";

    /// $1 job ids, $2 execution ids, $3 now. Gives back claims that never ran: like
    /// [`RELEASE`], without an execution row.
    pub const GIVE_BACK: &str = "
    UPDATE jobs j
    SET status = 'PENDING', attempts = GREATEST(j.attempts - 1, 0), current_execution_id = NULL,
        worker_id = NULL, lease_expires_at = NULL, updated_at = $3
    FROM UNNEST($1::uuid[], $2::uuid[]) AS i(job_id, execution_id)
    WHERE j.job_id = i.job_id AND j.current_execution_id = i.execution_id
    RETURNING i.execution_id";

    /// $1 job ids, $2 execution ids, $3 now, $4 why (kept as the job's `error`). Gives
    /// back rescued claims that were only queued where they were held (never known to
    /// start): like [`GIVE_BACK`], and counted in `unstarted_returns`, which bounds how
    /// often a job gets this for free. The caller holds the rows' locks.
    pub const RETURN_UNSTARTED: &str = "
    UPDATE jobs j
    SET status = 'PENDING', attempts = GREATEST(j.attempts - 1, 0), current_execution_id = NULL,
        worker_id = NULL, lease_expires_at = NULL, claim_queued = FALSE,
        unstarted_returns = j.unstarted_returns + 1, error = $4, updated_at = $3
    FROM UNNEST($1::uuid[], $2::uuid[]) AS i(job_id, execution_id)
    WHERE j.job_id = i.job_id AND j.current_execution_id = i.execution_id
    RETURNING i.execution_id";

    /// $1 job ids, $2 their execution ids, $3 new expiry. Only claims a live worker holds
    /// are renewed; a claim nobody runs any more runs out and is rescued. Rows are found
    /// by primary key (a test on `status` would scan every running job on stale
    /// statistics: 40 ms per renewal at 100,000 in flight); only a running claim holds an
    /// execution id. Rows another transaction holds are skipped, not waited for: they are
    /// being settled, and renewal must never queue behind settling (nor deadlock with a
    /// batch locking the same rows).
    pub const EXTEND_LEASES: &str = "
    UPDATE jobs SET lease_expires_at = $3
    WHERE job_id IN (
        SELECT job_id FROM jobs
        WHERE job_id = ANY($1::uuid[]) AND current_execution_id = ANY($2::uuid[])
        FOR UPDATE SKIP LOCKED
    )";

    pub const GET_JOB_FOR_UPDATE: &str = concat!("SELECT ", job_columns!(), " FROM jobs WHERE job_id = $1 FOR UPDATE");

    /// $1 job id, $2 execution id, $3 data (JSON text), $4 now. Saves the checkpoint only
    /// while the execution holds the claim (the fence): no row, no write.
    pub const SAVE_CHECKPOINT: &str = "
    INSERT INTO job_checkpoints (job_id, execution_id, attempt, data, saved_at)
    SELECT job_id, current_execution_id, attempts, $3::jsonb, $4 FROM jobs
    WHERE job_id = $1 AND current_execution_id = $2
    ON CONFLICT (job_id) DO UPDATE
    SET execution_id = EXCLUDED.execution_id, attempt = EXCLUDED.attempt, data = EXCLUDED.data,
        saved_at = EXCLUDED.saved_at";
}
