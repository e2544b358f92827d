//! `/v1/jobs`: submit, batch submit, show, list, cancel.

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::filter::FilterSpec;
use super::{
    ApiError, BatchRequest, BatchSubmitted, ErrorBody, JobPage, JobView, Submitted, WorkflowJob, WorkflowView,
    bad_query, next_cursor, page_limit, read_body,
};
use crate::job::{JobRequest, parse_job_id};
use crate::node::Node;

/// The most jobs one batch may hold.
pub const MAX_BATCH: usize = 10_000;

pub(super) async fn body(req: &HttpRequest, payload: web::Payload, node: &Node) -> Result<web::Bytes, ApiError> {
    let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    read_body(payload, declared, node.config().api.max_body_bytes).await
}

/// Submit a job.
#[utoipa::path(post, path = "/v1/jobs", request_body = JobRequest, responses(
    (status = 201, description = "Created", body = Submitted),
    (status = 200, description = "The idempotency key named an existing job", body = Submitted),
    (status = 400, description = "Malformed JSON", body = ErrorBody),
    (status = 413, description = "Body over the cap", body = ErrorBody),
    (status = 422, description = "A field is invalid", body = ErrorBody),
))]
pub async fn submit(req: HttpRequest, payload: web::Payload, node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let request: JobRequest = super::error::parse_body(&body(&req, payload, &node).await?)?;
    let warnings = node.unhandled_warnings([request.job_type.as_str()]);
    let answer = node.submit(vec![request]).await?.pop().ok_or_else(|| ApiError::unavailable("no answer"))?;
    let status = if answer.created { StatusCode::CREATED } else { StatusCode::OK };
    let submitted = Submitted { job_id: answer.job_id, status: answer.status.as_str().into(), warnings };
    Ok(HttpResponse::build(status).json(submitted))
}

/// Submit many jobs, all or nothing.
#[utoipa::path(post, path = "/v1/jobs/batch", request_body = BatchRequest, responses(
    (status = 201, description = "Created (ids in submission order)", body = BatchSubmitted),
    (status = 400, description = "Malformed JSON", body = ErrorBody),
    (status = 413, description = "Body over the cap", body = ErrorBody),
    (status = 422, description = "A job is invalid; nothing was written", body = ErrorBody),
))]
pub async fn submit_batch(
    req: HttpRequest,
    payload: web::Payload,
    node: web::Data<Node>,
) -> Result<HttpResponse, ApiError> {
    let batch: BatchRequest = super::error::parse_body(&body(&req, payload, &node).await?)?;
    if batch.jobs.is_empty() || batch.jobs.len() > MAX_BATCH {
        let message = format!("a batch holds 1 to {MAX_BATCH} jobs, not {}", batch.jobs.len());
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message).with_field("jobs"));
    }
    let warnings = node.unhandled_warnings(batch.jobs.iter().map(|j| j.job_type.as_str()));
    let answers = node.submit(batch.jobs).await?;
    let job_ids = answers.into_iter().map(|a| a.job_id).collect();
    Ok(HttpResponse::Created().json(BatchSubmitted { job_ids, warnings }))
}

/// A path id that must be a UUID: 400 when it is not.
pub(super) fn path_id(text: &str) -> Result<uuid::Uuid, ApiError> {
    parse_job_id(text)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", e.to_string()).with_field(e.field))
}

/// Show a job with its attempts.
#[utoipa::path(get, path = "/v1/jobs/{id}", params(("id" = uuid::Uuid, Path, description = "Job id (UUID)")), responses(
    (status = 200, body = JobView),
    (status = 400, description = "Malformed id", body = ErrorBody),
    (status = 404, description = "Unknown job", body = ErrorBody),
))]
pub async fn show(id: web::Path<String>, node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let job_id = path_id(&id)?;
    Ok(HttpResponse::Ok().json(job_view(&node, job_id).await?))
}

pub(super) async fn job_view(node: &Node, job_id: uuid::Uuid) -> Result<JobView, ApiError> {
    let job = node.reads().get_job(job_id).await?;
    view_of(node, job.ok_or_else(|| ApiError::not_found(format!("job {job_id} not found")))?).await
}

