//! The HealthMonitor: collects heartbeats and run metrics, scores each worker (0..1),
//! writes `workers` rows and `worker_health_logs` in bulk, declares workers that stopped
//! heartbeating dead, and rescues jobs whose lease expired anywhere in the cluster.
//! A sweep is a message: a timer sends it in production, tests send it themselves.

mod log_filter;
mod messages;
mod score;
mod snapshot;

pub use messages::{Heartbeat, RunMetric, RunOutcome, Stop, Sweep, Track, Verdicts, WorkerVerdict};
mod gate;

pub use crate::config::HealthConfig;
pub use gate::RescueGate;
pub use score::Tracked;
pub use snapshot::{GetHealth, HealthRuntime, HealthSeed, RestoreHealth};

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::probe::{Event, Probe};
use super::store::{self, StoreHandle};
use crate::clock::SharedClock;
use crate::store::{HealthLog, StoreResult, WorkerRecord, WorkerStatus};

/// Jobs rescued from expired leases per sweep, at most.
const RESCUE_BATCH: u32 = 1_000;

pub struct HealthMonitor {
    config: HealthConfig,
    node_id: String,
    workers: HashMap<Uuid, Tracked>,
    store: StoreHandle,
    clock: SharedClock,
    supervisor: Recipient<Verdicts>,
    probe: Probe,
    /// Sweep period; `None` leaves sweeping to whoever sends [`Sweep`] (tests).
    sweep_every: Option<Duration>,
    /// The job types this node's workers run, written into each worker's row
    /// (`metadata.job_types`) so any node can tell which pending types nobody runs.
    job_types: std::sync::Arc<[String]>,
    /// Which samples are worth a health-log row.
    log_filter: log_filter::LogFilter,
    /// Whether this node sweeps expired leases (the rescue lease's holder does).
    rescue: RescueGate,
    /// When the previous sweep began (injected clock): a sweep much later than its
    /// period finds a node that was stopped (see [`HealthMonitor::excuse_a_stall`]).
    last_sweep: Option<DateTime<Utc>>,
}

impl HealthMonitor {
    pub fn new(
        config: HealthConfig,
        node_id: String,
        store: StoreHandle,
        clock: SharedClock,
        supervisor: Recipient<Verdicts>,
        probe: Probe,
        sweep_every: Option<Duration>,
    ) -> Self {
        let job_types = std::sync::Arc::from(Vec::new());
        Self {
            config,
            node_id,
            workers: HashMap::new(),
            store,
            clock,
            supervisor,
            probe,
            sweep_every,
            job_types,
            log_filter: Default::default(),
            rescue: Default::default(),
            last_sweep: None,
        }
    }

    /// The job types this node's workers handle, for their rows' `metadata.job_types`.
    pub fn with_job_types(mut self, job_types: std::sync::Arc<[String]>) -> Self {
        self.job_types = job_types;
        self
    }

    /// Sweeps expired leases only while `gate` is open (default: always).
    pub fn with_rescue_gate(mut self, gate: RescueGate) -> Self {
        self.rescue = gate;
        self
    }

    /// Sweeps come every `health.sweep_ms`. One later than that by more than a
    /// heartbeat finds a node that was stopped (SIGSTOP, a paused VM, a starved
    /// runtime, a sweep held up by the database): every clock jumped meanwhile, and no
    /// heartbeat could be heard, so its workers' heartbeats look old although they
    /// never missed one. Judged by that clock, the node would declare its own healthy
    /// workers dead and void their claims. So the lateness is taken off every worker's
    /// silence: a worker is judged by the time the node ran. The lateness is at most
    /// the time the node was stopped; the silence it leaves a beating worker (a sweep
    /// period and two heartbeats at most) is under `dead_after_ms` with sane settings
    /// (the defaults: 2 s of 5 s). A worker that is really silent still dies: each
    /// sweep adds at least its period to its silence, so it is declared dead
    /// `dead_after_ms` of running time after its last beat.
    fn excuse_a_stall(&mut self, now: DateTime<Utc>) {
        let Some(previous) = self.last_sweep.replace(now) else { return };
        let late = now - previous - chrono::Duration::milliseconds(self.config.sweep_ms as i64);
        if late <= chrono::Duration::milliseconds(self.config.heartbeat_ms as i64) {
            return;
        }
        let late_ms = late.num_milliseconds();
        tracing::warn!(
            late_ms,
            "a health sweep came late: the node was stalled; its workers' silence meanwhile is excused"
        );
        for w in self.workers.values_mut() {
            w.excuse(late, now);
        }
        self.probe.emit(Event::SweepLate { late_ms });
    }
}

impl Actor for HealthMonitor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(every) = self.sweep_every {
            ctx.run_interval(every, |_, ctx| ctx.notify(Sweep));
        }
    }
}

impl Handler<Track> for HealthMonitor {
    type Result = ();

    fn handle(&mut self, msg: Track, _: &mut Self::Context) {
        let now = self.clock.now();
        let tracked = self.workers.entry(msg.worker_id).or_insert_with(|| Tracked::new(msg.capacity, now));
        if msg.status == WorkerStatus::Active {
            // A (re)started worker gets a fresh record and a full heartbeat grace.
            *tracked = Tracked::new(msg.capacity, now);
        }
        tracked.status = msg.status;
        tracked.capacity = msg.capacity;
        tracked.failure_count = msg.failure_count;
    }
}

