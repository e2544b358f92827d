//! Every SQL statement of the SQLite backend, in one place, each mirroring the
//! Postgres statement of the same name (`src/store/postgres/sql/`). Inputs are
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
//! while it runs, [`EXECUTIONS`] shows it from the job's row as `RUNNING`.

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

statement_files!(queue, dependencies, reads, operator, membership, snapshots, contexts);
