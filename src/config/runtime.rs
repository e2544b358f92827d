//! The sections that tune a node's actors: `[health]`, `[restarts]`, `[batch]` and
//! `[retention]`. Each is read by the actor it names (the HealthMonitor, the
//! Supervisor, the StoreActor, the Pruner), which keeps the behaviour beside itself.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Health thresholds and timings (the `[health]` config section).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// How often workers heartbeat, in milliseconds.
    pub heartbeat_ms: u64,
    /// A worker silent this long is dead and is restarted.
    pub dead_after_ms: u64,
    /// How often the monitor sweeps (scores, writes, rescues), in milliseconds.
    pub sweep_ms: u64,
    /// Workers scoring under this get no new jobs.
    pub unhealthy_below: f64,
    /// A mean run latency of this many milliseconds costs the full latency share.
    pub latency_ref_ms: u64,
    /// Runs remembered per worker for the error rate and latency.
    pub window: usize,
    /// A worker's health metrics are written when one moves, and at least this often
    /// (milliseconds); an idle node writes almost nothing.
    pub log_every_ms: u64,
    /// A store call in flight this long, or store calls failing with no success for
    /// this long, make the node unready, as does a write refused for a full disk
    /// less than this long ago (milliseconds).
    pub store_stall_ms: u64,
    /// A read of the API, the dashboard or snapshots that takes this long
    /// (milliseconds) is logged and counted (`aeon_slow_store_reads_total`). Such reads
    /// are watched apart from the actors' calls: a slow one never makes the node unready.
    pub store_read_slow_ms: u64,
    /// An unhealthy worker gets no jobs; after this long without one (milliseconds) it
    /// gets a single job on probation: a success makes it healthy again.
    pub probation_ms: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            heartbeat_ms: 500,
            dead_after_ms: 5_000,
            sweep_ms: 1_000,
            unhealthy_below: 0.3,
            latency_ref_ms: 60_000,
            window: 50,
            log_every_ms: 60_000,
            store_stall_ms: 5_000,
            store_read_slow_ms: 2_000,
            probation_ms: 30_000,
        }
    }
}

/// The `[restarts]` config section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RestartPolicy {
    /// Restarts allowed within the window; the next death within it is final.
    pub max_restarts: u32,
    /// The window, in milliseconds.
    pub window_ms: u64,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self { max_restarts: 5, window_ms: 60_000 }
    }
}

impl RestartPolicy {
    pub fn window(&self) -> Duration {
        Duration::from_millis(self.window_ms)
    }
}

/// How the StoreActor batches (the `[batch]` config section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreActorConfig {
    /// How long a batch waits for company after its first item, in milliseconds.
    pub window_ms: u64,
    /// A batch this large goes out at once, without waiting for its window.
    pub max_size: usize,
    /// Single submits share commits (the StoreActor's group commit): those arriving while one is written
    /// go together in the next write. `false`: each is written alone, as a batch
    /// submit of one (kept for comparison in benchmarks).
    pub group_submits: bool,
}

impl Default for StoreActorConfig {
    fn default() -> Self {
        Self { window_ms: 2, max_size: 500, group_submits: true }
    }
}

/// How much of the history is kept (the `[retention]` config section). Ages in
/// seconds; 0 keeps that kind forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// `COMPLETED` and `CANCELLED` jobs, with their executions (7 days).
    pub finished_after_s: u64,
    /// `DEAD_LETTER` jobs, with their queue entries (30 days).
    pub dead_letter_after_s: u64,
    /// `worker_health_logs` rows (24 hours).
    pub health_logs_after_s: u64,
    /// Execution contexts of the embedded vector store (30 days); a Qdrant collection
    /// is Qdrant's to keep.
    pub contexts_after_s: u64,
    /// How often a retention tick runs.
    pub every_s: u64,
    /// Rows of each kind one statement deletes at most.
    pub batch: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            finished_after_s: 7 * 24 * 3600,
            dead_letter_after_s: 30 * 24 * 3600,
            health_logs_after_s: 24 * 3600,
            contexts_after_s: 30 * 24 * 3600,
            every_s: 60,
            batch: 500,
        }
    }
}
