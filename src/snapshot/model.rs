//! What a snapshot holds: the metadata every row carries ([`SnapshotMeta`]) and the
//! state of a node's actors ([`NodeState`]), the FULL content. INCREMENTAL content is
//! a [`Delta`](super::delta::Delta) of it.
//!
//! Every struct here refuses unknown fields: a `state_data` that does not have exactly
//! this shape is corrupt (or of another schema version), never half-read.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::actors::supervisor::RestartEvent;
use crate::store::WorkerStatus;

/// The version of the snapshot format this build writes and reads. A snapshot of
/// another version is refused (restore never guesses at a format).
pub const SCHEMA_VERSION: u32 = 1;

/// Whether `state_data` is a whole [`NodeState`] or a change to its parent's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Content {
    Full,
    Incremental,
}

impl Content {
    pub fn as_str(self) -> &'static str {
        match self {
            Content::Full => "FULL",
            Content::Incremental => "INCREMENTAL",
        }
    }
}

/// The `metadata` of every snapshot row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotMeta {
    /// [`SCHEMA_VERSION`] of the build that wrote it.
    pub schema_version: u32,
    /// The node whose actors it holds.
    pub node_id: String,
    /// `sha256:` and 16 hex digits of the node's configuration (secrets redacted): a
    /// restore under another configuration says so.
    pub config_fingerprint: String,
    pub content: Content,
    /// INCREMENTAL content: the snapshot it is a change of.
    pub parent_id: Option<Uuid>,
    /// How many INCREMENTAL links lie between this snapshot and its FULL base (0 for
    /// FULL content).
    pub depth: u32,
    /// `sha256:<hex>` of the canonical JSON of the type, this metadata (without the
    /// checksum) and `state_data` (see [`super::canonical`]).
    pub checksum: String,
}

/// Everything a node's actors hold that the tables do not, at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeState {
    pub node_id: String,
    pub taken_at: DateTime<Utc>,
    /// In the Supervisor's slot order.
    pub workers: Vec<WorkerState>,
    /// The Supervisor's latest restarts and give-ups, oldest first.
    pub restart_history: Vec<RestartEvent>,
    pub queue: QueueStats,
    /// The claims the workers held. Only compared with the job rows at restore: the
    /// database is the truth for claims.
    pub in_flight: Vec<InFlight>,
}

/// One worker, as the Supervisor and the HealthMonitor hold it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerState {
    pub worker_id: Uuid,
    /// As the Supervisor sees it.
    pub status: WorkerStatus,
    /// Restarts of this worker's actor in the node that took the snapshot.
    pub incarnation: u32,
    pub config: WorkerSettings,
    pub health: WorkerHealth,
    pub restarts: WorkerRestarts,
    pub slots: WorkerSlots,
}

/// The settings a worker ran with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    pub capacity: u32,
    pub prefetch: u32,
    pub prefetch_wait_ms: u64,
    pub lease_ms: u64,
    pub backlog: u32,
}

/// A worker's health score and the inputs it is computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerHealth {
    /// 0..=1.
    pub score: f64,
    /// As the HealthMonitor sees it.
    pub status: WorkerStatus,
    pub error_rate: f64,
    pub heartbeat_latency_ms: f64,
    pub load: u32,
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// The latest runs, oldest first (the error rate and latency window).
    pub runs: Vec<RunSample>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSample {
    pub ok: bool,
    pub latency_ms: u64,
}

/// A worker's restart counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerRestarts {
    /// Deaths so far (`workers.failure_count`).
    pub failure_count: i32,
    /// Restarts within the intensity window, oldest first.
    pub window: Vec<DateTime<Utc>>,
}

/// A worker's slots and prefetch queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSlots {
    pub capacity: u32,
    /// Claims not ended: running or queued.
    pub load: u32,
    /// Finished runs whose results were not written yet.
    pub unsettled: u32,
    pub running: u32,
    pub queued: u32,
    /// Whether the worker said which claims it held (a hung or dead one does not).
    pub answered: bool,
}

/// Jobs by status when the snapshot was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueStats {
    pub by_status: BTreeMap<String, i64>,
}

/// A claim a worker held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InFlight {
    pub job_id: Uuid,
    pub execution_id: Uuid,
    pub worker_id: Uuid,
    /// Waiting in the worker's prefetch queue rather than running.
    pub queued: bool,
}

impl NodeState {
    /// Checks what the types cannot: unique workers, scores in 0..=1, and the node
    /// named in the metadata. Answers the first problem.
    pub fn check(&self, meta_node: &str) -> Result<(), String> {
        if self.node_id != meta_node {
            return Err(format!("state_data names node {:?}, the metadata {:?}", self.node_id, meta_node));
        }
        let mut seen = std::collections::HashSet::new();
        for w in &self.workers {
            if !seen.insert(w.worker_id) {
                return Err(format!("worker {} appears twice", w.worker_id));
            }
            if !(0.0..=1.0).contains(&w.health.score) {
                return Err(format!("worker {} has health score {} outside 0..=1", w.worker_id, w.health.score));
            }
            if w.restarts.failure_count < 0 {
                return Err(format!("worker {} has a negative failure_count", w.worker_id));
            }
        }
        Ok(())
    }
}
