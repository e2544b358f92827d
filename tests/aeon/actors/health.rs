//! The HealthMonitor alone: scores from errors, latency, load and missed heartbeats;
//! dead workers declared; rows and metrics written in bulk.

use std::time::Duration;

use actix::prelude::*;
use aeon::actors::health::{HealthConfig, HealthMonitor, Heartbeat, RunMetric, Sweep, Track, Verdicts};
use aeon::actors::probe::{Event, Probe};
use aeon::actors::store::{Flush, StoreActor, StoreActorConfig, StoreHandle};
use aeon::clock::{Clock, ManualClock};
use aeon::store::WorkerStatus;
use uuid::Uuid;

use crate::common::actors::{expect_event, expect_message, recorder};
use crate::common::{TestDb, exact_backoff, on_every_backend, shared};

struct HealthRig {
    db: TestDb,
    store: StoreHandle,
    monitor: Addr<HealthMonitor>,
    clock: ManualClock,
    verdicts: tokio::sync::mpsc::UnboundedReceiver<Verdicts>,
    events: tokio::sync::mpsc::UnboundedReceiver<Event>,
    worker_id: Uuid,
}

const CONFIG: HealthConfig = HealthConfig {
    heartbeat_ms: 500,
    dead_after_ms: 5_000,
    sweep_ms: 1_000,
    unhealthy_below: 0.3,
    latency_ref_ms: 10_000,
    window: 20,
    log_every_ms: 60_000,
    store_stall_ms: 5_000,
    probation_ms: 30_000,
};

async fn rig(db: TestDb) -> HealthRig {
    let clock = ManualClock::starting_now();
    let store =
        StoreActor::new(db.store(exact_backoff()).shared(), shared(&clock), StoreActorConfig::default()).start();
    let (supervisor, verdicts) = recorder::<Verdicts>();
    let (probe, events) = Probe::channel();
    let monitor =
        HealthMonitor::new(CONFIG, "node-t".into(), store.clone(), shared(&clock), supervisor, probe, None).start();
    let worker_id = Uuid::new_v4();
    monitor.send(Track { worker_id, capacity: 10, failure_count: 0, status: WorkerStatus::Active }).await.unwrap();
    HealthRig { db, store, monitor, clock, verdicts, events, worker_id }
}

impl HealthRig {
    async fn beat(&self, load: u32) {
        let beat = Heartbeat { worker_id: self.worker_id, load, capacity: 10, sent_at: self.clock.now() };
        self.monitor.send(beat).await.unwrap();
    }

    async fn runs(&self, ok: bool, n: usize, latency_ms: u64) {
        for _ in 0..n {
            self.monitor.send(RunMetric { worker_id: self.worker_id, ok, latency_ms }).await.unwrap();
        }
    }

    async fn score(&self) -> f64 {
        self.monitor.send(Sweep).await.unwrap()[0].score
    }
}

async fn scores_fall_with_errors_latency_and_load(db: TestDb) {
    let rig = rig(db).await;
    rig.beat(0).await;
    assert_eq!(rig.score().await, 1.0, "a fresh, idle, error-free worker");
    rig.runs(true, 10, 10).await;
    let healthy = rig.score().await;
    rig.runs(false, 10, 10).await;
    let erring = rig.score().await;
    assert!(erring < healthy - 0.2, "half the runs failed: {healthy} -> {erring}");
    rig.runs(false, 20, 10_000).await;
    let failing = rig.score().await;
    assert!(failing < 0.3, "every run failed, slowly: {failing}");
    let verdicts = rig.monitor.send(Sweep).await.unwrap();
    assert_eq!(verdicts[0].status, WorkerStatus::Unhealthy);

    rig.runs(true, 20, 10).await;
    rig.beat(10).await;
    let loaded = rig.score().await;
    rig.beat(0).await;
    assert!(rig.score().await > loaded, "a full worker scores a little lower than an idle one");
}

