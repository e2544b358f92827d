//! Snapshot rows written and pruned (docs/snapshots.md); they are read through
//! [`Reads`](super::Reads), with every other read.

use async_trait::async_trait;

use crate::store::{SnapshotRow, StoreResult};
use uuid::Uuid;

/// Snapshots of a node's actor state: the writes.
#[async_trait]
pub trait Snapshots: Send + Sync + 'static {
    /// Writes a snapshot row as given (its JSON texts are stored as they are; on
    /// Postgres they must be valid JSON).
    async fn insert_snapshot(&self, snapshot: SnapshotRow) -> StoreResult<()>;

    /// Deletes snapshots (retention). Answers how many rows went.
    async fn delete_snapshots(&self, snapshot_ids: Vec<Uuid>) -> StoreResult<u64>;
}
