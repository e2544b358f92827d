//! Every SQL statement of the Postgres backend, in one place. Inputs are always bound
//! parameters; batches travel as arrays and are spread with UNNEST, so one statement
//! serves one item or a thousand. `tests/aeon/schema.rs` prepares each statement
//! against the live schema, so a column the code names but the schema lacks fails a
//! test, never a production call.
//!
//! An attempt's `job_executions` row is written once, when the attempt ends (done,
//! failed, timed out, crashed, released or cancelled), in the same statement that
//! settles the job. While it runs, the attempt lives on the job's row
//! (`current_execution_id`, `worker_id`, `attempts`, `started_at`), and
//! [`SELECT_EXECUTIONS`] shows it from there as `RUNNING`. Writing the row once
//! rather than inserting it at the claim and updating it at the end takes about a
//! third off the database work per job.

/// The columns of a job as [`super::rows::job`] reads them.
macro_rules! job_columns {
    () => {
        "job_id, job_type, payload, status, priority, attempts, max_retries, timeout_ms, result, error, \
         idempotency_key, scheduled_at, started_at, completed_at, worker_id, current_execution_id, \
         lease_expires_at, created_at, updated_at"
    };
}

/// The submit's insert, `$conflict` the clause for idempotency keys (or nothing).
/// $1 ids, $2 types, $3 payloads (JSON text), $4 priorities, $5 max_retries, $6 timeouts,
/// $7 scheduled_at, $8 idempotency keys (nullable), $9 now, $10 whether each waits for
/// dependencies (`WAITING`) or is ready (`PENDING`).
macro_rules! enqueue {
    ($conflict:literal) => {
        concat!(
            "
INSERT INTO jobs (job_id, job_type, payload, status, priority, max_retries, timeout_ms,
                  scheduled_at, idempotency_key, created_at, updated_at)
SELECT t.job_id, t.job_type, t.payload::jsonb, CASE WHEN t.waits THEN 'WAITING' ELSE 'PENDING' END,
       t.priority, t.max_retries, t.timeout_ms, t.scheduled_at, t.idempotency_key, $9, $9
FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int4[], $5::int4[], $6::int4[],
            $7::timestamptz[], $8::text[], $10::bool[])
     AS t(job_id, job_type, payload, priority, max_retries, timeout_ms, scheduled_at, idempotency_key, waits)
",
            $conflict,
            "
RETURNING job_id"
        )
    };
}

/// A submit where some job has an idempotency key: a key already taken leaves its
/// job out (the caller then answers with the job that holds it).
pub const ENQUEUE: &str = enqueue!("ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING");

/// A submit where no job has an idempotency key, the common case: a plain insert.
/// `ON CONFLICT` makes every row a speculative insertion, which costs an index probe
/// and a WAL record per row more, for a conflict that cannot happen here.
pub const ENQUEUE_UNKEYED: &str = enqueue!("");

/// $1 idempotency keys.
pub const JOBS_BY_IDEMPOTENCY_KEY: &str =
    "SELECT idempotency_key, job_id, status FROM jobs WHERE idempotency_key = ANY($1::text[])";

/// Planner settings for the hot statements, which find every row by key. These run
/// on cached generic plans, planned once per connection: a plan made while the
/// table was small (a seq scan and a hash join look cheap on a few hundred rows)
/// would be kept as it grows to millions, and statistics may lag a burst of
/// enqueues (the planner then believes few jobs are pending and would sort them all
/// on every claim). So the plan is pinned to index paths, whatever the statistics.
/// `jit = off`: the disabled paths' huge costs would otherwise make Postgres compile
/// each statement with LLVM.
pub const KEY_LOOKUPS_ONLY: &[(&str, &str)] = &[
    ("enable_seqscan", "off"),
    ("enable_bitmapscan", "off"),
    ("enable_hashjoin", "off"),
    ("enable_mergejoin", "off"),
    ("jit", "off"),
    ("plan_cache_mode", "force_generic_plan"),
];

