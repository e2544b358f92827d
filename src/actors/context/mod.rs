//! The ContextActor: the only code of a node that calls its vector store (Qdrant or
//! the embedded one).
//!
//! Job actors hand it each attempt's context once the attempt is recorded
//! ([`RecordContext`], fire and forget), so a vector store that is down, slow or
//! refusing never fails or delays a job's completion. Contexts wait in a bounded
//! in-memory queue and are written in batches; a write that fails goes back to the
//! front of the queue and is retried with exponential backoff. While writes fail the
//! node reports `degraded: <backend>` ([`ContextStatus`], read by `/readyz` and
//! `/metrics`); when the queue is full the oldest context is dropped and counted,
//! never silently. The actor never awaits a call in a handler: every call runs as a
//! future beside its mailbox, bounded by a timeout, so searches keep being answered
//! while a write hangs.

mod messages;
mod status;

pub use messages::{ContextSink, ContextsOfJob, FlushContexts, RecordContext, SimilarContexts};
pub use status::{ContextStats, ContextStatus};

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::probe::{Event, Probe};
use super::store::EmbeddedVectorStore;
use crate::config::QdrantConfig;
use crate::vector::{ContextPoint, QdrantVectorStore, Unusable, VectorError, VectorResult, VectorStore};

/// How the ContextActor queues and retries (from the `[qdrant]` config section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextConfig {
    /// Contexts held while the vector store does not take them; beyond, the oldest go.
    pub queue_capacity: usize,
    /// Contexts per write.
    pub batch_size: usize,
    /// The first retry's delay; each further failure doubles it, up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// Every call to the vector store gives up after this long.
    pub timeout: Duration,
}

impl Default for ContextConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 10_000,
            batch_size: 256,
            retry_initial: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
        }
    }
}

impl ContextConfig {
    /// How a node's ContextActor queues and retries, from its `[qdrant]` section.
    pub fn from_qdrant(qdrant: &QdrantConfig) -> Self {
        Self {
            queue_capacity: qdrant.queue_capacity,
            batch_size: 256,
            retry_initial: Duration::from_millis(qdrant.retry_initial_ms),
            retry_max: Duration::from_millis(qdrant.retry_max_ms),
            timeout: Duration::from_millis(qdrant.timeout_ms),
        }
    }
}

/// The vector store `config` names: Qdrant when `qdrant.url` is set, else the
/// embedded store, answered unattached (with a copy to attach to the node's
/// StoreActor once it runs). A Qdrant client that cannot even be built (a URL the
/// client refuses) stands in as a store whose every call fails: the node runs,
/// degraded, and says why.
pub fn vector_store_for(config: &QdrantConfig) -> (Arc<dyn VectorStore>, Option<EmbeddedVectorStore>) {
    if config.url.is_empty() {
        let embedded = EmbeddedVectorStore::unattached();
        return (Arc::new(embedded.clone()), Some(embedded));
    }
    let timeout = std::time::Duration::from_millis(config.timeout_ms);
    match QdrantVectorStore::connect(&config.url, &config.api_key, &config.collection, timeout) {
        Ok(qdrant) => (Arc::new(qdrant), None),
        Err(e) => {
            tracing::error!(error = %e, "cannot build the Qdrant client; execution contexts will not be stored");
            (Arc::new(Unusable(e.to_string())), None)
        }
    }
}

/// Owns the vector store; see the module docs.
pub struct ContextActor {
    vectors: Arc<dyn VectorStore>,
    config: ContextConfig,
    queue: VecDeque<ContextPoint>,
    /// The collection and indexes exist (Qdrant), or nothing needs making (embedded).
    prepared: bool,
    /// A prepare or a write is on its way.
    busy: bool,
    /// The backoff timer before the next attempt, after a failure.
    waiting: Option<SpawnHandle>,
    /// Failures since the last success: the backoff's exponent.
    failures_in_row: u32,
    /// Callers of [`FlushContexts`], answered when the queue is empty or a write fails.
    flush_waiters: Vec<oneshot::Sender<bool>>,
    status: Arc<ContextStatus>,
    probe: Probe,
}

/// A running ContextActor and the status it keeps, for the node that owns it.
#[derive(Clone)]
pub struct ContextLink {
    pub addr: Addr<ContextActor>,
    pub status: Arc<ContextStatus>,
}

impl ContextLink {
    /// What Job actors need to hand this actor their contexts.
    pub fn sink(&self, node_id: &str) -> ContextSink {
        ContextSink { to: self.addr.clone().recipient(), node_id: node_id.into() }
    }
}

impl ContextActor {
    /// Starts the actor over `vectors`; it prepares the store at once.
    pub fn launch(vectors: Arc<dyn VectorStore>, config: ContextConfig, probe: Probe) -> ContextLink {
        let status = Arc::new(ContextStatus::new(vectors.backend()));
        let actor = ContextActor {
            vectors,
            config,
            queue: VecDeque::new(),
            prepared: false,
            busy: false,
            waiting: None,
            failures_in_row: 0,
            flush_waiters: Vec::new(),
            status: status.clone(),
            probe,
        };
        ContextLink { addr: actor.start(), status }
    }

