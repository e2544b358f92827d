//! What the Supervisor gives a snapshot ([`GetRuntime`]) and takes back from a restore
//! ([`RestoreWorkers`]): per worker its restart counters and intensity window, slots
//! and held claims, and the restart history. Jobs are never touched here: the
//! database is the truth for claims.

use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::history::{RestartEvent, RestartHistory};
use super::restarts::Restarts;
use super::{SlotInfo, Supervisor};
use crate::actors::health::{HealthSeed, RestoreHealth};
use crate::actors::worker::{GetHeld, Held};
use crate::store::WorkerStatus;

/// How long a worker has to say which claims it holds; a hung one never does.
const HELD_PATIENCE: Duration = Duration::from_secs(1);

/// Asks for what the Supervisor holds that the tables do not.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "SupervisorRuntime")]
pub struct GetRuntime;

#[derive(Debug, Clone)]
pub struct SupervisorRuntime {
    /// In slot order.
    pub workers: Vec<SlotRuntime>,
    pub history: Vec<RestartEvent>,
}

#[derive(Debug, Clone)]
pub struct SlotRuntime {
    pub slot: SlotInfo,
    /// Restarts within the intensity window, oldest first.
    pub restart_window: Vec<DateTime<Utc>>,
    /// The claims the worker holds; `None` if it did not answer (hung, or out).
    pub held: Option<Held>,
}

/// Brings back workers' restart counters and health (a snapshot's), matched to this
/// node's workers by id, the rest by position; and the restart history. Answers what
/// became of each snapshot worker. Claims and jobs are left as they are.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Vec<WorkerRestore>")]
pub struct RestoreWorkers {
    pub workers: Vec<WorkerSeed>,
    pub history: Vec<RestartEvent>,
}

/// One worker's state to bring back.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSeed {
    pub worker_id: Uuid,
    pub failure_count: i32,
    pub restart_window: Vec<DateTime<Utc>>,
    pub health: HealthSeed,
}

/// What became of one snapshot worker in a restore.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WorkerRestore {
    /// The worker as the snapshot names it.
    pub snapshot_worker_id: Uuid,
    /// The live worker that took its state; `None` when this node has no worker left
    /// for it (fewer workers than the snapshot).
    pub worker_id: Option<Uuid>,
    /// `restored`, or why only part of it was.
    pub note: String,
}

impl Handler<GetRuntime> for Supervisor {
    type Result = ResponseFuture<SupervisorRuntime>;

    fn handle(&mut self, _: GetRuntime, ctx: &mut Self::Context) -> Self::Result {
        let slots = self.handle(super::GetSlots, ctx);
        let asks: Vec<_> = self
            .slots
            .iter()
            .map(|s| (!s.out && s.addr.connected()).then(|| s.addr.clone()))
            .zip(self.slots.iter().map(|s| s.restarts.window()))
            .collect();
        let history = self.history.events();
        Box::pin(async move {
            let mut workers = Vec::with_capacity(slots.len());
            for (slot, (addr, restart_window)) in slots.into_iter().zip(asks) {
                let held = match addr {
                    Some(addr) => {
                        tokio::time::timeout(HELD_PATIENCE, addr.send(GetHeld)).await.ok().and_then(Result::ok)
                    }
                    None => None,
                };
                workers.push(SlotRuntime { slot, restart_window, held });
            }
            SupervisorRuntime { workers, history }
        })
    }
}

impl Handler<RestoreWorkers> for Supervisor {
    type Result = Vec<WorkerRestore>;

    fn handle(&mut self, msg: RestoreWorkers, ctx: &mut Self::Context) -> Vec<WorkerRestore> {
        let outcome = self.apply_restore(msg);
        // Restored scores may let unhealthy workers back in, or keep them out.
        self.schedule_feed(ctx);
        outcome
    }
}

impl Supervisor {
    /// Matches seeds to slots (by id, then the rest by position) and applies them.
    pub(super) fn apply_restore(&mut self, msg: RestoreWorkers) -> Vec<WorkerRestore> {
        let mut taken = vec![false; self.slots.len()];
        let mut plan: Vec<Option<usize>> = msg
            .workers
            .iter()
            .map(|seed| {
                let at = self.slots.iter().position(|s| s.worker_id == seed.worker_id)?;
                taken[at] = true;
                Some(at)
            })
            .collect();
        for target in plan.iter_mut().filter(|p| p.is_none()) {
            if let Some(free) = taken.iter().position(|t| !t) {
                taken[free] = true;
                *target = Some(free);
            }
        }
        let threshold = self.config.health.unhealthy_below;
        let mut health = Vec::new();
        let mut outcome = Vec::with_capacity(msg.workers.len());
        for (seed, target) in msg.workers.into_iter().zip(plan) {
            let Some(index) = target else {
                outcome.push(WorkerRestore {
                    snapshot_worker_id: seed.worker_id,
                    worker_id: None,
                    note: "not restored: this node has fewer workers than the snapshot".into(),
                });
                continue;
            };
            let slot = &mut self.slots[index];
            slot.restarts = Restarts::restored(seed.failure_count, seed.restart_window);
            let note = if slot.out {
                format!("counters restored; the worker stays {} (it is out of service)", slot.status.as_str())
            } else {
                slot.score = seed.health.score;
                slot.status =
                    if seed.health.score < threshold { WorkerStatus::Unhealthy } else { WorkerStatus::Active };
                "restored".to_string()
            };
            outcome.push(WorkerRestore { snapshot_worker_id: seed.worker_id, worker_id: Some(slot.worker_id), note });
            let worker_id = slot.worker_id;
            self.track(&self.slots[index]);
            if !self.slots[index].out {
                health.push(HealthSeed { worker_id, failure_count: seed.failure_count, ..seed.health });
            }
        }
        self.history = RestartHistory::restored(msg.history);
        if !health.is_empty() {
            self.health.do_send(RestoreHealth(health));
        }
        outcome
    }
}
