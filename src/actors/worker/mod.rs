//! The Worker actor: `capacity` slots, each running one Job actor, and a queue of up
//! to `prefetch` claimed jobs that start as slots free (it asks for as many as would
//! start soon, by its jobs' observed run times: see [`prefetch`]). It heartbeats to
//! the HealthMonitor, reports each run's metrics, frees slots back to the Supervisor
//! (a slot is free when its handler returns; the run counts as settled once its result
//! is written), and can be told to crash on purpose (see [`CrashMode`]).

mod messages;
pub mod prefetch;

pub use messages::{
    Assign, CancelJob, Crash, CrashMode, GetHeld, GetLoad, Held, HeldClaim, KillJob, ReleaseAll, ReleaseQueued,
    StopCancelled, Terminate, Tick,
};

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::health::{Heartbeat, RunMetric, RunOutcome};
use super::job::{CheckTimeout, HandlerEnded, JobActor, JobFinished, JobReports, Kill, ReleaseRun};
use super::probe::{Event, Probe, RunResult};
use super::store::{self, StoreHandle};
use super::supervisor::SlotsFreed;
use crate::clock::SharedClock;
use crate::handler::Registry;
use crate::job::ExecutionStatus;
use crate::store::{ClaimRef, ClaimedJob, Failure, StoreResult};

/// Where a worker sends what it has to say; stand-ins in tests.
#[derive(Clone)]
pub struct WorkerLinks {
    pub store: StoreHandle,
    pub supervisor: Recipient<SlotsFreed>,
    pub heartbeats: Recipient<Heartbeat>,
    pub metrics: Recipient<RunMetric>,
    pub registry: Arc<Registry>,
    pub clock: SharedClock,
    pub probe: Probe,
    /// Where Job actors send their execution contexts; `None`: nowhere.
    pub contexts: Option<super::context::ContextSink>,
}

/// Who a worker is and how it behaves.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub worker_id: Uuid,
    /// Counts restarts: 0 for the first start.
    pub incarnation: u32,
    pub capacity: u32,
    /// Claimed jobs it may hold queued beyond `capacity`.
    pub prefetch: u32,
    /// Queue only the jobs that would start within this, by observed run times (see
    /// [`prefetch`]); `None`: always up to `prefetch`.
    pub prefetch_horizon: Option<Duration>,
    /// How long a queued job may wait for a slot before it goes back (checked on
    /// each [`Tick`]), so slow jobs do not hold others hostage on a busy worker.
    pub prefetch_wait: Duration,
    /// Heartbeat period; `None` leaves ticking to whoever sends [`Tick`] (tests).
    pub heartbeat_every: Option<Duration>,
    /// Cancelled by the Supervisor when this incarnation dies: its jobs stop.
    pub token: CancellationToken,
    /// How long a claim holds; the worker renews its running claims every third.
    pub lease: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    /// Answers nothing, heartbeats no more (crash mode `hang`), until the instant
    /// given by the injected clock, if any: the first tick after it resumes the worker.
    Hung(Option<DateTime<Utc>>),
    /// Every job waits this long before its handler starts (crash mode `slow`).
    Slow(Duration),
}

/// A Job actor of this worker, from its start until its result is written.
struct Run {
    job_id: Uuid,
    job_type: String,
    /// When its Job actor started (injected clock): its run time is measured from here.
    started_at: DateTime<Utc>,
    addr: Addr<JobActor>,
    /// The handler has stopped; the result is on its way to the database.
    ended: bool,
    /// Its actor was found stopped at a tick, with the run still here.
    seen_dead: bool,
}

pub struct Worker {
    spec: WorkerSpec,
    links: WorkerLinks,
    /// Live Job actors by execution id: running, or writing their result.
    runs: HashMap<Uuid, Run>,
    /// Runs whose handler is still running: the slots in use.
    busy: u32,
    /// Claimed jobs waiting for a slot (at most `prefetch`), with when they arrived.
    queue: VecDeque<(ClaimedJob, DateTime<Utc>)>,
    mode: Mode,
    /// Claims assigned while hung: a hung worker reads no mail, so they wait for it to
    /// resume, as a paused process's mailbox would, or for its death and rescue.
    unread: Vec<ClaimedJob>,
    /// When this worker last renewed its claims (injected clock).
    renewed_at: chrono::DateTime<chrono::Utc>,
    /// Its handlers' run times, which size its queue (see [`prefetch`]).
    run_times: prefetch::RunTimes,
}