    fn push(&mut self, point: ContextPoint) {
        self.queue.push_back(point);
        self.enforce_capacity();
    }

    /// Drops the oldest contexts beyond the queue's capacity, and counts them.
    fn enforce_capacity(&mut self) {
        let over = self.queue.len().saturating_sub(self.config.queue_capacity.max(1));
        if over > 0 {
            self.queue.drain(..over);
            let dropped = self.status.dropped(over as u64);
            tracing::warn!(
                backend = self.vectors.backend(),
                dropped = over,
                dropped_total = dropped,
                "the execution-context queue is full: dropped the oldest"
            );
            self.probe.emit(Event::ContextsDropped { dropped_total: dropped });
        }
        self.status.set_queued(self.queue.len());
    }

    /// Starts the next prepare or write, unless one is on its way or a backoff runs.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.waiting.is_some() {
            return;
        }
        if !self.prepared {
            self.busy = true;
            let (vectors, timeout) = (self.vectors.clone(), self.config.timeout);
            let prepare = async move { bounded(timeout, vectors.prepare()).await };
            ctx.spawn(prepare.into_actor(self).map(|done, act, ctx| {
                act.busy = false;
                match done {
                    Ok(()) => {
                        act.prepared = true;
                        act.succeeded();
                        act.pump(ctx);
                    }
                    Err(e) => act.failed(e, ctx),
                }
            }));
            return;
        }
        if self.queue.is_empty() {
            for waiter in self.flush_waiters.drain(..) {
                let _ = waiter.send(true);
            }
            return;
        }
        self.busy = true;
        let n = self.queue.len().min(self.config.batch_size.max(1));
        let batch: Vec<ContextPoint> = self.queue.drain(..n).collect();
        self.status.set_queued(self.queue.len());
        let (vectors, timeout) = (self.vectors.clone(), self.config.timeout);
        let kept = batch.clone();
        let write = async move { bounded(timeout, vectors.upsert(batch)).await };
        ctx.spawn(write.into_actor(self).map(move |written, act, ctx| {
            act.busy = false;
            match written {
                Ok(()) => {
                    let total = act.status.written(n as u64);
                    act.probe.emit(Event::ContextsWritten { written_total: total });
                    act.succeeded();
                    act.pump(ctx);
                }
                Err(VectorError::Invalid(reason)) => {
                    // Retrying cannot help a point the store refuses: count it dropped.
                    tracing::warn!(%reason, "execution contexts refused by the vector store; dropped");
                    let dropped = act.status.dropped(n as u64);
                    act.probe.emit(Event::ContextsDropped { dropped_total: dropped });
                    act.pump(ctx);
                }
                Err(e) => {
                    // Back to the front, in order, ahead of what came meanwhile.
                    for point in kept.into_iter().rev() {
                        act.queue.push_front(point);
                    }
                    act.enforce_capacity();
                    act.failed(e, ctx);
                }
            }
        }));
    }

    fn succeeded(&mut self) {
        self.failures_in_row = 0;
        if self.status.recovered() {
            tracing::info!(backend = self.vectors.backend(), "vector store reachable again; writes resume");
        }
    }

    /// Counts the failure, reports the degradation and waits (backoff) before trying
    /// again.
    fn failed(&mut self, e: VectorError, ctx: &mut Context<Self>) {
        self.failures_in_row += 1;
        let reason = e.to_string();
        let (retries, newly) = self.status.failed(&reason);
        if newly {
            tracing::warn!(backend = self.vectors.backend(), error = %reason,
                "vector store unreachable: execution contexts wait in memory; jobs run on");
        }
        self.probe.emit(Event::ContextWriteFailed { retries_total: retries });
        for waiter in self.flush_waiters.drain(..) {
            let _ = waiter.send(false);
        }
        let delay = backoff(&self.config, self.failures_in_row);
        self.waiting = Some(ctx.run_later(delay, |act, ctx| {
            act.waiting = None;
            act.pump(ctx);
        }));
    }
}

/// The delay after the `failures`-th failure in a row: doubling from
/// `retry_initial`, capped at `retry_max`, with up to 20 % jitter.
fn backoff(config: &ContextConfig, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let base = config.retry_initial.saturating_mul(1 << exponent).min(config.retry_max);
    base.mul_f64(1.0 + 0.2 * rand::random::<f64>())
}

/// `call`, or `Unavailable` once `timeout` has passed.
async fn bounded<T>(timeout: Duration, call: impl Future<Output = VectorResult<T>>) -> VectorResult<T> {
    match tokio::time::timeout(timeout, call).await {
        Ok(answer) => answer,
        Err(_) => Err(VectorError::Unavailable(format!("no answer within {} ms", timeout.as_millis()))),
    }
}

impl Actor for ContextActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.pump(ctx);
    }
}
