//! The Supervisor: one per node. It starts the StoreActor, the HealthMonitor and the
//! workers; keeps the workers fed with claims sized to their free capacity (woken on
//! enqueue, with a slow fallback poll, never an idle polling storm); restarts a dead
//! worker one-for-one, voiding its claims first so its jobs are retried; and gives up
//! on a worker restarted more than `max_restarts` times within `restart_window`.

mod history;
mod messages;
mod restarts;
mod snapshot;

pub use crate::config::RestartPolicy;
pub use history::{HISTORY_LIMIT, RestartEvent, RestartOutcome};
pub use messages::{
    CancelJob, CheckChildren, CrashWorker, Drain, GetMonitor, GetSlots, KillJob, SlotInfo, SlotsFreed, StopCancelled,
    TickWorkers, Wake,
};
pub use snapshot::{GetRuntime, RestoreWorkers, SlotRuntime, SupervisorRuntime, WorkerRestore, WorkerSeed};

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::health::{HealthConfig, HealthMonitor, Track};
use super::probe::{Event, Probe};
use super::store::{self, StoreActor, StoreActorConfig, StoreHandle, StoreWatch};
use super::worker::{Terminate, Worker, WorkerLinks, WorkerSpec};
use crate::clock::SharedClock;
use crate::handler::Registry;
use crate::metrics::METRICS;
use crate::store::{FailOutcome, Store, WorkerStatus};
use history::RestartHistory;
use restarts::Restarts;

/// How a Supervisor runs its node.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    pub node_id: String,
    pub workers: u32,
    pub capacity: u32,
    /// Jobs a worker may hold queued beyond its capacity.
    pub prefetch: u32,
    /// Queue only the jobs that would start within this, by observed run times
    /// (see [`crate::actors::worker::prefetch`]); `None`: always up to `prefetch`.
    pub prefetch_horizon: Option<Duration>,
    /// How long a queued job may wait for a slot before it goes back.
    pub prefetch_wait: Duration,
    /// Finished runs per worker that may await their write while it gets new jobs.
    pub backlog: u32,
    /// How long a claim holds unrenewed; each worker renews its running claims.
    pub lease: Duration,
    pub health: HealthConfig,
    pub restarts: RestartPolicy,
    pub batch: StoreActorConfig,
    /// Run the timers (heartbeats, sweeps, child checks). Tests turn them off and
    /// send the messages themselves.
    pub timers: bool,
    /// Fallback poll for jobs that arrive without a wake-up (another node's enqueue,
    /// a retry coming due).
    pub poll_every: Duration,
    /// Where Job actors send their execution contexts (the node's ContextActor);
    /// `None`: nowhere.
    pub contexts: Option<super::context::ContextSink>,
    /// Whether this node's HealthMonitor sweeps expired leases (see
    /// [`crate::cluster::membership`]); open by default.
    pub rescue: super::health::RescueGate,
}

/// The running actors of a node.
#[derive(Clone)]
pub struct NodeActors {
    pub supervisor: Addr<Supervisor>,
    pub store: StoreHandle,
    /// The StoreActor's view of its store's health (calls in flight, failures).
    pub store_watch: StoreWatch,
    /// The HealthMonitor as first started (the Supervisor restarts it if it dies: a
    /// restarted one has a new address).
    pub health: Addr<HealthMonitor>,
    /// Set when the Supervisor has given up (escalation): the node is unready.
    pub alarm: Alarm,
}

impl NodeActors {
    /// Stops the Supervisor for good (its workers and HealthMonitor with it), then the
    /// StoreActor once it has written what its batches hold; waits at most `patience`
    /// on a store that does not answer. The end of `Node::shutdown` and of the testing
    /// kit's `TestNode::shutdown`.
    pub async fn shut_down(&self, patience: Duration) {
        let _ = self.supervisor.send(crate::actors::Shutdown).await;
        let _ = tokio::time::timeout(patience, self.store.send(store::Flush)).await;
        let _ = self.store.send(crate::actors::Shutdown).await;
    }
}

/// Why the Supervisor gave up on its node, once it has: past its restart intensity,
/// as in Erlang/OTP, the failure goes up a level. Here that level is whoever watches
/// the node's readiness (a load balancer, an orchestrator that restarts it): the node
/// stops claiming and `/readyz` answers 503 with this reason. Its jobs are not lost:
/// claims it held are rescued by the lease, by any node.
#[derive(Debug, Clone, Default)]
pub struct Alarm(Arc<std::sync::Mutex<Option<String>>>);

