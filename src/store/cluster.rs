//! What the store keeps for the cluster: node rows (membership that survives a Redis
//! flush) and leases with fencing tokens (one node at a time rescues).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum NodeStatus {
    /// Heartbeating and taking work.
    #[serde(rename = "ACTIVE")]
    Active,
    /// Finishing its jobs; takes no new ones.
    #[serde(rename = "DRAINING")]
    Draining,
    /// Shut down cleanly.
    #[serde(rename = "STOPPED")]
    Stopped,
    /// Silent past `cluster.node_dead_after_ms`: its claims were voided.
    #[serde(rename = "DEAD")]
    Dead,
}

impl NodeStatus {
    pub const ALL: &'static [NodeStatus] =
        &[NodeStatus::Active, NodeStatus::Draining, NodeStatus::Stopped, NodeStatus::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Active => "ACTIVE",
            NodeStatus::Draining => "DRAINING",
            NodeStatus::Stopped => "STOPPED",
            NodeStatus::Dead => "DEAD",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|n| n.as_str() == s)
    }
}

/// A node's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeRecord {
    pub node_id: String,
    /// Where its HTTP API listens (`host:port`), when known.
    pub address: String,
    pub status: NodeStatus,
    pub started_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// The process that holds the node id: a fresh id per start ('' on rows written
    /// before incarnations existed).
    pub incarnation: String,
}

impl NodeRecord {
    /// The status to report at `now`: a node silent since before `silent_since` is
    /// dead whatever its row says (the rescuer may not have marked it yet).
    pub fn status_at(&self, silent_since: DateTime<Utc>) -> NodeStatus {
        match self.status {
            NodeStatus::Active | NodeStatus::Draining if self.last_seen < silent_since => NodeStatus::Dead,
            status => status,
        }
    }
}

/// Proof of holding a lease: a write fenced by it happens only while `holder` still
/// holds lease `name` under `token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub name: String,
    pub holder: String,
    pub token: i64,
}

/// The lease under which one node at a time rescues the claims of dead nodes and
/// expired leases.
pub const RESCUE_LEASE: &str = "rescue";

/// Why a claim is voided when the next process of its node starts (`{node}`, `{worker}`
/// filled in).
pub const RESTARTED: &str = "node {node} was restarted: its worker {worker} was running this attempt";
