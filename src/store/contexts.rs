//! What the execution-context methods of the [`Store`](super::Store) contract carry:
//! a job's latest checkpoint, and the embedded vector store's points, encoded and
//! decoded the same way by both backends.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::{StoreError, StoreResult};
use crate::vector::{ContextPoint, ExecutionContext, embed, vector_from_bytes, vector_to_bytes};

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

/// A point as its row keeps it: the vector's bytes and the context's JSON text. A
/// vector that is the attempt's derived embedding ([`embed`] of its type, outcome and
/// error: every attempt whose handler gave no vector of its own) is kept as no bytes
/// and derived again when read. It is the same vector, without a kilobyte per attempt
/// in the table and its write-ahead log (docs/performance.md).
pub fn encode_point(point: &ContextPoint) -> (Vec<u8>, String) {
    let context = serde_json::to_string(&point.context).expect("a context serializes");
    let c = &point.context;
    let derived = point.vector == embed(&c.job_type, &c.outcome, c.error.as_deref());
    (if derived { Vec::new() } else { vector_to_bytes(&point.vector) }, context)
}

/// A point from its row's vector bytes (none: the derived embedding) and context JSON.
pub fn decode_point(vector: &[u8], context: &str) -> StoreResult<ContextPoint> {
    let context: ExecutionContext =
        serde_json::from_str(context).map_err(|e| StoreError::Corrupt(format!("an execution context: {e}")))?;
    let vector = if vector.is_empty() {
        embed(&context.job_type, &context.outcome, context.error.as_deref())
    } else {
        vector_from_bytes(vector).map_err(|e| StoreError::Corrupt(e.to_string()))?
    };
    Ok(ContextPoint { context, vector })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(vector: Option<Vec<f32>>) -> ContextPoint {
        let context = ExecutionContext {
            execution_id: Uuid::now_v7(),
            job_id: Uuid::now_v7(),
            job_type: "resize".into(),
            attempt: 2,
            outcome: "FAILED".into(),
            error: Some("connection refused: 10.0.0.7".into()),
            duration_ms: 12,
            worker_id: Uuid::now_v7(),
            node_id: "a".into(),
            checkpoint: None,
            recorded_at: Utc::now(),
        };
        let vector = vector.unwrap_or_else(|| embed(&context.job_type, &context.outcome, context.error.as_deref()));
        ContextPoint { context, vector }
    }

    #[test]
    fn a_derived_vector_is_kept_as_no_bytes_and_read_back_the_same() {
        let derived = point(None);
        let (bytes, json) = encode_point(&derived);
        assert!(bytes.is_empty(), "the derived embedding is not stored");
        assert_eq!(decode_point(&bytes, &json).unwrap(), derived);
    }

    #[test]
    fn a_handlers_own_vector_is_kept_as_it_is() {
        let mut own = vec![0.0; crate::vector::DIMENSION];
        own[3] = 1.0;
        let given = point(Some(own));
        let (bytes, json) = encode_point(&given);
        assert_eq!(bytes.len(), crate::vector::DIMENSION * 4);
        assert_eq!(decode_point(&bytes, &json).unwrap(), given);
    }
}
