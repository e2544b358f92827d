//! Messages the Job actor sends and answers.

use actix::{Message, Recipient};
use uuid::Uuid;

use crate::actors::probe::RunResult;
use crate::job::Job;
use crate::store::StoreResult;

/// Sent to the Worker when the handler has stopped running (returned, panicked, timed
/// out or was released): its slot is free, though the result may not be written yet.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct HandlerEnded {
    pub execution_id: Uuid,
}

/// Sent to the Worker when a run is settled: its result is durably recorded.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct JobFinished {
    pub job_id: Uuid,
    pub execution_id: Uuid,
    pub result: RunResult,
    /// From handler start to its end, by the injected clock.
    pub latency_ms: u64,
}

/// Where a Job actor reports to (its Worker; stand-ins in tests).
#[derive(Clone)]
pub struct JobReports {
    pub ended: Recipient<HandlerEnded>,
    pub finished: Recipient<JobFinished>,
}

/// Times the run out if its deadline (by the injected clock) has passed. Sent by the
/// actor's own timer, and by its Worker on every tick.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct CheckTimeout;

/// Gives the claim back unrun (a draining node): the handler is abandoned and the job
/// is `PENDING` again, its attempt not counted.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct ReleaseRun {
    pub reason: String,
}

/// Cancels the running job: the handler is abandoned, the job becomes `CANCELLED`.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "StoreResult<Job>")]
pub struct CancelRun;

/// Kills the Job actor on the spot, as a bug in it would: it panics without settling
/// its run (the handler is stopped with it). Its Worker notices the dead actor on its
/// next [`Tick`](crate::actors::worker::Tick) and records the attempt `CRASHED`; the
/// job is retried like any crash. For fault-injection tests (the testing kit).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Kill;
