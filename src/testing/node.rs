//! [`TestNode`]: a node's real actors in the test's process, on a database of the
//! test's own, with a manual clock and the probe. Its timers are off: time moves when
//! the test says ([`TestNode::advance`]) and work runs when the test says
//! ([`TestNode::drain`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use uuid::Uuid;

use super::Teardown;
use super::db::{Scratch, TestDatabase};
use crate::actors::health::HealthConfig;
use crate::actors::probe::{Event, Probe};
use crate::actors::store::{Enqueue, StoreActorConfig};
use crate::actors::supervisor::{GetSlots, NodeActors, RestartPolicy, SlotInfo, Supervisor, SupervisorConfig, Wake};
use crate::clock::{Clock, ManualClock};
use crate::handler::Registry;
use crate::job::{JobRequest, SubmitLimits, validate_batch};
use crate::node::SubmitError;
use crate::retry::BackoffPolicy;
use crate::store::{Enqueued, Store, StoreError};

/// How long the kit waits for something it expects before the test fails. A guard,
/// not a delay: the test goes on the moment it happens.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Backoff without jitter: a job's retries come due exactly 1 s, 2 s, 4 s, … after
/// its failures (up to a minute), so a test advances the clock by known amounts.
pub const EXACT_BACKOFF: BackoffPolicy = BackoffPolicy { base_ms: 1_000, max_ms: 60_000, jitter: 0.0 };

/// A node's actors — Supervisor, Workers, a Job actor per run, HealthMonitor,
/// StoreActor — on a real store, driven by the test. See the [module](super) docs.
pub struct TestNode {
    pub(super) actors: NodeActors,
    /// The store unwrapped: the actors have it behind any wrapper.
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: ManualClock,
    /// Every event the actors reported, in order, and how far `expect_event` has read.
    pub(super) journal: Vec<Event>,
    pub(super) read: usize,
    pub(super) events: UnboundedReceiver<Event>,
    pub(super) job_types: Arc<[String]>,
    pub(super) limits: SubmitLimits,
    /// The longest step [`TestNode::advance`] takes: a third of a lease (workers
    /// renew their leases that often) and a health sweep period at most (a sweep later
    /// than that finds a node that was stopped, and excuses its workers' silence).
    pub(super) step: Duration,
    pub(super) patience: Duration,
    /// Guards the test's end until [`TestNode::shutdown`] (see [`Teardown`]).
    teardown: Option<Teardown>,
    /// The test database, removed after the actors' last use of it by the test.
    _scratch: Option<Scratch>,
}

/// Wraps the store a test node runs on (a [`FaultyStore`](super::FaultyStore), say).
type StoreWrap = Box<dyn FnOnce(Arc<dyn Store>) -> Arc<dyn Store>>;

/// How to build a [`TestNode`]; every setting has a default fit for tests.
pub struct TestNodeBuilder {
    registry: Registry,
    database: TestDatabase,
    store: Option<Arc<dyn Store>>,
    wrap: Option<StoreWrap>,
    config: SupervisorConfig,
    backoff: BackoffPolicy,
    limits: SubmitLimits,
    clock: ManualClock,
    patience: Duration,
}

impl TestNode {
    /// The test's last step: stops the actors (the Supervisor, its workers and
    /// HealthMonitor, then the StoreActor once its batches are written) and closes the
    /// store, so that the test's System can end with no connection in use. Runs still
    /// in progress are not waited for: their claims die with the test's database.
    pub async fn shutdown(mut self) {
        let step = Duration::from_secs(5);
        self.actors.shut_down(step).await;
        match tokio::time::timeout(step, self.store.close()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("closing the test node's store failed: {e}"),
            Err(_) => panic!("a connection of the test node's store was still in use after {step:?}"),
        }
        if let Some(teardown) = self.teardown.take() {
            teardown.disarm();
        }
    }

    /// A node running `registry`'s handlers on a fresh SQLite file, with the defaults
    /// of [`TestNode::builder`].
    pub async fn start(registry: Registry) -> TestNode {
        Self::builder(registry).start().await
    }

