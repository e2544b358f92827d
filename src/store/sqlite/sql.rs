//! Every SQL statement of the SQLite backend, in one place, each mirroring the
//! Postgres statement of the same name (`src/store/postgres/sql.rs`). Inputs are
//! always bound parameters (`?N`, numbered, so one parameter may serve several
//! places). SQLite has no arrays: a batch travels as ONE JSON array text parameter and
//! is spread with `json_each`, so one statement serves one item or a thousand. Times,
//! UUIDs and JSON inside those arrays are the texts of [`super::codec`]; a JSON value
//! (payload, result, metadata) travels as a JSON *string* holding its text, read with
//! `->>`, so SQLite never re-renders it.
//!
//! SQLite has no data-modifying CTEs, so where Postgres settles a job and writes its
//! execution row in one statement, the entry here is a short script of statements
//! (`…; …; …`) that sqlx runs in one call on the single writer connection, inside the
//! caller's transaction where it writes more than one row set. Such a script reads the
//! rows it will change first (`SELECT`/`INSERT … SELECT`) and changes them last
//! (`UPDATE`), because SQLite's `RETURNING` cannot name the `FROM` tables of an
//! `UPDATE … FROM` nor the values a row had before the update. No `FOR UPDATE` or
//! `SKIP LOCKED` anywhere: every write runs on the one writer connection, in order.
//!
//! As in Postgres, an attempt's `job_executions` row is written once, when it ends;
//! while it runs, [`SELECT_EXECUTIONS`] shows it from the job's row as `RUNNING`.

/// The columns of a job as [`super::rows::job`] reads them.
macro_rules! job_columns {
    () => {
        "job_id, job_type, payload, status, priority, attempts, max_retries, timeout_ms, result, error, \
         idempotency_key, scheduled_at, started_at, completed_at, worker_id, current_execution_id, \
         lease_expires_at, created_at, updated_at"
    };
}

/// Claims named in `?1` (`[{"job", "exec"}, …]`), as a row source `i(job_id, execution_id)`.
macro_rules! claims_input {
    () => {
        "(SELECT value ->> 'job' AS job_id, value ->> 'exec' AS execution_id FROM json_each(?1))"
    };
}

/// Failures decided in Rust, in `?1`, as a row source
/// `i(job_id, execution_id, execution_status, error, retry_at)`.
macro_rules! failures_input {
    () => {
        "(SELECT value ->> 'job' AS job_id, value ->> 'exec' AS execution_id, value ->> 'status' AS execution_status, \
         value ->> 'error' AS error, value ->> 'retry_at' AS retry_at FROM json_each(?1))"
    };
}

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
pub const JOBS_BY_IDEMPOTENCY_KEY: &str =
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
pub const LOCK_RUNNING: &str = "
SELECT job_id, current_execution_id, worker_id, attempts, max_retries, claim_queued, unstarted_returns
FROM jobs
WHERE job_id IN (SELECT value FROM json_each(?1))
  AND current_execution_id IN (SELECT value FROM json_each(?2))
ORDER BY job_id";

/// ?1 limit, ?2 now. Running jobs whose lease has expired, oldest lease first, read
/// in order from the partial lease index.
pub const LOCK_EXPIRED: &str = "
SELECT job_id, current_execution_id, worker_id, attempts, max_retries, claim_queued, unstarted_returns
FROM jobs INDEXED BY jobs_lease_idx
WHERE status = 'RUNNING' AND lease_expires_at < ?2
ORDER BY lease_expires_at
LIMIT ?1";

/// ?1 worker. Every job a worker holds (it died: its claims are void).
pub const LOCK_WORKER_CLAIMS: &str = "
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

/// ?1 job. (Inside a `BEGIN IMMEDIATE` transaction it is as good as `FOR UPDATE`.)
pub const SELECT_JOB: &str = concat!("SELECT ", job_columns!(), " FROM jobs WHERE job_id = ?1");

