//! The values of the `state_snapshots` table as they cross the [`Store`](super::Store)
//! contract. The store keeps a snapshot's `state_data` and `metadata` as the JSON text
//! it was given and answers that text back: it never judges the content. Making,
//! checking and restoring snapshots is [`crate::snapshot`]'s business.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a snapshot is, as the table's CHECK allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SnapshotType {
    /// Everything the node's actors hold that the tables do not.
    Full,
    /// What changed since its parent (named in its metadata).
    Incremental,
    /// Taken on a timer: FULL or INCREMENTAL content, as its metadata says.
    Auto,
}

impl SnapshotType {
    pub const ALL: &'static [SnapshotType] = &[SnapshotType::Full, SnapshotType::Incremental, SnapshotType::Auto];

    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotType::Full => "FULL",
            SnapshotType::Incremental => "INCREMENTAL",
            SnapshotType::Auto => "AUTO",
        }
    }
}

impl std::fmt::Display for SnapshotType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot type that is not one of `FULL`, `INCREMENTAL`, `AUTO`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown snapshot type {0:?}: expected FULL, INCREMENTAL or AUTO")]
pub struct UnknownSnapshotType(pub String);

impl std::str::FromStr for SnapshotType {
    type Err = UnknownSnapshotType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s).ok_or_else(|| UnknownSnapshotType(s.to_string()))
    }
}

/// One row of `state_snapshots`, whole.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotRow {
    pub snapshot_id: Uuid,
    pub snapshot_type: SnapshotType,
    /// The JSON text of the state, as stored (Postgres answers its JSONB rendering).
    pub state_data: String,
    /// The JSON text of the metadata, as stored.
    pub metadata: String,
    pub created_at: DateTime<Utc>,
}

/// A row without its `state_data`: what listings answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotSummary {
    pub snapshot_id: Uuid,
    pub snapshot_type: SnapshotType,
    pub metadata: String,
    pub created_at: DateTime<Utc>,
}

/// Which snapshots a listing answers: newest first (`created_at`, then id), after
/// `before` when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFilter {
    pub snapshot_type: Option<SnapshotType>,
    /// Only snapshots whose metadata names this node (`metadata.node_id`).
    pub node_id: Option<String>,
    /// The snapshot the previous page ended with.
    pub before: Option<Uuid>,
    pub limit: u32,
}

impl SnapshotFilter {
    /// The newest `limit` snapshots, of every type and node.
    pub fn newest(limit: u32) -> Self {
        Self { snapshot_type: None, node_id: None, before: None, limit }
    }
}
