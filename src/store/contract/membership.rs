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

    /// Takes node id `node.node_id` for the process `node.incarnation`, provided its row
    /// is still as the caller saw it (`seen`; `None`: there was no row), and voids at
    /// once what an earlier process of that id left behind: its workers not stopped
    /// are marked `DEAD`, and each claim they hold is settled as a crashed attempt
    /// (retried or dead-lettered) or given back if it never started. Call it before
    /// this process registers any worker. `None`: the row moved since it was read
    /// (nothing changed); read it again.
    async fn take_node(
        &self,
        node: NodeRecord,
        seen: Option<NodeRecord>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<Rescued>>>;

    /// Whether a lock proves that no other process uses this store (SQLite's file
    /// lock): a node row that looks alive can then only be a process that is gone.
    fn exclusive(&self) -> bool {
        false
    }

    /// Voids every claim the workers of node `node_id` hold, when it has been silent
    /// since before `silent_since` and `fence` still holds: the node and its workers
    /// are marked `DEAD`, each attempt is recorded `CRASHED` and the job retried or
    /// dead-lettered. `None` when the fence no longer holds (nothing changed); no
    /// jobs when the node spoke again meanwhile.
    async fn rescue_node(
        &self,
        node_id: &str,
        silent_since: DateTime<Utc>,
        fence: Fence,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<Rescued>>>;

    /// Takes lease `name` for `holder` until `until` if it is free, expired or already
    /// `holder`'s; answers its fencing token then (a new, larger one when the lease
    /// changed hands), `None` while another holds it.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>>;

    /// Inserts or updates workers' rows (heartbeats, load, health), in one statement.
    async fn upsert_workers(&self, workers: Vec<WorkerRecord>) -> StoreResult<()>;

    /// Appends health metrics, in one statement.
    async fn write_health_logs(&self, logs: Vec<HealthLog>) -> StoreResult<()>;
}
