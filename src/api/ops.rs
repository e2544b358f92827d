//! Dead letters, stats, health endpoints and metrics.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::jobs::{path_id, view_of};
use super::{
    ApiError, DeadLetterPage, DeadLetterView, ErrorBody, Health, JobView, Stats, bad_query, next_cursor, page_limit,
};
use crate::job::JobStatus;
use crate::metrics::METRICS;
use crate::node::Node;
use crate::store::WorkerStatus;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
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
    let entries = node.store().dead_letters(limit, before).await?;
    let next_cursor = next_cursor(&entries, limit, |d| d.dlq_id.to_string());
    let dead_letters = entries.into_iter().map(DeadLetterView::from).collect();
    Ok(HttpResponse::Ok().json(DeadLetterPage { dead_letters, next_cursor }))
}

/// Put a dead-lettered job back to `PENDING` with fresh retries.
#[utoipa::path(post, path = "/v1/dead-letters/{job_id}/requeue", params(("job_id" = String, Path, description = "Job id (UUID)")), responses(
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

/// Jobs by status, throughput over the last minute, workers by status.
#[utoipa::path(get, path = "/v1/stats", responses((status = 200, body = Stats)))]
pub async fn stats(node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let store = node.store();
    let mut jobs: BTreeMap<String, i64> = JobStatus::ALL.iter().map(|s| (s.as_str().to_string(), 0)).collect();
    for (status, n) in store.count_by_status().await? {
        jobs.insert(status.as_str().to_string(), n);
    }
    let completed_last_minute = store.completed_since(node.now() - chrono::TimeDelta::seconds(60)).await?;
    let mut workers: BTreeMap<String, i64> = WorkerStatus::ALL.iter().map(|s| (s.as_str().to_string(), 0)).collect();
    for w in store.list_workers().await? {
        *workers.entry(w.status.as_str().to_string()).or_default() += 1;
    }
    Ok(HttpResponse::Ok().json(Stats { jobs, completed_last_minute, workers }))
}

/// The process is alive.
#[utoipa::path(get, path = "/livez", responses((status = 200, body = Health)))]
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "alive".into(), reason: None })
}

/// The node takes work: its store answers and it is not draining.
#[utoipa::path(get, path = "/readyz", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(node: web::Data<Node>) -> HttpResponse {
    let unready = |reason: String| {
        HttpResponse::ServiceUnavailable().json(Health { status: "unready".into(), reason: Some(reason) })
    };
    if node.is_draining() {
        return unready("draining: the node is shutting down".into());
    }
    match node.store().ping().await {
        Ok(()) => HttpResponse::Ok().json(Health { status: "ready".into(), reason: None }),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: store unreachable");
            unready("the store does not answer".into())
        }
    }
}

/// Prometheus metrics: runs by outcome, claim and run latency, queue depth, worker
/// health, restarts, rescues.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", body = String)))]
pub async fn metrics(node: web::Data<Node>) -> HttpResponse {
    use std::fmt::Write;
    let mut out = String::new();
    METRICS.render(&mut out);
    if let Ok(counts) = node.store().count_by_status().await {
        let _ = writeln!(out, "# HELP aeon_queue_depth Jobs by status, cluster-wide.\n# TYPE aeon_queue_depth gauge");
        let counts: BTreeMap<&str, i64> = counts.iter().map(|(s, n)| (s.as_str(), *n)).collect();
        for status in JobStatus::ALL {
            let _ =
                writeln!(out, "aeon_queue_depth{{status=\"{status}\"}} {}", counts.get(status.as_str()).unwrap_or(&0));
        }
    }
    {
        let slots = node.slots().await;
        let _ = writeln!(
            out,
            "# HELP aeon_worker_health Health score of this node's workers.\n# TYPE aeon_worker_health gauge"
        );
        for s in &slots {
            let _ = writeln!(
                out,
                "aeon_worker_health{{worker_id=\"{}\",status=\"{}\"}} {}",
                s.worker_id,
                s.status.as_str(),
                s.score
            );
        }
        let _ =
            writeln!(out, "# HELP aeon_worker_load Jobs held by this node's workers.\n# TYPE aeon_worker_load gauge");
        for s in &slots {
            let _ = writeln!(out, "aeon_worker_load{{worker_id=\"{}\"}} {}", s.worker_id, s.load);
        }
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(out)
}
