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
//! [`EXECUTIONS`] shows it from there as `RUNNING`. Writing the row once
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

// --- Snapshots ----------------------------------------------------------------------

/// The columns of a whole snapshot, JSON as text.
macro_rules! snapshot_columns {
    () => {
        "snapshot_id, snapshot_type, state_data::text AS state_data, metadata::text AS metadata, created_at"
    };
}

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

statement_files!(queue, dependencies, reads, operator, membership, snapshots, contexts);
