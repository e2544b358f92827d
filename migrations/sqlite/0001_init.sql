-- Aeon's complete schema for the embedded (SQLite) backend: the same seven tables,
-- columns, defaults, CHECK values and indexes as migrations/postgres/ (0001 and 0002),
-- in SQLite's types. The Rust code (src/store/sqlite/) is the only writer and keeps
-- these encodings; nothing here may be read another way:
--   * UUIDs are TEXT, lowercase and hyphenated, so text order is Postgres's uuid order;
--   * JSON is TEXT (serde_json writes it, serde_json reads it);
--   * timestamps are TEXT in one fixed-width form, RFC 3339 UTC with exactly six
--     fractional digits ('2026-12-01T00:11:12.123456Z'), so comparing the text compares
--     the times, to the microsecond, as Postgres keeps them;
--   * booleans are INTEGER 0/1; Postgres's NUMERIC(p,s) columns are REAL, rounded by
--     the code as Postgres rounds them;
--   * VARCHAR(n) limits are CHECKs on length(), since SQLite ignores the declared size;
--   * tables are STRICT, so a value of the wrong type is refused, as Postgres refuses it.
-- Foreign keys are enforced: every connection sets PRAGMA foreign_keys = ON.

-- Jobs: one row per submitted job; the source of truth for its state.
CREATE TABLE jobs (
    job_id               TEXT     NOT NULL PRIMARY KEY,
    job_type             TEXT     NOT NULL CHECK (length(job_type) <= 64),
    payload              TEXT     NOT NULL DEFAULT '{}',
    status               TEXT     NOT NULL DEFAULT 'PENDING'
        CHECK (status IN ('WAITING', 'PENDING', 'RUNNING', 'COMPLETED', 'DEAD_LETTER', 'CANCELLED')),
    priority             INTEGER  NOT NULL DEFAULT 0,
    attempts             INTEGER  NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_retries          INTEGER  NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
    timeout_ms           INTEGER  NOT NULL DEFAULT 300000 CHECK (timeout_ms > 0),
    result               TEXT     DEFAULT NULL,
    error                TEXT,
    idempotency_key      TEXT     CHECK (length(idempotency_key) <= 255),
    scheduled_at         TEXT     NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    started_at           TEXT,
    completed_at         TEXT,
    -- The claim: which worker holds the job, under which execution (the fencing token),
    -- and until when. A completion must present the current execution id.
    worker_id            TEXT,
    current_execution_id TEXT,
    lease_expires_at     TEXT,
    created_at           TEXT     NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    updated_at           TEXT     NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    CHECK ((status = 'RUNNING') = (current_execution_id IS NOT NULL))
) STRICT;
-- The claim query walks this partial index: ready jobs, highest priority, then oldest.
CREATE INDEX jobs_claim_idx ON jobs (priority DESC, created_at, job_id) WHERE status = 'PENDING';
-- The rescuer looks for running jobs whose lease has expired.
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE status = 'RUNNING';
CREATE INDEX jobs_status_type_idx ON jobs (status, job_type);
CREATE UNIQUE INDEX jobs_idempotency_key_idx ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
-- Lease renewal and a dead worker's rescue both look up the running jobs of given
-- workers: keep that a small index scan (Postgres's 0002).
CREATE INDEX jobs_running_worker_idx ON jobs (worker_id) WHERE status = 'RUNNING';

-- Workers: one row per worker actor of any node.
CREATE TABLE workers (
    worker_id      TEXT     NOT NULL PRIMARY KEY,
    node_id        TEXT     NOT NULL CHECK (length(node_id) <= 128),
    status         TEXT     NOT NULL DEFAULT 'STARTING'
        CHECK (status IN ('STARTING', 'ACTIVE', 'UNHEALTHY', 'DEAD', 'FAILED', 'STOPPED')),
    last_heartbeat TEXT,
    capacity       INTEGER  NOT NULL DEFAULT 10 CHECK (capacity > 0),
    current_load   INTEGER  NOT NULL DEFAULT 0 CHECK (current_load >= 0),
    -- NUMERIC(3,2) in Postgres: the code rounds to two decimals.
    health_score   REAL     NOT NULL DEFAULT 1.0 CHECK (health_score BETWEEN 0 AND 1),
    failure_count  INTEGER  NOT NULL DEFAULT 0 CHECK (failure_count >= 0),
    metadata       TEXT     NOT NULL DEFAULT '{}',
    created_at     TEXT     NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    updated_at     TEXT     NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) STRICT;
CREATE INDEX workers_node_idx ON workers (node_id);

-- One row per attempt. At most one attempt of a job may succeed.
CREATE TABLE job_executions (
    execution_id     TEXT     NOT NULL PRIMARY KEY,
    job_id           TEXT     NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    worker_id        TEXT     NOT NULL,
    attempt          INTEGER  NOT NULL CHECK (attempt > 0),
    execution_status TEXT     NOT NULL DEFAULT 'PENDING'
        CHECK (execution_status IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CRASHED', 'CANCELLED')),
    started_at       TEXT,
    finished_at      TEXT,
    error            TEXT,
    created_at       TEXT     NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) STRICT;
CREATE INDEX job_executions_job_idx ON job_executions (job_id, attempt);
CREATE UNIQUE INDEX job_executions_one_success_idx ON job_executions (job_id) WHERE execution_status = 'SUCCEEDED';
CREATE INDEX job_executions_worker_idx ON job_executions (worker_id);

-- Jobs that exhausted their retries (or failed permanently). One open entry per job;
-- a requeue closes it, and a later dead-lettering opens a new one.
CREATE TABLE dead_letter_queue (
    dlq_id      INTEGER  PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT     NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    job_type    TEXT     NOT NULL CHECK (length(job_type) <= 64),
    payload     TEXT     NOT NULL,
    last_error  TEXT,
    attempts    INTEGER  NOT NULL,
    failed_at   TEXT     NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    requeued    INTEGER  NOT NULL DEFAULT 0 CHECK (requeued IN (0, 1)),
    requeued_at TEXT
) STRICT;
CREATE UNIQUE INDEX dead_letter_queue_open_idx ON dead_letter_queue (job_id) WHERE NOT requeued;
CREATE INDEX dead_letter_queue_failed_at_idx ON dead_letter_queue (failed_at DESC);

-- Dependency edges: job_id waits for depends_on_job_id.
CREATE TABLE job_dependencies (
    job_id            TEXT  NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    depends_on_job_id TEXT  NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    failure_policy    TEXT  NOT NULL DEFAULT 'cancel' CHECK (failure_policy IN ('cancel', 'continue')),
    created_at        TEXT  NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    PRIMARY KEY (job_id, depends_on_job_id),
    CHECK (job_id <> depends_on_job_id)
) STRICT;
CREATE INDEX job_dependencies_depends_on_idx ON job_dependencies (depends_on_job_id);

-- Health metrics written in bulk by the HealthMonitor.
CREATE TABLE worker_health_logs (
    log_id       INTEGER  PRIMARY KEY AUTOINCREMENT,
    worker_id    TEXT     NOT NULL,
    metric_type  TEXT     NOT NULL CHECK (length(metric_type) <= 100),
    -- NUMERIC(10,4) in Postgres: the code clamps into its range and rounds to four decimals.
    metric_value REAL     NOT NULL,
    metadata     TEXT     NOT NULL DEFAULT '{}',
    logged_at    TEXT     NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) STRICT;
CREATE INDEX worker_health_logs_worker_idx ON worker_health_logs (worker_id);
CREATE INDEX worker_health_logs_metric_idx ON worker_health_logs (metric_type);
CREATE INDEX worker_health_logs_time_idx ON worker_health_logs (logged_at);
CREATE INDEX worker_health_logs_worker_metric_time_idx ON worker_health_logs (worker_id, metric_type, logged_at DESC);

-- Snapshots of runtime state for disaster recovery.
CREATE TABLE state_snapshots (
    snapshot_id   TEXT  NOT NULL PRIMARY KEY,
    snapshot_type TEXT  NOT NULL CHECK (snapshot_type IN ('FULL', 'INCREMENTAL', 'AUTO')),
    state_data    TEXT  NOT NULL,
    metadata      TEXT  NOT NULL DEFAULT '{}',
    created_at    TEXT  NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) STRICT;
CREATE INDEX state_snapshots_time_idx ON state_snapshots (created_at DESC);
CREATE INDEX state_snapshots_type_idx ON state_snapshots (snapshot_type);
