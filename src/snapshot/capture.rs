//! Taking a node's state from its actors: the Supervisor (slots, restart counters and
//! window, held claims, restart history), the HealthMonitor (scores and their inputs)
//! and the store (queue statistics). Nothing here writes.

use std::collections::BTreeMap;

use serde_json::Value;

use super::canonical::fingerprint;
use super::model::{
    InFlight, NodeState, QueueStats, RunSample, WorkerHealth, WorkerRestarts, WorkerSettings, WorkerSlots, WorkerState,
};
use super::{SnapshotError, Subject};
use crate::actors::health::GetHealth;
use crate::actors::supervisor::GetRuntime;
use crate::config::Config;
use crate::job::JobStatus;

/// The node's state now.
pub async fn capture(node: &Subject) -> Result<NodeState, SnapshotError> {
    let runtime = node.actors.supervisor.send(GetRuntime).await.map_err(|_| SnapshotError::Unavailable)?;
    let health = node.actors.health.send(GetHealth).await.map_err(|_| SnapshotError::Unavailable)?;
    let counts = node.reads().count_by_status().await?;
    let config = node.config();
    let settings = WorkerSettings {
        capacity: config.workers.capacity,
        prefetch: config.workers.prefetch,
        prefetch_wait_ms: config.workers.prefetch_wait_ms,
        lease_ms: config.workers.lease_ms,
        backlog: config.workers.backlog,
    };
    let mut workers = Vec::with_capacity(runtime.workers.len());
    let mut in_flight = Vec::new();
    for w in runtime.workers {
        let slot = w.slot;
        let tracked = health.iter().find(|h| h.worker_id == slot.worker_id);
        let health = match tracked {
            Some(h) => WorkerHealth {
                score: h.score.clamp(0.0, 1.0),
                status: h.status,
                error_rate: h.error_rate,
                heartbeat_latency_ms: h.heartbeat_latency_ms,
                load: h.load,
                last_heartbeat: h.last_heartbeat,
                runs: h.runs.iter().map(|&(ok, latency_ms)| RunSample { ok, latency_ms }).collect(),
            },
            None => WorkerHealth {
                score: slot.score.clamp(0.0, 1.0),
                status: slot.status,
                error_rate: 0.0,
                heartbeat_latency_ms: 0.0,
                load: 0,
                last_heartbeat: None,
                runs: Vec::new(),
            },
        };
        let (running, queued) = match &w.held {
            Some(held) => (held.running.len() as u32, held.queued.len() as u32),
            None => (0, 0),
        };
        if let Some(held) = &w.held {
            let claims = held.running.iter().map(|c| (c, false)).chain(held.queued.iter().map(|c| (c, true)));
            in_flight.extend(claims.map(|(c, queued)| InFlight {
                job_id: c.job_id,
                execution_id: c.execution_id,
                worker_id: slot.worker_id,
                queued,
            }));
        }
        workers.push(WorkerState {
            worker_id: slot.worker_id,
            status: slot.status,
            incarnation: slot.incarnation,
            config: WorkerSettings { capacity: slot.capacity, ..settings },
            health,
            restarts: WorkerRestarts { failure_count: slot.failure_count, window: w.restart_window },
            slots: WorkerSlots {
                capacity: slot.capacity,
                load: slot.load,
                unsettled: slot.unsettled,
                running,
                queued,
                answered: w.held.is_some(),
            },
        });
    }
    let mut by_status: BTreeMap<String, i64> = JobStatus::ALL.iter().map(|s| (s.as_str().to_string(), 0)).collect();
    for (status, n) in counts {
        by_status.insert(status.as_str().to_string(), n);
    }
    Ok(NodeState {
        node_id: node.node_id.clone(),
        taken_at: node.now(),
        workers,
        restart_history: runtime.history,
        queue: QueueStats { by_status },
        in_flight,
    })
}

/// The fingerprint of a configuration, secrets redacted first.
pub fn config_fingerprint(config: &Config) -> String {
    fingerprint(&serde_json::to_value(config.redacted()).unwrap_or(Value::Null))
}
