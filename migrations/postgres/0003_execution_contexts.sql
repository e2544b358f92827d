-- Execution contexts (docs/execution-contexts.md).
--
-- job_checkpoints: the latest checkpoint a handler saved for its job, one row per job.
-- It lives here, in the job store, not in the vector store: an attempt after a crash
-- must find it even when Qdrant is down, and it is written under the claim's fence.
CREATE TABLE job_checkpoints (
    job_id        UUID         NOT NULL PRIMARY KEY REFERENCES jobs (job_id) ON DELETE CASCADE,
    execution_id  UUID         NOT NULL,
    attempt       INTEGER      NOT NULL,
    data          JSONB        NOT NULL,
    saved_at      TIMESTAMPTZ  NOT NULL
);

-- execution_contexts: the embedded vector store's points (used when no Qdrant is
-- configured). One per attempt; the point id is the execution id. The vector is
-- little-endian float32s; search is exact cosine, computed by the node.
CREATE TABLE execution_contexts (
    execution_id  UUID         NOT NULL PRIMARY KEY,
    job_id        UUID         NOT NULL,
    job_type      VARCHAR(64)  NOT NULL,
    attempt       INTEGER      NOT NULL,
    outcome       VARCHAR(50)  NOT NULL,
    vector        BYTEA        NOT NULL,
    context       JSONB        NOT NULL,
    created_at    TIMESTAMPTZ  NOT NULL DEFAULT NOW()
);
CREATE INDEX execution_contexts_job_idx ON execution_contexts (job_id, attempt);
CREATE INDEX execution_contexts_outcome_idx ON execution_contexts (outcome);
