//! Dead letters, stats, health endpoints and metrics.

use std::collections::BTreeMap;

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::jobs::{path_id, view_of};
use super::{
    Access, ApiError, DeadLetterPage, DeadLetterView, ErrorBody, Health, HistoryView, JobView, MinuteView, SessionView,
    Stats, UnhandledType, bad_query, next_cursor, page_limit,
};
use crate::job::JobStatus;
use crate::metrics::METRICS;
use crate::node::Node;
use crate::store::WorkerStatus;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

/// Open dead-letter entries, newest first.
#[utoipa::path(get, path = "/v1/dead-letters", params(PageQuery), responses(
    (status = 200, body = DeadLetterPage),
    (status = 400, description = "Bad query", body = ErrorBody),
))]
pub async fn dead_letters(query: web::Query<PageQuery>, node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit)?;
    let before = match query.cursor.as_deref() {
        None => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| bad_query("cursor", format!("{c:?} is not a cursor")))?),
    };
    let entries = node.reads().dead_letters(limit, before).await?;
    let next_cursor = next_cursor(&entries, limit, |d| d.dlq_id.to_string());
    let dead_letters = entries.into_iter().map(DeadLetterView::from).collect();
    Ok(HttpResponse::Ok().json(DeadLetterPage { dead_letters, next_cursor }))
}

/// Put a dead-lettered job back to `PENDING` with fresh retries.
#[utoipa::path(post, path = "/v1/dead-letters/{job_id}/requeue", params(("job_id" = uuid::Uuid, Path, description = "Job id (UUID)")), responses(
    (status = 200, description = "Requeued", body = JobView),
    (status = 400, description = "Malformed id", body = ErrorBody),
    (status = 404, description = "Unknown job", body = ErrorBody),
    (status = 409, description = "The job is not dead-lettered", body = ErrorBody),
))]
pub async fn requeue(job_id: web::Path<String>, node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let job_id = path_id(&job_id)?;
    // The job as the requeue left it: a worker may take it at once.
    let requeued = node.requeue(job_id).await?;
    Ok(HttpResponse::Ok().json(view_of(&node, requeued).await?))
}

/// Jobs by status, throughput over the last minute, workers by status, and pending
/// job types that no live worker handles.
#[utoipa::path(get, path = "/v1/stats", responses(
    (status = 200, body = Stats),
    (status = 503, description = "The store did not answer in time (see /readyz)", body = ErrorBody),
))]
pub async fn stats(node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    // Bounded: a stuck store makes this a prompt 503, never a hung request.
    match tokio::time::timeout(STATS_WAIT, read_stats(&node)).await {
        Ok(stats) => Ok(HttpResponse::Ok().json(stats?)),
        Err(_) => Err(ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "store_busy",
            format!("the store did not answer within {} ms; see /readyz", STATS_WAIT.as_millis()),
        )),
    }
}

/// How long `/v1/stats` waits for the store.
const STATS_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

async fn read_stats(node: &Node) -> Result<Stats, ApiError> {
    let store = node.reads();
    let mut jobs: BTreeMap<String, i64> = JobStatus::ALL.iter().map(|s| (s.as_str().to_string(), 0)).collect();
    for (status, n) in store.count_by_status().await? {
        jobs.insert(status.as_str().to_string(), n);
    }
    let completed_last_minute = store.completed_since(node.now() - chrono::TimeDelta::seconds(60)).await?;
    let mut workers: BTreeMap<String, i64> = WorkerStatus::ALL.iter().map(|s| (s.as_str().to_string(), 0)).collect();
    let rows = store.list_workers().await?;
    for w in &rows {
        *workers.entry(w.status.as_str().to_string()).or_default() += 1;
    }
    let pending = store.pending_by_type().await?;
    let unhandled_types = crate::gauges::unhandled(pending, &rows, node.live_since())
        .into_iter()
        .map(|(job_type, pending)| UnhandledType { job_type, pending })
        .collect();
    Ok(Stats { jobs, completed_last_minute, workers, unhandled_types })
}

