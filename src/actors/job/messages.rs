//! Messages the Job actor sends and answers.

use actix::Message;
use uuid::Uuid;

use crate::actors::probe::RunResult;
use crate::job::Job;
use crate::store::StoreResult;

/// Sent to the Worker when a run is settled (durably recorded) and the slot is free.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct JobFinished {
    pub job_id: Uuid,
    pub execution_id: Uuid,
    pub result: RunResult,
    /// From handler start to settlement, by the injected clock.
    pub latency_ms: u64,
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