/// What the connections that run only [`CLAIM`] add to [`KEY_LOOKUPS_ONLY`] for their
/// whole session, so that a claim is one autocommit statement (one round trip): no
/// sort (the claim walks the partial claim index in order), and
/// `synchronous_commit = off`, so the claim commits without waiting for the WAL
/// flush: a claim lost to a database crash only means the job runs again, and
/// fencing refuses the lost claim's completion. Enqueues and completions stay durable.
pub const CLAIM_ONLY: &[(&str, &str)] = &[("enable_sort", "off"), ("synchronous_commit", "off")];

/// Every setting of the claim connections' sessions.
pub fn claim_session() -> impl Iterator<Item = (&'static str, &'static str)> {
    KEY_LOOKUPS_ONLY.iter().chain(CLAIM_ONLY).copied()
}

/// `BEGIN`, then each of `settings` for that transaction only.
pub fn begin_with_settings<'a>(settings: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    settings.into_iter().fold("BEGIN".to_string(), |sql, (name, value)| sql + &format!("; SET LOCAL {name} = {value}"))
}

/// Opens a completion's transaction: index paths only, generic plans.
pub static BEGIN_COMPLETE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| begin_with_settings(KEY_LOOKUPS_ONLY.iter().copied()));

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
pub const LOCK_RUNNING: &str = "
SELECT job_id, current_execution_id, worker_id, attempts, max_retries, claim_queued, unstarted_returns
FROM jobs
WHERE job_id = ANY($1::uuid[]) AND current_execution_id = ANY($2::uuid[])
ORDER BY job_id
FOR UPDATE";

/// $1 limit, $2 now. Locks running jobs whose lease has expired.
pub const LOCK_EXPIRED: &str = "
SELECT job_id, current_execution_id, worker_id, attempts, max_retries, claim_queued, unstarted_returns
FROM jobs
WHERE status = 'RUNNING' AND lease_expires_at < $2
ORDER BY lease_expires_at
LIMIT $1
FOR UPDATE SKIP LOCKED";

/// $1 worker. Locks every job a worker holds (it died: its claims are void).
pub const LOCK_WORKER_CLAIMS: &str = "
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

pub const SELECT_JOB_FOR_UPDATE: &str = concat!("SELECT ", job_columns!(), " FROM jobs WHERE job_id = $1 FOR UPDATE");

pub const SELECT_JOB: &str = concat!("SELECT ", job_columns!(), " FROM jobs WHERE job_id = $1");

