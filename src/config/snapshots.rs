//! The `[snapshots]` section: AUTO snapshots.

use serde::{Deserialize, Serialize};

/// The `[snapshots]` config section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotConfig {
    /// Seconds between AUTO snapshots, on the node's clock; 0 takes none. The first
    /// is taken one interval after the node starts.
    pub auto_interval_s: u64,
    /// AUTO snapshots of this node kept; older ones are deleted (unless a kept
    /// snapshot's chain needs them).
    pub keep_last: u32,
    /// Every `full_every`-th AUTO snapshot has FULL content; those between are
    /// INCREMENTAL on the previous AUTO one. 1: every one FULL.
    pub full_every: u32,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        Self { auto_interval_s: 300, keep_last: 12, full_every: 6 }
    }
}
