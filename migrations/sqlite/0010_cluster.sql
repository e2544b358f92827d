-- The cluster (docs/cluster.md): the same tables as Postgres. A SQLite file serves one
-- node, which holds the rescue lease alone.
CREATE TABLE nodes (
    node_id    TEXT NOT NULL PRIMARY KEY CHECK (length(node_id) <= 128),
    address    TEXT NOT NULL DEFAULT '' CHECK (length(address) <= 255),
    status     TEXT NOT NULL DEFAULT 'ACTIVE'
        CHECK (status IN ('ACTIVE', 'DRAINING', 'STOPPED', 'DEAD')),
    started_at TEXT NOT NULL,
    last_seen  TEXT NOT NULL
) STRICT;

CREATE TABLE cluster_leases (
    name       TEXT    NOT NULL PRIMARY KEY CHECK (length(name) <= 64),
    holder     TEXT    NOT NULL CHECK (length(holder) <= 128),
    token      INTEGER NOT NULL CHECK (token > 0),
    expires_at TEXT    NOT NULL
) STRICT;