/// ?1 job, ?2 now.
pub const CANCEL_JOB: &str = concat!(
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
pub const REQUEUE_JOB: &str = concat!(
    "UPDATE jobs SET status = 'PENDING', attempts = 0, unstarted_returns = 0, error = NULL, result = NULL, scheduled_at = ?2, worker_id = NULL, ",
    "completed_at = NULL, updated_at = ?2 WHERE job_id = ?1 RETURNING ",
    job_columns!()
);

/// ?1 job, ?2 now.
pub const CLOSE_DEAD_LETTER: &str =
    "UPDATE dead_letter_queue SET requeued = 1, requeued_at = ?2 WHERE job_id = ?1 AND NOT requeued";

/// ?1 job. Its ended attempts, and the running one (from the job's row).
pub const SELECT_EXECUTIONS: &str = "
SELECT execution_id, job_id, worker_id, attempt, execution_status, started_at, finished_at, error
FROM job_executions WHERE job_id = ?1
UNION ALL
SELECT current_execution_id, job_id, worker_id, attempts, 'RUNNING', started_at, NULL, NULL
FROM jobs WHERE job_id = ?1 AND current_execution_id IS NOT NULL
ORDER BY attempt, started_at NULLS LAST, finished_at NULLS LAST";

/// ?1 limit, ?2 entries before this id (nullable).
pub const SELECT_DEAD_LETTERS: &str = "
SELECT dlq_id, job_id, job_type, payload, last_error, attempts, failed_at FROM dead_letter_queue
WHERE NOT requeued AND (?2 IS NULL OR dlq_id < ?2)
ORDER BY dlq_id DESC LIMIT ?1";

/// The filter of listings, counts and bulk actions: ?1 statuses (JSON array, `[]`:
/// any), ?2 type (nullable), ?3 ids from (nullable), ?4 ids before (nullable), ?5
/// search text (nullable), ?6 only these ids (JSON array, `[]`: any). As in Postgres,
/// the time range and the cursor are id bounds (UUIDv7 text sorts by time) and the
/// search (`instr` over the payload's text and the error) reads every row the rest
/// leaves.
macro_rules! job_filter {
    () => {
        " FROM jobs WHERE (?1 = '[]' OR status IN (SELECT value FROM json_each(?1))) \
          AND (?2 IS NULL OR job_type = ?2) AND (?3 IS NULL OR job_id >= ?3) AND (?4 IS NULL OR job_id < ?4) \
          AND (?5 IS NULL OR instr(payload, ?5) > 0 OR instr(error, ?5) > 0) \
          AND (?6 = '[]' OR job_id IN (SELECT value FROM json_each(?6)))"
    };
}

/// [`job_filter!`], ?7 limit: a page, newest first.
pub const FILTER_JOBS: &str = concat!("SELECT ", job_columns!(), job_filter!(), " ORDER BY job_id DESC LIMIT ?7");

/// [`job_filter!`], ?7 limit: the ids of a page, newest first.
pub const FILTER_JOB_IDS: &str = concat!("SELECT job_id", job_filter!(), " ORDER BY job_id DESC LIMIT ?7");

/// [`job_filter!`], ?7 the most to count.
pub const COUNT_JOBS: &str = concat!("SELECT COUNT(*) FROM (SELECT 1", job_filter!(), " LIMIT ?7)");

/// ?1 job ids (JSON array), ?2 now. Cancels those unfinished; a running attempt gets
/// its `CANCELLED` row. Answers the ids.
pub const BULK_CANCEL: &str = "
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
pub const BULK_RETRY_NOW: &str = "
UPDATE jobs SET scheduled_at = min(scheduled_at, ?2), updated_at = ?2
WHERE job_id IN (SELECT value FROM json_each(?1)) AND status = 'PENDING'
RETURNING job_id";

/// ?1 job ids (JSON array), ?2 now. Requeues the dead-lettered ones with fresh
/// retries and closes their dead-letter entries.
pub const BULK_REQUEUE: &str = "
UPDATE dead_letter_queue SET requeued = 1, requeued_at = ?2
WHERE NOT requeued AND job_id IN (SELECT job_id FROM jobs
                                  WHERE job_id IN (SELECT value FROM json_each(?1)) AND status = 'DEAD_LETTER');
UPDATE jobs SET status = 'PENDING', attempts = 0, error = NULL, result = NULL, scheduled_at = ?2,
                completed_at = NULL, updated_at = ?2
WHERE job_id IN (SELECT value FROM json_each(?1)) AND status = 'DEAD_LETTER'
RETURNING job_id";

/// ?1 worker, ?2 metric type, ?3 limit: the newest samples first.
pub const HEALTH_HISTORY: &str = "
SELECT logged_at, metric_value FROM worker_health_logs
WHERE worker_id = ?1 AND metric_type = ?2 ORDER BY logged_at DESC LIMIT ?3";

/// Ready jobs by type.
pub const PENDING_BY_TYPE: &str =
    "SELECT job_type, COUNT(*) FROM jobs WHERE status = 'PENDING' GROUP BY job_type ORDER BY job_type";

/// ?1 since.
pub const COMPLETED_SINCE: &str = "SELECT COUNT(*) FROM jobs WHERE status = 'COMPLETED' AND completed_at >= ?1";

pub const COUNT_BY_STATUS: &str = "SELECT status, COUNT(*) FROM jobs GROUP BY status";

/// The jobs of a status list last changed before ?1, at most ?2, oldest first, that no
/// unfinished job depends on; deleted with what cascades from them (executions,
/// dead-letter entries, edges).
macro_rules! prune_jobs {
    ($statuses:literal) => {
        concat!(
            "DELETE FROM jobs WHERE job_id IN (
    SELECT j.job_id FROM jobs j
    WHERE j.status IN ",
            $statuses,
            " AND j.updated_at < ?1
      AND NOT EXISTS (
        SELECT 1 FROM job_dependencies d JOIN jobs w ON w.job_id = d.job_id
        WHERE d.depends_on_job_id = j.job_id AND w.status IN ('WAITING', 'PENDING', 'RUNNING'))
    ORDER BY j.updated_at
    LIMIT ?2)"
        )
    };
}

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

