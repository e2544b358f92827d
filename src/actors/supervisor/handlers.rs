//! The Supervisor's message handlers.

use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::super::store;
use super::Supervisor;
use super::messages::*;
use crate::actors::health::Verdicts;
use crate::actors::probe::Event;
use crate::actors::worker::{self, Crash, ReleaseAll, ReleaseQueued, Terminate};
use crate::store::{StoreError, StoreResult, WorkerStatus};

impl Handler<SlotsFreed> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: SlotsFreed, ctx: &mut Self::Context) {
        let current = self.slots.iter().any(|s| s.worker_id == msg.worker_id && s.incarnation == msg.incarnation);
        if !current {
            return; // the load of a dead incarnation was reset when it was replaced
        }
        self.free_slots(msg.worker_id, msg.freed, msg.settled);
        if let Some(slot) = self.slots.iter_mut().find(|s| s.worker_id == msg.worker_id) {
            slot.queue_room = msg.queue_room;
        }
        self.schedule_feed(ctx);
    }
}

impl Handler<Wake> for Supervisor {
    type Result = ();

    fn handle(&mut self, _: Wake, ctx: &mut Self::Context) {
        self.wakes += 1;
        self.more_work = true;
        self.schedule_feed(ctx);
    }
}

impl Handler<store::JobsReady> for Supervisor {
    type Result = ();

    /// Dependents were released: claim them now rather than at the next poll.
    fn handle(&mut self, _: store::JobsReady, ctx: &mut Self::Context) {
        self.handle(Wake, ctx);
    }
}

impl Handler<CheckChildren> for Supervisor {
    type Result = ();

    fn handle(&mut self, _: CheckChildren, ctx: &mut Self::Context) {
        // A worker whose mailbox closed has died (a panic in a handler kills the actor
        // without a stop, so nothing else would tell us).
        let dead: Vec<usize> =
            (0..self.slots.len()).filter(|&i| !self.slots[i].out && !self.slots[i].addr.connected()).collect();
        for index in dead {
            self.worker_died(index, "its mailbox closed (the actor stopped or panicked)", ctx);
        }
        self.check_monitor(ctx);
        let now = self.clock.now();
        if now - self.last_poll >= chrono::Duration::from_std(self.config.poll_every).unwrap_or(chrono::Duration::MAX) {
            self.last_poll = now;
            self.wakes += 1;
            self.more_work = true;
        }
        self.schedule_feed(ctx);
    }
}

impl Handler<Verdicts> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Verdicts, ctx: &mut Self::Context) {
        for verdict in msg.0 {
            let Some(index) = self.slots.iter().position(|s| s.worker_id == verdict.worker_id) else { continue };
            let slot = &mut self.slots[index];
            if slot.out {
                continue;
            }
            slot.score = verdict.score;
            slot.status = verdict.status;
            slot.cooling_since = match verdict.status {
                WorkerStatus::Unhealthy => slot.cooling_since.or(Some(self.clock.now())),
                _ => None,
            };
            if verdict.dead {
                self.worker_died(index, "it missed its heartbeats", ctx);
            }
        }
        self.schedule_feed(ctx);
    }
}

impl Handler<CrashWorker> for Supervisor {
    type Result = ResponseActFuture<Self, bool>;

    fn handle(&mut self, msg: CrashWorker, _: &mut Self::Context) -> Self::Result {
        let Some(slot) = self.slots.iter().find(|s| s.worker_id == msg.worker_id && !s.out) else {
            return Box::pin(actix::fut::ready(false));
        };
        let crash = slot.addr.send(Crash(msg.mode));
        Box::pin(crash.into_actor(self).map(move |answer, act, ctx| {
            // A worker that panicked never answers: its mailbox closes. Handle the
            // death now rather than at the next child check.
            if answer.is_err()
                && let Some(index) = act.slots.iter().position(|s| s.worker_id == msg.worker_id)
            {
                act.worker_died(index, "it crashed on purpose", ctx);
            }
            true
        }))
    }
}

impl Handler<TickWorkers> for Supervisor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: TickWorkers, _: &mut Self::Context) -> Self::Result {
        let ticks: Vec<_> = self.slots.iter().filter(|s| !s.out).map(|s| s.addr.send(worker::Tick)).collect();
        Box::pin(async move {
            futures::future::join_all(ticks).await; // a dead worker's tick is lost, as its timer's would be
        })
    }
}

impl Handler<KillJob> for Supervisor {
    type Result = ResponseFuture<bool>;

    fn handle(&mut self, msg: KillJob, _: &mut Self::Context) -> Self::Result {
        let workers: Vec<_> = self.slots.iter().filter(|s| !s.out).map(|s| s.addr.clone()).collect();
        Box::pin(async move {
            for worker in workers {
                if worker.send(worker::KillJob { job_id: msg.job_id }).await == Ok(true) {
                    return true;
                }
            }
            false
        })
    }
}

impl Handler<CancelJob> for Supervisor {
    type Result = ResponseFuture<StoreResult<crate::job::Job>>;

