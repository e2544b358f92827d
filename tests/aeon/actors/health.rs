//! The HealthMonitor alone: scores from crashes, latency, load and missed heartbeats,
//! and the reason given; a handler's own failures not held against its worker; dead
//! workers declared, but not for the time the node itself was stopped; rows and
//! metrics written in bulk.

use std::time::Duration;

use actix::prelude::*;
use aeon::actors::health::{
    HealthConfig, HealthMonitor, Heartbeat, RunMetric, RunOutcome, Sweep, Track, Verdicts, WorkerVerdict,
};
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
    store_read_slow_ms: 2_000,
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

    /// `n` runs that succeeded (`ok`) or crashed.
    async fn runs(&self, ok: bool, n: usize, latency_ms: u64) {
        self.ended(if ok { RunOutcome::Succeeded } else { RunOutcome::Crashed }, n, latency_ms).await;
    }

    async fn ended(&self, outcome: RunOutcome, n: usize, latency_ms: u64) {
        for _ in 0..n {
            self.monitor.send(RunMetric { worker_id: self.worker_id, outcome, latency_ms }).await.unwrap();
        }
    }

    async fn sweep(&self) -> WorkerVerdict {
        self.sweep_of(self.worker_id).await
    }

    async fn sweep_of(&self, worker_id: Uuid) -> WorkerVerdict {
        let verdicts = self.monitor.send(Sweep).await.unwrap();
        verdicts.into_iter().find(|v| v.worker_id == worker_id).expect("a verdict on the worker")
    }

    async fn score(&self) -> f64 {
        self.sweep().await.score
    }

    /// The reason the worker's row gives for its score (`metadata.health_reason`).
    async fn reason(&self) -> Option<String> {
        self.store.send(Flush).await.unwrap();
        let row = self.db.store(exact_backoff()).list_workers().await.unwrap().pop().unwrap();
        row.metadata["health_reason"].as_str().map(String::from)
    }

    /// Moves the clock a sweep period at a time, as the node's timer sweeps, the
    /// worker beating or not.
    async fn run_for(&self, seconds: u32, beating: bool) -> Vec<WorkerVerdict> {
        let mut verdicts = Vec::new();
        for _ in 0..seconds {
            self.clock.advance(Duration::from_millis(CONFIG.sweep_ms));
            if beating {
                self.beat(0).await;
            }
            verdicts.push(self.sweep().await);
        }
        verdicts
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
    rig.sweep().await;
    let late = rig.run_for(2, false).await.pop().unwrap().score;
    assert!(late < 1.0 && late > 0.0, "three missed beats cost something: {late}");
    assert_eq!(rig.reason().await.as_deref(), Some("no heartbeat for 2.0 s"));
    let silent = rig.run_for(3, false).await;
    assert!(silent.iter().all(|v| !v.dead), "silent for dead_after_ms, not more: alive");
    rig.clock.advance(Duration::from_millis(1));
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
    assert_eq!(row.metadata["health_reason"], "dead: no heartbeat for 5.0 s");
}

/// A handler that returns a failure fails on any worker: the job's failure, not the
/// worker's. Crashes (a panic, a timeout) are the worker's, and the reason says so.
async fn a_handlers_own_failures_leave_its_worker_healthy_and_crashes_do_not(db: TestDb) {
    let rig = rig(db).await;
    rig.beat(0).await;
    rig.ended(RunOutcome::Failed, 20, 0).await;
    let verdict = rig.sweep().await;
    assert_eq!((verdict.status, verdict.score), (WorkerStatus::Active, 1.0), "every run failed: the job's doing");
    assert_eq!(rig.reason().await, None, "a full score needs no reason");

    rig.ended(RunOutcome::Crashed, 5, 0).await;
    rig.ended(RunOutcome::Failed, 15, 0).await;
    let verdict = rig.sweep().await;
    assert_eq!(verdict.status, WorkerStatus::Active);
    assert!((verdict.score - (1.0 - 0.75 * 0.25)).abs() < 1e-9, "5 crashes of 20 runs: {}", verdict.score);
    assert_eq!(rig.reason().await.as_deref(), Some("5 of its last 20 runs crashed or timed out"));

    rig.ended(RunOutcome::Crashed, 20, 0).await;
    let verdict = rig.sweep().await;
    assert_eq!((verdict.status, verdict.score), (WorkerStatus::Unhealthy, 0.25));
    assert_eq!(rig.reason().await.as_deref(), Some("20 of its last 20 runs crashed or timed out"));

    // On probation, a run that fails without crashing shows the worker runs its
    // handlers again: the crashes are forgotten.
    rig.ended(RunOutcome::Failed, 1, 0).await;
    let verdict = rig.sweep().await;
    assert_eq!((verdict.status, verdict.score), (WorkerStatus::Active, 1.0));
}