/// What the caller's token may do here, and whether crashing workers is allowed.
#[utoipa::path(get, path = "/v1/session", responses((status = 200, description = "What the token may do", body = SessionView)))]
pub async fn session(req: HttpRequest, node: web::Data<Node>) -> HttpResponse {
    let access = match req.extensions().get::<Access>() {
        Some(Access::Read) => "read",
        _ => "write",
    };
    HttpResponse::Ok().json(SessionView {
        access: access.into(),
        allow_crash: node.config().experiments.allow_crash,
        node_id: node.node_id.clone(),
    })
}

/// Runs per minute over the last hour on this node (kept in memory, no query), and
/// ready jobs by type across the cluster (one indexed count).
#[utoipa::path(get, path = "/v1/stats/history", responses((status = 200, description = "Runs per minute and queue depths", body = HistoryView)))]
pub async fn history(node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let minutes = METRICS
        .history
        .last_hour(node.now())
        .into_iter()
        .map(|m| MinuteView {
            at: chrono::DateTime::from_timestamp(m.minute * 60, 0).unwrap_or_default(),
            succeeded: m.succeeded,
            failed: m.failed,
        })
        .collect();
    let pending_by_type = node.reads().pending_by_type().await?.into_iter().collect();
    Ok(HttpResponse::Ok().json(HistoryView { node_id: node.node_id.clone(), minutes, pending_by_type }))
}

/// The process is alive.
#[utoipa::path(get, path = "/livez", responses((status = 200, body = Health)))]
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "alive".into(), reason: None, degraded: Vec::new() })
}

/// The node takes work: its store answers and it is not draining. 200 names the
/// optional components that do not work in `degraded` (e.g. `["qdrant"]`), with why
/// in `reason`.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "Ready", body = Health),
    (status = 503, description = "Unready, `reason` says why: draining, a store call stuck or failing, the database's disk full, the store not answering", body = Health),
))]
pub async fn readyz(node: web::Data<Node>) -> HttpResponse {
    let unready = |reason: String| {
        HttpResponse::ServiceUnavailable().json(Health {
            status: "unready".into(),
            reason: Some(reason),
            degraded: Vec::new(),
        })
    };
    match node.readiness().await {
        Ok(()) => {
            // A vector store that fails is reported, not a reason to refuse work.
            let status = &node.contexts.status;
            let (mut degraded, mut reasons) = (Vec::new(), Vec::new());
            if let Some(why) = status.degraded() {
                degraded.push(status.backend().to_string());
                reasons.push(format!("{}: {why}", status.backend()));
            }
            // Nor is a lost Redis: the node works on the store alone meanwhile.
            if let Some(why) = node.cluster.status().degraded() {
                degraded.push("redis".to_string());
                reasons.push(format!("redis: {why}"));
            }
            let reason = (!reasons.is_empty()).then(|| reasons.join("; "));
            HttpResponse::Ok().json(Health { status: "ready".into(), reason, degraded })
        }
        Err(reason) => {
            tracing::warn!(%reason, "readiness: unready");
            unready(reason)
        }
    }
}

/// Prometheus metrics (OpenMetrics text): runs by outcome, claim and run latency,
/// restarts, rescues, queue depth, worker health and load, pending jobs no live worker
/// handles. Reads memory only: the gauges the store knows are cached by the node and
/// refreshed off the request path, so a stuck database never holds up a scrape
/// (`aeon_gauges_age_seconds` tells how old they are). The vector store's
/// (`aeon_vector_*`: degraded, queue depth, retries, drops, writes) come from memory.
#[utoipa::path(get, path = "/metrics", responses(
    (status = 200, description = "OpenMetrics text format", body = String, content_type = "application/openmetrics-text"),
))]
pub async fn metrics(node: web::Data<Node>) -> HttpResponse {
    let mut body = crate::gauges::render(&node.gauges());
    // The vector store's health and counters (aeon_vector_*), before the closing `# EOF`.
    let vectors = node.contexts.status.encode() + &node.cluster.status().encode();
    body.insert_str(body.rfind("# EOF").unwrap_or(body.len()), &vectors);
    HttpResponse::Ok().content_type(crate::metrics::CONTENT_TYPE).body(body)
}