impl Worker {
    pub fn new(spec: WorkerSpec, links: WorkerLinks) -> Self {
        let renewed_at = links.clock.now();
        Self {
            spec,
            links,
            runs: HashMap::new(),
            busy: 0,
            queue: VecDeque::new(),
            mode: Mode::Normal,
            unread: Vec::new(),
            renewed_at,
            run_times: prefetch::RunTimes::default(),
        }
    }

    /// Renews the leases of the claims this worker holds, every third of a lease: its
    /// Job actors' (a result still being written included) and its queued jobs'. A
    /// claim nobody holds runs out and is rescued.
    fn renew_leases(&mut self) {
        let now = self.links.clock.now();
        let due = chrono::Duration::from_std(self.spec.lease / 3).unwrap_or(chrono::Duration::MAX);
        if (self.runs.is_empty() && self.queue.is_empty()) || now - self.renewed_at < due {
            return;
        }
        self.renewed_at = now;
        let running = self.runs.iter().map(|(&execution_id, run)| ClaimRef { job_id: run.job_id, execution_id });
        let claims = running.chain(self.queue.iter().map(|(j, _)| j.claim_ref())).collect();
        self.links.store.do_send(store::ExtendLeases(claims, self.spec.lease));
    }

    /// Whether the worker is hung now. A bounded hang that is over ends here: the
    /// worker goes on, first with the claims that arrived while it was hung.
    fn hung(&mut self, ctx: &mut Context<Self>) -> bool {
        match self.mode {
            Mode::Hung(Some(until)) if self.links.clock.now() >= until => {
                tracing::info!(worker_id = %self.spec.worker_id, "the hang is over: going on");
                self.mode = Mode::Normal;
                let unread = std::mem::take(&mut self.unread);
                self.assign(unread, ctx);
                false
            }
            Mode::Hung(_) => true,
            _ => false,
        }
    }

    /// Starts what fits, queues what its prefetch allows, gives the rest back.
    fn assign(&mut self, claims: Vec<ClaimedJob>, ctx: &mut Context<Self>) {
        let mut over = Vec::new();
        for claim in claims {
            if self.load() < self.spec.capacity {
                self.start_job(claim, ctx);
            } else if self.queue.len() < self.spec.prefetch as usize {
                self.queue.push_back((claim, self.links.clock.now()));
            } else {
                over.push(claim.claim_ref());
            }
        }
        if !over.is_empty() {
            tracing::warn!(worker_id = %self.spec.worker_id, excess = over.len(), "assigned over capacity; releasing");
            let count = over.len() as u32;
            self.links.store.do_send(store::GiveBack(over));
            self.report(count, count);
        }
    }

    /// Handlers running now.
    pub fn load(&self) -> u32 {
        self.busy
    }

    /// How many claimed jobs this worker wants queued now: those that would start
    /// within the prefetch horizon, at most `prefetch` (see [`prefetch`]).
    pub fn queue_room(&self) -> u32 {
        let running = self.runs.values().filter(|r| !r.ended).map(|r| r.job_type.as_str());
        match self.spec.prefetch_horizon {
            None => self.spec.prefetch,
            Some(horizon) => self.run_times.queue_room(self.spec.capacity, running, self.spec.prefetch, horizon),
        }
    }

    fn report(&self, freed: u32, settled: u32) {
        let (worker_id, incarnation) = (self.spec.worker_id, self.spec.incarnation);
        let queue_room = self.queue_room();
        self.links.supervisor.do_send(SlotsFreed { worker_id, incarnation, freed, settled, queue_room });
    }

    /// Starts queued jobs while slots are free.
    fn start_queued(&mut self, ctx: &mut Context<Self>) {
        while self.busy < self.spec.capacity
            && let Some((claim, _)) = self.queue.pop_front()
        {
            self.start_job(claim, ctx);
        }
    }

