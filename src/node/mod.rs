//! A node: the actors of [`crate::actors`] wired to a store, and what the outside
//! (the HTTP API, tests, embedding programs) may ask of it. [`crate::process::run`]
//! runs one with its API until shutdown.
//!
//! Writes go through the actors (submissions wake the workers, a cancel reaches the
//! running handler, an operator's requeue and bulk action go through the StoreActor);
//! reads that gain nothing from a mailbox go through [`Node::reads`], read-only and
//! watched apart from the actors' calls ([`StoreReads`]). The API and snapshots use
//! only these two doors.

pub mod restored;
mod served;
mod shutdown;

pub use restored::{StartRestore, start_restored};
pub use served::{CANCEL, CRASH, Cancelled, CrashRequest, DRAIN, STOP_CANCELLED};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use actix::{Actor, Addr};

use crate::actors::context::{ContextActor, ContextConfig, ContextLink};
use crate::actors::health::RescueGate;
use crate::actors::probe::Probe;
use crate::actors::pruner::Pruner;
use crate::actors::store::DueAt;
use crate::actors::store::{Enqueue, EnqueueOne, RequeueDeadLetter, StoreReads, StoreWatch};
use crate::actors::supervisor::{
    CancelJob, CrashWorker, GetSlots, NodeActors, SlotInfo, StopCancelled, Supervisor, SupervisorConfig, Wake,
};
use crate::actors::worker::CrashMode;
use crate::clock::SharedClock;
use crate::cluster::{Cluster, ClusterLink};
use crate::config::{Config, redact_url};
use crate::gauges::{GaugeCache, GaugeSnapshot};
use crate::handler::Registry;
use crate::job::{Job, JobRequest, ValidationError, validate_batch};
use crate::snapshot::{Snapshots, Subject};
use crate::store::{Enqueued, Reads, Store, StoreError, StoreResult};

/// How long readiness waits for the store to answer: a probe must get its answer in
/// about a second, whatever the store is doing.
pub const READY_CHECK: Duration = Duration::from_millis(800);

