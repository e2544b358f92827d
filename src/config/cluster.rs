//! The `[cluster]` section.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Membership renewal (Redis key, `nodes` row) and the rescuer's look for dead
    /// nodes, in milliseconds.
    pub heartbeat_ms: u64,
    /// A node silent this long is `DEAD`; its claims are voided at once.
    pub node_dead_after_ms: u64,
    /// Each node's mailbox is trimmed to about this many entries.
    pub mailbox_max_len: usize,
    /// Entries a previous process of this node left pending are taken over after this.
    pub reclaim_idle_ms: u64,
    /// How long a request to another node waits for its answer.
    pub request_timeout_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            heartbeat_ms: 1_000,
            node_dead_after_ms: 10_000,
            mailbox_max_len: 10_000,
            reclaim_idle_ms: 30_000,
            request_timeout_ms: 5_000,
        }
    }
}
