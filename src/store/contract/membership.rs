//! Nodes and workers: node rows and the incarnation that holds each node id, the
//! rescue lease and its fencing token, the workers' rows and health logs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::store::{Fence, HealthLog, NodeRecord, Rescued, StoreResult, WorkerRecord};

/// Who runs: nodes, their incarnations, leases, workers.
#[async_trait]
pub trait Membership: Send + Sync + 'static {
    /// Writes a node's row: its address and status, last seen `now`, if the row is
    /// still `node.incarnation`'s. `false`: another process has taken the node id over
    /// (see [`Membership::take_node`]); nothing was written.
    async fn heartbeat_node(&self, node: NodeRecord, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Takes node id `params.node.node_id` for the process `params.node.incarnation`,
    /// provided its row is still as the caller saw it (`params.seen`; `None`: there was
    /// no row), and voids at
    /// once what an earlier process of that id left behind: its workers not stopped
    /// are marked `DEAD`, and each claim they hold is settled as a crashed attempt
    /// (retried or dead-lettered) or given back if it never started. Call it before
    /// this process registers any worker. `None`: the row moved since it was read
    /// (nothing changed); read it again.
    async fn take_node(&self, params: TakeNodeParams, now: DateTime<Utc>) -> StoreResult<Option<Vec<Rescued>>>;

    /// Whether a lock proves that no other process uses this store (SQLite's file
    /// lock): a node row that looks alive can then only be a process that is gone.
    fn exclusive(&self) -> bool {
        false
    }

    /// Voids every claim the workers of node `params.node_id` hold, when it has been
    /// silent since before `params.silent_since` and `params.fence` still holds: the
    /// node and its workers
    /// are marked `DEAD`, each attempt is recorded `CRASHED` and the job retried or
    /// dead-lettered. `None` when the fence no longer holds (nothing changed); no
    /// jobs when the node spoke again meanwhile.
    async fn rescue_node(&self, params: RescueNodeParams, now: DateTime<Utc>) -> StoreResult<Option<Vec<Rescued>>>;

    /// Takes lease `params.name` for `params.holder` until `params.until` if it is
    /// free, expired or already the holder's; answers its fencing token then (a new,
    /// larger one when the lease changed hands), `None` while another holds it.
    async fn acquire_lease(&self, params: AcquireLeaseParams, now: DateTime<Utc>) -> StoreResult<Option<i64>>;

    /// Inserts or updates workers' rows (heartbeats, load, health), in one statement.
    async fn upsert_workers(&self, workers: Vec<WorkerRecord>) -> StoreResult<()>;

    /// Appends health metrics, in one statement.
    async fn write_health_logs(&self, logs: Vec<HealthLog>) -> StoreResult<()>;
}

/// The process taking a node id, and the row it saw, for [`Membership::take_node`].
#[derive(Debug, Clone, PartialEq)]
pub struct TakeNodeParams {
    /// The node's row as this process writes it (its `incarnation` is the process).
    pub node: NodeRecord,
    /// The row as the caller read it; `None`: there was no row.
    pub seen: Option<NodeRecord>,
}

/// A silent node and the fence to rescue it under, for [`Membership::rescue_node`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RescueNodeParams {
    pub node_id: String,
    /// The node is rescued only if it has not been seen since this time.
    pub silent_since: DateTime<Utc>,
    /// The rescue lease as the caller holds it.
    pub fence: Fence,
}

/// A lease, who asks for it, and until when, for [`Membership::acquire_lease`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireLeaseParams {
    pub name: String,
    pub holder: String,
    pub until: DateTime<Utc>,
}