/// The reason names every cost a two-decimal score shows, the largest first.
async fn the_reason_names_the_costs_of_the_score_largest_first(db: TestDb) {
    let rig = rig(db).await;
    rig.runs(true, 9, 5_000).await;
    rig.runs(false, 1, 5_000).await;
    rig.clock.advance(Duration::from_millis(1_000));
    rig.beat(10).await;
    rig.clock.advance(Duration::from_millis(CONFIG.sweep_ms));
    let score = rig.score().await;
    let expected = 1.0 - 0.75 * 0.1 - 0.15 * (1.0 / 10.0) - 0.07 * 0.5 - 0.03;
    assert!((score - expected).abs() < 1e-9, "{score} != {expected}");
    assert_eq!(
        rig.reason().await.as_deref(),
        Some(
            "1 of its last 10 runs crashed or timed out; its runs take 5.0 s on average; 10 of 10 slots busy; no heartbeat for 1.0 s"
        )
    );
}

/// A node stopped for longer than `dead_after_ms` (SIGSTOP, a paused VM) wakes with
/// every clock jumped and its workers' heartbeats not yet heard: its first sweep comes
/// late by the pause, and must not declare its own workers dead. A worker that then
/// stays silent still dies, `dead_after_ms` of running time after its last beat.
async fn a_sweep_late_after_a_stall_declares_no_worker_dead_and_a_silent_one_dies_later(db: TestDb) {
    let mut rig = rig(db).await;
    let sick = Uuid::new_v4();
    rig.monitor
        .send(Track { worker_id: sick, capacity: 1, failure_count: 0, status: WorkerStatus::Active })
        .await
        .unwrap();
    let beat_both = || async {
        rig.beat(0).await;
        let beat = Heartbeat { worker_id: sick, load: 0, capacity: 1, sent_at: rig.clock.now() };
        rig.monitor.send(beat).await.unwrap();
    };
    beat_both().await;
    rig.sweep().await;
    rig.clock.advance(Duration::from_millis(500));
    beat_both().await;

    // Stopped for 7 s, between a beat and the next sweep; the sweep runs first.
    rig.clock.advance(Duration::from_millis(7_000));
    let verdicts = rig.monitor.send(Sweep).await.unwrap();
    assert!(verdicts.iter().all(|v| !v.dead && v.status == WorkerStatus::Active), "{verdicts:?}");
    expect_event(&mut rig.events, "the late sweep", |e| matches!(e, Event::SweepLate { late_ms: 6_500 })).await;
    rig.store.send(Flush).await.unwrap();
    let rows = rig.db.store(exact_backoff()).list_workers().await.unwrap();
    assert!(rows.iter().all(|r| r.status == WorkerStatus::Active), "{rows:?}");

    // One worker beats again; the other stays silent and dies 5 s after its last beat,
    // counting only the time the node ran (0.5 s before the sweep that was late).
    let mut silent = Vec::new();
    for _ in 0..5 {
        rig.clock.advance(Duration::from_millis(CONFIG.sweep_ms));
        rig.beat(0).await;
        silent.extend(rig.monitor.send(Sweep).await.unwrap().into_iter().filter(|v| v.worker_id == sick));
    }
    let deaths: Vec<bool> = silent.iter().map(|v| v.dead).collect();
    assert_eq!(deaths, [false, false, false, false, true], "{silent:?}");
    let alive = rig.sweep_of(rig.worker_id).await;
    assert!(!alive.dead && alive.status == WorkerStatus::Active, "{alive:?}");
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
    a_handlers_own_failures_leave_its_worker_healthy_and_crashes_do_not,
    the_reason_names_the_costs_of_the_score_largest_first,
    a_sweep_late_after_a_stall_declares_no_worker_dead_and_a_silent_one_dies_later,
    a_sweep_writes_every_metric_in_one_batch,
    an_idle_worker_writes_health_logs_only_when_they_move_or_once_a_minute,
);