async fn missed_heartbeats_lower_the_score_then_declare_the_worker_dead(db: TestDb) {
    let mut rig = rig(db).await;
    rig.beat(0).await;
    rig.clock.advance(Duration::from_millis(2_000));
    let late = rig.score().await;
    assert!(late < 1.0 && late > 0.0, "three missed beats cost something: {late}");
    rig.clock.advance(Duration::from_millis(3_001));
    let verdicts = rig.monitor.send(Sweep).await.unwrap();
    assert!(verdicts[0].dead);
    assert_eq!((verdicts[0].status, verdicts[0].score), (WorkerStatus::Dead, 0.0));
    expect_event(
        &mut rig.events,
        "the death",
        |e| matches!(e, Event::WorkerDeclaredDead { worker_id } if *worker_id == rig.worker_id),
    )
    .await;
    let sent = loop {
        let v = expect_message(&mut rig.verdicts, "verdicts").await;
        if v.0[0].dead {
            break v;
        }
    };
    assert_eq!(sent.0[0].worker_id, rig.worker_id);
    assert!(!rig.monitor.send(Sweep).await.unwrap()[0].dead, "declared dead once");

    rig.store.send(Flush).await.unwrap();
    let store = rig.db.store(exact_backoff());
    let row = store.list_workers().await.unwrap().pop().unwrap();
    assert_eq!((row.worker_id, row.status, row.health_score), (rig.worker_id, WorkerStatus::Dead, 0.0));
    assert_eq!(row.node_id, "node-t");
}

async fn a_sweep_writes_every_metric_in_one_batch(db: TestDb) {
    let rig = rig(db).await;
    rig.beat(3).await;
    rig.runs(true, 3, 20).await;
    rig.monitor.send(Sweep).await.unwrap();
    rig.store.send(Flush).await.unwrap();
    let metrics = rig.db.texts("SELECT metric_type FROM worker_health_logs ORDER BY metric_type").await;
    assert_eq!(metrics, ["error_rate", "health_score", "heartbeat_latency_ms", "load"]);
    let load = rig
        .db
        .float("SELECT CAST(metric_value AS DOUBLE PRECISION) FROM worker_health_logs WHERE metric_type = 'load'")
        .await;
    assert_eq!(load, 0.3);
}

async fn an_idle_worker_writes_health_logs_only_when_they_move_or_once_a_minute(db: TestDb) {
    const ROWS: &str = "SELECT COUNT(*) FROM worker_health_logs";
    let rig = rig(db).await;
    rig.beat(3).await;
    rig.monitor.send(Sweep).await.unwrap();
    rig.store.send(Flush).await.unwrap();
    assert_eq!(rig.db.count(ROWS).await, 4, "the first sweep writes the worker's four metrics");
    for _ in 0..10 {
        rig.clock.advance(Duration::from_secs(1));
        rig.beat(3).await;
        rig.monitor.send(Sweep).await.unwrap();
    }
    rig.store.send(Flush).await.unwrap();
    assert_eq!(rig.db.count(ROWS).await, 4, "ten idle sweeps with nothing moving write nothing");
    rig.beat(9).await; // the load moves from 0.3 to 0.9
    rig.monitor.send(Sweep).await.unwrap();
    rig.store.send(Flush).await.unwrap();
    assert_eq!(rig.db.count(ROWS).await, 8, "a change is written at once");
    rig.clock.advance(Duration::from_secs(60));
    rig.beat(9).await;
    rig.monitor.send(Sweep).await.unwrap();
    rig.store.send(Flush).await.unwrap();
    assert_eq!(rig.db.count(ROWS).await, 12, "and unchanged metrics once a minute");
}

on_every_backend!(
    scores_fall_with_errors_latency_and_load,
    missed_heartbeats_lower_the_score_then_declare_the_worker_dead,
    a_sweep_writes_every_metric_in_one_batch,
    an_idle_worker_writes_health_logs_only_when_they_move_or_once_a_minute,
);
