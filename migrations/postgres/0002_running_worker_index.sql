-- Lease renewal and a dead worker's rescue both look up the running jobs of given
-- workers: keep that a small index scan.
CREATE INDEX jobs_running_worker_idx ON jobs (worker_id) WHERE status = 'RUNNING';