/// ?1 `[{"id", "node", "status", "capacity", "load", "score" (rounded), "failures",
/// "metadata" (JSON text), "beat" (nullable)}]`, ?2 now (Postgres uses its `NOW()`).
pub const UPSERT_WORKERS: &str = "
INSERT INTO workers (worker_id, node_id, status, capacity, current_load, health_score, failure_count,
                     metadata, last_heartbeat, created_at, updated_at)
SELECT value ->> 'id', value ->> 'node', value ->> 'status', value ->> 'capacity', value ->> 'load',
       value ->> 'score', value ->> 'failures', value ->> 'metadata', value ->> 'beat', ?2, ?2
FROM json_each(?1) WHERE true
ON CONFLICT (worker_id) DO UPDATE SET
    node_id = excluded.node_id, status = excluded.status, capacity = excluded.capacity,
    current_load = excluded.current_load, health_score = excluded.health_score,
    failure_count = excluded.failure_count, metadata = excluded.metadata,
    last_heartbeat = excluded.last_heartbeat, updated_at = excluded.updated_at";

pub const SELECT_WORKERS: &str = "
SELECT worker_id, node_id, status, capacity, current_load, health_score, failure_count,
       metadata, last_heartbeat
FROM workers ORDER BY node_id, created_at, worker_id";

/// ?1 `[{"worker", "metric", "value" (clamped, rounded), "metadata" (JSON text), "at"}]`.
pub const INSERT_HEALTH_LOGS: &str = "
INSERT INTO worker_health_logs (worker_id, metric_type, metric_value, metadata, logged_at)
SELECT value ->> 'worker', value ->> 'metric', value ->> 'value', value ->> 'metadata', value ->> 'at'
FROM json_each(?1)";

// --- Dependencies -------------------------------------------------------------------

/// ?1 dependency ids (JSON array): those that exist. Inside the submit's
/// `BEGIN IMMEDIATE` transaction nothing can finish them unseen before it commits.
pub const LOCK_DEPENDENCIES: &str =
    "SELECT job_id FROM jobs WHERE job_id IN (SELECT value FROM json_each(?1)) ORDER BY job_id";

/// ?1 `[{"job", "dep", "policy"}]`, ?2 now.
pub const INSERT_EDGES: &str = "
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

/// ?1 job: what it waits for, and what waits for it.
pub const SELECT_EDGES: &str = "
SELECT 'depends_on' AS side, depends_on_job_id AS other FROM job_dependencies WHERE job_id = ?1
UNION ALL
SELECT 'dependent', job_id FROM job_dependencies WHERE depends_on_job_id = ?1
ORDER BY 1, 2";

/// ?1 root, ?2 limit. The root and every job that depends on it, transitively, with
/// each one's dependencies (a JSON array, in id order).
pub const SELECT_WORKFLOW: &str = "
WITH RECURSIVE dag(job_id) AS (
    SELECT ?1
  UNION
    SELECT d.job_id FROM job_dependencies d JOIN dag ON d.depends_on_job_id = dag.job_id
)
SELECT j.job_id, j.job_type, j.status,
       (SELECT json_group_array(d.depends_on_job_id ORDER BY d.depends_on_job_id)
        FROM job_dependencies d WHERE d.job_id = j.job_id) AS depends_on
FROM jobs j JOIN dag ON dag.job_id = j.job_id
ORDER BY j.created_at, j.job_id
LIMIT ?2";

// --- Snapshots ----------------------------------------------------------------------
// The JSON texts are stored as given. `metadata ->> 'node_id'` is read only where the
// text is valid JSON: a corrupt row must not break a listing (the snapshot module
// reports it instead).

