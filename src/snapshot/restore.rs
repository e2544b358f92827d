//! Restoring a node's actors from a snapshot that verified: each worker gets back its
//! restart counters and intensity window, its health score and the inputs of it; the
//! Supervisor gets back its restart history. Jobs are never touched: the job rows are
//! the truth for claims, and the snapshot's in-flight list is only compared with them
//! and reported.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::capture::config_fingerprint;
use super::model::{InFlight, NodeState};
use super::verify::{Verified, verify};
use super::{SnapshotError, Snapshots};
use crate::actors::health::HealthSeed;
use crate::actors::supervisor::{RestoreWorkers, WorkerRestore, WorkerSeed};
use crate::store::{Reads, SnapshotType};

/// What a restore did, and what it found.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RestoreReport {
    pub snapshot_id: Uuid,
    #[schema(value_type = String)]
    pub snapshot_type: SnapshotType,
    /// The snapshots restored from, FULL base first.
    pub chain: Vec<Uuid>,
    /// The node that took the snapshot, and when.
    pub node_id: String,
    pub taken_at: DateTime<Utc>,
    /// Whether this node runs the configuration the snapshot was taken under.
    pub config_matches: bool,
    /// What became of each of the snapshot's workers.
    pub workers: Vec<WorkerRestore>,
    pub restart_history: usize,
    /// The snapshot's in-flight claims against the job rows now.
    pub in_flight: Vec<InFlightCheck>,
}

/// One claim the snapshot recorded, as the job's row stands now.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct InFlightCheck {
    pub job_id: Uuid,
    pub execution_id: Uuid,
    pub worker_id: Uuid,
    pub queued: bool,
    /// The job's status now; `MISSING` when the row is gone.
    pub status_now: String,
    /// Whether the same execution still holds the claim.
    pub same_claim: bool,
}

impl Snapshots {
    /// Verifies `snapshot_id` and its chain, then restores the node's actors from it.
    /// A snapshot that does not verify is refused and nothing changes.
    pub async fn restore(&self, snapshot_id: Uuid) -> Result<RestoreReport, SnapshotError> {
        let verified = verify(self.node.reads(), snapshot_id).await?;
        let seed = seed(&verified.state);
        let workers = self.node.actors.supervisor.send(seed.clone()).await.map_err(|_| SnapshotError::Unavailable)?;
        let report = report(self.node.reads(), &verified, config_fingerprint(self.node.config()), workers).await?;
        log(&report);
        Ok(report)
    }
}

/// What the Supervisor needs to bring a state back.
pub fn seed(state: &NodeState) -> RestoreWorkers {
    RestoreWorkers {
        workers: state
            .workers
            .iter()
            .map(|w| WorkerSeed {
                worker_id: w.worker_id,
                failure_count: w.restarts.failure_count,
                restart_window: w.restarts.window.clone(),
                health: HealthSeed {
                    worker_id: w.worker_id,
                    failure_count: w.restarts.failure_count,
                    score: w.health.score,
                    heartbeat_latency_ms: w.health.heartbeat_latency_ms,
                    runs: w.health.runs.iter().map(|r| (r.ok, r.latency_ms)).collect(),
                },
            })
            .collect(),
        history: state.restart_history.clone(),
    }
}

/// The report of a restore: the workers' fate and the in-flight claims compared.
pub async fn report(
    store: &dyn Reads,
    verified: &Verified,
    fingerprint: String,
    workers: Vec<WorkerRestore>,
) -> Result<RestoreReport, SnapshotError> {
    Ok(RestoreReport {
        snapshot_id: verified.row.snapshot_id,
        snapshot_type: verified.row.snapshot_type,
        chain: verified.chain.clone(),
        node_id: verified.state.node_id.clone(),
        taken_at: verified.state.taken_at,
        config_matches: verified.meta.config_fingerprint == fingerprint,
        workers,
        restart_history: verified.state.restart_history.len(),
        in_flight: compare_in_flight(store, &verified.state.in_flight).await?,
    })
}

/// Reads each recorded claim's job row; changes nothing.
async fn compare_in_flight(store: &dyn Reads, claims: &[InFlight]) -> Result<Vec<InFlightCheck>, SnapshotError> {
    let mut checks = Vec::with_capacity(claims.len());
    for c in claims {
        let job = store.get_job(c.job_id).await?;
        checks.push(InFlightCheck {
            job_id: c.job_id,
            execution_id: c.execution_id,
            worker_id: c.worker_id,
            queued: c.queued,
            status_now: job.as_ref().map(|j| j.status.as_str().to_string()).unwrap_or_else(|| "MISSING".into()),
            same_claim: job.as_ref().is_some_and(|j| j.current_execution_id == Some(c.execution_id)),
        });
    }
    Ok(checks)
}

/// Logs a restore for operators.
pub fn log(report: &RestoreReport) {
    let restored = report.workers.iter().filter(|w| w.worker_id.is_some()).count();
    let still_held = report.in_flight.iter().filter(|c| c.same_claim).count();
    tracing::info!(
        snapshot_id = %report.snapshot_id,
        chain = report.chain.len(),
        workers = restored,
        in_flight = report.in_flight.len(),
        still_held,
        config_matches = report.config_matches,
        "restored the node's actors from a snapshot (jobs untouched: their rows are the truth)"
    );
    if !report.config_matches {
        tracing::warn!(snapshot_id = %report.snapshot_id, "the snapshot was taken under another configuration");
    }
}
