//! How the Supervisor feeds its workers: one claim at a time, for every worker with
//! room (free slots, a queue its prefetch allows, a backlog not full), sized to that
//! room; an unhealthy worker gets one job on probation once it has cooled down. A
//! claimed job goes to its worker, or back to the store if the worker died meanwhile.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use uuid::Uuid;

use super::super::store;
use super::Supervisor;
use crate::actors::probe::{Event, Hold};
use crate::actors::worker::Assign;
use crate::metrics::METRICS;
use crate::store::{ClaimRequest, ClaimedJob, Room, StoreResult};

/// A worker a claim is for, as it was when the claim was sent.
struct Asking {
    incarnation: u32,
    room: Room,
}

impl Supervisor {
    /// Feeds on the next turn, so that slots freed together are claimed together.
    pub(super) fn schedule_feed(&mut self, ctx: &mut Context<Self>) {
        if !self.feed_scheduled {
            self.feed_scheduled = true;
            ctx.run_later(Duration::ZERO, |act, ctx| {
                act.feed_scheduled = false;
                act.feed(ctx);
            });
        }
    }

    /// Claims for every healthy worker with free slots and room in its backlog, all in
    /// one statement; one claim at a time.
    fn feed(&mut self, ctx: &mut Context<Self>) {
        if self.draining || !self.more_work || self.claiming {
            return;
        }
        if self.alarm.reason().is_some() {
            self.probe.emit(Event::ClaimHeld { why: Hold::Escalated });
            return;
        }
        let threshold = self.config.health.unhealthy_below;
        let (capacity, prefetch) = (self.config.capacity, self.config.prefetch);
        let adaptive = self.config.prefetch_horizon.is_some();
        let now = self.clock.now();
        let probation = chrono::Duration::milliseconds(self.config.health.probation_ms as i64);
        let asking: Vec<Asking> = self
            .slots
            .iter_mut()
            .filter(|s| !s.out && s.unsettled < self.config.backlog)
            .filter_map(|s| {
                if s.score >= threshold {
                    // `load` counts queued jobs too; they only queue once the slots are full.
                    let slots = capacity.saturating_sub(s.load);
                    let wanted = if adaptive { prefetch.min(s.queue_room) } else { prefetch };
                    let queue = (capacity + wanted).saturating_sub(s.load) - slots;
                    return Some(Asking {
                        incarnation: s.incarnation,
                        room: Room { worker_id: s.worker_id, slots, queue },
                    });
                }
                // Unhealthy: nothing, but one job on probation once it has cooled down
                // and holds nothing, so that a worker that got well can show it.
                let cooled = s.cooling_since.is_some_and(|since| now - since >= probation);
                if !(cooled && s.load == 0 && s.unsettled == 0) {
                    return None;
                }
                s.cooling_since = Some(now);
                tracing::info!(worker_id = %s.worker_id, score = s.score, "unhealthy worker gets one job on probation");
                Some(Asking { incarnation: s.incarnation, room: Room { worker_id: s.worker_id, slots: 1, queue: 0 } })
            })
            .filter(|a| a.room.slots + a.room.queue > 0)
            .collect();
        if asking.is_empty() {
            let mut live = self.slots.iter().filter(|s| !s.out).peekable();
            if live.peek().is_some() && live.all(|s| s.unsettled >= self.config.backlog) {
                self.probe.emit(Event::ClaimHeld { why: Hold::BacklogFull });
            }
            return;
        }
        self.claiming = true;
        let request = ClaimRequest {
            workers: asking.iter().map(|a| a.room).collect(),
            lease: self.config.lease,
            job_types: self.job_types.clone(),
        };
        let wakes = self.wakes;
        let started = std::time::Instant::now();
        let claim = self.store.send(store::Claim(request));
        ctx.spawn(claim.into_actor(self).map(move |answer, act, ctx| {
            METRICS.claim_latency.observe(started.elapsed());
            act.claiming = false;
            act.claimed(asking, wakes, answer, ctx)
        }));
    }

    fn claimed(
        &mut self,
        asking: Vec<Asking>,
        wakes: u64,
        answer: Result<StoreResult<Vec<ClaimedJob>>, MailboxError>,
        ctx: &mut Context<Self>,
    ) {
        let jobs = match answer {
            Ok(Ok(jobs)) => jobs,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "claim failed; the fallback poll will try again");
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "store actor unreachable");
                return;
            }
        };
        let asked: u32 = asking.iter().map(|a| a.room.slots + a.room.queue).sum();
        let got = jobs.len() as u32;
        let mut by_worker: HashMap<Uuid, Vec<ClaimedJob>> = HashMap::new();
        for job in jobs {
            by_worker.entry(job.worker_id).or_default().push(job);
        }
        for a in asking {
            if let Some(jobs) = by_worker.remove(&a.room.worker_id) {
                self.hand_over(a, jobs, ctx);
            }
        }
        if got == asked || wakes != self.wakes {
            // A full batch, or a wake-up arrived while claiming: there may be more.
            self.schedule_feed(ctx);
        } else {
            self.more_work = false;
        }
    }

    /// Gives a worker the jobs claimed for it, or gives them back if it cannot run them.
    fn hand_over(&mut self, asked: Asking, jobs: Vec<ClaimedJob>, ctx: &mut Context<Self>) {
        let Some(index) = self.slots.iter().position(|s| s.worker_id == asked.room.worker_id) else { return };
        let slot = &mut self.slots[index];
        if self.draining || slot.out || slot.incarnation != asked.incarnation || !slot.addr.connected() {
            // The node began draining, or the worker died while we claimed for it
            // (perhaps after its claims were voided): nobody will run these. Give
            // them back now rather than let their leases run out, which would count
            // an attempt.
            let claims = jobs.iter().map(|j| j.claim_ref()).collect();
            let reason =
                if self.draining { "released: node shutting down" } else { "released: claimed for a worker that died" };
            tracing::debug!(reason, count = jobs.len(), "giving claims back unrun");
            self.store.do_send(store::GiveBack(claims));
            if !slot.out && !slot.addr.connected() {
                self.worker_died(index, "its mailbox closed (the actor stopped or panicked)", ctx);
            }
            return;
        }
        slot.load += jobs.len() as u32;
        self.probe.emit(Event::Claimed { worker_id: asked.room.worker_id, count: jobs.len() });
        slot.addr.do_send(Assign(jobs));
    }
}