/// $1 job, $2 now.
pub const CANCEL_JOB: &str = concat!(
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
pub const REQUEUE_JOB: &str = concat!(
    "UPDATE jobs SET status = 'PENDING', attempts = 0, unstarted_returns = 0, error = NULL, result = NULL, scheduled_at = $2, worker_id = NULL, ",
    "completed_at = NULL, updated_at = $2 WHERE job_id = $1 RETURNING ",
    job_columns!()
);

/// $1 job, $2 now.
pub const CLOSE_DEAD_LETTER: &str =
    "UPDATE dead_letter_queue SET requeued = TRUE, requeued_at = $2 WHERE job_id = $1 AND NOT requeued";

/// $1 job. Its ended attempts, and the running one (from the job's row).
pub const SELECT_EXECUTIONS: &str = "
SELECT execution_id, job_id, worker_id, attempt, execution_status, started_at, finished_at, error
FROM job_executions WHERE job_id = $1
UNION ALL
SELECT current_execution_id, job_id, worker_id, attempts, 'RUNNING', started_at, NULL, NULL
FROM jobs WHERE job_id = $1 AND current_execution_id IS NOT NULL
ORDER BY attempt, started_at NULLS LAST, finished_at NULLS LAST";

/// $1 limit, $2 entries before this id (nullable).
pub const SELECT_DEAD_LETTERS: &str = "
SELECT dlq_id, job_id, job_type, payload, last_error, attempts, failed_at FROM dead_letter_queue
WHERE NOT requeued AND ($2::bigint IS NULL OR dlq_id < $2)
ORDER BY dlq_id DESC LIMIT $1";

/// The filter of the dashboard's listings, counts and bulk actions: $1 statuses (empty:
/// any), $2 type (nullable), $3 ids from (nullable), $4 ids before (nullable), $5
/// search text (nullable), $6 only these ids (empty: any). The time range and the
/// cursor are id bounds (ids are UUIDv7), so they walk the primary key; status and
/// type are tested on the rows the walk reads; the search (`strpos` over the payload's text and
/// the error) has no index and reads every row the rest leaves.
macro_rules! job_filter {
    () => {
        " FROM jobs WHERE (cardinality($1::text[]) = 0 OR status = ANY($1::text[])) \
          AND ($2::text IS NULL OR job_type = $2) AND ($3::uuid IS NULL OR job_id >= $3) \
          AND ($4::uuid IS NULL OR job_id < $4) \
          AND ($5::text IS NULL OR strpos(payload::text, $5) > 0 OR strpos(error, $5) > 0) \
          AND (cardinality($6::uuid[]) = 0 OR job_id = ANY($6::uuid[]))"
    };
}

/// [`job_filter!`], $7 limit: a page, newest first.
pub const FILTER_JOBS: &str = concat!("SELECT ", job_columns!(), job_filter!(), " ORDER BY job_id DESC LIMIT $7");

/// [`job_filter!`], $7 limit: the ids of a page, newest first.
pub const FILTER_JOB_IDS: &str = concat!("SELECT job_id", job_filter!(), " ORDER BY job_id DESC LIMIT $7");

/// [`job_filter!`], $7 the most to count.
pub const COUNT_JOBS: &str = concat!("SELECT COUNT(*) FROM (SELECT 1", job_filter!(), " LIMIT $7) matched");

/// $1 job ids, $2 now. Cancels those unfinished, in id order; a running attempt gets
/// its `CANCELLED` row (its handler's outcome is then fenced off). Answers the ids.
pub const BULK_CANCEL: &str = "
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
pub const BULK_RETRY_NOW: &str = "
UPDATE jobs SET scheduled_at = LEAST(scheduled_at, $2), updated_at = $2
WHERE job_id IN (SELECT job_id FROM jobs WHERE job_id = ANY($1::uuid[]) AND status = 'PENDING'
                 ORDER BY job_id FOR UPDATE)
RETURNING job_id";

/// $1 job ids, $2 now. Requeues the dead-lettered ones with fresh retries and closes
/// their dead-letter entries.
pub const BULK_REQUEUE: &str = "
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

/// $1 worker, $2 metric type, $3 limit: the newest samples first.
pub const HEALTH_HISTORY: &str = "
SELECT logged_at, metric_value::float8 FROM worker_health_logs
WHERE worker_id = $1 AND metric_type = $2 ORDER BY logged_at DESC LIMIT $3";

/// Ready jobs by type (a walk of the claim index, which lists only them).
pub const PENDING_BY_TYPE: &str =
    "SELECT job_type, COUNT(*) FROM jobs WHERE status = 'PENDING' GROUP BY job_type ORDER BY job_type";

/// Taken by a retention pass for its transaction; a node that cannot take it leaves
/// the pass to the node that holds it (one node prunes at a time).
pub const TRY_PRUNE_LOCK: &str = "SELECT pg_try_advisory_xact_lock(hashtext('aeon.retention'))";

/// The jobs of `$status_list` last changed before $1, at most $2, oldest first, that no
/// unfinished job depends on; deleted with their executions and what cascades from
/// them (dead-letter entries, edges, checkpoints). Rows another transaction holds are skipped: retention
/// never waits on a claim or a completion.
macro_rules! prune_jobs {
    ($statuses:literal) => {
        concat!(
            "WITH doomed AS (
    SELECT j.job_id FROM jobs j
    WHERE j.status IN ",
            $statuses,
            " AND j.updated_at < $1
      AND NOT EXISTS (
        SELECT 1 FROM job_dependencies d JOIN jobs w ON w.job_id = d.job_id
        WHERE d.depends_on_job_id = j.job_id AND w.status IN ('WAITING', 'PENDING', 'RUNNING'))
    ORDER BY j.updated_at
    LIMIT $2
    FOR UPDATE OF j SKIP LOCKED
), executions AS (
    -- No foreign key cascades to the attempts' rows (migration 0013): they go here.
    DELETE FROM job_executions WHERE job_id IN (SELECT job_id FROM doomed)
)
DELETE FROM jobs WHERE job_id IN (SELECT job_id FROM doomed)"
        )
    };
}

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

