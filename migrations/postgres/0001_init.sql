-- Aeon's complete schema: the seven tables of MISSION.md, every column the runtime
-- reads or writes, from the first migration. tests/aeon/schema.rs compares this live
-- schema with the columns the code uses, so a drift fails a test, not a production call.

-- Jobs: one row per submitted job; the source of truth for its state.
CREATE TABLE jobs (
    job_id               UUID         PRIMARY KEY,
    job_type             VARCHAR(64)  NOT NULL,
    payload              JSONB        NOT NULL DEFAULT '{}'::jsonb,
    status               VARCHAR(20)  NOT NULL DEFAULT 'PENDING'
        CHECK (status IN ('WAITING', 'PENDING', 'RUNNING', 'COMPLETED', 'DEAD_LETTER', 'CANCELLED')),
    priority             INTEGER      NOT NULL DEFAULT 0,
    attempts             INTEGER      NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_retries          INTEGER      NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
    timeout_ms           INTEGER      NOT NULL DEFAULT 300000 CHECK (timeout_ms > 0),
    result               JSONB        DEFAULT NULL,
    error                TEXT,
    idempotency_key      VARCHAR(255),
    scheduled_at         TIMESTAMPTZ  NOT NULL DEFAULT NOW(),
    started_at           TIMESTAMPTZ,
    completed_at         TIMESTAMPTZ,
    -- The claim: which worker holds the job, under which execution (the fencing token),
    -- and until when. A completion must present the current execution id.
    worker_id            UUID,
    current_execution_id UUID,
    lease_expires_at     TIMESTAMPTZ,
    created_at           TIMESTAMPTZ  NOT NULL DEFAULT NOW(),
    updated_at           TIMESTAMPTZ  NOT NULL DEFAULT NOW(),
    CHECK ((status = 'RUNNING') = (current_execution_id IS NOT NULL))
);
-- The claim query walks this partial index: ready jobs, highest priority, then oldest.
CREATE INDEX jobs_claim_idx ON jobs (priority DESC, created_at, job_id) WHERE status = 'PENDING';
-- The rescuer looks for running jobs whose lease has expired.
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE status = 'RUNNING';
CREATE INDEX jobs_status_type_idx ON jobs (status, job_type);
CREATE UNIQUE INDEX jobs_idempotency_key_idx ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;

-- Workers: one row per worker actor of any node.
CREATE TABLE workers (
    worker_id      UUID          PRIMARY KEY,
    node_id        VARCHAR(128)  NOT NULL,
    status         VARCHAR(20)   NOT NULL DEFAULT 'STARTING'
        CHECK (status IN ('STARTING', 'ACTIVE', 'UNHEALTHY', 'DEAD', 'FAILED', 'STOPPED')),
    last_heartbeat TIMESTAMPTZ,
    capacity       INTEGER       NOT NULL DEFAULT 10 CHECK (capacity > 0),
    current_load   INTEGER       NOT NULL DEFAULT 0 CHECK (current_load >= 0),
    health_score   NUMERIC(3,2)  NOT NULL DEFAULT 1.0 CHECK (health_score BETWEEN 0 AND 1),
    failure_count  INTEGER       NOT NULL DEFAULT 0 CHECK (failure_count >= 0),
    metadata       JSONB         NOT NULL DEFAULT '{}'::jsonb,
    created_at     TIMESTAMPTZ   NOT NULL DEFAULT NOW(),
    updated_at     TIMESTAMPTZ   NOT NULL DEFAULT NOW()
);
CREATE INDEX workers_node_idx ON workers (node_id);

-- One row per attempt. At most one attempt of a job may succeed.
CREATE TABLE job_executions (
    execution_id     UUID         PRIMARY KEY,
    job_id           UUID         NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    worker_id        UUID         NOT NULL,
    attempt          INTEGER      NOT NULL CHECK (attempt > 0),
    execution_status VARCHAR(50)  NOT NULL DEFAULT 'PENDING'
        CHECK (execution_status IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CRASHED', 'CANCELLED')),
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    error            TEXT,
    created_at       TIMESTAMPTZ  NOT NULL DEFAULT NOW()
);
CREATE INDEX job_executions_job_idx ON job_executions (job_id, attempt);
CREATE UNIQUE INDEX job_executions_one_success_idx ON job_executions (job_id) WHERE execution_status = 'SUCCEEDED';
CREATE INDEX job_executions_worker_idx ON job_executions (worker_id);

-- Jobs that exhausted their retries (or failed permanently). One open entry per job;
-- a requeue closes it, and a later dead-lettering opens a new one.
CREATE TABLE dead_letter_queue (
    dlq_id      BIGSERIAL    PRIMARY KEY,
    job_id      UUID         NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    job_type    VARCHAR(64)  NOT NULL,
    payload     JSONB        NOT NULL,
    last_error  TEXT,
    attempts    INTEGER      NOT NULL,
    failed_at   TIMESTAMPTZ  NOT NULL DEFAULT NOW(),
    requeued    BOOLEAN      NOT NULL DEFAULT FALSE,
    requeued_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX dead_letter_queue_open_idx ON dead_letter_queue (job_id) WHERE NOT requeued;
CREATE INDEX dead_letter_queue_failed_at_idx ON dead_letter_queue (failed_at DESC);

-- Dependency edges: job_id waits for depends_on_job_id.
CREATE TABLE job_dependencies (
    job_id            UUID         NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    depends_on_job_id UUID         NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    failure_policy    VARCHAR(20)  NOT NULL DEFAULT 'cancel' CHECK (failure_policy IN ('cancel', 'continue')),
    created_at        TIMESTAMPTZ  NOT NULL DEFAULT NOW(),
    PRIMARY KEY (job_id, depends_on_job_id),
    CHECK (job_id <> depends_on_job_id)
);
CREATE INDEX job_dependencies_depends_on_idx ON job_dependencies (depends_on_job_id);

-- Health metrics written in bulk by the HealthMonitor.
CREATE TABLE worker_health_logs (
    log_id       BIGSERIAL      PRIMARY KEY,
    worker_id    UUID           NOT NULL,
    metric_type  VARCHAR(100)   NOT NULL,
    metric_value NUMERIC(10,4)  NOT NULL,
    metadata     JSONB          NOT NULL DEFAULT '{}'::jsonb,
    logged_at    TIMESTAMPTZ    NOT NULL DEFAULT NOW()
);
CREATE INDEX worker_health_logs_worker_idx ON worker_health_logs (worker_id);
CREATE INDEX worker_health_logs_metric_idx ON worker_health_logs (metric_type);
CREATE INDEX worker_health_logs_time_idx ON worker_health_logs (logged_at);
CREATE INDEX worker_health_logs_worker_metric_time_idx ON worker_health_logs (worker_id, metric_type, logged_at DESC);

-- Snapshots of runtime state for disaster recovery.
CREATE TABLE state_snapshots (
    snapshot_id   UUID         PRIMARY KEY,
    snapshot_type VARCHAR(20)  NOT NULL CHECK (snapshot_type IN ('FULL', 'INCREMENTAL', 'AUTO')),
    state_data    JSONB        NOT NULL,
    metadata      JSONB        NOT NULL DEFAULT '{}'::jsonb,
    created_at    TIMESTAMPTZ  NOT NULL DEFAULT NOW()
);
CREATE INDEX state_snapshots_time_idx ON state_snapshots (created_at DESC);
CREATE INDEX state_snapshots_type_idx ON state_snapshots (snapshot_type);
