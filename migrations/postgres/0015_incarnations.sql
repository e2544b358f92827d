-- Each process that runs a node is an incarnation of it (docs/cluster.md, "One
-- process per node id"): its row names the incarnation that holds the id, every
-- heartbeat is fenced by it, and a new process takes the id over only from one that is
-- gone. '' is a row written before incarnations existed.
ALTER TABLE nodes ADD COLUMN incarnation VARCHAR(64) NOT NULL DEFAULT '';
