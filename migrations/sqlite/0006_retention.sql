-- Retention finds finished and dead-lettered jobs by when they last changed, oldest
-- first, without scanning the live ones.
CREATE INDEX jobs_finished_idx ON jobs (updated_at) WHERE status IN ('COMPLETED', 'CANCELLED', 'DEAD_LETTER');
-- Execution contexts (the embedded vector store) are pruned by age.
CREATE INDEX execution_contexts_time_idx ON execution_contexts (created_at);
