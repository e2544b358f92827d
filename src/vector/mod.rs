//! Execution contexts in a vector store: the contract every vector backend fulfils.
//!
//! This module is the contract alone: the [`VectorStore`] trait and the values that
//! cross it. The Qdrant backend lives beside it ([`qdrant`], gRPC, production); the
//! embedded one (exact cosine search over the node's own database, the default when no
//! Qdrant is configured) is the StoreActor's, `crate::actors::store::EmbeddedVectorStore`. Both pass one conformance suite (`tests/aeon/vectors.rs`).
//! Inside a node only the [`ContextActor`](crate::actors::context::ContextActor)
//! calls a vector store; [`embedding`] turns an attempt into its vector.
//!
//! One point per attempt. **Its id is the execution's UUID**: an attempt is what a
//! point describes, so the job's id would let each retry overwrite the previous
//! attempt's context; and a UUID is one of the two id kinds Qdrant accepts (the other
//! is an unsigned integer), so the id goes over the wire as is, never as a prefixed
//! string such as `ctx-<uuid>`, which Qdrant refuses.

pub mod embedding;
pub mod qdrant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub use embedding::{DIMENSION, embed, error_kind};
pub use qdrant::QdrantVectorStore;

/// The execution outcomes a similarity search looks among: attempts that failed.
pub const FAILED_OUTCOMES: [&str; 3] = ["FAILED", "TIMED_OUT", "CRASHED"];

/// What one attempt of a job left behind: a point's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExecutionContext {
    /// The point id.
    pub execution_id: Uuid,
    pub job_id: Uuid,
    pub job_type: String,
    /// 1 for the first attempt.
    pub attempt: i32,
    /// How the attempt ended: `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `CRASHED`, `CANCELLED`.
    pub outcome: String,
    pub error: Option<String>,
    /// From handler start to its end, in milliseconds.
    pub duration_ms: u64,
    pub worker_id: Uuid,
    pub node_id: String,
    /// The last checkpoint the handler saved during this attempt.
    pub checkpoint: Option<Value>,
    pub recorded_at: DateTime<Utc>,
}

/// An attempt's context and its vector.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextPoint {
    pub context: ExecutionContext,
    pub vector: Vec<f32>,
}

/// Past attempts alike to `vector`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarQuery {
    pub vector: Vec<f32>,
    /// At most this many, best first.
    pub limit: u32,
    /// Only attempts whose outcome is one of [`FAILED_OUTCOMES`].
    pub failed_only: bool,
    /// Leave out this job's own attempts.
    pub exclude_job: Option<Uuid>,
}

/// A point a search found, with its cosine similarity to the query (-1..=1).
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub context: ExecutionContext,
    pub score: f32,
}

/// Why a vector store operation did not happen.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VectorError {
    /// The backend did not answer, or refused (Qdrant down, slow, the database down).
    #[error("vector store unavailable: {0}")]
    Unavailable(String),
    /// A vector that cannot be stored or searched with.
    #[error("invalid vector: {0}")]
    Invalid(String),
    /// A stored point this build cannot read.
    #[error("corrupt point: {0}")]
    Corrupt(String),
}

pub type VectorResult<T> = Result<T, VectorError>;

/// Everything the runtime asks of a vector store.
#[async_trait]
pub trait VectorStore: Send + Sync + 'static {
    /// `qdrant` or `embedded`: what `/readyz` and the metrics name.
    fn backend(&self) -> &'static str;

    /// Makes the store ready to write: creates the collection and its payload indexes
    /// when they are missing. Idempotent.
    async fn prepare(&self) -> VectorResult<()>;

    /// Writes points; a point whose id exists is replaced.
    async fn upsert(&self, points: Vec<ContextPoint>) -> VectorResult<()>;

    /// The points most alike to the query's vector by cosine similarity, best first.
    async fn search(&self, query: SimilarQuery) -> VectorResult<Vec<Scored>>;

    /// Every point of a job, oldest attempt first, with their vectors.
    async fn job_contexts(&self, job_id: Uuid) -> VectorResult<Vec<ContextPoint>>;
}

/// A vector store that refuses every call with the reason it cannot work.
pub struct Unusable(pub String);

#[async_trait]
impl VectorStore for Unusable {
    fn backend(&self) -> &'static str {
        "qdrant"
    }

    async fn prepare(&self) -> VectorResult<()> {
        Err(VectorError::Unavailable(self.0.clone()))
    }

    async fn upsert(&self, _: Vec<ContextPoint>) -> VectorResult<()> {
        Err(VectorError::Unavailable(self.0.clone()))
    }

    async fn search(&self, _: SimilarQuery) -> VectorResult<Vec<Scored>> {
        Err(VectorError::Unavailable(self.0.clone()))
    }

    async fn job_contexts(&self, _: Uuid) -> VectorResult<Vec<ContextPoint>> {
        Err(VectorError::Unavailable(self.0.clone()))
    }
}

/// Checks a vector a handler or a caller gives: [`DIMENSION`] finite values, not all
/// zero (a zero vector has no direction to compare).
pub fn validate_vector(vector: &[f32]) -> VectorResult<()> {
    if vector.len() != DIMENSION {
        return Err(VectorError::Invalid(format!("a vector has {DIMENSION} values, not {}", vector.len())));
    }
    if vector.iter().any(|x| !x.is_finite()) {
        return Err(VectorError::Invalid("a vector value is NaN or infinite".into()));
    }
    if vector.iter().all(|x| *x == 0.0) {
        return Err(VectorError::Invalid("a vector of zeros has no direction".into()));
    }
    Ok(())
}

/// Cosine similarity of two vectors of the same length; `None` when their lengths
/// differ or one has no length.
pub fn cosine(a: &[f32], b: &[f32]) -> Option<f32> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return None;
    }
    Some((dot / (na.sqrt() * nb.sqrt())) as f32)
}

/// The best `limit` of many scored points, kept while they stream by (exact search).
#[derive(Debug)]
pub struct TopK {
    limit: usize,
    best: Vec<Scored>,
}

impl TopK {
    pub fn new(limit: u32) -> Self {
        Self { limit: limit as usize, best: Vec::new() }
    }

    /// Scores `point` against `query` and keeps it if it is among the best so far.
    pub fn offer(&mut self, query: &[f32], context: ExecutionContext, vector: &[f32]) {
        let Some(score) = cosine(query, vector) else { return };
        if self.limit == 0 {
            return;
        }
        if self.best.len() == self.limit && self.best.last().is_some_and(|worst| worst.score >= score) {
            return;
        }
        let at = self.best.partition_point(|s| s.score >= score);
        self.best.insert(at, Scored { context, score });
        self.best.truncate(self.limit);
    }

    /// Best first; equal scores keep the order they came in.
    pub fn into_sorted(self) -> Vec<Scored> {
        self.best
    }
}

/// Whether a stored point matches a query's filters.
pub fn matches(query: &SimilarQuery, context: &ExecutionContext) -> bool {
    (!query.failed_only || FAILED_OUTCOMES.contains(&context.outcome.as_str()))
        && query.exclude_job != Some(context.job_id)
}

/// Little-endian `f32`s: how the embedded store keeps a vector in a BLOB / BYTEA.
pub fn vector_to_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The inverse of [`vector_to_bytes`].
pub fn vector_from_bytes(bytes: &[u8]) -> VectorResult<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(VectorError::Corrupt(format!("a stored vector of {} bytes", bytes.len())));
    }
    Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}
