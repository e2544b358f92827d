//! `/v1/workers`: list, and crash on purpose (experiments only).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::jobs::body;
use super::{ApiError, CrashRequest, ErrorBody, HealthHistoryView, HealthSampleView, WorkerView};
use crate::actors::worker::CrashMode;
use crate::node::Node;
use crate::store::{HealthHistoryParams, WorkerStatus};

/// Every worker of the cluster.
#[utoipa::path(get, path = "/v1/workers", responses((status = 200, body = Vec<WorkerView>)))]
pub async fn list(node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let workers = node.reads().list_workers().await?;
    // A dead node's workers are dead, whether or not the rescuer has marked them yet.
    let silent_since = node.silent_since();
    let dead: Vec<String> = node
        .reads()
        .list_nodes()
        .await?
        .into_iter()
        .filter(|n| n.status_at(silent_since) == crate::store::NodeStatus::Dead)
        .map(|n| n.node_id)
        .collect();
    let views = workers.into_iter().map(|mut w| {
        let node_dead = dead.contains(&w.node_id);
        if node_dead && !matches!(w.status, WorkerStatus::Failed | WorkerStatus::Stopped) {
            w.status = WorkerStatus::Dead;
        }
        let mut view = WorkerView::from(w);
        if node_dead && view.status == WorkerStatus::Dead.as_str() {
            view.health_reason = Some(format!("dead: its node {} stopped heartbeating", view.node_id));
        }
        view
    });
    Ok(HttpResponse::Ok().json(views.collect::<Vec<_>>()))
}

/// A worker's health score over time: its last samples (at most 120), oldest first.
/// Samples are written when the score moves or once a minute (`health.log_every_ms`).
#[utoipa::path(get, path = "/v1/workers/{id}/health", params(("id" = String, Path, description = "Worker id (UUID)")),
    responses(
        (status = 200, description = "The samples, oldest first", body = HealthHistoryView),
        (status = 400, description = "Malformed id", body = ErrorBody),
    ))]
pub async fn health(id: web::Path<String>, node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let worker_id = worker_id(&id)?;
    let mut samples = node
        .reads()
        .health_history(HealthHistoryParams { worker_id, metric_type: "health_score".into(), limit: 120 })
        .await?;
    samples.reverse();
    let samples = samples.into_iter().map(|s| HealthSampleView { logged_at: s.logged_at, value: s.value }).collect();
    Ok(HttpResponse::Ok().json(HealthHistoryView { worker_id, metric: "health_score".into(), samples }))
}

fn worker_id(id: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::try_parse(id).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", format!("{id:?} is not a UUID: {e}"))
            .with_field("worker_id")
    })
}

/// Crash a worker of any node on purpose (another node's is reached through its
/// mailbox). Refused unless
/// `[experiments] allow_crash = true`.
#[utoipa::path(post, path = "/v1/workers/{id}/crash", request_body = CrashRequest,
    params(("id" = uuid::Uuid, Path, description = "Worker id (UUID)")), responses(
    (status = 202, description = "The worker was told to crash"),
    (status = 400, description = "Malformed id or JSON", body = ErrorBody),
    (status = 403, description = "Crashing is not allowed on this node", body = ErrorBody),
    (status = 404, description = "No such live worker", body = ErrorBody),
    (status = 503, description = "The worker's node could not be reached", body = ErrorBody),
    (status = 422, description = "Unknown mode", body = ErrorBody),
))]
pub async fn crash(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    node: web::Data<Node>,
) -> Result<HttpResponse, ApiError> {
    if !node.config().experiments.allow_crash {
        let message = "crashing workers is disabled; set [experiments] allow_crash = true to allow it";
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", message));
    }
    let worker_id = worker_id(&id)?;
    let mode: CrashMode = super::error::parse_body(&body(&req, payload, &node).await?)?;
    if !node.crash_anywhere(worker_id, mode).await.map_err(super::nodes::unreachable)? {
        return Err(ApiError::not_found(format!("no live worker {worker_id} on any node")));
    }
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "worker_id": worker_id, "crash": mode })))
}
