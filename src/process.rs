//! The node process: a [`Node`] and its HTTP API, run until a shutdown future
//! resolves, then drained.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use aeon::{config::Config, handler::Registry, process};
//! let config = Config::load(None)?;
//! process::run(config, Registry::with_builtins(), process::shutdown_signal()).await
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;

use crate::actors::probe::Probe;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::handler::Registry;
use crate::node::Node;

/// How `aeon node` starts, beyond its configuration.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Restore the workers from a snapshot at start: `latest` or a snapshot id (see
    /// [`crate::node::restored`]).
    pub restore: Option<String>,
}

/// Runs a node and its HTTP API until `shutdown` resolves, then drains it (the API
/// answers `/readyz` with 503 meanwhile) and stops the API. Must run inside an actix
/// System.
pub async fn run(config: Config, registry: Registry, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    run_with(config, registry, shutdown, RunOptions::default()).await
}

/// [`run`], with [`RunOptions`].
pub async fn run_with(
    config: Config,
    registry: Registry,
    shutdown: impl Future<Output = ()>,
    options: RunOptions,
) -> anyhow::Result<()> {
    let bind = config.api.bind.clone();
    let store = crate::config::redact_url(&config.store.url);
    if config.store.is_embedded_default() {
        tracing::info!(%store, "store: the embedded SQLite default (no store.url or DATABASE_URL set); \
            set store.url = \"postgres://…\" for production and several nodes");
    } else {
        tracing::info!(%store, "store: {}", config.store.url.split("://").next().unwrap_or("?"));
    }
    let node = match options.restore.as_deref() {
        None => Node::start(config, registry, Arc::new(SystemClock), Probe::none()).await?,
        Some(which) => {
            let store = Node::open_store(&config).await?;
            let clock = Arc::new(SystemClock);
            crate::node::start_restored(config, store, registry, clock, Probe::none(), which).await?.0
        }
    };
    let (server, addrs) = crate::api::serve(node.clone(), &bind)
        .map_err(|e| anyhow::anyhow!("cannot listen on api.bind = {bind}: {e}"))?;
    tracing::info!(node_id = %node.node_id, ?addrs, "HTTP API listening");
    if let Some(addr) = addrs.first() {
        node.cluster.set_address(addr.to_string());
    }
    let api = server.handle();
    actix_rt::spawn(server);
    tokio::select! {
        () = shutdown => {}
        () = node.superseded() => {
            let released = node.stand_down().await;
            api.stop(true).await;
            anyhow::bail!(
                "node.id {:?} was taken over by another process while this one was not heartbeating \
                 (stopped or paused past cluster.node_dead_after_ms, or started twice): {released} runs let go; \
                 this process stopped",
                node.node_id
            );
        }
    }
    // Listening for a second signal before the drain begins: one sent once the node
    // says it is draining is never missed.
    let again = shutdown_signal();
    tokio::pin!(again);
    let _ = futures::poll!(again.as_mut());
    let running: u32 = node.slots().await.iter().map(|s| s.load).sum();
    tracing::info!(
        node_id = %node.node_id,
        running,
        grace_ms = node.config().node.drain_grace_ms,
        "shutdown requested: draining — waiting up to node.drain_grace_ms for {running} running jobs to finish; \
         send the signal again to stop at once (they are released, as at the end of the grace)"
    );
    let shutdown = node.shutdown();
    tokio::pin!(shutdown);
    let released = tokio::select! {
        released = &mut shutdown => released,
        () = &mut again => {
            tracing::warn!(node_id = %node.node_id, "second signal: stopping at once, releasing the running jobs");
            node.cut_drain_short();
            shutdown.await
        }
    };
    api.stop(true).await;
    tracing::info!(node_id = %node.node_id, released, "drained; exiting");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT (listening from its first poll).
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
