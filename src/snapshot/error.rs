//! Why a snapshot could not be taken, verified or restored.

use uuid::Uuid;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot {0} not found")]
    NotFound(Uuid),
    /// Its metadata or state cannot be read as this build writes them.
    #[error("snapshot {snapshot_id} is corrupt: {reason}")]
    Corrupt { snapshot_id: Uuid, reason: String },
    #[error(
        "snapshot {snapshot_id} does not match its checksum (stored {stored}, computed {computed}): its content changed after it was taken"
    )]
    ChecksumMismatch { snapshot_id: Uuid, stored: String, computed: String },
    #[error("snapshot {snapshot_id} is of schema version {found}; this build reads version {supported} only")]
    SchemaVersion { snapshot_id: Uuid, found: String, supported: u32 },
    #[error("snapshot {snapshot_id} has a broken chain: {reason}")]
    BrokenChain { snapshot_id: Uuid, reason: String },
    /// An INCREMENTAL snapshot needs an earlier snapshot of this node that verifies.
    #[error("no snapshot of node {node_id} to be incremental to{why}: take a FULL snapshot first")]
    NoParent { node_id: String, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The node's actors have stopped.
    #[error("the node is shutting down")]
    Unavailable,
}

impl SnapshotError {
    /// Whether the snapshot itself is at fault (it does not verify), rather than the
    /// request or the node.
    pub fn is_invalid_snapshot(&self) -> bool {
        matches!(
            self,
            SnapshotError::Corrupt { .. }
                | SnapshotError::ChecksumMismatch { .. }
                | SnapshotError::SchemaVersion { .. }
                | SnapshotError::BrokenChain { .. }
        )
    }

    /// A stable, machine-readable name: `corrupt`, `checksum_mismatch`,
    /// `schema_version`, `broken_chain`, ...
    pub fn code(&self) -> &'static str {
        match self {
            SnapshotError::NotFound(_) => "not_found",
            SnapshotError::Corrupt { .. } => "corrupt",
            SnapshotError::ChecksumMismatch { .. } => "checksum_mismatch",
            SnapshotError::SchemaVersion { .. } => "schema_version",
            SnapshotError::BrokenChain { .. } => "broken_chain",
            SnapshotError::NoParent { .. } => "no_parent",
            SnapshotError::Store(_) => "store",
            SnapshotError::Unavailable => "unavailable",
        }
    }
}