/// $1 since. A completion sets `updated_at` to `completed_at` and later changes only
/// move it on, so the test on `updated_at` is implied; it lets the count walk the
/// recent end of `jobs_finished_idx` instead of every completed job ever kept.
pub const COMPLETED_SINCE: &str = "
SELECT COUNT(*) FROM jobs
WHERE status = 'COMPLETED' AND updated_at >= $1 AND completed_at >= $1";

pub const COUNT_BY_STATUS: &str = "SELECT status, COUNT(*) FROM jobs GROUP BY status";

/// $1 ids, $2 nodes, $3 statuses, $4 capacities, $5 loads, $6 scores, $7 failure counts,
/// $8 metadata (JSON text), $9 heartbeats.
pub const UPSERT_WORKERS: &str = "
INSERT INTO workers (worker_id, node_id, status, capacity, current_load, health_score, failure_count,
                     metadata, last_heartbeat, created_at, updated_at)
SELECT t.worker_id, t.node_id, t.status, t.capacity, t.current_load, t.health_score::numeric(3,2),
       t.failure_count, t.metadata::jsonb, t.last_heartbeat, NOW(), NOW()
FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int4[], $5::int4[], $6::float8[], $7::int4[],
            $8::text[], $9::timestamptz[])
     AS t(worker_id, node_id, status, capacity, current_load, health_score, failure_count, metadata, last_heartbeat)
ON CONFLICT (worker_id) DO UPDATE SET
    node_id = EXCLUDED.node_id, status = EXCLUDED.status, capacity = EXCLUDED.capacity,
    current_load = EXCLUDED.current_load, health_score = EXCLUDED.health_score,
    failure_count = EXCLUDED.failure_count, metadata = EXCLUDED.metadata,
    last_heartbeat = EXCLUDED.last_heartbeat, updated_at = NOW()";

pub const SELECT_WORKERS: &str = "
SELECT worker_id, node_id, status, capacity, current_load, health_score::float8, failure_count,
       metadata, last_heartbeat
FROM workers ORDER BY node_id, created_at, worker_id";

/// $1 workers, $2 metric types, $3 values, $4 metadata (JSON text), $5 times.
pub const INSERT_HEALTH_LOGS: &str = "
INSERT INTO worker_health_logs (worker_id, metric_type, metric_value, metadata, logged_at)
SELECT t.worker_id, t.metric_type, t.metric_value::numeric(10,4), t.metadata::jsonb, t.logged_at
FROM UNNEST($1::uuid[], $2::text[], $3::float8[], $4::text[], $5::timestamptz[])
     AS t(worker_id, metric_type, metric_value, metadata, logged_at)";

// --- Snapshots ----------------------------------------------------------------------

/// The columns of a whole snapshot, JSON as text.
macro_rules! snapshot_columns {
    () => {
        "snapshot_id, snapshot_type, state_data::text AS state_data, metadata::text AS metadata, created_at"
    };
}