    /// Gives back unrun the queued claims that arrived at or before `cutoff` (all of
    /// them when `None`); the attempt does not count.
    fn release_queued(&mut self, cutoff: Option<DateTime<Utc>>, reason: &str) -> usize {
        let mut claims = Vec::new();
        while let Some((claim, queued_at)) = self.queue.front()
            && cutoff.is_none_or(|cutoff| *queued_at <= cutoff)
        {
            claims.push(claim.claim_ref());
            self.queue.pop_front();
        }
        let count = claims.len();
        if count > 0 {
            tracing::debug!(worker_id = %self.spec.worker_id, count, reason, "giving queued claims back unrun");
            self.links.store.do_send(store::GiveBack(claims));
            self.report(count as u32, count as u32);
        }
        count
    }

    /// Job actors that died without settling their run (a panic in the actor itself,
    /// not in its handler, which it contains): each attempt is recorded `CRASHED` and
    /// its job retried like any crash, and its slot is free. Left alone, a dead Job
    /// actor's claim would be renewed with this worker's and its job never finish.
    ///
    /// A Job actor that settled stops right after sending its `JobFinished`, which is
    /// then already in this mailbox: a stopped actor whose run is still here at the
    /// next tick is the one that died.
    fn bury_dead_runs(&mut self, ctx: &mut Context<Self>) {
        let mut dead = Vec::new();
        for (&execution_id, run) in self.runs.iter_mut().filter(|(_, r)| !r.addr.connected()) {
            if run.seen_dead {
                dead.push(execution_id);
            }
            run.seen_dead = true;
        }
        for execution_id in dead {
            let Some(run) = self.runs.remove(&execution_id) else { continue };
            if !run.ended {
                self.busy -= 1;
                self.report(1, 0);
            }
            let (job_id, worker_id) = (run.job_id, self.spec.worker_id);
            tracing::warn!(%job_id, %worker_id, "a Job actor died without settling its run; recording it crashed");
            let error = "its Job actor died without settling the run".to_string();
            let claim = ClaimRef { job_id, execution_id };
            let failure = Failure { claim, status: ExecutionStatus::Crashed, error, permanent: false };
            let written = self.links.store.send(store::Fail(failure));
            ctx.spawn(written.into_actor(self).map(move |written, act, _| {
                if !matches!(written, Ok(Ok(_))) {
                    // The claim is no longer renewed: its lease runs out and it is rescued.
                    tracing::warn!(%job_id, "recording the dead run failed; its lease will expire");
                }
                act.report(0, 1);
                act.links.metrics.do_send(RunMetric { worker_id, outcome: RunOutcome::Crashed, latency_ms: 0 });
                act.links.probe.emit(Event::JobSettled { job_id });
                act.links.probe.emit(Event::JobFinished { job_id, worker_id, result: RunResult::Panicked });
            }));
        }
        self.start_queued(ctx);
    }

    fn start_job(&mut self, claim: ClaimedJob, ctx: &mut Context<Self>) {
        let Some(handler) = self.links.registry.get(&claim.job_type) else {
            // Claims are filtered by the registry's types, so this is a node whose
            // registry changed under it: fail for good rather than loop.
            let error = format!("no handler registered for job type {:?}", claim.job_type);
            let failure = Failure { claim: claim.claim_ref(), status: ExecutionStatus::Failed, error, permanent: true };
            self.links.store.do_send(store::Fail(failure));
            self.report(1, 1);
            return;
        };
        let delay = match self.mode {
            Mode::Slow(d) => d,
            _ => Duration::ZERO,
        };
        let (job_id, execution_id, job_type) = (claim.job_id, claim.execution_id, claim.job_type.clone());
        let placement = self.links.registry.placement(&job_type);
        let job = JobActor::new(
            claim,
            self.spec.worker_id,
            handler,
            self.links.store.clone(),
            self.links.clock.clone(),
            JobReports { ended: ctx.address().recipient(), finished: ctx.address().recipient() },
            self.spec.token.clone(),
            delay,
            self.links.probe.clone(),
        )
        .with_contexts(self.links.contexts.clone())
        .with_placement(placement)
        .start();
        let started_at = self.links.clock.now();
        let run = Run { job_id, job_type, started_at, addr: job, ended: false, seen_dead: false };
        self.runs.insert(execution_id, run);
        self.busy += 1;
        self.links.probe.emit(Event::JobStarted { job_id, worker_id: self.spec.worker_id, load: self.load() });
    }
}