    /// Settings, then [`TestNodeBuilder::start`]. Defaults: a node's own (`aeon
    /// node` with no config: its prefetch, backlog, lease, batching, restart
    /// intensity), but for these, each for a reason a test can undo with the builder:
    /// - one worker of capacity 4 (a node: 4 × 10), so a test knows which worker ran
    ///   what ([`TestNodeBuilder::workers`]);
    /// - timers off: time moves only with [`TestNode::advance`], on a clock standing
    ///   at the current time ([`TestNodeBuilder::clock`]);
    /// - [`EXACT_BACKOFF`]: retries due exactly 1 s, 2 s, 4 s, … after their failures
    ///   (a node adds 20% jitter; [`TestNodeBuilder::backoff`]);
    /// - health scores that never keep a worker from jobs: with one worker, a node's
    ///   quarantine of a worker whose runs crash (panics, timeouts) would hold every
    ///   job until its probation (30 s), and a test of a panicking handler would find
    ///   nothing running (`.health(HealthConfig::default())` tests that);
    /// - a fresh SQLite file ([`TestNodeBuilder::database`]).
    pub fn builder(registry: Registry) -> TestNodeBuilder {
        let node = crate::config::Config::default();
        let workers = &node.workers;
        let health = HealthConfig { unhealthy_below: 0.0, ..node.health };
        let config = SupervisorConfig {
            node_id: "test-node".into(),
            workers: 1,
            capacity: 4,
            prefetch: workers.prefetch,
            prefetch_horizon: crate::actors::worker::prefetch::horizon(workers.prefetch_horizon_ms),
            prefetch_wait: Duration::from_millis(workers.prefetch_wait_ms),
            backlog: workers.backlog,
            lease: Duration::from_millis(workers.lease_ms),
            health,
            restarts: node.restarts,
            batch: node.batch,
            timers: false,
            poll_every: Duration::from_secs(3_600),
            contexts: None,
            rescue: Default::default(),
        };
        TestNodeBuilder {
            registry,
            database: TestDatabase::Sqlite,
            store: None,
            wrap: None,
            config,
            backoff: EXACT_BACKOFF,
            limits: SubmitLimits::default(),
            clock: ManualClock::starting_now(),
            patience: PATIENCE,
        }
    }

    /// The manual clock every actor of the node reads.
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }

    /// The time by the node's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The node's store, for reads: the store itself, without a wrapper given to
    /// [`TestNodeBuilder::wrap_store`] (the kit's reads and assertions use it too, so
    /// injected faults reach only the actors).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Where the fresh database the node made lives: the SQLite file's path, or the
    /// Postgres schema's name. `None` when the test gave the store.
    pub fn database(&self) -> Option<String> {
        self._scratch.as_ref().map(Scratch::describe)
    }

    /// The node's actors, to send them messages directly.
    pub fn actors(&self) -> &NodeActors {
        &self.actors
    }

    /// The node's worker slots, as its Supervisor sees them.
    pub async fn slots(&self) -> Vec<SlotInfo> {
        self.actors.supervisor.send(GetSlots).await.expect("the Supervisor answers")
    }

    /// Submits one job of `job_type` with `payload` and every default; answers its id.
    /// Panics with the node's error if the job is refused. As on a node, submitting
    /// wakes the workers: a ready job may start before this returns (give it a
    /// `run_at` ahead to find it still enqueued).
    pub async fn submit(&self, job_type: &str, payload: serde_json::Value) -> Uuid {
        self.submit_request(JobRequest::new(job_type, payload)).await
    }

    /// Submits one job as `request` describes (priority, retries, timeout, run-at,
    /// dependencies, …); answers its id. Panics with the node's error if refused.
    pub async fn submit_request(&self, request: JobRequest) -> Uuid {
        match self.try_submit(vec![request]).await {
            Ok(enqueued) => enqueued[0].job_id,
            Err(e) => panic!("the node refused the job: {e}"),
        }
    }

    /// Submits jobs as a node does (validated, all or nothing, then the workers are
    /// woken), answering what the node answers.
    pub async fn try_submit(&self, requests: Vec<JobRequest>) -> Result<Vec<Enqueued>, SubmitError> {
        let jobs = match requests.len() {
            1 => vec![requests.into_iter().next().expect("one request").validate(&self.limits)?],
            _ => validate_batch(requests, &self.limits)?,
        };
        let sent = self.actors.store.send(Enqueue(jobs)).await;
        let enqueued = sent.map_err(|_| StoreError::Unavailable)??;
        self.actors.supervisor.do_send(Wake);
        Ok(enqueued)
    }
}