/// A running node. Cheap to clone: the HTTP API holds one per server thread.
#[derive(Clone)]
pub struct Node {
    pub actors: NodeActors,
    /// Keeps the tables bounded (`[retention]`).
    pub pruner: Addr<Pruner>,
    pub node_id: String,
    /// The ContextActor (the vector store's only user) and the status it keeps.
    pub contexts: ContextLink,
    /// This node's side of the cluster: mailbox, wake-ups, requests to other nodes.
    pub cluster: Cluster,
    /// Wakes this node and the others when dependents are released or a job comes due.
    link: Addr<ClusterLink>,
    /// The store the actors own: pinged by readiness, handed to the gauges.
    store: Arc<dyn Store>,
    /// The API's, the dashboard's and snapshots' reads: read-only, watched apart.
    reads: StoreReads,
    clock: SharedClock,
    config: Arc<Config>,
    draining: Arc<AtomicBool>,
    /// The job types this node's workers handle.
    job_types: Arc<[String]>,
    /// The gauges `/metrics` shows, refreshed off the request path.
    gauges: Arc<GaugeCache>,
    /// Takes AUTO snapshots (`[snapshots]`), when they are on.
    auto_snapshots: Option<Addr<crate::snapshot::AutoSnapshots>>,
    /// Set once [`Node::shutdown`] began: a second call does nothing.
    shut_down: Arc<AtomicBool>,
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
        let store = Self::open_store(&config).await?;
        Self::start_with_store(config, store, registry, clock, probe).await
    }

    /// What every start does before it has a store: checks the Redis credentials of
    /// `redis.url` (a wrong password stops the start), then opens `store.url` and
    /// applies its migrations. A normal start and `--restore` both begin here.
    pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
        Cluster::check_redis(&config.redis.url, &config.cluster).await?;
        Ok(crate::store::open(&config.store.url, config.store.max_connections, config.retry).await?)
    }

    /// Starts the actors over an existing store, once this process holds its node id
    /// ([`crate::cluster::identity`]): refused while another live process runs it.
    pub async fn start_with_store(
        config: Config,
        store: Arc<dyn Store>,
        registry: Registry,
        clock: SharedClock,
        probe: Probe,
    ) -> anyhow::Result<Node> {
        Self::start_with_store_seeded(config, store, registry, clock, probe, None).await
    }

    /// [`Node::start_with_store`], the workers starting from a restored snapshot's
    /// state (see [`crate::node::restored`]) rather than fresh.
    pub async fn start_with_store_seeded(
        config: Config,
        store: Arc<dyn Store>,
        registry: Registry,
        clock: SharedClock,
        probe: Probe,
        seed: Option<crate::actors::supervisor::RestoreWorkers>,
    ) -> anyhow::Result<Node> {
        let node_id = if config.node.id.is_empty() { default_node_id() } else { config.node.id.clone() };
        let mailbox = Cluster::mailbox_for(&config.redis.url, &config.cluster);
        let cluster = Cluster::new(&node_id, mailbox, config.cluster.clone());
        // Before any worker of this process exists: what a previous process of this
        // node left is voided now, and a live one keeps its id.
        crate::cluster::identity::take(&*store, &node_id, cluster.incarnation(), &config.cluster, &clock).await?;
        let (vectors, embedded) = crate::actors::context::vector_store_for(&config.qdrant);
        let contexts = ContextActor::launch(vectors, ContextConfig::from_qdrant(&config.qdrant), probe.clone());
        let supervisor_config = SupervisorConfig {
            node_id: node_id.clone(),
            workers: config.workers.count,
            capacity: config.workers.capacity,
            prefetch: config.workers.prefetch,
            prefetch_horizon: crate::actors::worker::prefetch::horizon(config.workers.prefetch_horizon_ms),
            prefetch_wait: Duration::from_millis(config.workers.prefetch_wait_ms),
            backlog: config.workers.backlog,
            lease: Duration::from_millis(config.workers.lease_ms),
            health: config.health,
            restarts: config.restarts,
            batch: config.batch,
            timers: true,
            poll_every: Duration::from_millis(config.node.poll_ms),
            contexts: Some(contexts.sink(&node_id)),
            rescue: RescueGate::default(),
        };
        let gate = supervisor_config.rescue.clone();
        let job_types: Arc<[String]> = registry.job_types().into();
        let actors = Supervisor::start_node_seeded(
            supervisor_config,
            store.clone(),
            registry,
            clock.clone(),
            probe.clone(),
            seed,
        );
        if let Some(embedded) = embedded {
            embedded.attach(actors.store.clone());
        }
        let pruner = Pruner::new(config.retention, actors.store.clone(), clock.clone(), probe, true).start();
        let link = ClusterLink::new(cluster.clone(), actors.supervisor.clone().recipient(), clock.clone()).start();
        // The link, not the Supervisor, hears of released dependents: it wakes both
        // this node and the others.
        actors.store.do_send(crate::actors::store::NotifyReady(link.clone().recipient()));
        actors.store.do_send(crate::actors::store::NotifyDue(link.clone().recipient()));
        let supervisor = actors.supervisor.clone();
        cluster.on_wake(move || supervisor.do_send(Wake));
        let draining = Arc::new(AtomicBool::new(false));
        tracing::info!(
            %node_id,
            incarnation = cluster.incarnation(),
            store = %redact_url(&config.store.url),
            workers = config.workers.count,
            capacity = config.workers.capacity,
            vectors = contexts.status.backend(),
            mailbox = cluster.status().backend(),
            "node started"
        );
        let mut node = Node {
            actors,
            pruner,
            node_id,
            contexts,
            cluster,
            link,
            reads: StoreReads::new(
                store.clone(),
                StoreWatch::new(clock.clone()),
                Duration::from_millis(config.health.store_read_slow_ms),
            ),
            store,
            clock,
            config: Arc::new(config),
            draining,
            job_types,
            gauges: Arc::default(),
            auto_snapshots: None,
            shut_down: Arc::default(),
        };
        node.cluster.start();
        actix_rt::spawn(
            crate::cluster::membership::Membership {
                cluster: node.cluster.clone(),
                store: node.actors.store.clone(),
                clock: node.clock.clone(),
                gate,
                draining: node.draining.clone(),
                due: node.link.clone().recipient(),
            }
            .run(),
        );
        served::serve(&node);
        crate::gauges::spawn_refresher(
            Arc::downgrade(&node.gauges),
            Arc::downgrade(&node.store),
            node.actors.supervisor.downgrade(),
            crate::gauges::live_window(&node.config.health),
            node.clock.clone(),
        );
        if node.config.snapshots.auto_interval_s > 0 {
            // Ticks each second (or each interval, if shorter); the node's clock decides.
            let interval = Duration::from_secs(node.config.snapshots.auto_interval_s);
            let every = Some(interval.min(Duration::from_secs(1)));
            let auto = crate::snapshot::AutoSnapshots::new(node.snapshot_subject(), node.config.snapshots, every);
            node.auto_snapshots = Some(auto.start());
        }
        Ok(node)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the node has begun draining (it then refuses readiness).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Tells the workers, of this node and of the others, that jobs may be waiting.
    pub fn wake(&self) {
        self.actors.supervisor.do_send(Wake);
        self.cluster.wake_peers();
    }

    /// The job types this node's workers handle, sorted.
    pub fn job_types(&self) -> &[String] {
        &self.job_types
    }

    /// A warning for each of `job_types` (once each) that no worker of this node
    /// handles: such a job stays `PENDING` until a node that handles it runs.
    pub fn unhandled_warnings<'a>(&self, job_types: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut warned: Vec<&str> = Vec::new();
        for job_type in job_types {
            if !self.job_types.iter().any(|t| t == job_type) && !warned.contains(&job_type) {
                warned.push(job_type);
            }
        }
        warned
            .into_iter()
            .map(|t| {
                format!(
                    "no worker of node {} handles job type {t:?}: the job stays PENDING until a node that \
                     handles it runs (this node handles: {})",
                    self.node_id,
                    self.job_types.join(", ")
                )
            })
            .collect()
    }

    /// Workers whose last heartbeat is older than this are not counted as live (for
    /// the job types nobody handles).
    pub fn live_since(&self) -> DateTime<Utc> {
        self.now() - crate::gauges::live_window(&self.config.health)
    }

    /// Nodes whose last heartbeat is older than this are `DEAD`.
    pub fn silent_since(&self) -> DateTime<Utc> {
        self.now() - chrono::Duration::milliseconds(self.config.cluster.node_dead_after_ms as i64)
    }

    /// The gauges `/metrics` shows, as last read (memory only: never waits).
    pub fn gauges(&self) -> GaugeSnapshot {
        self.gauges.snapshot()
    }

    /// Reads the gauges now, each read bounded (the node also does so every
    /// [`crate::gauges::REFRESH_EVERY`]).
    pub async fn refresh_gauges(&self) {
        self.gauges.refresh(&*self.store, &self.actors.supervisor, self.live_since()).await;
    }

    /// Validates and writes jobs (all or nothing), then wakes the workers. A single
    /// job's write is shared with concurrent single submits (group commit).
    pub async fn submit(&self, requests: Vec<JobRequest>) -> Result<Vec<Enqueued>, SubmitError> {
        let jobs = match requests.len() {
            // A single job's fields are named plainly: `timeout_ms`, not `jobs[0].timeout_ms`.
            1 => vec![requests.into_iter().next().expect("one request").validate(&self.config.jobs)?],
            _ => validate_batch(requests, &self.config.jobs)?,
        };
        let later = jobs.iter().filter_map(|j| j.run_at).filter(|&at| at > self.now()).min();
        let store = &self.actors.store;
        let enqueued = if jobs.len() == 1 && self.config.batch.group_submits {
            // A single submit shares its commit with those of concurrent clients.
            let job = jobs.into_iter().next().expect("one job");
            vec![store.send(EnqueueOne(job)).await.map_err(|_| StoreError::Unavailable)??]
        } else {
            store.send(Enqueue(jobs)).await.map_err(|_| StoreError::Unavailable)??
        };
        self.wake();
        if let Some(at) = later {
            self.link.do_send(DueAt(at));
        }
        Ok(enqueued)
    }

    /// Whether the node takes work, within [`READY_CHECK`]: not draining, its store
    /// answers, and the store calls its actors make are neither stuck (one in flight
    /// for `health.store_stall_ms` or longer: a locked table, say) nor failing without
    /// a success for as long. The reason when it does not.
    pub async fn readiness(&self) -> Result<(), String> {
        if self.is_draining() {
            return Err("draining: the node is shutting down".into());
        }
        if let Some(why) = self.actors.alarm.reason() {
            return Err(why);
        }
        let stall = chrono::Duration::milliseconds(self.config.health.store_stall_ms as i64);
        if let Some(trouble) = self.actors.store_watch.trouble(stall) {
            return Err(trouble);
        }
        match tokio::time::timeout(READY_CHECK, self.store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("the store does not answer: {e}")),
            Err(_) => Err(format!("the store did not answer within {} ms", READY_CHECK.as_millis())),
        }
    }

    /// The store's reads (jobs, executions, workers, counts, snapshots): what the API,
    /// the dashboard and snapshots read through. Each call is timed by a watch of its
    /// own (`health.store_read_slow_ms`): a slow one is logged and counted, and never
    /// makes the node unready.
    pub fn reads(&self) -> &dyn Reads {
        &self.reads
    }

    /// The watch [`Node::reads`] are timed in (readiness does not ask it).
    pub fn read_watch(&self) -> &StoreWatch {
        self.reads.watch()
    }

    /// The store itself, every method, writes included, bypassing the StoreActor and
    /// both watches: for tests and tools that set up or inspect a database. Nothing in
    /// the node, its API or snapshots calls it; they use [`Node::reads`] and the actors.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// This node's snapshots: take, list, read, verify, restore.
    pub fn snapshots(&self) -> Snapshots {
        Snapshots::new(self.snapshot_subject())
    }

    /// What a snapshot of this node is taken of and restored into.
    pub fn snapshot_subject(&self) -> Subject {
        Subject {
            node_id: self.node_id.clone(),
            actors: self.actors.clone(),
            reads: self.reads.clone(),
            config: self.config.clone(),
            clock: self.clock.clone(),
        }
    }

    /// The time by the node's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Cancels an unfinished job; a running handler is stopped, on this node or on
    /// the node that runs it (asked through its mailbox; should it not answer, the
    /// cancel is made here and its result is fenced off). Answers the job as the
    /// cancel left it.
    pub async fn cancel(&self, job_id: Uuid) -> StoreResult<Job> {
        if let Some(node) = self.running_elsewhere(job_id).await {
            let timeout = Duration::from_millis(self.config.cluster.request_timeout_ms);
            let asked = self.cluster.ask::<_, served::Cancelled>(&node, served::CANCEL, &job_id, timeout);
            match asked.await {
                Ok(_) => {
                    if let Some(job) = self.reads.get_job(job_id).await? {
                        return Ok(job);
                    }
                }
                Err(e) => {
                    tracing::warn!(%job_id, error = %e, "remote cancel failed: cancelling here (its result is fenced off)")
                }
            }
        }
        self.cancel_here(job_id).await
    }

    /// Cancels a job from this node: its handler is stopped if it runs here.
    pub async fn cancel_here(&self, job_id: Uuid) -> StoreResult<Job> {
        self.actors.supervisor.send(CancelJob { job_id }).await.map_err(|_| StoreError::Unavailable)?
    }

    /// The node whose worker runs `job_id`, when it is another live node.
    async fn running_elsewhere(&self, job_id: Uuid) -> Option<String> {
        let job = self.reads.get_job(job_id).await.ok()??;
        let worker_id = job.worker_id.filter(|_| job.status == crate::job::JobStatus::Running)?;
        self.node_of_worker(worker_id).await.filter(|n| *n != self.node_id)
    }

    /// The node a worker belongs to, by its row.
    pub async fn node_of_worker(&self, worker_id: Uuid) -> Option<String> {
        let workers = self.reads.list_workers().await.ok()?;
        workers.into_iter().find(|w| w.worker_id == worker_id).map(|w| w.node_id)
    }

    /// Puts a dead-lettered job back to `PENDING` with fresh retries, and wakes the
    /// workers. Answers the job as the requeue left it.
    pub async fn requeue(&self, job_id: Uuid) -> StoreResult<Job> {
        let job = self.actors.store.send(RequeueDeadLetter(job_id)).await.map_err(|_| StoreError::Unavailable)??;
        self.wake();
        Ok(job)
    }

    /// Applies an operator's bulk action to those of `job_ids` it fits, in one
    /// transaction, and wakes the workers (requeued and retried jobs are ready).
    /// Answers the ids changed. The handlers of cancelled jobs stop wherever they run:
    /// here through the Supervisor, on every other live node through its mailbox
    /// ([`served::STOP_CANCELLED`]); a node that cannot be reached lets its
    /// handler run on, its outcome refused when it ends (fencing).
    pub async fn apply_bulk(&self, action: crate::store::BulkAction, job_ids: Vec<Uuid>) -> StoreResult<Vec<Uuid>> {
        let changed = self
            .actors
            .store
            .send(crate::actors::store::ApplyBulk(crate::store::ApplyBulkParams { action, job_ids }))
            .await
            .map_err(|_| StoreError::Unavailable)??;
        if !changed.is_empty() {
            self.wake();
        }
        if action == crate::store::BulkAction::Cancel && !changed.is_empty() {
            self.stop_cancelled_everywhere(&changed).await;
        }
        Ok(changed)
    }

    /// Stops this node's runs of jobs already cancelled in the store. Answers how
    /// many it held (running or queued).
    pub async fn stop_cancelled_here(&self, job_ids: Vec<Uuid>) -> usize {
        self.actors.supervisor.send(StopCancelled { job_ids }).await.unwrap_or(0)
    }

    /// Stops the runs of cancelled jobs here, and asks every other live node to stop
    /// theirs without waiting for the answers: a bulk cancel goes batch by batch, and a
    /// stale peer would cost each batch `cluster.request_timeout_ms`. Meanwhile a
    /// remote run's result is fenced off.
    async fn stop_cancelled_everywhere(&self, job_ids: &[Uuid]) {
        let (node, ids) = (self.clone(), job_ids.to_vec());
        actix_rt::spawn(async move { node.stop_cancelled_on_peers(&ids).await });
        let stopped = self.stop_cancelled_here(job_ids.to_vec()).await;
        tracing::debug!(stopped_here = stopped, "bulk cancel: handlers stopped here, peers asked");
    }

    async fn stop_cancelled_on_peers(&self, job_ids: &[Uuid]) {
        let timeout = Duration::from_millis(self.config.cluster.request_timeout_ms);
        let peers = self.cluster.peers();
        let remote = peers.iter().map(|peer| async move {
            let asked = self.cluster.ask::<_, usize>(peer, served::STOP_CANCELLED, &job_ids, timeout);
            if let Err(e) = asked.await {
                tracing::warn!(node = %peer, error = %e, "bulk cancel could not stop handlers there (their results are fenced off)");
            }
        });
        futures::future::join_all(remote).await;
    }

    /// This node's worker slots, as its Supervisor sees them.
    pub async fn slots(&self) -> Vec<SlotInfo> {
        self.actors.supervisor.send(GetSlots).await.unwrap_or_default()
    }

    /// Crashes a worker of this node on purpose; `false` if it has no such live worker.
    pub async fn crash(&self, worker_id: Uuid, mode: CrashMode) -> bool {
        self.actors.supervisor.send(CrashWorker { worker_id, mode }).await.unwrap_or(false)
    }

    /// Crashes a worker of any node: this one's directly, another's through its
    /// mailbox. `Ok(false)` if no live worker has that id.
    pub async fn crash_anywhere(&self, worker_id: Uuid, mode: CrashMode) -> Result<bool, crate::cluster::AskError> {
        if self.crash(worker_id, mode).await {
            return Ok(true);
        }
        let Some(node) = self.node_of_worker(worker_id).await.filter(|n| *n != self.node_id) else { return Ok(false) };
        let timeout = Duration::from_millis(self.config.cluster.request_timeout_ms);
        let request = served::CrashRequest { worker_id, mode };
        self.cluster.ask(&node, served::CRASH, &request, timeout).await
    }

    /// Drains node `node_id` (this one or another, through its mailbox): it stops
    /// claiming, finishes or releases its jobs and reports `DRAINING`. Answers once
    /// the drain has begun. `origin` (an HTTP caller) is logged here and, with the
    /// node that asked, by the node that drains.
    pub async fn drain_node(&self, node_id: &str, origin: Option<&str>) -> Result<(), crate::cluster::AskError> {
        if node_id == self.node_id {
            if let Some(origin) = origin {
                tracing::warn!(%node_id, %origin, "draining: asked by {origin}");
            }
            let node = self.clone();
            actix_rt::spawn(async move {
                node.drain().await;
            });
            return Ok(());
        }
        tracing::info!(node = %node_id, origin = origin.unwrap_or("-"), "asking node {node_id} to drain");
        let timeout = Duration::from_millis(self.config.cluster.request_timeout_ms);
        self.cluster.ask_from(node_id, served::DRAIN, &(), timeout, origin).await
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
