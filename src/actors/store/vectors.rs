//! The embedded vector store: execution contexts kept in the node's own database
//! (`execution_contexts`, SQLite or Postgres), searched exactly (every candidate
//! scored by cosine similarity).
//!
//! It reaches the database through the node's [`StoreActor`](super::StoreActor),
//! which makes every write of a node (its searches too, here), and the same two
//! backends serve jobs and contexts. An
//! exact scan is linear in the number of failed attempts kept: right for one node and
//! its history, and the reason Qdrant (an index) is the production setting.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use uuid::Uuid;

use super::{JobContexts, PutContexts, SearchContexts, StoreHandle};
use crate::store::StoreError;
use crate::vector::{ContextPoint, DIMENSION, Scored, SimilarQuery, VectorError, VectorResult, VectorStore};

/// A [`VectorStore`] in the node's database, through its StoreActor.
#[derive(Clone, Default)]
pub struct EmbeddedVectorStore {
    store: Arc<OnceLock<StoreHandle>>,
}

impl EmbeddedVectorStore {
    pub fn new(store: StoreHandle) -> Self {
        let this = Self::default();
        this.attach(store);
        this
    }

    /// A store whose StoreActor is not started yet (a node starts its ContextActor
    /// before its Supervisor starts the StoreActor); calls fail as unavailable until
    /// [`EmbeddedVectorStore::attach`].
    pub fn unattached() -> Self {
        Self::default()
    }

    /// Gives the store its StoreActor (the first one given stays).
    pub fn attach(&self, store: StoreHandle) {
        let _ = self.store.set(store);
    }

    fn handle(&self) -> VectorResult<&StoreHandle> {
        self.store.get().ok_or_else(|| VectorError::Unavailable("the node's store is not started yet".into()))
    }
}

fn unavailable(e: impl std::fmt::Display) -> VectorError {
    VectorError::Unavailable(e.to_string())
}

fn from_store(e: StoreError) -> VectorError {
    match e {
        StoreError::Corrupt(m) => VectorError::Corrupt(m),
        other => unavailable(other),
    }
}

#[async_trait]
impl VectorStore for EmbeddedVectorStore {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    /// The table comes with the migrations: nothing to create.
    async fn prepare(&self) -> VectorResult<()> {
        Ok(())
    }

    async fn upsert(&self, points: Vec<ContextPoint>) -> VectorResult<()> {
        if let Some(p) = points.iter().find(|p| p.vector.len() != DIMENSION) {
            return Err(VectorError::Invalid(format!("a vector has {DIMENSION} values, not {}", p.vector.len())));
        }
        self.handle()?.send(PutContexts(points)).await.map_err(unavailable)?.map_err(from_store)
    }

    async fn search(&self, query: SimilarQuery) -> VectorResult<Vec<Scored>> {
        if query.vector.len() != DIMENSION {
            return Err(VectorError::Invalid(format!("a vector has {DIMENSION} values, not {}", query.vector.len())));
        }
        self.handle()?.send(SearchContexts(query)).await.map_err(unavailable)?.map_err(from_store)
    }

    async fn job_contexts(&self, job_id: Uuid) -> VectorResult<Vec<ContextPoint>> {
        self.handle()?.send(JobContexts(job_id)).await.map_err(unavailable)?.map_err(from_store)
    }
}