impl Actor for Worker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(every) = self.spec.heartbeat_every {
            ctx.run_interval(every, |_, ctx| ctx.notify(Tick));
        }
        ctx.notify(Tick); // announce ourselves at once
        self.links
            .probe
            .emit(Event::WorkerStarted { worker_id: self.spec.worker_id, incarnation: self.spec.incarnation });
    }
}

impl Handler<Assign> for Worker {
    type Result = ();

    fn handle(&mut self, msg: Assign, ctx: &mut Self::Context) {
        if self.hung(ctx) {
            self.unread.extend(msg.0);
            return;
        }
        self.assign(msg.0, ctx);
    }
}

impl Handler<HandlerEnded> for Worker {
    type Result = ();

    fn handle(&mut self, msg: HandlerEnded, ctx: &mut Self::Context) {
        if let Some(run) = self.runs.get_mut(&msg.execution_id)
            && !run.ended
        {
            run.ended = true;
            let ran = (self.links.clock.now() - run.started_at).to_std().unwrap_or_default();
            self.run_times.record(&run.job_type, ran);
            self.busy -= 1;
            self.report(1, 0);
            self.start_queued(ctx);
        }
    }
}

impl Handler<JobFinished> for Worker {
    type Result = ();

    fn handle(&mut self, msg: JobFinished, ctx: &mut Self::Context) {
        let Some(run) = self.runs.remove(&msg.execution_id) else { return };
        // A cancelled run finishes without its handler ending first.
        let freed = u32::from(!run.ended);
        self.busy -= freed;
        self.report(freed, 1);
        self.start_queued(ctx);
        let worker_id = self.spec.worker_id;
        if let Some(outcome) = RunOutcome::of(&msg.result) {
            self.links.metrics.do_send(RunMetric { worker_id, outcome, latency_ms: msg.latency_ms });
        }
        self.links.probe.emit(Event::JobFinished { job_id: msg.job_id, worker_id, result: msg.result });
    }
}

impl Handler<Tick> for Worker {
    type Result = ();

    fn handle(&mut self, _: Tick, ctx: &mut Self::Context) {
        if self.hung(ctx) {
            return;
        }
        self.bury_dead_runs(ctx);
        self.links.heartbeats.do_send(Heartbeat {
            worker_id: self.spec.worker_id,
            load: self.load(),
            capacity: self.spec.capacity,
            sent_at: self.links.clock.now(),
        });
        for run in self.runs.values().filter(|r| !r.ended) {
            run.addr.do_send(CheckTimeout);
        }
        let waited_too_long =
            self.links.clock.now() - chrono::Duration::from_std(self.spec.prefetch_wait).unwrap_or_default();
        self.release_queued(Some(waited_too_long), "released: waited too long in a worker's queue");
        self.renew_leases();
    }
}

impl Handler<Crash> for Worker {
    type Result = ();

    fn handle(&mut self, msg: Crash, _: &mut Self::Context) {
        let worker_id = self.spec.worker_id;
        tracing::warn!(%worker_id, mode = ?msg.0, "crashing on purpose");
        match msg.0 {
            CrashMode::Panic => panic!("worker {worker_id} crashed on purpose"),
            CrashMode::Hang { ms } => {
                let until = ms.map(|ms| self.links.clock.now() + chrono::Duration::milliseconds(ms as i64));
                self.mode = Mode::Hung(until);
            }
            CrashMode::Slow { ms: 0 } => self.mode = Mode::Normal,
            CrashMode::Slow { ms } => self.mode = Mode::Slow(Duration::from_millis(ms)),
            CrashMode::Exit => std::process::abort(),
        }
    }
}