/// `job` as answered, with its attempts and edges.
pub(super) async fn view_of(node: &Node, job: crate::job::Job) -> Result<JobView, ApiError> {
    let store = node.reads();
    let job_id = job.job_id;
    let (executions, edges) = futures::join!(store.executions(job_id), store.edges(job_id));
    let edges = edges?;
    let mut view = JobView::new(job, Some(executions?));
    view.depends_on = edges.depends_on;
    view.dependents = Some(edges.dependents);
    Ok(view)
}

/// The most jobs a workflow answer holds.
const MAX_WORKFLOW: u32 = 10_000;

/// Show a workflow: the root and every job that depends on it, transitively.
#[utoipa::path(get, path = "/v1/workflows/{id}", params(("id" = uuid::Uuid, Path, description = "Root job id (UUID)")), responses(
    (status = 200, body = WorkflowView),
    (status = 400, description = "Malformed id", body = ErrorBody),
    (status = 404, description = "Unknown job", body = ErrorBody),
))]
pub async fn workflow(id: web::Path<String>, node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let root = path_id(&id)?;
    let nodes = node.reads().workflow(root, MAX_WORKFLOW + 1).await?;
    if nodes.is_empty() {
        return Err(ApiError::not_found(format!("job {root} not found")));
    }
    let truncated = nodes.len() > MAX_WORKFLOW as usize;
    let jobs = nodes
        .into_iter()
        .take(MAX_WORKFLOW as usize)
        .map(|n| WorkflowJob {
            job_id: n.job_id,
            job_type: n.job_type,
            status: n.status.as_str().into(),
            depends_on: n.depends_on,
        })
        .collect();
    Ok(HttpResponse::Ok().json(WorkflowView { root, jobs, truncated }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only jobs in this status.
    #[param(pattern = "^(|WAITING|PENDING|RUNNING|COMPLETED|DEAD_LETTER|CANCELLED)$")]
    pub status: Option<String>,
    /// Only jobs of this type.
    #[serde(rename = "type")]
    #[param(pattern = "^[a-z0-9_.-]{0,64}$", max_length = 64)]
    pub job_type: Option<String>,
    /// Only jobs created at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Only jobs created before this time (RFC 3339), after `since`.
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// Only jobs whose payload (as JSON text) or error contains this text
    /// (case-sensitive, at most 200 characters). Not indexed: it reads the jobs of the
    /// time range, the last 24 hours when `since` is not given.
    #[param(max_length = 200, pattern = "^[^\\u0000]*$")]
    pub search: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

/// List jobs, newest first, keyset-paged: each page starts after the previous page's
/// last id, so a page costs the same on the first page and the thousandth.
#[utoipa::path(get, path = "/v1/jobs", params(ListQuery), responses(
    (status = 200, body = JobPage),
    (status = 400, description = "Bad query", body = ErrorBody),
))]
pub async fn list(query: web::Query<ListQuery>, node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let spec = FilterSpec { status: q.status, job_type: q.job_type, since: q.since, until: q.until, search: q.search };
    let mut filter = spec.to_filter(node.now()).map_err(|e| bad_query(e.field, e.reason))?;
    filter.limit = page_limit(q.limit)?;
    filter.before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(parse_job_id(c).map_err(|e| bad_query("cursor", e.reason))?),
    };
    let limit = filter.limit;
    let jobs = node.reads().list_jobs(filter).await?;
    let next_cursor = next_cursor(&jobs, limit, |j| j.job_id.to_string());
    let jobs = jobs.into_iter().map(|j| JobView::new(j, None)).collect();
    Ok(HttpResponse::Ok().json(JobPage { jobs, next_cursor }))
}

/// Cancel a job that has not finished.
#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", params(("id" = uuid::Uuid, Path, description = "Job id (UUID)")), responses(
    (status = 200, description = "Cancelled", body = JobView),
    (status = 400, description = "Malformed id", body = ErrorBody),
    (status = 404, description = "Unknown job", body = ErrorBody),
    (status = 409, description = "Already finished", body = ErrorBody),
))]
pub async fn cancel(id: web::Path<String>, node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let job_id = path_id(&id)?;
    node.cancel(job_id).await?;
    Ok(HttpResponse::Ok().json(job_view(&node, job_id).await?))
}
