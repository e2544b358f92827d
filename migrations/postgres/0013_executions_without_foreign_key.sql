-- An attempt's row no longer checks its job through a foreign key (docs/performance.md,
-- "The execution row's foreign key"). Every row is written by the statement that
-- settles its job, from the job row that statement just updated, so the check could
-- never fail; it cost each attempt a lookup and a row lock on its job, 10-15% of the
-- throughput of no-op jobs. Retention, the only code that deletes jobs, deletes their
-- executions in the same statement (`prune_jobs!` in src/store/postgres/sql.rs), which
-- the cascade did before.
ALTER TABLE job_executions DROP CONSTRAINT IF EXISTS job_executions_job_id_fkey;
