-- Execution contexts (docs/execution-contexts.md): the same tables as
-- migrations/postgres/0003_execution_contexts.sql, in the encodings of 0001_init.sql
-- (UUIDs, JSON and times as TEXT). The vector is a BLOB of little-endian float32s.
-- (Numbered 0003 like its Postgres twin; SQLite never had a 0002.)

CREATE TABLE job_checkpoints (
    job_id        TEXT     NOT NULL PRIMARY KEY REFERENCES jobs (job_id) ON DELETE CASCADE,
    execution_id  TEXT     NOT NULL,
    attempt       INTEGER  NOT NULL,
    data          TEXT     NOT NULL,
    saved_at      TEXT     NOT NULL
) STRICT;

CREATE TABLE execution_contexts (
    execution_id  TEXT     NOT NULL PRIMARY KEY,
    job_id        TEXT     NOT NULL,
    job_type      TEXT     NOT NULL CHECK (length(job_type) <= 64),
    attempt       INTEGER  NOT NULL,
    outcome       TEXT     NOT NULL CHECK (length(outcome) <= 50),
    vector        BLOB     NOT NULL,
    context       TEXT     NOT NULL,
    created_at    TEXT     NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) STRICT;
CREATE INDEX execution_contexts_job_idx ON execution_contexts (job_id, attempt);
CREATE INDEX execution_contexts_outcome_idx ON execution_contexts (outcome);
