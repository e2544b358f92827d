//! What other nodes may ask of this one, through the cluster's requests to named
//! actors (`crate::cluster::requests`): cancel a job where it runs, crash a worker,
//! drain, and stop the runs of jobs a bulk cancel cancelled.

use uuid::Uuid;

use super::Node;
use crate::actors::worker::CrashMode;
use crate::cluster::{Asked, Late};
use crate::job::JobStatus;

/// The actor that cancels a job where it runs: a job id → [`Cancelled`].
pub const CANCEL: &str = "node.cancel";
/// The actor that crashes a worker: a [`CrashRequest`] → whether it had that worker.
pub const CRASH: &str = "node.crash";
/// The actor that drains its node: `null` → `null`, once the drain has begun.
pub const DRAIN: &str = "node.drain";
/// The actor that stops its node's runs of jobs a bulk cancel has cancelled in the
/// store: job ids → how many it held (running or queued).
pub const STOP_CANCELLED: &str = "node.stop_cancelled";

/// What a remote cancel did: the job's status after it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Cancelled {
    pub status: JobStatus,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CrashRequest {
    pub worker_id: Uuid,
    pub mode: CrashMode,
}

/// Serves a node's own requests: [`CANCEL`], [`CRASH`], [`DRAIN`], [`STOP_CANCELLED`].
/// A cancel (or a bulk cancel's stop) read after its deadline is still applied: the
/// asker made it in the store meanwhile, and stopping the handler is what was asked. A
/// crash or a drain is not: its caller was told it did not happen.
pub(super) fn serve(node: &Node) {
    let cluster = &node.cluster;
    let n = node.clone();
    cluster.serve_asked(CANCEL, Late::Apply, move |job_id: Uuid, _| {
        let node = n.clone();
        async move {
            let job = node.cancel_here(job_id).await.map_err(|e| e.to_string())?;
            Ok(Cancelled { status: job.status })
        }
    });
    let n = node.clone();
    cluster.serve_asked(CRASH, Late::Refuse, move |request: CrashRequest, asked: Asked| {
        let node = n.clone();
        async move {
            if request.mode != CrashMode::Exit {
                return Ok(node.crash(request.worker_id, request.mode).await);
            }
            // The process ends: answer and acknowledge first. Left pending, the request
            // would be delivered again to the node's next process, and end it too.
            let here = node.slots().await.iter().any(|s| s.worker_id == request.worker_id);
            if here {
                tracing::warn!(worker_id = %request.worker_id, asked_by = %asked.who(),
                    "the process exits on request, once the request is answered");
                asked.then(async move {
                    node.crash(request.worker_id, CrashMode::Exit).await;
                });
            }
            Ok(here)
        }
    });
    let n = node.clone();
    cluster.serve_asked(DRAIN, Late::Refuse, move |(): (), asked: Asked| {
        let node = n.clone();
        async move {
            let id = node.node_id.clone();
            tracing::warn!(node_id = %id, asked_by = %asked.who(), "draining: asked by {}", asked.who());
            node.drain_node(&id, None).await.map_err(|e| e.to_string())
        }
    });
    let n = node.clone();
    cluster.serve_asked(STOP_CANCELLED, Late::Apply, move |job_ids: Vec<Uuid>, _| {
        let node = n.clone();
        async move { Ok(node.stop_cancelled_here(job_ids).await) }
    });
}
