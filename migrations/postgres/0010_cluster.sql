-- The cluster (docs/cluster.md): one row per node, renewed by its heartbeat (membership
-- that survives a Redis flush), and the leases one node at a time holds (the rescue
-- lease), each with a fencing token that grows whenever the lease changes hands.
CREATE TABLE nodes (
    node_id    VARCHAR(128) PRIMARY KEY,
    address    VARCHAR(255) NOT NULL DEFAULT '',
    status     VARCHAR(20)  NOT NULL DEFAULT 'ACTIVE'
        CHECK (status IN ('ACTIVE', 'DRAINING', 'STOPPED', 'DEAD')),
    started_at TIMESTAMPTZ  NOT NULL,
    last_seen  TIMESTAMPTZ  NOT NULL
);

CREATE TABLE cluster_leases (
    name       VARCHAR(64)  PRIMARY KEY,
    holder     VARCHAR(128) NOT NULL,
    token      BIGINT       NOT NULL CHECK (token > 0),
    expires_at TIMESTAMPTZ  NOT NULL
);