impl Handler<Terminate> for Worker {
    type Result = ();

    /// Honoured even by a hung worker: it stands for the Supervisor's kill.
    fn handle(&mut self, _: Terminate, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<ReleaseAll> for Worker {
    type Result = usize;

    fn handle(&mut self, msg: ReleaseAll, _: &mut Self::Context) -> usize {
        let queued = self.release_queued(None, &msg.reason);
        let running: Vec<_> = self.runs.values().filter(|r| !r.ended).collect();
        for run in &running {
            run.addr.do_send(ReleaseRun { reason: msg.reason.clone() });
        }
        running.len() + queued
    }
}

impl Handler<ReleaseQueued> for Worker {
    type Result = usize;

    fn handle(&mut self, msg: ReleaseQueued, _: &mut Self::Context) -> usize {
        self.release_queued(None, &msg.reason)
    }
}

impl Handler<CancelJob> for Worker {
    type Result = ResponseFuture<Option<StoreResult<crate::job::Job>>>;

    fn handle(&mut self, msg: CancelJob, _: &mut Self::Context) -> Self::Result {
        // A queued job leaves the queue; the store cancels it (and fences the claim).
        if let Some(at) = self.queue.iter().position(|(j, _)| j.job_id == msg.job_id) {
            self.queue.remove(at);
            self.report(1, 1);
            return Box::pin(async { None });
        }
        // A run whose handler has ended is being recorded: the store decides that race.
        let job = self.runs.values().find(|r| r.job_id == msg.job_id && !r.ended).map(|r| r.addr.clone());
        Box::pin(async move {
            let job = job?;
            // A run that just ended answers nothing: let the store decide instead.
            job.send(super::job::CancelRun).await.ok()
        })
    }
}

impl Handler<StopCancelled> for Worker {
    type Result = usize;

    fn handle(&mut self, msg: StopCancelled, _: &mut Self::Context) -> usize {
        let queued = self.queue.len();
        self.queue.retain(|(j, _)| !msg.job_ids.contains(&j.job_id));
        let dropped = queued - self.queue.len();
        if dropped > 0 {
            self.report(dropped as u32, dropped as u32);
        }
        let running: Vec<_> = self
            .runs
            .values()
            .filter(|r| !r.ended && msg.job_ids.contains(&r.job_id))
            .map(|r| r.addr.clone())
            .collect();
        for run in &running {
            // Its store cancel finds the job cancelled already; the handler stops.
            run.do_send(super::job::CancelRun);
        }
        dropped + running.len()
    }
}

impl Handler<KillJob> for Worker {
    type Result = bool;

    fn handle(&mut self, msg: KillJob, _: &mut Self::Context) -> bool {
        let run = self.runs.values().find(|r| r.job_id == msg.job_id && !r.ended);
        run.inspect(|r| r.addr.do_send(Kill)).is_some()
    }
}

impl Handler<GetLoad> for Worker {
    type Result = ResponseFuture<(u32, u32)>;

    fn handle(&mut self, _: GetLoad, ctx: &mut Self::Context) -> Self::Result {
        let hung = self.hung(ctx);
        let answer = (self.load(), self.spec.capacity);
        Box::pin(async move {
            if hung {
                futures::future::pending::<()>().await;
            }
            answer
        })
    }
}

impl Handler<GetHeld> for Worker {
    type Result = ResponseFuture<Held>;

    fn handle(&mut self, _: GetHeld, ctx: &mut Self::Context) -> Self::Result {
        let hung = self.hung(ctx);
        let mut running: Vec<HeldClaim> = self
            .runs
            .iter()
            .filter(|(_, r)| !r.ended)
            .map(|(&execution_id, r)| HeldClaim { job_id: r.job_id, execution_id })
            .collect();
        running.sort_by_key(|c| c.job_id);
        let queued =
            self.queue.iter().map(|(j, _)| HeldClaim { job_id: j.job_id, execution_id: j.execution_id }).collect();
        let answer = Held { running, queued };
        Box::pin(async move {
            if hung {
                futures::future::pending::<()>().await;
            }
            answer
        })
    }
}
