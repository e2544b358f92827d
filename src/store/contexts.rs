//! What the execution-context methods of the [`Store`](super::Store) contract carry:
//! a job's latest checkpoint, and the embedded vector store's points, encoded and
//! decoded the same way by both backends.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::{StoreError, StoreResult};
use crate::vector::{ContextPoint, ExecutionContext, vector_from_bytes, vector_to_bytes};

/// The latest progress a handler saved for its job (one per job: each save replaces
/// the one before, whichever attempt made it).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Checkpoint {
    pub job_id: Uuid,
    /// The attempt that saved it.
    pub execution_id: Uuid,
    pub attempt: i32,
    pub data: Value,
    pub saved_at: DateTime<Utc>,
}

/// The largest checkpoint a handler may save, as JSON text (1 MiB).
pub const MAX_CHECKPOINT_BYTES: usize = 1024 * 1024;

/// Points with distinct ids, the last of each id kept: one upsert statement may not
/// touch a row twice.
pub fn distinct_points(points: Vec<ContextPoint>) -> Vec<ContextPoint> {
    let mut seen = std::collections::HashSet::new();
    let mut kept: Vec<ContextPoint> =
        points.into_iter().rev().filter(|p| seen.insert(p.context.execution_id)).collect();
    kept.reverse();
    kept
}

/// A point as its row keeps it: the vector's bytes and the context's JSON text.
pub fn encode_point(point: &ContextPoint) -> (Vec<u8>, String) {
    let context = serde_json::to_string(&point.context).expect("a context serializes");
    (vector_to_bytes(&point.vector), context)
}

/// A point from its row's vector bytes and context JSON.
pub fn decode_point(vector: &[u8], context: &str) -> StoreResult<ContextPoint> {
    let vector = vector_from_bytes(vector).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let context: ExecutionContext =
        serde_json::from_str(context).map_err(|e| StoreError::Corrupt(format!("an execution context: {e}")))?;
    Ok(ContextPoint { context, vector })
}
