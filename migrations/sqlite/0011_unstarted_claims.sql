-- Claims that never started: as on Postgres (docs/cluster.md). A SQLite file serves one
-- node, whose queued claims are taken back when it restarts and finds their leases run out.
ALTER TABLE jobs ADD COLUMN claim_queued INTEGER NOT NULL DEFAULT 0 CHECK (claim_queued IN (0, 1));
ALTER TABLE jobs ADD COLUMN unstarted_returns INTEGER NOT NULL DEFAULT 0 CHECK (unstarted_returns >= 0);
