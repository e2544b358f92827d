//! Messages the HealthMonitor answers, and the verdicts it sends the Supervisor.

use actix::Message;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::WorkerStatus;

/// Start (or update) tracking a worker: sent by the Supervisor on every (re)start,
/// failure and stop.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Track {
    pub worker_id: Uuid,
    pub capacity: u32,
    pub failure_count: i32,
    pub status: WorkerStatus,
}

/// A worker is alive, with this load.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Heartbeat {
    pub worker_id: Uuid,
    pub load: u32,
    pub capacity: u32,
    /// The worker's clock when it sent the beat (latency = receipt - this).
    pub sent_at: DateTime<Utc>,
}

/// One run finished on a worker.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RunMetric {
    pub worker_id: Uuid,
    pub ok: bool,
    pub latency_ms: u64,
}

/// Score every worker now, write the scores and metrics, declare the dead, rescue
/// Stops the monitor (as a crash would end it): for tests of its supervision.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Stop;

/// expired leases. Answers the verdicts (also sent to the Supervisor).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Vec<WorkerVerdict>")]
pub struct Sweep;

#[derive(Debug, Clone, PartialEq)]
pub struct WorkerVerdict {
    pub worker_id: Uuid,
    pub score: f64,
    pub status: WorkerStatus,
    /// Declared dead in this sweep (missed heartbeats for `dead_after_ms`).
    pub dead: bool,
}

/// The HealthMonitor's verdicts, for the Supervisor.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Verdicts(pub Vec<WorkerVerdict>);
