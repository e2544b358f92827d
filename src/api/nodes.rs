//! `/v1/nodes`: the cluster's members, and draining any of them.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, ErrorBody};
use crate::cluster::AskError;
use crate::node::Node;
use crate::store::{NodeStatus, WorkerStatus};

/// A node of the cluster, as its row and its workers' rows say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NodeView {
    pub node_id: String,
    /// Where its HTTP API listens (`host:port`).
    pub address: String,
    /// `ACTIVE`, `DRAINING`, `STOPPED`, or `DEAD` (silent past `cluster.node_dead_after_ms`).
    pub status: NodeStatus,
    /// Its workers, and how many of them are alive (`ACTIVE` or `UNHEALTHY`).
    pub workers: usize,
    pub live_workers: usize,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub last_seen: chrono::DateTime<chrono::Utc>,
    /// The process that holds the node id (a fresh id at each start; empty on a row
    /// written before incarnations existed). See docs/cluster.md.
    pub incarnation: String,
}

/// Every node that has joined the cluster, by id.
#[utoipa::path(get, path = "/v1/nodes", responses((status = 200, body = Vec<NodeView>)))]
pub async fn list(node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let nodes = node.reads().list_nodes().await?;
    let workers = node.reads().list_workers().await?;
    let silent_since = node.silent_since();
    let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
    for w in &workers {
        let entry = counts.entry(w.node_id.as_str()).or_default();
        entry.0 += 1;
        entry.1 += usize::from(matches!(w.status, WorkerStatus::Active | WorkerStatus::Unhealthy));
    }
    let views: Vec<NodeView> = nodes
        .iter()
        .map(|n| {
            let status = n.status_at(silent_since);
            let (all, live) = counts.get(n.node_id.as_str()).copied().unwrap_or_default();
            NodeView {
                node_id: n.node_id.clone(),
                address: n.address.clone(),
                status,
                workers: all,
                live_workers: if status == NodeStatus::Dead { 0 } else { live },
                started_at: n.started_at,
                last_seen: n.last_seen,
                incarnation: n.incarnation.clone(),
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Drain a node (this one or another, reached through its mailbox): it stops
/// claiming, lets running jobs finish within its `node.drain_grace_ms`, releases the
/// rest, and reports `DRAINING`.
#[utoipa::path(post, path = "/v1/nodes/{id}/drain", params(("id" = String, Path, description = "Node id")), responses(
    (status = 202, description = "The node began draining"),
    (status = 404, description = "No live node with that id", body = ErrorBody),
    (status = 503, description = "The node could not be reached (Redis down, or it did not answer)", body = ErrorBody),
))]
pub async fn drain(req: HttpRequest, id: web::Path<String>, node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let node_id = id.into_inner();
    if node_id != node.node_id {
        let nodes = node.reads().list_nodes().await?;
        let live = nodes
            .iter()
            .find(|n| n.node_id == node_id)
            .is_some_and(|n| matches!(n.status_at(node.silent_since()), NodeStatus::Active | NodeStatus::Draining));
        if !live {
            return Err(ApiError::not_found(format!("no live node {node_id:?}")).with_field("node_id"));
        }
    }
    node.drain_node(&node_id, Some(&caller(&req))).await.map_err(unreachable)?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "node_id": node_id, "draining": true })))
}

/// Who made an HTTP request, for a log line: the peer's address and its `User-Agent`
/// (printable ASCII, at most 80 characters). Never its token.
pub(super) fn caller(req: &HttpRequest) -> String {
    let peer = req.peer_addr().map_or_else(|| "an unknown address".to_string(), |a| a.to_string());
    let agent: Option<String> = req.headers().get(actix_web::http::header::USER_AGENT).map(|v| {
        v.as_bytes().iter().filter(|b| b.is_ascii_graphic() || **b == b' ').take(80).map(|b| *b as char).collect()
    });
    match agent {
        Some(agent) => format!("HTTP caller {peer}, User-Agent {agent:?}"),
        None => format!("HTTP caller {peer}"),
    }
}

/// A request another node did not answer: 503, naming why.
pub(super) fn unreachable(e: AskError) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "node_unreachable", e.to_string())
}