/// $1 id, $2 type, $3 state (JSON text), $4 metadata (JSON text), $5 created_at.
pub const INSERT_SNAPSHOT: &str = "
INSERT INTO state_snapshots (snapshot_id, snapshot_type, state_data, metadata, created_at)
VALUES ($1, $2, $3::jsonb, $4::jsonb, $5)";

/// $1 type (nullable), $2 node id (nullable), $3 the previous page's last id (nullable),
/// $4 limit. Newest first; no state.
pub const LIST_SNAPSHOTS: &str = "
SELECT snapshot_id, snapshot_type, metadata::text AS metadata, created_at
FROM state_snapshots
WHERE ($1::text IS NULL OR snapshot_type = $1::text)
  AND ($2::text IS NULL OR metadata ->> 'node_id' = $2::text)
  AND ($3::uuid IS NULL OR (created_at, snapshot_id) <
       (SELECT created_at, snapshot_id FROM state_snapshots WHERE snapshot_id = $3::uuid))
ORDER BY created_at DESC, snapshot_id DESC
LIMIT $4";

/// $1 id.
pub const SELECT_SNAPSHOT: &str =
    concat!("SELECT ", snapshot_columns!(), " FROM state_snapshots WHERE snapshot_id = $1");

/// $1 node id (nullable). The newest snapshot, whole.
pub const LATEST_SNAPSHOT: &str = concat!(
    "SELECT ",
    snapshot_columns!(),
    " FROM state_snapshots WHERE ($1::text IS NULL OR metadata ->> 'node_id' = $1::text)
     ORDER BY created_at DESC, snapshot_id DESC LIMIT 1"
);

/// $1 ids.
pub const DELETE_SNAPSHOTS: &str = "DELETE FROM state_snapshots WHERE snapshot_id = ANY($1::uuid[])";

/// $1 job id, $2 execution id, $3 data (JSON text), $4 now. Saves the checkpoint only
/// while the execution holds the claim (the fence): no row, no write.
pub const SAVE_CHECKPOINT: &str = "
INSERT INTO job_checkpoints (job_id, execution_id, attempt, data, saved_at)
SELECT job_id, current_execution_id, attempts, $3::jsonb, $4 FROM jobs
WHERE job_id = $1 AND current_execution_id = $2
ON CONFLICT (job_id) DO UPDATE
SET execution_id = EXCLUDED.execution_id, attempt = EXCLUDED.attempt, data = EXCLUDED.data,
    saved_at = EXCLUDED.saved_at";

/// $1 job id.
pub const SELECT_CHECKPOINT: &str =
    "SELECT job_id, execution_id, attempt, data, saved_at FROM job_checkpoints WHERE job_id = $1";

macro_rules! insert_contexts {
    ($on_conflict:literal) => {
        concat!(
            "
INSERT INTO execution_contexts (execution_id, job_id, job_type, attempt, outcome, vector, context, created_at)
SELECT t.execution_id, t.job_id, t.job_type, t.attempt, t.outcome, t.vector, t.context::jsonb, t.created_at
FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::int4[], $5::text[], $6::bytea[], $7::text[],
            $8::timestamptz[])
     AS t(execution_id, job_id, job_type, attempt, outcome, vector, context, created_at)",
            $on_conflict
        )
    };
}

/// $1 execution ids (distinct), $2 job ids, $3 types, $4 attempts, $5 outcomes,
/// $6 vectors (little-endian float32s; none: the derived embedding), $7 contexts (JSON
/// text), $8 recorded at. New points only; a batch written again uses [`UPSERT_CONTEXTS`].
pub const INSERT_CONTEXTS: &str = insert_contexts!("");