/// The node a snapshot's metadata names, or NULL.
macro_rules! snapshot_node {
    () => {
        "CASE WHEN json_valid(metadata) AND json_type(metadata) = 'object' THEN metadata ->> '$.node_id' END"
    };
}

/// ?1 id, ?2 type, ?3 state (JSON text), ?4 metadata (JSON text), ?5 created_at.
pub const INSERT_SNAPSHOT: &str = "
INSERT INTO state_snapshots (snapshot_id, snapshot_type, state_data, metadata, created_at)
VALUES (?1, ?2, ?3, ?4, ?5)";

/// ?1 type (nullable), ?2 node id (nullable), ?3 the previous page's last id (nullable),
/// ?4 limit. Newest first; no state.
pub const LIST_SNAPSHOTS: &str = concat!(
    "SELECT snapshot_id, snapshot_type, metadata, created_at
FROM state_snapshots
WHERE (?1 IS NULL OR snapshot_type = ?1)
  AND (?2 IS NULL OR ",
    snapshot_node!(),
    " = ?2)
  AND (?3 IS NULL OR (created_at, snapshot_id) <
       (SELECT created_at, snapshot_id FROM state_snapshots WHERE snapshot_id = ?3))
ORDER BY created_at DESC, snapshot_id DESC
LIMIT ?4"
);

/// ?1 id.
pub const SELECT_SNAPSHOT: &str =
    "SELECT snapshot_id, snapshot_type, state_data, metadata, created_at FROM state_snapshots WHERE snapshot_id = ?1";

/// ?1 node id (nullable). The newest snapshot, whole.
pub const LATEST_SNAPSHOT: &str = concat!(
    "SELECT snapshot_id, snapshot_type, state_data, metadata, created_at FROM state_snapshots
WHERE (?1 IS NULL OR ",
    snapshot_node!(),
    " = ?1)
ORDER BY created_at DESC, snapshot_id DESC LIMIT 1"
);

/// ?1 ids (JSON array).
pub const DELETE_SNAPSHOTS: &str = "DELETE FROM state_snapshots WHERE snapshot_id IN (SELECT value FROM json_each(?1))";

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

/// ?1 lease, ?2 holder, ?3 token, ?4 now. Whether the fence holds.
pub const CHECK_FENCE: &str = "
SELECT 1 FROM cluster_leases WHERE name = ?1 AND holder = ?2 AND token = ?3 AND expires_at > ?4";

/// ?1 node, ?2 silent since. Marks a node dead if it is still silent.
pub const MARK_NODE_DEAD: &str = "
UPDATE nodes SET status = 'DEAD' WHERE node_id = ?1 AND status IN ('ACTIVE', 'DRAINING') AND last_seen < ?2
RETURNING node_id";

/// ?1 node, ?2 now. Its workers are dead too.
pub const MARK_NODE_WORKERS_DEAD: &str = "
UPDATE workers SET status = 'DEAD', current_load = 0, updated_at = ?2
WHERE node_id = ?1 AND status NOT IN ('DEAD', 'FAILED', 'STOPPED')";

/// ?1 node. Every job the node's workers hold.
pub const LOCK_NODE_CLAIMS: &str = "
SELECT job_id, current_execution_id, worker_id, attempts, max_retries, claim_queued, unstarted_returns
FROM jobs
WHERE status = 'RUNNING' AND worker_id IN (SELECT worker_id FROM workers WHERE node_id = ?1)
ORDER BY job_id";

/// ?1 node, ?2 address, ?3 status, ?4 now, ?5 incarnation. Fenced as on Postgres.
pub const UPSERT_NODE: &str = "
INSERT INTO nodes (node_id, address, status, started_at, last_seen, incarnation) VALUES (?1, ?2, ?3, ?4, ?4, ?5)
ON CONFLICT (node_id) DO UPDATE SET
    address = excluded.address, status = excluded.status, last_seen = excluded.last_seen,
    started_at = CASE WHEN nodes.status IN ('DEAD', 'STOPPED') THEN excluded.started_at ELSE nodes.started_at END
WHERE nodes.incarnation = excluded.incarnation
RETURNING node_id";

/// ?1 node, ?2 address, ?3 now, ?4 incarnation. As on Postgres.
pub const INSERT_NODE: &str = "
INSERT INTO nodes (node_id, address, status, started_at, last_seen, incarnation) VALUES (?1, ?2, 'ACTIVE', ?3, ?3, ?4)
ON CONFLICT (node_id) DO NOTHING
RETURNING node_id";

/// ?1 node, ?2 address, ?3 now, ?4 incarnation, ?5 the incarnation seen, ?6 its last
/// beat seen. As on Postgres.
pub const TAKE_NODE: &str = "
UPDATE nodes SET address = ?2, status = 'ACTIVE', started_at = ?3, last_seen = ?3, incarnation = ?4
WHERE node_id = ?1 AND incarnation = ?5 AND last_seen <= ?6
RETURNING node_id";

pub const SELECT_NODES: &str =
    "SELECT node_id, address, status, started_at, last_seen, incarnation FROM nodes ORDER BY node_id";

/// ?1 lease, ?2 holder, ?3 until, ?4 now. As on Postgres.
pub const ACQUIRE_LEASE: &str = "
INSERT INTO cluster_leases (name, holder, token, expires_at) VALUES (?1, ?2, 1, ?3)
ON CONFLICT (name) DO UPDATE SET
    token = CASE WHEN cluster_leases.holder = excluded.holder THEN cluster_leases.token
                 ELSE cluster_leases.token + 1 END,
    holder = excluded.holder, expires_at = excluded.expires_at
WHERE cluster_leases.holder = excluded.holder OR cluster_leases.expires_at <= ?4
RETURNING token";

/// Every statement, for a test that prepares them all against the live schema.
pub const ALL: &[(&str, &str)] = &[
    ("INSERT_SNAPSHOT", INSERT_SNAPSHOT),
    ("LIST_SNAPSHOTS", LIST_SNAPSHOTS),
    ("SELECT_SNAPSHOT", SELECT_SNAPSHOT),
    ("LATEST_SNAPSHOT", LATEST_SNAPSHOT),
    ("DELETE_SNAPSHOTS", DELETE_SNAPSHOTS),
    ("ENQUEUE", ENQUEUE),
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
    ("SELECT_JOB", SELECT_JOB),
    ("CANCEL_JOB", CANCEL_JOB),
    ("CANCEL_EXECUTION", CANCEL_EXECUTION),
    ("REQUEUE_JOB", REQUEUE_JOB),
    ("CLOSE_DEAD_LETTER", CLOSE_DEAD_LETTER),
    ("SELECT_EXECUTIONS", SELECT_EXECUTIONS),
    ("SELECT_DEAD_LETTERS", SELECT_DEAD_LETTERS),
    ("FILTER_JOBS", FILTER_JOBS),
    ("FILTER_JOB_IDS", FILTER_JOB_IDS),
    ("COUNT_JOBS", COUNT_JOBS),
    ("BULK_CANCEL", BULK_CANCEL),
    ("BULK_RETRY_NOW", BULK_RETRY_NOW),
    ("BULK_REQUEUE", BULK_REQUEUE),
    ("PENDING_BY_TYPE", PENDING_BY_TYPE),
    ("HEALTH_HISTORY", HEALTH_HISTORY),
    ("COMPLETED_SINCE", COMPLETED_SINCE),
    ("COUNT_BY_STATUS", COUNT_BY_STATUS),
    ("PRUNE_FINISHED", PRUNE_FINISHED),
    ("PRUNE_DEAD_LETTERS", PRUNE_DEAD_LETTERS),
    ("PRUNE_HEALTH_LOGS", PRUNE_HEALTH_LOGS),
    ("PRUNE_CONTEXTS", PRUNE_CONTEXTS),
    ("UPSERT_WORKERS", UPSERT_WORKERS),
    ("SELECT_WORKERS", SELECT_WORKERS),
    ("INSERT_HEALTH_LOGS", INSERT_HEALTH_LOGS),
    ("LOCK_DEPENDENCIES", LOCK_DEPENDENCIES),
    ("INSERT_EDGES", INSERT_EDGES),
    ("LOCK_WAITING_DEPENDENTS", LOCK_WAITING_DEPENDENTS),
    ("CANCEL_DOOMED", CANCEL_DOOMED),
    ("RELEASE_READY", RELEASE_READY),
    ("SELECT_EDGES", SELECT_EDGES),
    ("SELECT_WORKFLOW", SELECT_WORKFLOW),
    ("SAVE_CHECKPOINT", SAVE_CHECKPOINT),
    ("SELECT_CHECKPOINT", SELECT_CHECKPOINT),
    ("UPSERT_CONTEXT", UPSERT_CONTEXT),
    ("SCAN_CONTEXTS", SCAN_CONTEXTS),
    ("SELECT_JOB_CONTEXTS", SELECT_JOB_CONTEXTS),
];
