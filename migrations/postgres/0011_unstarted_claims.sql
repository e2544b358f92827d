-- Claims that never started (docs/cluster.md, "Claims that never started"). A claim is
-- marked at claim time as queued (`claim_queued`: it went to a worker's prefetch queue
-- behind running jobs) or started at once. When the node holding it dies, a queued
-- claim goes back to PENDING without costing an attempt, at most
-- `unstarted_returns` < 3 times per job: the mark is not rewritten when a queued claim
-- later starts, so the counter bounds what a job that kills its node can get for free.
ALTER TABLE jobs
    ADD COLUMN claim_queued      BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN unstarted_returns INTEGER NOT NULL DEFAULT 0 CHECK (unstarted_returns >= 0);