/// [`INSERT_CONTEXTS`], replacing the points that exist.
pub const UPSERT_CONTEXTS: &str = insert_contexts!(
    "
ON CONFLICT (execution_id) DO UPDATE
SET job_id = EXCLUDED.job_id, job_type = EXCLUDED.job_type, attempt = EXCLUDED.attempt,
    outcome = EXCLUDED.outcome, vector = EXCLUDED.vector, context = EXCLUDED.context,
    created_at = EXCLUDED.created_at"
);

/// $1 failed attempts only, $2 a job to leave out (nullable). Every candidate of an
/// exact search: the node scores them (cosine) as they stream by. The failed outcomes
/// are [`crate::vector::FAILED_OUTCOMES`].
pub const SCAN_CONTEXTS: &str = "
SELECT vector, context::text, execution_id, job_id, job_type, attempt, outcome FROM execution_contexts
WHERE (NOT $1 OR outcome IN ('FAILED', 'TIMED_OUT', 'CRASHED')) AND ($2::uuid IS NULL OR job_id <> $2)";

/// $1 job id.
pub const SELECT_JOB_CONTEXTS: &str = "
SELECT vector, context::text, execution_id, job_id, job_type, attempt, outcome FROM execution_contexts
WHERE job_id = $1 ORDER BY attempt, created_at";

/// $1 lease, $2 holder, $3 token, $4 now. Whether the fence holds; locks the lease
/// row against a change of hands until the fenced transaction ends.
pub const CHECK_FENCE: &str = "
SELECT 1 FROM cluster_leases WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at > $4 FOR SHARE";

/// $1 node, $2 silent since. Marks a node dead if it is still silent.
pub const MARK_NODE_DEAD: &str = "
UPDATE nodes SET status = 'DEAD' WHERE node_id = $1 AND status IN ('ACTIVE', 'DRAINING') AND last_seen < $2
RETURNING node_id";

/// $1 node, $2 now. Its workers are dead too.
pub const MARK_NODE_WORKERS_DEAD: &str = "
UPDATE workers SET status = 'DEAD', current_load = 0, updated_at = $2
WHERE node_id = $1 AND status NOT IN ('DEAD', 'FAILED', 'STOPPED')";

/// $1 node. Locks every job the node's workers hold (it died: its claims are void).
pub const LOCK_NODE_CLAIMS: &str = "
SELECT job_id, current_execution_id, worker_id, attempts, max_retries, claim_queued, unstarted_returns
FROM jobs
WHERE status = 'RUNNING' AND worker_id IN (SELECT worker_id FROM workers WHERE node_id = $1)
ORDER BY job_id
FOR UPDATE";

/// $1 node, $2 address, $3 status, $4 now, $5 incarnation. A node's heartbeat, fenced
/// by its incarnation: no row when another process has taken the node id over. A node
/// back from the dead starts again.
pub const UPSERT_NODE: &str = "
INSERT INTO nodes (node_id, address, status, started_at, last_seen, incarnation) VALUES ($1, $2, $3, $4, $4, $5)
ON CONFLICT (node_id) DO UPDATE SET
    address = EXCLUDED.address, status = EXCLUDED.status, last_seen = EXCLUDED.last_seen,
    started_at = CASE WHEN nodes.status IN ('DEAD', 'STOPPED') THEN EXCLUDED.started_at ELSE nodes.started_at END
WHERE nodes.incarnation = EXCLUDED.incarnation
RETURNING node_id";

/// $1 node, $2 address, $3 now, $4 incarnation. A new process takes the node id.
pub const INSERT_NODE: &str = "
INSERT INTO nodes (node_id, address, status, started_at, last_seen, incarnation) VALUES ($1, $2, 'ACTIVE', $3, $3, $4)
ON CONFLICT (node_id) DO NOTHING
RETURNING node_id";

/// $1 node, $2 address, $3 now, $4 incarnation, $5 the incarnation seen, $6 its last
/// beat seen. A new process takes the node id over, if its row has not moved since.
pub const TAKE_NODE: &str = "
UPDATE nodes SET address = $2, status = 'ACTIVE', started_at = $3, last_seen = $3, incarnation = $4
WHERE node_id = $1 AND incarnation = $5 AND last_seen <= $6
RETURNING node_id";

