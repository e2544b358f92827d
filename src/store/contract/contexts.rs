//! The embedded vector store's execution contexts (docs/execution-contexts.md).

use async_trait::async_trait;

use crate::store::StoreResult;
use crate::vector::{ContextPoint, Scored, SimilarQuery};
use uuid::Uuid;

/// The embedded vector store.
#[async_trait]
pub trait Contexts: Send + Sync + 'static {
    /// The embedded vector store: writes execution contexts, replacing those with the
    /// same execution id, in one transaction.
    async fn put_contexts(&self, points: Vec<ContextPoint>) -> StoreResult<()>;

    /// The embedded vector store: exact cosine search over every stored context the
    /// query's filters let through, best first.
    async fn search_contexts(&self, query: SimilarQuery) -> StoreResult<Vec<Scored>>;

    /// The embedded vector store: a job's contexts, oldest attempt first.
    async fn job_contexts(&self, job_id: Uuid) -> StoreResult<Vec<ContextPoint>>;
}
