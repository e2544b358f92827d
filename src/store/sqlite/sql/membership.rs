//! The SQLite statements of nodes, incarnations, the rescue lease and workers ([`Membership`](crate::store::Membership)).

statements! {
    /// ?1 `[{"id", "node", "status", "capacity", "load", "score" (rounded), "failures",
    /// "metadata" (JSON text), "beat" (nullable)}]`, ?2 now (Postgres uses its `NOW()`).
    pub const UPSERT_WORKERS: &str = "
    INSERT INTO workers (worker_id, node_id, status, capacity, current_load, health_score, failure_count,
                         metadata, last_heartbeat, created_at, updated_at)
    SELECT value ->> 'id', value ->> 'node', value ->> 'status', value ->> 'capacity', value ->> 'load',
           value ->> 'score', value ->> 'failures', value ->> 'metadata', value ->> 'beat', ?2, ?2
    FROM json_each(?1) WHERE true
    ON CONFLICT (worker_id) DO UPDATE SET
        node_id = excluded.node_id, status = excluded.status, capacity = excluded.capacity,
        current_load = excluded.current_load, health_score = excluded.health_score,
        failure_count = excluded.failure_count, metadata = excluded.metadata,
        last_heartbeat = excluded.last_heartbeat, updated_at = excluded.updated_at";

    /// ?1 `[{"worker", "metric", "value" (clamped, rounded), "metadata" (JSON text), "at"}]`.
    pub const WRITE_HEALTH_LOGS: &str = "
    INSERT INTO worker_health_logs (worker_id, metric_type, metric_value, metadata, logged_at)
    SELECT value ->> 'worker', value ->> 'metric', value ->> 'value', value ->> 'metadata', value ->> 'at'
    FROM json_each(?1)";

    /// ?1 lease, ?2 holder, ?3 token, ?4 now. Whether the fence holds.
    pub const RESCUE_NODE_CHECK_FENCE: &str = "
    SELECT 1 FROM cluster_leases WHERE name = ?1 AND holder = ?2 AND token = ?3 AND expires_at > ?4";

    /// ?1 node, ?2 silent since. Marks a node dead if it is still silent.
    pub const RESCUE_NODE_MARK_DEAD: &str = "
    UPDATE nodes SET status = 'DEAD' WHERE node_id = ?1 AND status IN ('ACTIVE', 'DRAINING') AND last_seen < ?2
    RETURNING node_id";

    /// ?1 node, ?2 now. Its workers are dead too.
    pub const MARK_NODE_WORKERS_DEAD: &str = "
    UPDATE workers SET status = 'DEAD', current_load = 0, updated_at = ?2
    WHERE node_id = ?1 AND status NOT IN ('DEAD', 'FAILED', 'STOPPED')";

    /// ?1 node. Every job the node's workers hold.
    pub const LOCK_NODE_CLAIMS: &str = "
    SELECT job_id, current_execution_id, worker_id, attempts, max_retries, claim_queued, unstarted_returns
    FROM jobs
    WHERE status = 'RUNNING' AND worker_id IN (SELECT worker_id FROM workers WHERE node_id = ?1)
    ORDER BY job_id";

    /// ?1 node, ?2 address, ?3 status, ?4 now, ?5 incarnation. Fenced as on Postgres.
    pub const HEARTBEAT_NODE: &str = "
    INSERT INTO nodes (node_id, address, status, started_at, last_seen, incarnation) VALUES (?1, ?2, ?3, ?4, ?4, ?5)
    ON CONFLICT (node_id) DO UPDATE SET
        address = excluded.address, status = excluded.status, last_seen = excluded.last_seen,
        started_at = CASE WHEN nodes.status IN ('DEAD', 'STOPPED') THEN excluded.started_at ELSE nodes.started_at END
    WHERE nodes.incarnation = excluded.incarnation
    RETURNING node_id";

    /// ?1 node, ?2 address, ?3 now, ?4 incarnation, ?5 the incarnation seen and
    /// ?6 its last beat (both NULL: no row was seen). A new process takes the node id:
    /// a new row, or the row as it was seen, if it has not moved since; else no row.
    pub const TAKE_NODE: &str = "
    INSERT INTO nodes (node_id, address, status, started_at, last_seen, incarnation) VALUES (?1, ?2, 'ACTIVE', ?3, ?3, ?4)
    ON CONFLICT (node_id) DO UPDATE SET
        address = excluded.address, status = 'ACTIVE', started_at = excluded.started_at, last_seen = excluded.last_seen,
        incarnation = excluded.incarnation
    WHERE nodes.incarnation = ?5 AND nodes.last_seen <= ?6
    RETURNING node_id";

    /// ?1 lease, ?2 holder, ?3 until, ?4 now. As on Postgres.
    pub const ACQUIRE_LEASE: &str = "
    INSERT INTO cluster_leases (name, holder, token, expires_at) VALUES (?1, ?2, 1, ?3)
    ON CONFLICT (name) DO UPDATE SET
        token = CASE WHEN cluster_leases.holder = excluded.holder THEN cluster_leases.token
                     ELSE cluster_leases.token + 1 END,
        holder = excluded.holder, expires_at = excluded.expires_at
    WHERE cluster_leases.holder = excluded.holder OR cluster_leases.expires_at <= ?4
    RETURNING token";
}
