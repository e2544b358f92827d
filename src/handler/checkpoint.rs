//! Checkpoints and context vectors: what a handler leaves behind while it runs.
//!
//! [`JobContext::checkpoint`] saves progress as the job's latest checkpoint, in the
//! job store (not the vector store): an attempt that runs after a crash (a worker
//! panic, a node killed, a timeout) reads it back with [`JobContext::last_checkpoint`]
//! and resumes, whether or not Qdrant is up. A save is fenced by the attempt's claim:
//! an attempt that lost its claim cannot overwrite its successor's progress.
//! [`JobContext::set_context_vector`] replaces the attempt's feature-hashed embedding
//! with the handler's own vector.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use super::JobContext;
use crate::job::unstorable;
use crate::store::{Applied, Checkpoint, ClaimRef, MAX_CHECKPOINT_BYTES};
use crate::vector::{VectorError, validate_vector};

/// Why a checkpoint was not saved or read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CheckpointError {
    /// Not JSON, over [`MAX_CHECKPOINT_BYTES`], or not storable ([`unstorable`]: a NUL
    /// character, or nesting past [`crate::job::MAX_NESTING`]).
    #[error("invalid checkpoint: {0}")]
    Invalid(String),
    /// This attempt no longer holds its job (rescued, cancelled, timed out): nothing
    /// was saved. The handler should stop.
    #[error("this attempt no longer holds its job; the checkpoint was not saved")]
    Lost,
    /// The store did not answer; the handler may go on and save again later.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A context made outside a node has no store.
    #[error("this job context is not attached to a node")]
    Detached,
}

/// Where a run's checkpoints are kept: the node's StoreActor
/// (`crate::actors::store` implements this for its handle), so that the handler API
/// needs nothing of the actors. Errors are the store's, as text.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// Saves `data` as the job's checkpoint, fenced by `claim`.
    async fn save_checkpoint(&self, claim: ClaimRef, data: Value) -> Result<Applied, String>;
    /// The job's latest checkpoint.
    async fn last_checkpoint(&self, job_id: Uuid) -> Result<Option<Checkpoint>, String>;
}

/// What the handler noted during its run, read by its Job actor when it settles.
#[derive(Debug, Default)]
pub(crate) struct RunNotes {
    pub checkpoint: Option<Value>,
    pub vector: Option<Vec<f32>>,
}

/// The run's link to the node: where checkpoints go, and the notes it keeps.
/// `RunLink::default()` is detached: checkpoints fail with [`CheckpointError::Detached`].
#[derive(Clone, Default)]
pub struct RunLink {
    store: Option<Arc<dyn CheckpointStore>>,
    /// A run outside a node (the testing kit's `Perform`): checkpoints are kept here.
    memory: Option<Arc<Mutex<Option<Checkpoint>>>>,
    pub(crate) notes: Arc<Mutex<RunNotes>>,
}

impl RunLink {
    pub(crate) fn new(store: Arc<dyn CheckpointStore>) -> Self {
        Self { store: Some(store), memory: None, notes: Arc::default() }
    }

    /// A link for a run outside a node: the job's latest checkpoint lives in `memory`
    /// (what an earlier attempt saved, if anything), and this run's saves replace it.
    #[cfg(feature = "testing")]
    pub(crate) fn in_memory(memory: Arc<Mutex<Option<Checkpoint>>>) -> Self {
        Self { store: None, memory: Some(memory), notes: Arc::default() }
    }

    /// The last checkpoint saved and the vector given during this run.
    pub(crate) fn take_notes(&self) -> RunNotes {
        std::mem::take(&mut *self.notes.lock().expect("run notes"))
    }
}

impl std::fmt::Debug for RunLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunLink").field("attached", &self.store.is_some()).finish_non_exhaustive()
    }
}

/// Two links are equal when they are the same run's.
impl PartialEq for RunLink {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.notes, &other.notes)
    }
}

impl JobContext {
    /// Saves `data` as this job's checkpoint (replacing the previous one), durably,
    /// before it returns.
    pub async fn checkpoint(&self, data: impl Serialize) -> Result<(), CheckpointError> {
        let data = serde_json::to_value(data).map_err(|e| CheckpointError::Invalid(e.to_string()))?;
        let size = data.to_string().len();
        if size > MAX_CHECKPOINT_BYTES {
            return Err(CheckpointError::Invalid(format!(
                "{size} bytes of JSON, over the limit of {MAX_CHECKPOINT_BYTES}"
            )));
        }
        if let Some(why) = unstorable(&data) {
            return Err(CheckpointError::Invalid(format!("it {why}")));
        }
        if let Some(memory) = &self.link.memory {
            let saved = Checkpoint {
                job_id: self.job_id,
                execution_id: self.execution_id,
                attempt: self.attempt,
                data: data.clone(),
                saved_at: chrono::Utc::now(),
            };
            *memory.lock().expect("checkpoint memory") = Some(saved);
            self.link.notes.lock().expect("run notes").checkpoint = Some(data);
            return Ok(());
        }
        let store = self.link.store.as_ref().ok_or(CheckpointError::Detached)?;
        let claim = ClaimRef { job_id: self.job_id, execution_id: self.execution_id };
        let saved = store.save_checkpoint(claim, data.clone()).await.map_err(CheckpointError::Unavailable)?;
        match saved {
            Applied::Applied => {
                self.link.notes.lock().expect("run notes").checkpoint = Some(data);
                Ok(())
            }
            Applied::Stale => Err(CheckpointError::Lost),
        }
    }

    /// The job's latest checkpoint, saved by this attempt or an earlier one; `None`
    /// when no attempt saved one.
    pub async fn last_checkpoint(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        if let Some(memory) = &self.link.memory {
            return Ok(memory.lock().expect("checkpoint memory").clone());
        }
        let store = self.link.store.as_ref().ok_or(CheckpointError::Detached)?;
        store.last_checkpoint(self.job_id).await.map_err(CheckpointError::Unavailable)
    }

    /// The latest checkpoint's data as `T`; a checkpoint that does not fit `T` is
    /// `Invalid`.
    pub async fn resume_from<T: DeserializeOwned>(&self) -> Result<Option<T>, CheckpointError> {
        match self.last_checkpoint().await? {
            None => Ok(None),
            Some(c) => serde_json::from_value(c.data)
                .map(Some)
                .map_err(|e| CheckpointError::Invalid(format!("the saved checkpoint does not fit: {e}"))),
        }
    }

    /// Gives this attempt's context the handler's own vector instead of the
    /// feature-hashed embedding ([`crate::vector::DIMENSION`] finite values, not all
    /// zero).
    pub fn set_context_vector(&self, vector: Vec<f32>) -> Result<(), VectorError> {
        validate_vector(&vector)?;
        self.link.notes.lock().expect("run notes").vector = Some(vector);
        Ok(())
    }
}
