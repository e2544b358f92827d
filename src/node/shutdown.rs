//! How a node stops: a drain, an orderly shutdown (drain, leave, stop the actors, close
//! the store), and standing down when another process took its node id over.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Node;
use crate::actors::Shutdown;
use crate::actors::context::FlushContexts;
use crate::actors::supervisor::Drain;

/// How long one step of [`Node::shutdown`] may wait on a store or vector store that
/// does not answer.
const SHUTDOWN_STEP: Duration = Duration::from_secs(5);

impl Node {
    /// Stops claiming, lets running jobs finish within `node.drain_grace_ms`, releases
    /// the rest. Answers how many were released.
    pub async fn drain(&self) -> usize {
        self.draining.store(true, Ordering::Relaxed);
        let grace = Duration::from_millis(self.config.node.drain_grace_ms);
        self.actors.supervisor.send(Drain { grace }).await.unwrap_or(0)
    }

    /// Ends the grace of a drain under way now: what still runs is released, as when
    /// the grace runs out (a second SIGTERM or SIGINT to `aeon node`).
    pub fn cut_drain_short(&self) {
        self.actors.supervisor.do_send(Drain { grace: Duration::ZERO });
    }

    /// Shuts the node down in order, within `node.drain_grace_ms`: see
    /// [`Node::shutdown_within`].
    pub async fn shutdown(&self) -> usize {
        self.shutdown_within(Duration::from_millis(self.config.node.drain_grace_ms)).await
    }

    /// Shuts the node down in order: drains (running jobs may finish within `grace`,
    /// the rest are released), leaves the cluster (its `nodes` row `STOPPED`), stops
    /// the actors once their last writes are recorded, then closes the store's pools.
    /// Afterwards the actix System may end at once: no actor holds a connection. A
    /// second call does nothing. Answers how many runs the drain released.
    pub async fn shutdown_within(&self, grace: Duration) -> usize {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return 0;
        }
        self.draining.store(true, Ordering::Relaxed);
        let released = self.actors.supervisor.send(Drain { grace }).await.unwrap_or(0);
        self.leave().await;
        if let Some(auto) = &self.auto_snapshots {
            let _ = auto.send(Shutdown).await;
        }
        let _ = self.pruner.send(Shutdown).await;
        let _ = self.link.send(Shutdown).await;
        // The drained runs' contexts go to the vector store (the embedded one through
        // the StoreActor, which therefore stops last).
        let _ = tokio::time::timeout(SHUTDOWN_STEP, self.contexts.addr.send(FlushContexts)).await;
        let _ = self.contexts.addr.send(Shutdown).await;
        self.actors.shut_down(SHUTDOWN_STEP).await;
        match tokio::time::timeout(SHUTDOWN_STEP, self.store.close()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "closing the store failed"),
            Err(_) => tracing::warn!("a store connection was still in use after {SHUTDOWN_STEP:?}; not waiting longer"),
        }
        tracing::info!(node_id = %self.node_id, released, "node shut down");
        released
    }

    /// Resolves if another process takes this node id over (see
    /// [`crate::cluster::Cluster::superseded`]); then call [`Node::stand_down`].
    pub async fn superseded(&self) {
        self.cluster.superseded().await
    }

    /// What a superseded node does: claims nothing more and lets go of every run at
    /// once (their claims were voided already: whatever they still settle is fenced
    /// off). Answers how many runs it let go.
    pub async fn stand_down(&self) -> usize {
        self.draining.store(true, Ordering::Relaxed);
        self.actors.supervisor.send(Drain { grace: Duration::ZERO }).await.unwrap_or(0)
    }

    /// Leaves the cluster (after a drain): the node's row says `STOPPED`, its Redis
    /// registration goes.
    pub async fn leave(&self) {
        self.cluster.stop();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.cluster.left()).await;
    }
}