impl Handler<Heartbeat> for HealthMonitor {
    type Result = ();

    fn handle(&mut self, msg: Heartbeat, _: &mut Self::Context) {
        let now = self.clock.now();
        if let Some(w) = self.workers.get_mut(&msg.worker_id) {
            w.heartbeat(now, msg.sent_at, msg.load, msg.capacity);
        }
    }
}

impl Handler<Stop> for HealthMonitor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<RunMetric> for HealthMonitor {
    type Result = ();

    fn handle(&mut self, msg: RunMetric, _: &mut Self::Context) {
        if let Some(w) = self.workers.get_mut(&msg.worker_id) {
            let ok = msg.outcome.ok();
            if ok && w.status == WorkerStatus::Unhealthy {
                // A run on probation that did not crash: the crashes that made it
                // unhealthy are past.
                w.runs.clear();
            }
            w.record_run(ok, msg.latency_ms, self.config.window);
        }
    }
}

impl Handler<Sweep> for HealthMonitor {
    type Result = AtomicResponse<Self, Vec<WorkerVerdict>>;

    /// Answers once the sweep's writes are done. Atomic: the monitor handles nothing
    /// else meanwhile, so sweeps never pile up behind a slow database.
    fn handle(&mut self, _: Sweep, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        self.excuse_a_stall(now);
        let mut verdicts = Vec::with_capacity(self.workers.len());
        let mut rows = Vec::with_capacity(self.workers.len());
        let mut logs = Vec::with_capacity(self.workers.len() * 4);
        for (&worker_id, w) in &mut self.workers {
            let newly_dead = w.assess(now, &self.config);
            if newly_dead {
                tracing::warn!(%worker_id, "worker missed its heartbeats: declared dead");
                self.probe.emit(Event::WorkerDeclaredDead { worker_id });
            }
            verdicts.push(WorkerVerdict { worker_id, score: w.score, status: w.status, dead: newly_dead });
            rows.push(WorkerRecord {
                worker_id,
                node_id: self.node_id.clone(),
                status: w.status,
                capacity: w.capacity as i32,
                current_load: w.load as i32,
                health_score: w.score,
                failure_count: w.failure_count,
                metadata: json!({
                    "runs_in_window": w.runs.len(),
                    "job_types": &*self.job_types,
                    "health_reason": w.reason,
                }),
                last_heartbeat: w.last_heartbeat,
            });
            let sample = [w.heartbeat_latency_ms, w.error_rate(), w.load_ratio(), w.score];
            let every = chrono::Duration::milliseconds(self.config.log_every_ms as i64);
            if matches!(w.status, WorkerStatus::Active | WorkerStatus::Unhealthy | WorkerStatus::Dead)
                && self.log_filter.due(worker_id, sample, now, every)
            {
                let names = ["heartbeat_latency_ms", "error_rate", "load", "health_score"];
                let metrics = names.into_iter().zip(sample);
                logs.extend(metrics.into_iter().map(|(metric_type, metric_value)| HealthLog {
                    worker_id,
                    metric_type: metric_type.into(),
                    metric_value,
                    metadata: json!({}),
                    logged_at: now,
                }));
            }
        }
        verdicts.sort_by_key(|v| v.worker_id);
        self.probe.emit(Event::Swept { scores: verdicts.iter().map(|v| (v.worker_id, v.score)).collect() });
        self.supervisor.do_send(Verdicts(verdicts.clone()));
        let store = self.store.clone();
        let sweep_expired = self.rescue.is_open();
        let writes = async move {
            let rows = store.send(store::UpsertWorkers(rows));
            let logs = store.send(store::WriteHealthLogs(logs));
            let rescue = async {
                if !sweep_expired {
                    return Ok(Ok(Vec::new())); // another node holds the rescue lease
                }
                store.send(store::RescueExpired(RESCUE_BATCH)).await
            };
            let (rows, logs, rescue) = futures::join!(rows, logs, rescue);
            // Rows are each worker's state now, so the next sweep's write replaces them;
            // samples are history, and these are lost (the next sweep writes its own).
            let failures = [
                ("worker rows", error_of(rows), "the next sweep writes them again"),
                ("health logs", error_of(logs), "these samples are lost"),
            ];
            for (what, written, then) in failures {
                if let Some(error) = written {
                    tracing::warn!(%error, "writing {what} failed; {then}");
                }
            }
            match rescue {
                Ok(Ok(rescued)) if !rescued.is_empty() => {
                    crate::metrics::METRICS.jobs_rescued(rescued.len() as u64);
                    tracing::info!(jobs = rescued.len(), "rescued jobs whose lease expired");
                }
                Ok(Err(error)) => tracing::warn!(%error, "rescuing expired leases failed"),
                _ => {}
            }
        };
        AtomicResponse::new(Box::pin(writes.into_actor(self).map(move |(), _, _| verdicts)))
    }
}

/// The error of a store request, if it failed on the way or in the store.
fn error_of<T>(answer: Result<StoreResult<T>, MailboxError>) -> Option<String> {
    match answer {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(e) => Some(e.to_string()),
    }
}
