//! A node: the actors of [`crate::actors`] wired to a store, run until a shutdown
//! future resolves, then drained.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use aeon::{config::Config, handler::Registry, node};
//! let config = Config::load(None)?;
//! node::run(config, Registry::with_builtins(), node::shutdown_signal()).await
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::actors::probe::Probe;
use crate::actors::supervisor::{Drain, NodeActors, Supervisor, SupervisorConfig, Wake};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, redact_url};
use crate::handler::Registry;
use crate::job::{JobRequest, ValidationError, validate_batch};
use crate::store::postgres::PgStore;
use crate::store::{self, Enqueued, Store, StoreError};

/// A running node. Cheap to clone: the HTTP API holds one per server thread.
#[derive(Clone)]
pub struct Node {
    pub actors: NodeActors,
    pub node_id: String,
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
    /// Connects to `store.url`, applies migrations and starts the actors, timers on.
    pub async fn start(config: Config, registry: Registry, clock: SharedClock, probe: Probe) -> anyhow::Result<Node> {
        let store = PgStore::connect(&config.store.url, config.store.max_connections, config.retry).await?;
        store.migrate().await?;
        Ok(Self::start_with_store(config, Arc::new(store), registry, clock, probe))
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
        let actors = Supervisor::start_node(supervisor_config, store, registry, clock, probe);
        tracing::info!(
            %node_id,
            store = %redact_url(&config.store.url),
            workers = config.workers.count,
            capacity = config.workers.capacity,
            "node started"
        );
        Node { actors, node_id, config: Arc::new(config), draining: Arc::new(AtomicBool::new(false)) }
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
        let enqueued =
            self.actors.store.send(store::EnqueueMany(jobs)).await.map_err(|_| StoreError::Unavailable)??;
        self.wake();
        Ok(enqueued)
    }

    /// Stops claiming, lets running jobs finish within `node.drain_grace_ms`, releases
    /// the rest. Answers how many were released.
    pub async fn drain(&self) -> usize {
        self.draining.store(true, Ordering::Relaxed);
        let grace = Duration::from_millis(self.config.node.drain_grace_ms);
        self.actors.supervisor.send(Drain { grace }).await.unwrap_or(0)
    }
}

/// Runs a node and its HTTP API until `shutdown` resolves, then drains it (the API
/// answers `/readyz` with 503 meanwhile) and stops the API. Must run inside an actix
/// System.
pub async fn run(config: Config, registry: Registry, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let bind = config.api.bind.clone();
    let node = Node::start(config, registry, Arc::new(SystemClock), Probe::none()).await?;
    let (server, addrs) = crate::api::serve(node.clone(), &bind)
        .map_err(|e| anyhow::anyhow!("cannot listen on api.bind = {bind}: {e}"))?;
    tracing::info!(node_id = %node.node_id, ?addrs, "HTTP API listening");
    let api = server.handle();
    actix_rt::spawn(server);
    shutdown.await;
    tracing::info!(node_id = %node.node_id, "shutdown requested: draining");
    let released = node.drain().await;
    api.stop(true).await;
    tracing::info!(node_id = %node.node_id, released, "drained; exiting");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
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
