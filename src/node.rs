//! A node: the actors of [`crate::actors`] wired to a store, and what the outside
//! (the HTTP API, tests, embedding programs) may ask of it. [`crate::process::run`]
//! runs one with its API until shutdown.
//!
//! Writes go through the actors (submissions wake the workers, a cancel reaches the
//! running handler); reads that gain nothing from a mailbox go to the store directly.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::actors::probe::Probe;
use crate::actors::store::{EnqueueMany, RequeueDeadLetter};
use crate::actors::supervisor::{
    CancelJob, CrashWorker, Drain, GetSlots, NodeActors, SlotInfo, Supervisor, SupervisorConfig, Wake,
};
use crate::actors::worker::CrashMode;
use crate::clock::SharedClock;
use crate::config::{Config, redact_url};
use crate::handler::Registry;
use crate::job::{Job, JobRequest, ValidationError, validate_batch};
use crate::store::{Enqueued, Store, StoreError, StoreResult};

/// A running node. Cheap to clone: the HTTP API holds one per server thread.
#[derive(Clone)]
pub struct Node {
    pub actors: NodeActors,
    pub node_id: String,
    /// The store the actors own, for reads.
    store: Arc<dyn Store>,
    clock: SharedClock,
    config: Arc<Config>,
    draining: Arc<AtomicBool>,
}

/// Why a submission was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Node {
    /// Opens `store.url` (SQLite or Postgres), applies migrations and starts the
    /// actors, timers on.
    pub async fn start(config: Config, registry: Registry, clock: SharedClock, probe: Probe) -> anyhow::Result<Node> {
        let store = crate::store::open(&config.store.url, config.store.max_connections, config.retry).await?;
        Ok(Self::start_with_store(config, store, registry, clock, probe))
    }

    /// Starts the actors over an existing store.
    pub fn start_with_store(
        config: Config,
        store: Arc<dyn Store>,
        registry: Registry,
        clock: SharedClock,
        probe: Probe,
    ) -> Node {
        let node_id = if config.node.id.is_empty() { default_node_id() } else { config.node.id.clone() };
        let supervisor_config = SupervisorConfig {
            node_id: node_id.clone(),
            workers: config.workers.count,
            capacity: config.workers.capacity,
            prefetch: config.workers.prefetch,
            prefetch_wait: Duration::from_millis(config.workers.prefetch_wait_ms),
            backlog: config.workers.backlog,
            lease: Duration::from_millis(config.workers.lease_ms),
            health: config.health,
            restarts: config.restarts,
            batch: config.batch,
            timers: true,
            poll_every: Duration::from_millis(config.node.poll_ms),
        };
        let actors = Supervisor::start_node(supervisor_config, store.clone(), registry, clock.clone(), probe);
        tracing::info!(
            %node_id,
            store = %redact_url(&config.store.url),
            workers = config.workers.count,
            capacity = config.workers.capacity,
            "node started"
        );
        Node { actors, node_id, store, clock, config: Arc::new(config), draining: Arc::new(AtomicBool::new(false)) }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the node has begun draining (it then refuses readiness).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Tells the workers that jobs may be waiting.
    pub fn wake(&self) {
        self.actors.supervisor.do_send(Wake);
    }

    /// Validates and writes jobs (all or nothing), then wakes the workers.
    pub async fn submit(&self, requests: Vec<JobRequest>) -> Result<Vec<Enqueued>, SubmitError> {
        let jobs = match requests.len() {
            // A single job's fields are named plainly: `timeout_ms`, not `jobs[0].timeout_ms`.
            1 => vec![requests.into_iter().next().expect("one request").validate(&self.config.jobs)?],
            _ => validate_batch(requests, &self.config.jobs)?,
        };
        let enqueued = self.actors.store.send(EnqueueMany(jobs)).await.map_err(|_| StoreError::Unavailable)??;
        self.wake();
        Ok(enqueued)
    }

    /// The store, for reads (jobs, executions, workers, counts).
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The time by the node's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Cancels an unfinished job; a running handler on this node is stopped. Answers
    /// the job as the cancel left it.
    pub async fn cancel(&self, job_id: Uuid) -> StoreResult<Job> {
        self.actors.supervisor.send(CancelJob { job_id }).await.map_err(|_| StoreError::Unavailable)?
    }

    /// Puts a dead-lettered job back to `PENDING` with fresh retries, and wakes the
    /// workers. Answers the job as the requeue left it.
    pub async fn requeue(&self, job_id: Uuid) -> StoreResult<Job> {
        let job = self.actors.store.send(RequeueDeadLetter(job_id)).await.map_err(|_| StoreError::Unavailable)??;
        self.wake();
        Ok(job)
    }

    /// This node's worker slots, as its Supervisor sees them.
    pub async fn slots(&self) -> Vec<SlotInfo> {
        self.actors.supervisor.send(GetSlots).await.unwrap_or_default()
    }

    /// Crashes a worker of this node on purpose; `false` if it has no such live worker.
    pub async fn crash(&self, worker_id: Uuid, mode: CrashMode) -> bool {
        self.actors.supervisor.send(CrashWorker { worker_id, mode }).await.unwrap_or(false)
    }

    /// Stops claiming, lets running jobs finish within `node.drain_grace_ms`, releases
    /// the rest. Answers how many were released.
    pub async fn drain(&self) -> usize {
        self.draining.store(true, Ordering::Relaxed);
        let grace = Duration::from_millis(self.config.node.drain_grace_ms);
        self.actors.supervisor.send(Drain { grace }).await.unwrap_or(0)
    }
}

/// `<host>-<pid>`: unique per process on a host, readable in `aeon workers`.
fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "node".into());
    format!("{host}-{}", std::process::id())
}
