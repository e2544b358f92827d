//! `POST /v1/jobs/bulk`: cancel, retry now or requeue many jobs at once, named by id
//! (a selection) or by a filter (everything matching it), with a preview first.
//!
//! A preview counts, without changing anything, the jobs the action would touch: those
//! matching the filter in the statuses the action fits. Running the action walks the
//! matching jobs newest first in batches of [`BATCH`] ids, each batch one short
//! transaction, and answers how many it changed. Jobs that change status meanwhile
//! are skipped (each batch rechecks the status under its lock), so the count changed
//! may be lower than the preview's.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::filter::FilterSpec;
use super::jobs::body;
use super::{ApiError, ErrorBody};
use crate::node::Node;
use crate::store::{BulkAction, JobFilter};

/// Jobs per batch (per transaction).
pub const BATCH: u32 = 500;

/// The most ids one selection may name.
pub const MAX_SELECTION: usize = 1_000;

/// A preview counts at most this many jobs (and then says `capped`).
pub const PREVIEW_CAP: u32 = 1_000_000;

/// `{"action", "job_ids" | "filter", "preview"?}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// `cancel` (unfinished jobs), `retry_now` (`PENDING` jobs: due at once) or
    /// `requeue` (`DEAD_LETTER` jobs: back to `PENDING` with fresh retries).
    #[schema(value_type = String)]
    pub action: BulkAction,
    /// These jobs (1 to 1000 ids). Give this or `filter`.
    pub job_ids: Option<Vec<Uuid>>,
    /// Every job matching this filter. Give this or `job_ids`.
    pub filter: Option<FilterSpec>,
    /// Only count the jobs the action would touch; change nothing.
    #[serde(default)]
    pub preview: bool,
}

/// What a bulk action touched (or, in a preview, would touch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BulkAnswer {
    pub action: String,
    pub preview: bool,
    /// Jobs matching, in the statuses the action fits (counted before it ran).
    pub matched: u64,
    /// Whether `matched` stopped counting at its cap (1,000,000).
    pub capped: bool,
    /// Jobs changed (0 in a preview).
    pub changed: u64,
    /// Transactions the action ran in.
    pub batches: u64,
}

/// Cancel, retry now or requeue many jobs, or preview how many it would touch.
#[utoipa::path(post, path = "/v1/jobs/bulk", request_body = BulkRequest, responses(
    (status = 200, description = "Done (or previewed)", body = BulkAnswer),
    (status = 400, description = "Malformed JSON", body = ErrorBody),
    (status = 403, description = "A read-only token", body = ErrorBody),
    (status = 422, description = "A field does not fit (nothing was changed)", body = ErrorBody),
))]
pub async fn run(req: HttpRequest, payload: web::Payload, node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let request: BulkRequest = super::error::parse_body(&body(&req, payload, &node).await?)?;
    let filter = filter_of(&request, &node)?;
    let (matched, capped) = {
        let n = node.reads().count_jobs(JobFilter { limit: PREVIEW_CAP, ..filter.clone() }).await?;
        (n, n >= u64::from(PREVIEW_CAP))
    };
    let mut answer = BulkAnswer {
        action: request.action.as_str().into(),
        preview: request.preview,
        matched,
        capped,
        changed: 0,
        batches: 0,
    };
    if request.preview || matched == 0 {
        return Ok(HttpResponse::Ok().json(answer));
    }
    let mut before = None;
    loop {
        let ids = node.reads().job_ids(JobFilter { before, limit: BATCH, ..filter.clone() }).await?;
        let Some(last) = ids.last().copied() else { break };
        let full = ids.len() == BATCH as usize;
        answer.changed += node.apply_bulk(request.action, ids).await?.len() as u64;
        answer.batches += 1;
        before = Some(last);
        if !full {
            break;
        }
    }
    tracing::info!(action = answer.action, changed = answer.changed, batches = answer.batches, "bulk action");
    Ok(HttpResponse::Ok().json(answer))
}

/// The store's filter for the request: its selection or filter, narrowed to the
/// statuses the action fits.
fn filter_of(request: &BulkRequest, node: &Node) -> Result<JobFilter, ApiError> {
    let invalid = |field: &str, message: String| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message).with_field(field)
    };
    let fits = request.action.statuses();
    let mut filter = match (&request.job_ids, &request.filter) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(invalid("filter", "give either job_ids or filter".into()));
        }
        (Some(ids), None) => {
            if ids.is_empty() || ids.len() > MAX_SELECTION {
                let message = format!("a selection names 1 to {MAX_SELECTION} jobs, not {}", ids.len());
                return Err(invalid("job_ids", message));
            }
            JobFilter { job_ids: ids.clone(), ..JobFilter::default() }
        }
        (None, Some(spec)) => {
            spec.to_filter(node.now()).map_err(|e| invalid(&format!("filter.{}", e.field), e.reason))?
        }
    };
    if let Some(status) = filter.statuses.first() {
        if !fits.contains(status) {
            let names: Vec<&str> = fits.iter().map(|s| s.as_str()).collect();
            let message =
                format!("{} applies only to jobs in {}, not {status}", request.action.as_str(), names.join(", "));
            return Err(invalid("filter.status", message));
        }
    } else {
        filter.statuses = fits.to_vec();
    }
    Ok(filter)
}