pub const SELECT_NODES: &str =
    "SELECT node_id, address, status, started_at, last_seen, incarnation FROM nodes ORDER BY node_id";

/// $1 lease, $2 holder, $3 until, $4 now. Takes or renews a lease that is free,
/// expired or the holder's own; the token grows when it changes hands. No row: another
/// holds it.
pub const ACQUIRE_LEASE: &str = "
INSERT INTO cluster_leases (name, holder, token, expires_at) VALUES ($1, $2, 1, $3)
ON CONFLICT (name) DO UPDATE SET
    token = CASE WHEN cluster_leases.holder = EXCLUDED.holder THEN cluster_leases.token
                 ELSE cluster_leases.token + 1 END,
    holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
WHERE cluster_leases.holder = EXCLUDED.holder OR cluster_leases.expires_at <= $4
RETURNING token";

/// Every statement, for the schema test.
pub const ALL: &[(&str, &str)] = &[
    ("INSERT_SNAPSHOT", INSERT_SNAPSHOT),
    ("LIST_SNAPSHOTS", LIST_SNAPSHOTS),
    ("SELECT_SNAPSHOT", SELECT_SNAPSHOT),
    ("LATEST_SNAPSHOT", LATEST_SNAPSHOT),
    ("DELETE_SNAPSHOTS", DELETE_SNAPSHOTS),
    ("ENQUEUE", ENQUEUE),
    ("ENQUEUE_UNKEYED", ENQUEUE_UNKEYED),
    ("JOBS_BY_IDEMPOTENCY_KEY", JOBS_BY_IDEMPOTENCY_KEY),
    ("CLAIM", CLAIM),
    ("COMPLETE", COMPLETE),
    ("LOCK_RUNNING", LOCK_RUNNING),
    ("LOCK_EXPIRED", LOCK_EXPIRED),
    ("LOCK_WORKER_CLAIMS", LOCK_WORKER_CLAIMS),
    ("CHECK_FENCE", CHECK_FENCE),
    ("MARK_NODE_DEAD", MARK_NODE_DEAD),
    ("MARK_NODE_WORKERS_DEAD", MARK_NODE_WORKERS_DEAD),
    ("LOCK_NODE_CLAIMS", LOCK_NODE_CLAIMS),
    ("UPSERT_NODE", UPSERT_NODE),
    ("INSERT_NODE", INSERT_NODE),
    ("TAKE_NODE", TAKE_NODE),
    ("SELECT_NODES", SELECT_NODES),
    ("ACQUIRE_LEASE", ACQUIRE_LEASE),
    ("SETTLE_FAILURES", SETTLE_FAILURES),
    ("RELEASE", RELEASE),
    ("GIVE_BACK", GIVE_BACK),
    ("RETURN_UNSTARTED", RETURN_UNSTARTED),
    ("EXTEND_LEASES", EXTEND_LEASES),
    ("SELECT_JOB_FOR_UPDATE", SELECT_JOB_FOR_UPDATE),
    ("SELECT_JOB", SELECT_JOB),
    ("CANCEL_JOB", CANCEL_JOB),
    ("CANCEL_EXECUTION", CANCEL_EXECUTION),
    ("REQUEUE_JOB", REQUEUE_JOB),
    ("CLOSE_DEAD_LETTER", CLOSE_DEAD_LETTER),
    ("SELECT_EXECUTIONS", SELECT_EXECUTIONS),
    ("SELECT_DEAD_LETTERS", SELECT_DEAD_LETTERS),
    ("COUNT_BY_STATUS", COUNT_BY_STATUS),
    ("COMPLETED_SINCE", COMPLETED_SINCE),
    ("TRY_PRUNE_LOCK", TRY_PRUNE_LOCK),
    ("PRUNE_FINISHED", PRUNE_FINISHED),
    ("PRUNE_DEAD_LETTERS", PRUNE_DEAD_LETTERS),
    ("PRUNE_HEALTH_LOGS", PRUNE_HEALTH_LOGS),
    ("PRUNE_CONTEXTS", PRUNE_CONTEXTS),
    ("FILTER_JOBS", FILTER_JOBS),
    ("FILTER_JOB_IDS", FILTER_JOB_IDS),
    ("COUNT_JOBS", COUNT_JOBS),
    ("BULK_CANCEL", BULK_CANCEL),
    ("BULK_RETRY_NOW", BULK_RETRY_NOW),
    ("BULK_REQUEUE", BULK_REQUEUE),
    ("PENDING_BY_TYPE", PENDING_BY_TYPE),
    ("HEALTH_HISTORY", HEALTH_HISTORY),
    ("UPSERT_WORKERS", UPSERT_WORKERS),
    ("SELECT_WORKERS", SELECT_WORKERS),
    ("INSERT_HEALTH_LOGS", INSERT_HEALTH_LOGS),
    ("SAVE_CHECKPOINT", SAVE_CHECKPOINT),
    ("SELECT_CHECKPOINT", SELECT_CHECKPOINT),
    ("INSERT_CONTEXTS", INSERT_CONTEXTS),
    ("UPSERT_CONTEXTS", UPSERT_CONTEXTS),
    ("SCAN_CONTEXTS", SCAN_CONTEXTS),
    ("SELECT_JOB_CONTEXTS", SELECT_JOB_CONTEXTS),
];

