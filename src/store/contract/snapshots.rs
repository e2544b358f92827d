//! Snapshot rows: written, listed, read, pruned (docs/snapshots.md).

use async_trait::async_trait;

use crate::store::{SnapshotFilter, SnapshotRow, SnapshotSummary, StoreResult};
use uuid::Uuid;

/// Snapshots of a node's actor state.
#[async_trait]
pub trait Snapshots: Send + Sync + 'static {
    /// Writes a snapshot row as given (its JSON texts are stored as they are; on
    /// Postgres they must be valid JSON).
    async fn insert_snapshot(&self, snapshot: SnapshotRow) -> StoreResult<()>;

    /// Snapshots without their state, newest first (`created_at`, then id).
    async fn list_snapshots(&self, filter: SnapshotFilter) -> StoreResult<Vec<SnapshotSummary>>;

    /// One snapshot, whole.
    async fn get_snapshot(&self, snapshot_id: Uuid) -> StoreResult<Option<SnapshotRow>>;

    /// The newest snapshot, whole; of the node `node_id` names when given.
    async fn latest_snapshot(&self, node_id: Option<String>) -> StoreResult<Option<SnapshotRow>>;

    /// Deletes snapshots (retention). Answers how many rows went.
    async fn delete_snapshots(&self, snapshot_ids: Vec<Uuid>) -> StoreResult<u64>;
}
