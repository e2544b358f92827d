//! `/v1/jobs/{id}/similar` and `/v1/jobs/{id}/context`: execution contexts.
//!
//! Similar failures are found by the vector of the job's latest failed attempt: the
//! one stored for it when the vector store has it (a handler's own vector, say), or
//! else the feature-hashed embedding of that attempt's row, which gives the same
//! vector, so a job whose context is still queued (Qdrant down) can be asked about.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::jobs::path_id;
use super::{ApiError, ErrorBody, bad_query};
use crate::actors::context::{ContextsOfJob, SimilarContexts};
use crate::node::Node;
use crate::store::Checkpoint;
use crate::vector::{ContextPoint, ExecutionContext, FAILED_OUTCOMES, SimilarQuery, VectorError, embed};

/// The most similar executions one call answers.
pub const MAX_SIMILAR: u32 = 100;
const DEFAULT_SIMILAR: u32 = 10;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SimilarQueryParams {
    /// How many, 1 to 100 (default 10).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// A past failed execution alike to the job's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SimilarExecution {
    pub job_id: Uuid,
    pub execution_id: Uuid,
    /// Cosine similarity to the job's failure, -1..=1; higher is more alike.
    pub score: f32,
    pub error: Option<String>,
    pub job_type: String,
    pub attempt: i32,
    pub outcome: String,
    pub recorded_at: DateTime<Utc>,
}

/// The attempt a similarity search starts from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SimilarBasis {
    pub execution_id: Uuid,
    pub attempt: i32,
    pub outcome: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SimilarView {
    pub job_id: Uuid,
    /// The job's latest failed attempt; `null` when none failed (nothing to compare).
    pub basis: Option<SimilarBasis>,
    /// `qdrant` or `embedded`.
    pub backend: String,
    /// Other jobs' failed executions, best first.
    pub similar: Vec<SimilarExecution>,
}

/// A job's checkpoint and the contexts of its attempts.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ContextView {
    pub job_id: Uuid,
    /// The latest checkpoint (kept in the job store, always available).
    pub checkpoint: Option<Checkpoint>,
    /// `qdrant` or `embedded`.
    pub backend: String,
    /// The attempts' contexts as the vector store holds them, oldest first. Contexts
    /// still queued (the vector store down) are not listed yet.
    pub executions: Vec<ExecutionContext>,
    /// Why `executions` could not be read, when the vector store did not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contexts_error: Option<String>,
}

fn vector_error(e: VectorError) -> ApiError {
    tracing::warn!(error = %e, "vector store request failed");
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "vector_store_unavailable", e.to_string())
}

/// `limit`: 1 to [`MAX_SIMILAR`], [`DEFAULT_SIMILAR`] when absent.
fn similar_limit(limit: Option<&str>) -> Result<u32, ApiError> {
    let Some(text) = limit else { return Ok(DEFAULT_SIMILAR) };
    match text.parse::<u32>() {
        Ok(n) if (1..=MAX_SIMILAR).contains(&n) => Ok(n),
        _ => Err(bad_query("limit", format!("{text:?} is not a number in 1..={MAX_SIMILAR}"))),
    }
}

/// Past failed executions of other jobs whose failures look like this job's, best
/// first.
#[utoipa::path(get, path = "/v1/jobs/{id}/similar",
    params(("id" = String, Path, description = "Job id (UUID)"), SimilarQueryParams),
    responses(
        (status = 200, body = SimilarView),
        (status = 400, description = "Malformed id or limit", body = ErrorBody),
        (status = 404, description = "Unknown job", body = ErrorBody),
        (status = 503, description = "The vector store does not answer", body = ErrorBody),
    ))]
pub async fn similar(
    id: web::Path<String>,
    query: web::Query<SimilarQueryParams>,
    node: web::Data<Node>,
) -> Result<HttpResponse, ApiError> {
    let job_id = path_id(&id)?;
    let limit = similar_limit(query.limit.as_deref())?;
    let job =
        node.reads().get_job(job_id).await?.ok_or_else(|| ApiError::not_found(format!("job {job_id} not found")))?;
    let backend = node.contexts.status.backend().to_string();
    let failed = node
        .reads()
        .executions(job_id)
        .await?
        .into_iter()
        .rev()
        .find(|e| FAILED_OUTCOMES.contains(&e.execution_status.as_str()));
    let Some(failed) = failed else {
        return Ok(HttpResponse::Ok().json(SimilarView { job_id, basis: None, backend, similar: Vec::new() }));
    };
    // The stored vector when there is one (it may be the handler's own); else the
    // same embedding the attempt was given.
    let stored = node.contexts.addr.send(ContextsOfJob(job_id)).await?.unwrap_or_default();
    let vector = stored
        .into_iter()
        .find(|p: &ContextPoint| p.context.execution_id == failed.execution_id)
        .map(|p| p.vector)
        .unwrap_or_else(|| embed(&job.job_type, failed.execution_status.as_str(), failed.error.as_deref()));
    let query = SimilarQuery { vector, limit, failed_only: true, exclude_job: Some(job_id) };
    let found = node.contexts.addr.send(SimilarContexts(query)).await?.map_err(vector_error)?;
    let similar = found
        .into_iter()
        .map(|s| SimilarExecution {
            job_id: s.context.job_id,
            execution_id: s.context.execution_id,
            score: s.score,
            error: s.context.error,
            job_type: s.context.job_type,
            attempt: s.context.attempt,
            outcome: s.context.outcome,
            recorded_at: s.context.recorded_at,
        })
        .collect();
    let basis = SimilarBasis {
        execution_id: failed.execution_id,
        attempt: failed.attempt,
        outcome: failed.execution_status.as_str().to_string(),
        error: failed.error,
    };
    Ok(HttpResponse::Ok().json(SimilarView { job_id, basis: Some(basis), backend, similar }))
}

/// A job's latest checkpoint and its attempts' execution contexts.
#[utoipa::path(get, path = "/v1/jobs/{id}/context",
    params(("id" = String, Path, description = "Job id (UUID)")),
    responses(
        (status = 200, body = ContextView),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 404, description = "Unknown job", body = ErrorBody),
    ))]
pub async fn context(id: web::Path<String>, node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let job_id = path_id(&id)?;
    if node.reads().get_job(job_id).await?.is_none() {
        return Err(ApiError::not_found(format!("job {job_id} not found")));
    }
    let checkpoint = node.reads().last_checkpoint(job_id).await?;
    let backend = node.contexts.status.backend().to_string();
    let (executions, contexts_error) = match node.contexts.addr.send(ContextsOfJob(job_id)).await? {
        Ok(points) => (points.into_iter().map(|p| p.context).collect(), None),
        Err(e) => {
            tracing::warn!(error = %e, "vector store request failed");
            (Vec::new(), Some(e.to_string()))
        }
    };
    Ok(HttpResponse::Ok().json(ContextView { job_id, checkpoint, backend, executions, contexts_error }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::ExecutionStatus;

    #[test]
    fn failed_outcomes_are_execution_statuses() {
        for outcome in FAILED_OUTCOMES {
            assert!(outcome.parse::<ExecutionStatus>().is_ok(), "{outcome}");
        }
    }

    #[test]
    fn limits_outside_the_range_name_the_field() {
        assert_eq!(similar_limit(None).unwrap(), DEFAULT_SIMILAR);
        assert_eq!(similar_limit(Some("100")).unwrap(), 100);
        for bad in ["0", "101", "-1", "ten"] {
            assert_eq!(similar_limit(Some(bad)).unwrap_err().detail.field.as_deref(), Some("limit"));
        }
    }
}