// --- Dependencies -------------------------------------------------------------------

/// $1 dependency ids. Locks the existing ones against change until the submit commits,
/// so a dependency cannot finish unseen between this check and the new edges.
pub const LOCK_DEPENDENCIES: &str = "SELECT job_id FROM jobs WHERE job_id = ANY($1::uuid[]) ORDER BY job_id FOR SHARE";

/// $1 dependents, $2 dependencies, $3 policies, $4 now.
pub const INSERT_EDGES: &str = "
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

/// $1 job: what it waits for, and what waits for it.
pub const SELECT_EDGES: &str = "
SELECT 'depends_on' AS side, depends_on_job_id AS other FROM job_dependencies WHERE job_id = $1
UNION ALL
SELECT 'dependent', job_id FROM job_dependencies WHERE depends_on_job_id = $1
ORDER BY 1, 2";

/// $1 root, $2 limit. The root and every job that depends on it, transitively, with
/// each one's dependencies.
pub const SELECT_WORKFLOW: &str = "
WITH RECURSIVE dag(job_id) AS (
    SELECT $1::uuid
  UNION
    SELECT d.job_id FROM job_dependencies d JOIN dag ON d.depends_on_job_id = dag.job_id
)
SELECT j.job_id, j.job_type, j.status,
       COALESCE((SELECT array_agg(d.depends_on_job_id ORDER BY d.depends_on_job_id)
                 FROM job_dependencies d WHERE d.job_id = j.job_id), '{}') AS depends_on
FROM jobs j JOIN dag USING (job_id)
ORDER BY j.created_at, j.job_id
LIMIT $2";

/// Statements of the dependency work, for the schema test.
pub const DEPENDENCY_STATEMENTS: &[(&str, &str)] = &[
    ("LOCK_DEPENDENCIES", LOCK_DEPENDENCIES),
    ("INSERT_EDGES", INSERT_EDGES),
    ("LOCK_WAITING_DEPENDENTS", LOCK_WAITING_DEPENDENTS),
    ("CANCEL_DOOMED", CANCEL_DOOMED),
    ("RELEASE_READY", RELEASE_READY),
    ("SELECT_EDGES", SELECT_EDGES),
    ("SELECT_WORKFLOW", SELECT_WORKFLOW),
];
