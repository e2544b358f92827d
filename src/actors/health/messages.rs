//! Messages the HealthMonitor answers, and the verdicts it sends the Supervisor.

use actix::Message;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::actors::probe::RunResult;
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
    pub outcome: RunOutcome,
    pub latency_ms: u64,
}

/// How a run ended, as far as its worker's health is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Succeeded,
    /// Its handler returned a failure: the job's own, which says nothing of the worker
    /// (every worker of the node runs the same handler against the same services), so
    /// it does not count against the worker's health.
    Failed,
    /// It crashed: its handler panicked or timed out, or its Job actor died. These are
    /// the worker's errors in the health score.
    Crashed,
}

impl RunOutcome {
    /// What a finished run tells of its worker's health; `None` for a run that did
    /// not run to an end of its own (given back, cancelled, snoozed).
    pub fn of(result: &RunResult) -> Option<Self> {
        match result {
            RunResult::Succeeded => Some(Self::Succeeded),
            RunResult::Failed { .. } => Some(Self::Failed),
            RunResult::TimedOut | RunResult::Panicked => Some(Self::Crashed),
            RunResult::Released | RunResult::Cancelled | RunResult::Snoozed => None,
            // The handler ended without crashing; its worker's death, or a claim lost
            // meanwhile, is counted elsewhere (restarts, fencing).
            RunResult::Abandoned | RunResult::Fenced => Some(Self::Succeeded),
        }
    }

    /// Whether the run counts as one that went well for its worker: anything but a crash.
    pub fn ok(self) -> bool {
        self != Self::Crashed
    }
}

/// Stops the monitor (as a crash would end it): for tests of its supervision.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Stop;

/// Score every worker now, write the scores and metrics, declare the dead, rescue
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handlers_own_failure_is_not_its_workers_error_and_a_crash_is() {
        let failed = |permanent| RunOutcome::of(&RunResult::Failed { permanent });
        assert_eq!((failed(false), failed(true)), (Some(RunOutcome::Failed), Some(RunOutcome::Failed)));
        for crash in [RunResult::TimedOut, RunResult::Panicked] {
            assert_eq!(RunOutcome::of(&crash), Some(RunOutcome::Crashed), "{crash:?}");
        }
        for unrun in [RunResult::Released, RunResult::Cancelled, RunResult::Snoozed] {
            assert_eq!(RunOutcome::of(&unrun), None, "{unrun:?}");
        }
        assert_eq!(RunOutcome::of(&RunResult::Succeeded), Some(RunOutcome::Succeeded));
        let ok = [RunOutcome::Succeeded, RunOutcome::Failed, RunOutcome::Crashed].map(RunOutcome::ok);
        assert_eq!(ok, [true, true, false]);
    }
}
