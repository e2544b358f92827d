//! Test signals: actors report what they did on an optional channel, so tests await
//! events instead of sleeping. Production leaves the probe `None`.

use tokio::sync::mpsc;
use uuid::Uuid;

pub use crate::job::RunResult;

/// Something an actor did that a test may wait for.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    WorkerStarted {
        worker_id: Uuid,
        incarnation: u32,
    },
    WorkerDied {
        worker_id: Uuid,
    },
    WorkerRestarted {
        worker_id: Uuid,
        failure_count: i32,
    },
    /// Restarted too often within the window: given up on.
    WorkerFailed {
        worker_id: Uuid,
    },
    Claimed {
        worker_id: Uuid,
        count: usize,
    },
    JobStarted {
        job_id: Uuid,
        worker_id: Uuid,
        load: u32,
    },
    JobFinished {
        job_id: Uuid,
        worker_id: Uuid,
        result: RunResult,
    },
    /// The store write that settles a run was answered (the result is durable).
    JobSettled {
        job_id: Uuid,
    },
    /// The Supervisor voided a dead worker's claims in the store: `crashed` attempts it
    /// was running, `given_back` claims queued on it that never started.
    ClaimsVoided {
        worker_id: Uuid,
        crashed: usize,
        given_back: usize,
    },
    /// There was work to claim and the Supervisor claimed none, for this reason.
    ClaimHeld {
        why: Hold,
    },
    WorkerDeclaredDead {
        worker_id: Uuid,
    },
    /// A HealthMonitor sweep came `late_ms` after its period (and a heartbeat): the
    /// node was stopped, so that time was taken off every worker's silence.
    SweepLate {
        late_ms: i64,
    },
    Swept {
        scores: Vec<(Uuid, f64)>,
    },
    Drained {
        released: usize,
    },
    /// The HealthMonitor died and was started again.
    MonitorRestarted,
    /// A retention tick ended: what it deleted in all.
    Pruned {
        pruned: crate::store::Pruned,
    },
    /// Execution contexts reached the vector store (the running total).
    ContextsWritten {
        written_total: u64,
    },
    /// A vector store call failed; it will be retried (the running total of retries).
    ContextWriteFailed {
        retries_total: u64,
    },
    /// The context queue was full: the oldest were dropped (the running total).
    ContextsDropped {
        dropped_total: u64,
    },
}

/// Why a Supervisor with work to claim claims none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// The node escalated (every worker failed, or its HealthMonitor did): it claims
    /// nothing more.
    Escalated,
    /// Every live worker's unwritten results fill its backlog (`workers.backlog`).
    BacklogFull,
}

/// An optional event sender, cloned into every actor of a node.
#[derive(Debug, Clone, Default)]
pub struct Probe(Option<mpsc::UnboundedSender<Event>>);

impl Probe {
    /// A probe that drops every event.
    pub fn none() -> Self {
        Self(None)
    }

    /// A probe and the receiver a test reads.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(Some(tx)), rx)
    }

    pub fn emit(&self, event: Event) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(event); // a test that stopped listening is not an error
        }
    }
}