impl TestNodeBuilder {
    /// Where the node's jobs live (default: a fresh SQLite file).
    pub fn database(mut self, database: TestDatabase) -> Self {
        self.database = database;
        self
    }

    /// A fresh schema of the Postgres database `url` names, dropped with the node.
    pub fn postgres(self, url: impl Into<String>) -> Self {
        self.database(TestDatabase::Postgres(url.into()))
    }

    /// A store the test made (and cleans up) instead of a fresh database; its own
    /// backoff decides retry delays.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Puts a wrapper around the store before the actors get it, e.g.
    /// [`FaultyStore::wrap`](super::FaultyStore::wrap).
    pub fn wrap_store(mut self, wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store> + 'static) -> Self {
        self.wrap = Some(Box::new(wrap));
        self
    }

    /// How many workers, each with `capacity` slots.
    pub fn workers(mut self, workers: u32, capacity: u32) -> Self {
        self.config.workers = workers;
        self.config.capacity = capacity;
        self
    }

    /// Retry delays of a fresh database's store (default [`EXACT_BACKOFF`]).
    pub fn backoff(mut self, backoff: BackoffPolicy) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn health(mut self, health: HealthConfig) -> Self {
        self.config.health = health;
        self
    }

    pub fn restarts(mut self, restarts: RestartPolicy) -> Self {
        self.config.restarts = restarts;
        self
    }

    /// How the StoreActor batches (default: a node's, `[batch]`).
    pub fn batch(mut self, batch: StoreActorConfig) -> Self {
        self.config.batch = batch;
        self
    }

    /// Any other setting of the Supervisor (prefetch, backlog, lease, node id).
    pub fn supervisor(mut self, tweak: impl FnOnce(&mut SupervisorConfig)) -> Self {
        tweak(&mut self.config);
        self.config.timers = false; // the test drives time
        self
    }

    /// The limits submissions are validated against (defaults: the node's).
    pub fn limits(mut self, limits: SubmitLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The clock to start from (default: standing at the current time).
    pub fn clock(mut self, clock: ManualClock) -> Self {
        self.clock = clock;
        self
    }

    /// How long the kit waits for what it expects (default [`PATIENCE`]).
    pub fn patience(mut self, patience: Duration) -> Self {
        self.patience = patience;
        self
    }

    /// Makes the database (unless a store was given) and starts the actors. Panics
    /// if the database cannot be made, with the reason.
    pub async fn start(self) -> TestNode {
        let (store, scratch) = match self.store {
            Some(store) => (store, None),
            None => match Scratch::create(&self.database, self.backoff).await {
                Ok((store, scratch)) => (store, Some(scratch)),
                Err(e) => panic!("the test node's database ({:?}) could not be made: {e}", self.database),
            },
        };
        let reads = store.clone();
        let store = match self.wrap {
            Some(wrap) => wrap(store),
            None => store,
        };
        let (probe, events) = Probe::channel();
        let job_types: Arc<[String]> = self.registry.job_types().into();
        let sweep = Duration::from_millis(self.config.health.sweep_ms);
        let step = (self.config.lease / 3).min(sweep).max(Duration::from_millis(1));
        let clock = Arc::new(self.clock.clone());
        let actors = Supervisor::start_node(self.config, store.clone(), self.registry, clock, probe);
        TestNode {
            actors,
            store: reads,
            clock: self.clock,
            journal: Vec::new(),
            read: 0,
            events,
            job_types,
            limits: self.limits,
            step,
            patience: self.patience,
            teardown: Some(Teardown::arm()),
            _scratch: scratch,
        }
    }
}
