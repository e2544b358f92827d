//! The messages the [`ContextActor`] answers.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::{ContextActor, bounded};
use crate::vector::{ContextPoint, Scored, SimilarQuery, VectorResult};

/// An attempt's context, to be written (queued; never answered).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RecordContext(pub ContextPoint);

/// Where Job actors send their contexts, and the node they name in them.
#[derive(Clone)]
pub struct ContextSink {
    pub to: Recipient<RecordContext>,
    pub node_id: Arc<str>,
}

impl std::fmt::Debug for ContextSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextSink").field("node_id", &self.node_id).finish_non_exhaustive()
    }
}

impl Handler<RecordContext> for ContextActor {
    type Result = ();

    fn handle(&mut self, msg: RecordContext, ctx: &mut Self::Context) {
        self.push(msg.0);
        self.pump(ctx);
    }
}

/// Past attempts alike to a vector, best first.
#[derive(Debug, Clone, Message)]
#[rtype(result = "VectorResult<Vec<Scored>>")]
pub struct SimilarContexts(pub SimilarQuery);

impl Handler<SimilarContexts> for ContextActor {
    type Result = ResponseFuture<VectorResult<Vec<Scored>>>;

    fn handle(&mut self, msg: SimilarContexts, _: &mut Self::Context) -> Self::Result {
        let (vectors, timeout) = (self.vectors.clone(), self.config.timeout);
        Box::pin(async move { bounded(timeout, vectors.search(msg.0)).await })
    }
}

/// A job's contexts as the vector store holds them, oldest attempt first.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "VectorResult<Vec<ContextPoint>>")]
pub struct ContextsOfJob(pub Uuid);

impl Handler<ContextsOfJob> for ContextActor {
    type Result = ResponseFuture<VectorResult<Vec<ContextPoint>>>;

    fn handle(&mut self, msg: ContextsOfJob, _: &mut Self::Context) -> Self::Result {
        let (vectors, timeout) = (self.vectors.clone(), self.config.timeout);
        Box::pin(async move { bounded(timeout, vectors.job_contexts(msg.0)).await })
    }
}

/// Answers `true` once every queued context is written, `false` as soon as a write
/// (or the store's preparation) fails.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "bool")]
pub struct FlushContexts;

impl Handler<FlushContexts> for ContextActor {
    type Result = ResponseFuture<bool>;

    fn handle(&mut self, _: FlushContexts, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.flush_waiters.push(tx);
        self.pump(ctx);
        Box::pin(async move { rx.await.unwrap_or(false) })
    }
}
