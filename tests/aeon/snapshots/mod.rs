//! Snapshots: the store's snapshot methods on both backends ([`store`]); taking,
//! verifying, restoring and AUTO snapshots on a node with a manual clock ([`node`]);
//! refusals of snapshots that do not verify and `--restore latest` ([`refusals`]);
//! the API and the CLI ([`api`]).

mod api;
mod node;
mod refusals;
mod store;

use aeon::actors::probe::{Event, Probe};
use aeon::actors::worker::CrashMode;
use aeon::clock::ManualClock;
use aeon::config::Config;
use aeon::node::Node;
use aeon::snapshot::NodeState;
use aeon::snapshot::model::RunSample;
use aeon::store::SnapshotRow;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc::UnboundedReceiver;
use uuid::Uuid;

use crate::common::actors::{Gate, expect_event, registry_with_gate};
use crate::common::{TestDb, shared};

/// A node of two workers on the test's database and a manual clock. Health sweeps
/// come only when the test sends them (the sweep timer is an hour), so scores change
/// only when the test says; no AUTO timer.
pub struct Rig {
    pub db: TestDb,
    pub node: Node,
    pub clock: ManualClock,
    pub gate: Gate,
    pub events: UnboundedReceiver<Event>,
}

pub fn config() -> Config {
    let mut config = Config::default();
    config.workers.count = 2;
    config.workers.prefetch = 0;
    config.health.heartbeat_ms = 50;
    config.health.sweep_ms = 60_000;
    config.health.dead_after_ms = 10_000;
    config.restarts.max_restarts = 10;
    config.node.poll_ms = 50;
    config.snapshots.auto_interval_s = 0;
    config
}

pub async fn rig(db: TestDb) -> Rig {
    let clock = ManualClock::starting_now();
    let (registry, gate) = registry_with_gate();
    let (probe, events) = Probe::channel();
    let config = config();
    let store = db.store(config.retry).shared();
    let node = Node::start_with_store(config, store, registry, shared(&clock), probe).await.expect("node starts");
    Rig { db, node, clock, gate, events }
}

impl Rig {
    pub async fn workers(&self) -> Vec<Uuid> {
        self.node.slots().await.iter().map(|s| s.worker_id).collect()
    }

    /// Panics a worker and waits for its restart; answers its failure count.
    pub async fn crash(&mut self, worker_id: Uuid) -> i32 {
        assert!(self.node.crash(worker_id, CrashMode::Panic).await, "worker {worker_id} is live");
        let restarted = expect_event(
            &mut self.events,
            "the restart",
            |e| matches!(e, Event::WorkerRestarted { worker_id: w, .. } if *w == worker_id),
        )
        .await;
        let Event::WorkerRestarted { failure_count, .. } = restarted else { unreachable!() };
        failure_count
    }

    /// Feeds a worker's health window runs (ok, or crashed, with a latency), then
    /// sweeps so its score follows.
    pub async fn runs(&self, worker_id: Uuid, runs: &[(bool, u64)]) {
        use aeon::actors::health::{RunMetric, RunOutcome};
        for &(ok, latency_ms) in runs {
            let outcome = if ok { RunOutcome::Succeeded } else { RunOutcome::Crashed };
            self.node.actors.health.do_send(RunMetric { worker_id, outcome, latency_ms });
        }
        self.node.actors.health.send(aeon::actors::health::Sweep).await.expect("sweep");
    }

    /// The node's state now, as a snapshot would hold it.
    pub async fn state(&self) -> NodeState {
        aeon::snapshot::capture::capture(&self.node.snapshot_subject()).await.expect("capture")
    }
}

/// What a restore brings back, per worker: id, failure count, restart window, score,
/// runs, error rate.
pub type Restored = (Uuid, i32, Vec<DateTime<Utc>>, f64, Vec<RunSample>, f64);

pub fn restored_fields(state: &NodeState) -> Vec<Restored> {
    state
        .workers
        .iter()
        .map(|w| {
            (
                w.worker_id,
                w.restarts.failure_count,
                w.restarts.window.clone(),
                w.health.score,
                w.health.runs.clone(),
                w.health.error_rate,
            )
        })
        .collect()
}

/// A copy of `row` under a new id, its JSON changed by `state` and `meta`, and (when
/// `reseal`) its checksum made to fit again: how a test makes a snapshot that fails
/// exactly one check.
pub fn tampered(
    row: &SnapshotRow,
    reseal: bool,
    state: impl FnOnce(&mut serde_json::Value),
    meta: impl FnOnce(&mut serde_json::Value),
) -> SnapshotRow {
    let mut s: serde_json::Value = serde_json::from_str(&row.state_data).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&row.metadata).unwrap();
    state(&mut s);
    meta(&mut m);
    if reseal {
        m["checksum"] = aeon::snapshot::canonical::checksum(row.snapshot_type, &m, &s).into();
    }
    SnapshotRow {
        snapshot_id: Uuid::now_v7(),
        snapshot_type: row.snapshot_type,
        state_data: s.to_string(),
        metadata: m.to_string(),
        created_at: row.created_at + chrono::Duration::seconds(1),
    }
}