impl Alarm {
    pub fn raise(&self, why: String) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(why);
    }

    pub fn reason(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Starts a node's HealthMonitor (at start, and again if it dies).
fn spawn_monitor(
    config: &SupervisorConfig,
    store: &StoreHandle,
    clock: &SharedClock,
    probe: &Probe,
    job_types: Arc<[String]>,
    supervisor: Recipient<super::health::Verdicts>,
) -> Addr<HealthMonitor> {
    let sweep_every = config.timers.then(|| Duration::from_millis(config.health.sweep_ms));
    HealthMonitor::new(
        config.health,
        config.node_id.clone(),
        store.clone(),
        clock.clone(),
        supervisor,
        probe.clone(),
        sweep_every,
    )
    .with_job_types(job_types)
    .with_rescue_gate(config.rescue.clone())
    .start()
}

struct Slot {
    worker_id: Uuid,
    addr: Addr<Worker>,
    token: CancellationToken,
    incarnation: u32,
    /// Jobs claimed for the worker whose handler has not ended (running or queued).
    load: u32,
    /// Runs whose handler ended and whose result is not written yet.
    unsettled: u32,
    /// How many jobs the worker last said it wants queued (its adaptive prefetch;
    /// none until it has run some).
    queue_room: u32,
    /// Dead and being rescued, or given up on: gets nothing.
    out: bool,
    status: WorkerStatus,
    score: f64,
    restarts: Restarts,
    /// Since when an unhealthy worker has had no run: after `health.probation_ms` it
    /// gets one job (probation), and the cool-down starts again.
    cooling_since: Option<chrono::DateTime<chrono::Utc>>,
}

pub struct Supervisor {
    config: SupervisorConfig,
    slots: Vec<Slot>,
    store: StoreHandle,
    health: Addr<HealthMonitor>,
    registry: Arc<Registry>,
    job_types: Arc<[String]>,
    clock: SharedClock,
    probe: Probe,
    draining: bool,
    /// Set by [`crate::actors::Shutdown`]: nothing is restarted any more.
    shut_down: bool,
    /// Whether a claim may find work; cleared when a claim comes back short.
    more_work: bool,
    /// A claim is on its way: one at a time, for every worker with room.
    claiming: bool,
    /// Bumped by every wake-up, so a short claim that raced a wake-up does not
    /// clear `more_work`.
    wakes: u64,
    feed_scheduled: bool,
    idle_waiters: Vec<oneshot::Sender<()>>,
    /// When the fallback poll last let a claim look for work (the node's clock).
    last_poll: chrono::DateTime<chrono::Utc>,
    /// The latest restarts and give-ups, for snapshots.
    history: RestartHistory,
    /// The HealthMonitor's deaths, against the same intensity as a worker's.
    monitor_restarts: Restarts,
    /// Raised when the Supervisor gives up on the node.
    alarm: Alarm,
    /// State to start the workers with (a restored snapshot's), taken at start.
    seed: Option<RestoreWorkers>,
}

impl Supervisor {
    /// Starts a node's actors: the StoreActor over `store`, the HealthMonitor, and
    /// `config.workers` workers running `registry`'s handlers.
    pub fn start_node(
        config: SupervisorConfig,
        store: Arc<dyn Store>,
        registry: Registry,
        clock: SharedClock,
        probe: Probe,
    ) -> NodeActors {
        Self::start_node_seeded(config, store, registry, clock, probe, None)
    }

    /// [`Supervisor::start_node`], the workers starting from `seed` (a restored
    /// snapshot): the first workers take the seed's ids, restart counters and health,
    /// in order, before any job is claimed.
    pub fn start_node_seeded(
        config: SupervisorConfig,
        store: Arc<dyn Store>,
        registry: Registry,
        clock: SharedClock,
        probe: Probe,
        seed: Option<RestoreWorkers>,
    ) -> NodeActors {
        let store_actor = StoreActor::new(store, clock.clone(), config.batch);
        let store_watch = store_actor.watch();
        let store = store_actor.start();
        let store_for_tree = store.clone();
        let mut health = None;
        let alarm = Alarm::default();
        let node_alarm = alarm.clone();
        let supervisor = Supervisor::create(|ctx| {
            let job_types: Arc<[String]> = registry.job_types().into();
            let monitor =
                spawn_monitor(&config, &store_for_tree, &clock, &probe, job_types.clone(), ctx.address().recipient());
            health = Some(monitor.clone());
            let last_poll = clock.now();
            Supervisor {
                config,
                slots: Vec::new(),
                store: store_for_tree,
                health: monitor,
                registry: Arc::new(registry),
                job_types,
                clock,
                probe,
                draining: false,
                shut_down: false,
                more_work: true,
                claiming: false,
                wakes: 0,
                feed_scheduled: false,
                idle_waiters: Vec::new(),
                last_poll,
                history: RestartHistory::default(),
                seed,
                monitor_restarts: Restarts::default(),
                alarm,
            }
        });
        store.do_send(store::NotifyReady(supervisor.clone().recipient()));
        NodeActors {
            supervisor,
            store,
            store_watch,
            health: health.expect("health monitor started"),
            alarm: node_alarm,
        }
    }

    fn spawn_worker(
        &self,
        worker_id: Uuid,
        incarnation: u32,
        ctx: &mut Context<Self>,
    ) -> (Addr<Worker>, CancellationToken) {
        let token = CancellationToken::new();
        let spec = WorkerSpec {
            worker_id,
            incarnation,
            capacity: self.config.capacity,
            prefetch: self.config.prefetch,
            prefetch_horizon: self.config.prefetch_horizon,
            prefetch_wait: self.config.prefetch_wait,
            heartbeat_every: self.config.timers.then(|| Duration::from_millis(self.config.health.heartbeat_ms)),
            token: token.clone(),
            lease: self.config.lease,
        };
        let links = WorkerLinks {
            store: self.store.clone(),
            supervisor: ctx.address().recipient(),
            heartbeats: self.health.clone().recipient(),
            metrics: self.health.clone().recipient(),
            registry: self.registry.clone(),
            clock: self.clock.clone(),
            probe: self.probe.clone(),
            contexts: self.config.contexts.clone(),
        };
        (Worker::new(spec, links).start(), token)
    }

    fn track(&self, slot: &Slot) {
        self.health.do_send(Track {
            worker_id: slot.worker_id,
            capacity: self.config.capacity,
            failure_count: slot.restarts.failure_count(),
            status: slot.status,
        });
    }

    /// Claims this node holds: running, or with a result still to be written.
    fn total_load(&self) -> u32 {
        self.slots.iter().filter(|s| !s.out).map(|s| s.load + s.unsettled).sum()
    }

    fn free_slots(&mut self, worker_id: Uuid, freed: u32, settled: u32) {
        if let Some(slot) = self.slots.iter_mut().find(|s| s.worker_id == worker_id) {
            slot.load = slot.load.saturating_sub(freed);
            slot.unsettled = (slot.unsettled + freed).saturating_sub(settled);
        }
        if self.total_load() == 0 {
            for waiter in self.idle_waiters.drain(..) {
                let _ = waiter.send(());
            }
        }
    }

    /// Restarts the HealthMonitor if it died (sweeps, scores, health logs and lease
    /// rescue stop with it), within the restart intensity; past it, escalates.
    pub(super) fn check_monitor(&mut self, ctx: &mut Context<Self>) {
        if self.shut_down || self.health.connected() || self.alarm.reason().is_some() {
            return;
        }
        let now = self.clock.now();
        if !self.monitor_restarts.allow(now, &self.config.restarts) {
            let why = "the HealthMonitor died past its restart intensity".to_string();
            tracing::error!("{why}: escalating (unready)");
            self.alarm.raise(why);
            return;
        }
        self.monitor_restarts.record(now);
        tracing::warn!("the HealthMonitor died: restarting it");
        self.health = spawn_monitor(
            &self.config,
            &self.store,
            &self.clock,
            &self.probe,
            self.job_types.clone(),
            ctx.address().recipient(),
        );
        for slot in &self.slots {
            self.track(slot);
        }
        self.probe.emit(Event::MonitorRestarted);
    }

    /// A worker died (panic, or declared dead): void its claims, then restart it or,
    /// past the restart limit, give up on it.
    fn worker_died(&mut self, index: usize, why: &str, ctx: &mut Context<Self>) {
        let slot = &mut self.slots[index];
        if slot.out {
            return;
        }
        let worker_id = slot.worker_id;
        tracing::warn!(%worker_id, why, "worker died");
        slot.out = true;
        slot.status = WorkerStatus::Dead;
        slot.token.cancel();
        slot.addr.do_send(Terminate);
        self.probe.emit(Event::WorkerDied { worker_id });
        let rescue = self.store.send(store::RescueWorker(worker_id));
        ctx.spawn(rescue.into_actor(self).map(move |rescued, act, ctx| {
            match rescued {
                Ok(Ok(jobs)) if !jobs.is_empty() => {
                    METRICS.jobs_rescued(jobs.len() as u64);
                    tracing::info!(%worker_id, jobs = jobs.len(), "claims voided");
                    let given_back = jobs.iter().filter(|r| r.outcome == FailOutcome::GivenBack).count();
                    let crashed = jobs.len() - given_back;
                    act.probe.emit(Event::ClaimsVoided { worker_id, crashed, given_back });
                }
                Ok(Ok(_)) => {}
                // Not voided now: the leases run out and any node's sweep rescues them.
                Ok(Err(e)) => tracing::warn!(%worker_id, error = %e, "voiding claims failed; leases will expire"),
                Err(e) => tracing::error!(%worker_id, error = %e, "store actor unreachable"),
            }
            act.restart(worker_id, ctx);
        }));
    }

    fn restart(&mut self, worker_id: Uuid, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        let Some(index) = self.slots.iter().position(|s| s.worker_id == worker_id) else { return };
        if self.draining || !self.slots[index].restarts.allow(now, &self.config.restarts) {
            let slot = &mut self.slots[index];
            slot.status = if self.draining { WorkerStatus::Stopped } else { WorkerStatus::Failed };
            slot.load = 0;
            slot.unsettled = 0;
            if slot.status == WorkerStatus::Failed {
                tracing::error!(%worker_id, "worker restarted too often: giving up on it");
                self.probe.emit(Event::WorkerFailed { worker_id });
                let failure_count = slot.restarts.failure_count();
                let outcome = RestartOutcome::GaveUp;
                self.history.push(RestartEvent { worker_id, at: now, failure_count, outcome });
                if self.slots.iter().all(|s| s.status == WorkerStatus::Failed) {
                    let why = "every worker failed past its restart intensity; the node claims nothing more";
                    tracing::error!("{why}: escalating (unready)");
                    self.alarm.raise(why.to_string());
                }
            }
            self.track(&self.slots[index]);
            self.free_slots(worker_id, 0, 0);
            return;
        }
        let incarnation = self.slots[index].incarnation + 1;
        let (addr, token) = self.spawn_worker(worker_id, incarnation, ctx);
        let slot = &mut self.slots[index];
        slot.restarts.record(now);
        slot.addr = addr;
        slot.token = token;
        slot.incarnation = incarnation;
        slot.load = 0;
        slot.unsettled = 0;
        slot.queue_room = 0;
        slot.out = false;
        slot.status = WorkerStatus::Active;
        slot.score = 1.0;
        METRICS.worker_restarted();
        let failure_count = slot.restarts.failure_count();
        self.history.push(RestartEvent { worker_id, at: now, failure_count, outcome: RestartOutcome::Restarted });
        self.probe.emit(Event::WorkerRestarted { worker_id, failure_count });
        self.track(&self.slots[index]);
        self.free_slots(worker_id, 0, 0);
        self.more_work = true;
        self.schedule_feed(ctx);
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let seed = self.seed.take();
        let seeded_ids: Vec<Uuid> = seed.iter().flat_map(|s| s.workers.iter().map(|w| w.worker_id)).collect();
        for n in 0..self.config.workers as usize {
            let worker_id = seeded_ids.get(n).copied().unwrap_or_else(Uuid::new_v4);
            let (addr, token) = self.spawn_worker(worker_id, 0, ctx);
            let slot = Slot {
                worker_id,
                addr,
                token,
                incarnation: 0,
                load: 0,
                unsettled: 0,
                queue_room: 0,
                out: false,
                status: WorkerStatus::Active,
                score: 1.0,
                restarts: Restarts::default(),
                cooling_since: None,
            };
            self.track(&slot);
            self.slots.push(slot);
        }
        if let Some(seed) = seed {
            for restored in self.apply_restore(seed) {
                tracing::info!(
                    snapshot_worker_id = %restored.snapshot_worker_id,
                    worker_id = ?restored.worker_id,
                    note = %restored.note,
                    "worker state restored from a snapshot"
                );
            }
        }
        if self.config.timers {
            let every = Duration::from_millis(self.config.health.heartbeat_ms);
            ctx.run_interval(every, |_, ctx| ctx.notify(CheckChildren));
            // Write the new workers' rows now rather than at the first timed sweep.
            self.health.do_send(super::health::Sweep);
        }
        self.schedule_feed(ctx);
    }
}

mod feed;
mod handlers;
