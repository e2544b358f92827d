//! INCREMENTAL content: what changed between a parent's [`NodeState`] and the node's
//! state now. Workers are compared one by one (a changed or new worker is carried
//! whole; a gone one by id); the restart history, queue statistics and in-flight
//! list are carried only when they changed. [`apply`] of [`diff`] gives back exactly
//! the later state.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::{InFlight, NodeState, QueueStats, WorkerState};
use crate::actors::supervisor::RestartEvent;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delta {
    pub node_id: String,
    pub taken_at: DateTime<Utc>,
    /// Workers new or changed since the parent, whole.
    pub workers: Vec<WorkerState>,
    /// Workers the parent had and the node has no more.
    pub removed_workers: Vec<Uuid>,
    /// The worker order, when it is not the parent's with new workers appended.
    pub order: Option<Vec<Uuid>>,
    pub restart_history: Option<Vec<RestartEvent>>,
    pub queue: Option<QueueStats>,
    pub in_flight: Option<Vec<InFlight>>,
}

/// The change from `parent` to `now`.
pub fn diff(parent: &NodeState, now: &NodeState) -> Delta {
    let workers: Vec<WorkerState> = now
        .workers
        .iter()
        .filter(|w| parent.workers.iter().find(|p| p.worker_id == w.worker_id) != Some(*w))
        .cloned()
        .collect();
    let removed_workers =
        parent.workers.iter().filter(|p| !now.workers.iter().any(|w| w.worker_id == p.worker_id)).map(|p| p.worker_id);
    let mut delta = Delta {
        node_id: now.node_id.clone(),
        taken_at: now.taken_at,
        workers,
        removed_workers: removed_workers.collect(),
        order: None,
        restart_history: (parent.restart_history != now.restart_history).then(|| now.restart_history.clone()),
        queue: (parent.queue != now.queue).then(|| now.queue.clone()),
        in_flight: (parent.in_flight != now.in_flight).then(|| now.in_flight.clone()),
    };
    let order: Vec<Uuid> = now.workers.iter().map(|w| w.worker_id).collect();
    let applied: Vec<Uuid> = apply(parent, &delta).workers.iter().map(|w| w.worker_id).collect();
    if applied != order {
        delta.order = Some(order);
    }
    delta
}

/// `parent` changed by `delta`.
pub fn apply(parent: &NodeState, delta: &Delta) -> NodeState {
    let mut workers: Vec<WorkerState> =
        parent.workers.iter().filter(|w| !delta.removed_workers.contains(&w.worker_id)).cloned().collect();
    for changed in &delta.workers {
        match workers.iter_mut().find(|w| w.worker_id == changed.worker_id) {
            Some(w) => *w = changed.clone(),
            None => workers.push(changed.clone()),
        }
    }
    if let Some(order) = &delta.order {
        workers.sort_by_key(|w| order.iter().position(|id| *id == w.worker_id).unwrap_or(usize::MAX));
    }
    NodeState {
        node_id: delta.node_id.clone(),
        taken_at: delta.taken_at,
        workers,
        restart_history: delta.restart_history.clone().unwrap_or_else(|| parent.restart_history.clone()),
        queue: delta.queue.clone().unwrap_or_else(|| parent.queue.clone()),
        in_flight: delta.in_flight.clone().unwrap_or_else(|| parent.in_flight.clone()),
    }
}
