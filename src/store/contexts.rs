//! What the execution-context methods of the [`Store`](super::Store) contract carry:
//! a job's latest checkpoint, and the embedded vector store's points, encoded and
//! decoded the same way by both backends.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
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

/// The fields of a point that its row keeps in columns of their own, so its JSON does
/// not repeat them (about 150 bytes less per attempt in the table and its WAL).
#[derive(Debug, Clone, PartialEq)]
pub struct PointKeys {
    pub execution_id: Uuid,
    pub job_id: Uuid,
    pub job_type: String,
    pub attempt: i32,
    pub outcome: String,
}

/// The rest of a context: what the row's JSON holds. Rows written before the split
/// hold the whole context; the keys they repeat are ignored.
#[derive(Deserialize)]
struct Kept {
    error: Option<String>,
    duration_ms: u64,
    worker_id: Uuid,
    node_id: String,
    checkpoint: Option<Value>,
    recorded_at: DateTime<Utc>,
}

/// [`Kept`], borrowed from the context being written.
#[derive(Serialize)]
struct KeptRef<'a> {
    error: &'a Option<String>,
    duration_ms: u64,
    worker_id: Uuid,
    node_id: &'a str,
    checkpoint: &'a Option<Value>,
    recorded_at: DateTime<Utc>,
}

/// A point as its row keeps it: the vector's bytes and the JSON of what the key
/// columns do not hold. A vector that is the attempt's derived embedding ([`embed`]
/// of its type, outcome and error: every attempt whose handler gave no vector of its
/// own) is kept as no bytes and derived again when read. It is the same vector,
/// without a kilobyte per attempt in the table and its write-ahead log
/// (docs/performance.md).
pub fn encode_point(point: &ContextPoint) -> (Vec<u8>, String) {
    let c = &point.context;
    let kept = KeptRef {
        error: &c.error,
        duration_ms: c.duration_ms,
        worker_id: c.worker_id,
        node_id: &c.node_id,
        checkpoint: &c.checkpoint,
        recorded_at: c.recorded_at,
    };
    let context = serde_json::to_string(&kept).expect("a context serializes");
    let derived = point.vector == embed(&c.job_type, &c.outcome, c.error.as_deref());
    (if derived { Vec::new() } else { vector_to_bytes(&point.vector) }, context)
}

/// A point from its row: the key columns, the vector bytes (none: the derived
/// embedding) and the JSON of the rest.
pub fn decode_point(keys: PointKeys, vector: &[u8], context: &str) -> StoreResult<ContextPoint> {
    let kept: Kept =
        serde_json::from_str(context).map_err(|e| StoreError::Corrupt(format!("an execution context: {e}")))?;
    let context = ExecutionContext {
        execution_id: keys.execution_id,
        job_id: keys.job_id,
        job_type: keys.job_type,
        attempt: keys.attempt,
        outcome: keys.outcome,
        error: kept.error,
        duration_ms: kept.duration_ms,
        worker_id: kept.worker_id,
        node_id: kept.node_id,
        checkpoint: kept.checkpoint,
        recorded_at: kept.recorded_at,
    };
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

    fn keys(point: &ContextPoint) -> PointKeys {
        let c = &point.context;
        PointKeys {
            execution_id: c.execution_id,
            job_id: c.job_id,
            job_type: c.job_type.clone(),
            attempt: c.attempt,
            outcome: c.outcome.clone(),
        }
    }

    #[test]
    fn the_json_leaves_out_the_key_columns_and_reads_rows_that_repeat_them() {
        let p = point(None);
        let (_, json) = encode_point(&p);
        for key in ["execution_id", "job_id", "job_type", "attempt", "outcome"] {
            assert!(!json.contains(&format!("\"{key}\"")), "{key} is a column: {json}");
        }
        let whole = serde_json::to_string(&p.context).unwrap(); // a row written before the split
        assert_eq!(decode_point(keys(&p), &[], &whole).unwrap(), p);
    }

    #[test]
    fn a_derived_vector_is_kept_as_no_bytes_and_read_back_the_same() {
        let derived = point(None);
        let (bytes, json) = encode_point(&derived);
        assert!(bytes.is_empty(), "the derived embedding is not stored");
        assert_eq!(decode_point(keys(&derived), &bytes, &json).unwrap(), derived);
    }

    #[test]
    fn a_handlers_own_vector_is_kept_as_it_is() {
        let mut own = vec![0.0; crate::vector::DIMENSION];
        own[3] = 1.0;
        let given = point(Some(own));
        let (bytes, json) = encode_point(&given);
        assert_eq!(bytes.len(), crate::vector::DIMENSION * 4);
        assert_eq!(decode_point(keys(&given), &bytes, &json).unwrap(), given);
    }
}
