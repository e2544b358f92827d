-- Fewer index entries per job (docs/performance.md, "Fewer index entries per job").
-- Every status change of a job is a new row version, and each new version is entered
-- into every index whose predicate it matches; a no-op job changes status twice.

-- (status, job_type) over every job took an entry at the submit, the claim and the
-- completion. Its readers (the gauges' counts) read the claim index for ready jobs
-- and the table for the rest, at a rate the gauges bound (src/gauges.rs).
DROP INDEX IF EXISTS jobs_status_type_idx;

-- A running job's worker: renewals find claims by primary key now, and only the
-- rescue of a dead worker or node asks by worker, over the running jobs alone
-- (`jobs_lease_idx` lists them; they are bounded by the claims in flight).
DROP INDEX IF EXISTS jobs_running_worker_idx;

-- No statement reads executions by worker.
DROP INDEX IF EXISTS job_executions_worker_idx;

-- Execution contexts (the embedded vector store, one row per attempt): the search
-- reads every failed attempt's row and filters as it goes, and retention walks the
-- primary key (execution ids are UUIDv7: ordered by when the attempt was claimed),
-- so neither index earned the two entries each attempt paid for it.
DROP INDEX IF EXISTS execution_contexts_outcome_idx;
DROP INDEX IF EXISTS execution_contexts_time_idx;
