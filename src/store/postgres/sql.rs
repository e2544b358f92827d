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

/// $1 ids, $2 types, $3 payloads (JSON text), $4 priorities, $5 max_retries, $6 timeouts,
/// $7 scheduled_at, $8 idempotency keys (nullable), $9 now, $10 whether each waits for
/// dependencies (`WAITING`) or is ready (`PENDING`).
pub const ENQUEUE: &str = "
INSERT INTO jobs (job_id, job_type, payload, status, priority, max_retries, timeout_ms,
                  scheduled_at, idempotency_key, created_at, updated_at)
SELECT t.job_id, t.job_type, t.payload::jsonb, CASE WHEN t.waits THEN 'WAITING' ELSE 'PENDING' END,
       t.priority, t.max_retries, t.timeout_ms, t.scheduled_at, t.idempotency_key, $9, $9
FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int4[], $5::int4[], $6::int4[],
            $7::timestamptz[], $8::text[], $10::bool[])
     AS t(job_id, job_type, payload, priority, max_retries, timeout_ms, scheduled_at, idempotency_key, waits)
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING job_id";

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
/// $4 job types the workers can run, $5 an execution id for each slot. Picks ready
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
    SELECT job_id, ($1::uuid[])[n] AS worker_id, ($5::uuid[])[n] AS execution_id
    FROM (SELECT job_id, row_number() OVER () AS n FROM picked) numbered
), claimed AS (
    UPDATE jobs j
    SET status = 'RUNNING', attempts = j.attempts + 1, worker_id = a.worker_id,
        current_execution_id = a.execution_id, lease_expires_at = $3,
        started_at = $2, updated_at = $2
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
SELECT job_id, current_execution_id, worker_id, attempts, max_retries FROM jobs
WHERE job_id = ANY($1::uuid[]) AND current_execution_id = ANY($2::uuid[])
ORDER BY job_id
FOR UPDATE";

/// $1 limit, $2 now. Locks running jobs whose lease has expired.
pub const LOCK_EXPIRED: &str = "
SELECT job_id, current_execution_id, worker_id, attempts, max_retries FROM jobs
WHERE status = 'RUNNING' AND lease_expires_at < $2
ORDER BY lease_expires_at
LIMIT $1
FOR UPDATE SKIP LOCKED";

/// $1 worker. Locks every job a worker holds (it died: its claims are void).
pub const LOCK_WORKER_CLAIMS: &str = "
SELECT job_id, current_execution_id, worker_id, attempts, max_retries FROM jobs
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
        current_execution_id = NULL, lease_expires_at = NULL, updated_at = $6
    FROM input i
    WHERE j.job_id = i.job_id AND j.current_execution_id = i.execution_id
    RETURNING j.job_id, j.job_type, j.payload, j.attempts, j.worker_id, j.started_at, i.execution_id,
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
        lease_expires_at = NULL, scheduled_at = $4, updated_at = $3
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
    lease_expires_at = NULL, updated_at = $3
FROM UNNEST($1::uuid[], $2::uuid[]) AS i(job_id, execution_id)
WHERE j.job_id = i.job_id AND j.current_execution_id = i.execution_id
RETURNING i.execution_id";

/// $1 execution ids, $2 new expiry. Only claims a live Job actor holds are renewed;
/// a claim nobody runs any more runs out and is rescued. Rows another transaction
/// holds are skipped, not waited for: they are being settled, and renewal must never
/// queue behind settling (nor deadlock with a batch locking the same rows).
pub const EXTEND_LEASES: &str = "
UPDATE jobs SET lease_expires_at = $2
WHERE job_id IN (
    SELECT job_id FROM jobs
    WHERE status = 'RUNNING' AND current_execution_id = ANY($1::uuid[])
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
    "UPDATE jobs SET status = 'PENDING', attempts = 0, error = NULL, result = NULL, scheduled_at = $2, ",
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

/// $1 status (nullable), $2 type (nullable), $3 before this id (nullable), $4 limit.
pub const LIST_JOBS: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR job_type = $2)",
    " AND ($3::uuid IS NULL OR job_id < $3) ORDER BY job_id DESC LIMIT $4"
);

/// $1 since.
pub const COMPLETED_SINCE: &str = "SELECT COUNT(*) FROM jobs WHERE status = 'COMPLETED' AND completed_at >= $1";

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

/// Every statement, for the schema test.
pub const ALL: &[(&str, &str)] = &[
    ("ENQUEUE", ENQUEUE),
    ("JOBS_BY_IDEMPOTENCY_KEY", JOBS_BY_IDEMPOTENCY_KEY),
    ("CLAIM", CLAIM),
    ("COMPLETE", COMPLETE),
    ("LOCK_RUNNING", LOCK_RUNNING),
    ("LOCK_EXPIRED", LOCK_EXPIRED),
    ("LOCK_WORKER_CLAIMS", LOCK_WORKER_CLAIMS),
    ("SETTLE_FAILURES", SETTLE_FAILURES),
    ("RELEASE", RELEASE),
    ("GIVE_BACK", GIVE_BACK),
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
    ("LIST_JOBS", LIST_JOBS),
    ("COMPLETED_SINCE", COMPLETED_SINCE),
    ("UPSERT_WORKERS", UPSERT_WORKERS),
    ("SELECT_WORKERS", SELECT_WORKERS),
    ("INSERT_HEALTH_LOGS", INSERT_HEALTH_LOGS),
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
pub const LOCK_WAITING_DEPENDENTS: &str = "
SELECT j.job_id FROM jobs j
WHERE j.status = 'WAITING'
  AND j.job_id IN (SELECT d.job_id FROM job_dependencies d WHERE d.depends_on_job_id = ANY($1::uuid[]))
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