    fn handle(&mut self, msg: CancelJob, _: &mut Self::Context) -> Self::Result {
        let workers: Vec<_> = self.slots.iter().filter(|s| !s.out).map(|s| s.addr.clone()).collect();
        let store = self.store.clone();
        Box::pin(async move {
            for worker in workers {
                if let Ok(Some(cancelled)) = worker.send(worker::CancelJob { job_id: msg.job_id }).await {
                    return cancelled;
                }
            }
            // Not running here: cancel it in the store (another node's run is fenced off).
            store.send(store::Cancel(msg.job_id)).await.unwrap_or(Err(StoreError::Unavailable))
        })
    }
}

impl Handler<StopCancelled> for Supervisor {
    type Result = ResponseFuture<usize>;

    fn handle(&mut self, msg: StopCancelled, _: &mut Self::Context) -> Self::Result {
        let job_ids = std::sync::Arc::new(msg.job_ids.into_iter().collect::<std::collections::HashSet<_>>());
        let stops: Vec<_> = self
            .slots
            .iter()
            .filter(|s| !s.out)
            .map(|s| s.addr.send(worker::StopCancelled { job_ids: job_ids.clone() }))
            .collect();
        Box::pin(async move { futures::future::join_all(stops).await.into_iter().map(|n| n.unwrap_or(0)).sum() })
    }
}

/// How long a drain waits for the releases and results still on their way to the
/// store, by the node's clock.
const DRAIN_WRITE_WAIT: Duration = Duration::from_secs(30);

impl Handler<Drain> for Supervisor {
    type Result = ResponseActFuture<Self, usize>;

    fn handle(&mut self, msg: Drain, _: &mut Self::Context) -> Self::Result {
        self.draining = true;
        tracing::info!(running = self.total_load(), grace_ms = msg.grace.as_millis() as u64, "draining");
        // Jobs queued behind running ones go back at once: the grace is for running jobs.
        for slot in self.slots.iter().filter(|s| !s.out) {
            slot.addr.do_send(ReleaseQueued { reason: "released: node shutting down".into() });
        }
        let idle = self.idle_waiter();
        let grace = self.clock.sleep(msg.grace);
        Box::pin(
            async move {
                futures::future::select(Box::pin(idle), grace).await;
            }
            .into_actor(self)
            .then(|(), act, _| {
                // Whatever still runs after the grace period goes back to the queue.
                let workers: Vec<_> = act.slots.iter().filter(|s| !s.out).map(|s| s.addr.clone()).collect();
                let idle = act.idle_waiter();
                let write_wait = act.clock.sleep(DRAIN_WRITE_WAIT);
                let reason = "released: node shutting down".to_string();
                async move {
                    let mut released = 0;
                    for worker in workers {
                        released += worker.send(ReleaseAll { reason: reason.clone() }).await.unwrap_or(0);
                    }
                    // Releases and results still in their batches are store writes:
                    // wait until they are recorded (a store that never answers is
                    // left to the lease: the jobs are rescued, not lost).
                    futures::future::select(Box::pin(idle), write_wait).await;
                    released
                }
                .into_actor(act)
            })
            .then(|released, act, _| {
                for slot in &mut act.slots {
                    if !slot.out {
                        slot.status = WorkerStatus::Stopped;
                    }
                }
                for slot in &act.slots {
                    act.track(slot);
                }
                act.probe.emit(Event::Drained { released });
                let store = act.store.clone();
                let health = act.health.clone();
                async move {
                    // Record the workers as stopped, then write everything buffered.
                    let _ = health.send(crate::actors::health::Sweep).await;
                    let _ = store.send(store::Flush).await;
                    released
                }
                .into_actor(act)
            }),
        )
    }
}

impl Supervisor {
    /// Resolves once no claimed job is left on this node.
    fn idle_waiter(&mut self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        if self.total_load() == 0 {
            let _ = tx.send(());
        } else {
            self.idle_waiters.push(tx);
        }
        rx
    }
}

impl Handler<GetMonitor> for Supervisor {
    type Result = actix::Addr<crate::actors::health::HealthMonitor>;

    fn handle(&mut self, _: GetMonitor, _: &mut Self::Context) -> Self::Result {
        self.health.clone()
    }
}

impl Handler<GetSlots> for Supervisor {
    type Result = Vec<SlotInfo>;

    fn handle(&mut self, _: GetSlots, _: &mut Self::Context) -> Vec<SlotInfo> {
        self.slots
            .iter()
            .map(|s| SlotInfo {
                worker_id: s.worker_id,
                status: s.status,
                incarnation: s.incarnation,
                load: s.load,
                unsettled: s.unsettled,
                capacity: self.config.capacity,
                score: s.score,
                failure_count: s.restarts.failure_count(),
            })
            .collect()
    }
}

impl Handler<crate::actors::Shutdown> for Supervisor {
    type Result = ();

    /// Stops the workers and the HealthMonitor for good, then itself (the StoreActor is
    /// the node's to stop, after its last writes). Nothing is restarted after this.
    fn handle(&mut self, _: crate::actors::Shutdown, ctx: &mut Self::Context) {
        self.draining = true;
        self.shut_down = true;
        for slot in &self.slots {
            slot.addr.do_send(Terminate);
        }
        self.health.do_send(crate::actors::health::Stop);
        ctx.stop();
    }
}
