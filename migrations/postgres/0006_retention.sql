-- Retention finds finished and dead-lettered jobs by when they last changed, oldest
-- first, without scanning the live ones.
CREATE INDEX jobs_finished_idx ON jobs (updated_at) WHERE status IN ('COMPLETED', 'CANCELLED', 'DEAD_LETTER');
