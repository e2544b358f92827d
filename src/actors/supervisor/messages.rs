//! Messages the Supervisor answers.

use std::time::Duration;

use actix::Message;
use serde::Serialize;
use uuid::Uuid;

use crate::actors::worker::CrashMode;
use crate::job::Job;
use crate::store::{StoreResult, WorkerStatus};

/// A worker's slots came free, or its finished runs were recorded.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct SlotsFreed {
    pub worker_id: Uuid,
    /// The incarnation that freed them: a late message from a dead one is ignored.
    pub incarnation: u32,
    /// Slots free again: their handler ended, or the claim was given back unrun.
    pub freed: u32,
    /// Runs now off the worker's hands: their result is written, or the claim was
    /// given back. A freed run not yet settled counts against `workers.backlog`.
    pub settled: u32,
    /// How many claimed jobs the worker wants queued behind its running ones now (at
    /// most `workers.prefetch`; see [`crate::actors::worker::prefetch`]).
    pub queue_room: u32,
}

/// Jobs may be waiting: claim for every free slot. Sent on enqueue through this node.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Wake;

/// Look after the children: restart the dead, renew leases, poll for work now and
/// then. A timer sends it; tests may too.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct CheckChildren;

/// Crash a worker on purpose. Answers whether the worker exists and was told.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "bool")]
pub struct CrashWorker {
    pub worker_id: Uuid,
    pub mode: CrashMode,
}

/// Send every live worker a [`Tick`](crate::actors::worker::Tick) (heartbeat, run
/// deadlines, lease renewal, dead Job actors), as their timers do; answers once each
/// has handled it. Sent by tests whose timers are off (the testing kit's `TestNode`).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct TickWorkers;

/// Kill the Job actor running `job_id` on this node (a fault for tests; see
/// [`crate::actors::job::Kill`]). Answers whether it ran here.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "bool")]
pub struct KillJob {
    pub job_id: Uuid,
}

/// Cancel a job, through the Job actor running it if it runs on this node.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "StoreResult<Job>")]
pub struct CancelJob {
    pub job_id: Uuid,
}

/// Stop this node's runs of jobs already cancelled in the store (a bulk cancel), and
/// drop their queued claims. Answers how many it held.
#[derive(Debug, Clone, Message)]
#[rtype(result = "usize")]
pub struct StopCancelled {
    pub job_ids: Vec<Uuid>,
}

/// Stop claiming, wait up to `grace` for running jobs, give the rest back. Answers
/// how many were given back.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "usize")]
pub struct Drain {
    pub grace: Duration,
}

/// The HealthMonitor running now (a restarted one has a new address).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "actix::Addr<crate::actors::health::HealthMonitor>")]
pub struct GetMonitor;

/// What the Supervisor knows of each worker.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Vec<SlotInfo>")]
pub struct GetSlots;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SlotInfo {
    pub worker_id: Uuid,
    pub status: WorkerStatus,
    pub incarnation: u32,
    /// Jobs claimed for the worker and not ended: running, or queued to start.
    pub load: u32,
    /// Finished runs whose results are not written yet.
    pub unsettled: u32,
    pub capacity: u32,
    pub score: f64,
    pub failure_count: i32,
}
