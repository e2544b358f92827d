//! The Postgres statements of nodes, incarnations, the rescue lease and workers ([`Membership`](crate::store::Membership)).

statements! {
    /// $1 ids, $2 nodes, $3 statuses, $4 capacities, $5 loads, $6 scores, $7 failure counts,
    /// $8 metadata (JSON text), $9 heartbeats.
    pub const UPSERT_WORKERS: &str = "
    INSERT INTO workers (worker_id, node_id, status, capacity, current_load, health_score, failure_count,
                         metadata, last_heartbeat, created_at, updated_at)
    SELECT t.worker_id, t.node_id, t.status, t.capacity, t.current_load, t.health_score::numeric(3,2),
           t.failure_count, t.metadata::jsonb, t.last_heartbeat, NOW(), NOW()
    FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int4[], $5::int4[], $6::float8[], $7::int4[],
                $8::text[], $9::timestamptz[])
         AS t(worker_id, node_id, status, capacity, current_load, health_score, failure_count, metadata, last_heartbeat)
    ON CONFLICT (worker_id) DO UPDATE SET
        node_id = EXCLUDED.node_id, status = EXCLUDED.status, capacity = EXCLUDED.capacity,
        current_load = EXCLUDED.current_load, health_score = EXCLUDED.health_score,
        failure_count = EXCLUDED.failure_count, metadata = EXCLUDED.metadata,
        last_heartbeat = EXCLUDED.last_heartbeat, updated_at = NOW()";

    /// $1 workers, $2 metric types, $3 values, $4 metadata (JSON text), $5 times.
    pub const WRITE_HEALTH_LOGS: &str = "
    INSERT INTO worker_health_logs (worker_id, metric_type, metric_value, metadata, logged_at)
    SELECT t.worker_id, t.metric_type, t.metric_value::numeric(10,4), t.metadata::jsonb, t.logged_at
    FROM UNNEST($1::uuid[], $2::text[], $3::float8[], $4::text[], $5::timestamptz[])
         AS t(worker_id, metric_type, metric_value, metadata, logged_at)";

    /// $1 lease, $2 holder, $3 token, $4 now. Whether the fence holds; locks the lease
    /// row against a change of hands until the fenced transaction ends.
    pub const RESCUE_NODE_CHECK_FENCE: &str = "
    SELECT 1 FROM cluster_leases WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at > $4 FOR SHARE";

    /// $1 node, $2 silent since. Marks a node dead if it is still silent.
    pub const RESCUE_NODE_MARK_DEAD: &str = "
    UPDATE nodes SET status = 'DEAD' WHERE node_id = $1 AND status IN ('ACTIVE', 'DRAINING') AND last_seen < $2
    RETURNING node_id";

    /// $1 node, $2 now. Its workers are dead too.
    pub const MARK_NODE_WORKERS_DEAD: &str = "
    UPDATE workers SET status = 'DEAD', current_load = 0, updated_at = $2
    WHERE node_id = $1 AND status NOT IN ('DEAD', 'FAILED', 'STOPPED')";

    /// $1 node. Locks every job the node's workers hold (it died: its claims are void).
    pub const LOCK_NODE_CLAIMS: &str = "
    SELECT job_id, current_execution_id, worker_id, attempts, max_retries, claim_queued, unstarted_returns
    FROM jobs
    WHERE status = 'RUNNING' AND worker_id IN (SELECT worker_id FROM workers WHERE node_id = $1)
    ORDER BY job_id
    FOR UPDATE";

    /// $1 node, $2 address, $3 status, $4 now, $5 incarnation. A node's heartbeat, fenced
    /// by its incarnation: no row when another process has taken the node id over. A node
    /// back from the dead starts again.
    pub const HEARTBEAT_NODE: &str = "
    INSERT INTO nodes (node_id, address, status, started_at, last_seen, incarnation) VALUES ($1, $2, $3, $4, $4, $5)
    ON CONFLICT (node_id) DO UPDATE SET
        address = EXCLUDED.address, status = EXCLUDED.status, last_seen = EXCLUDED.last_seen,
        started_at = CASE WHEN nodes.status IN ('DEAD', 'STOPPED') THEN EXCLUDED.started_at ELSE nodes.started_at END
    WHERE nodes.incarnation = EXCLUDED.incarnation
    RETURNING node_id";

    /// $1 node, $2 address, $3 now, $4 incarnation, $5 the incarnation seen and
    /// $6 its last beat (both NULL: no row was seen). A new process takes the node id:
    /// a new row, or the row as it was seen, if it has not moved since; else no row.
    pub const TAKE_NODE: &str = "
    INSERT INTO nodes (node_id, address, status, started_at, last_seen, incarnation) VALUES ($1, $2, 'ACTIVE', $3, $3, $4)
    ON CONFLICT (node_id) DO UPDATE SET
        address = EXCLUDED.address, status = 'ACTIVE', started_at = EXCLUDED.started_at, last_seen = EXCLUDED.last_seen,
        incarnation = EXCLUDED.incarnation
    WHERE nodes.incarnation = $5 AND nodes.last_seen <= $6
    RETURNING node_id";

    /// $1 lease, $2 holder, $3 until, $4 now. Takes or renews a lease that is free,
    /// expired or the holder's own; the token grows when it changes hands. No row: another
    /// holds it.
    pub const ACQUIRE_LEASE: &str = "
    INSERT INTO cluster_leases (name, holder, token, expires_at) VALUES ($1, $2, 1, $3)
    ON CONFLICT (name) DO UPDATE SET
        token = CASE WHEN cluster_leases.holder = EXCLUDED.holder THEN cluster_leases.token
                     ELSE cluster_leases.token + 1 END,
        holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
    WHERE cluster_leases.holder = EXCLUDED.holder OR cluster_leases.expires_at <= $4
    RETURNING token";
}
