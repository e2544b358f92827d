//! The Supervisor with its real children on a real store, timers off: the test sends
//! the ticks and waits on the probe.

use std::time::Duration;

use aeon::actors::health::{Heartbeat, Stop, Sweep, Verdicts, WorkerVerdict};
use aeon::actors::probe::{Event, Hold, Probe, RunResult};
use aeon::actors::store::{Flush, StoreActorConfig};
use aeon::actors::supervisor::{
    CheckChildren, CrashWorker, GetMonitor, GetSlots, NodeActors, RestartPolicy, Supervisor, SupervisorConfig, Wake,
};
use aeon::actors::worker::CrashMode;
use aeon::clock::{Clock, ManualClock};
use aeon::job::{ExecutionStatus, JobStatus};
use aeon::store::WorkerStatus;
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

use aeon::testing::TestNode;

use crate::common::actors::{
    Gate, GateEvent, Sickness, expect_event, registry_with_gate, registry_with_gate_and_sickness,
};
use crate::common::{TestDb, exact_backoff, job_with, new_job, on_every_backend, shared};

struct Rig {
    db: TestDb,
    node: NodeActors,
    clock: ManualClock,
    gate: Gate,
    sickness: Sickness,
    events: UnboundedReceiver<Event>,
}

async fn rig(db: TestDb, workers: u32, max_restarts: u32) -> Rig {
    rig_with(db, workers, max_restarts, 100, StoreActorConfig { window_ms: 1, max_size: 100, ..Default::default() })
        .await
}

async fn rig_with(db: TestDb, workers: u32, max_restarts: u32, backlog: u32, batch: StoreActorConfig) -> Rig {
    let clock = ManualClock::starting_now();
    let (registry, gate, sickness) = registry_with_gate_and_sickness();
    let (probe, events) = Probe::channel();
    let config = SupervisorConfig {
        node_id: "node-s".into(),
        workers,
        capacity: 2,
        prefetch: 0,
        prefetch_horizon: None,
        prefetch_wait: Duration::from_secs(2),
        backlog,
        lease: Duration::from_secs(60),
        health: Default::default(),
        restarts: RestartPolicy { max_restarts, window_ms: 60_000 },
        batch,
        timers: false,
        poll_every: Duration::from_secs(3600),
        contexts: None,
        rescue: Default::default(),
    };
    let node = Supervisor::start_node(config, db.store(exact_backoff()).shared(), registry, shared(&clock), probe);
    Rig { db, node, clock, gate, sickness, events }
}

/// A test node (the testing kit) of one worker of capacity 2 on `db`, its handlers
/// the built-ins and `gate`, giving up on a worker restarted more than `max_restarts`
/// times a minute.
async fn kit_node(db: &TestDb, max_restarts: u32) -> (TestNode, Gate) {
    let (registry, gate) = registry_with_gate();
    let node = TestNode::builder(registry)
        .store(db.store(exact_backoff()).shared())
        .workers(1, 2)
        .restarts(RestartPolicy { max_restarts, window_ms: 60_000 })
        .start()
        .await;
    (node, gate)
}

async fn a_panicked_worker_is_restarted_its_job_retried_and_given_up_on_past_the_limit(db: TestDb) {
    let (mut node, mut gate) = kit_node(&db, 2).await;
    let job_id = node.submit("gate", json!("held by the dying worker")).await;
    assert_eq!(gate.next().await, GateEvent::Arrived(json!("held by the dying worker")));

    let worker_id = node.crash_worker_running(job_id, CrashMode::Panic).await;
    let restarted = node.expect_event("a restart", |e| matches!(e, Event::WorkerRestarted { .. })).await;
    assert_eq!(restarted, Event::WorkerRestarted { worker_id, failure_count: 1 });
    let crashed = node.executions(job_id).await;
    assert_eq!(crashed[0].execution_status, ExecutionStatus::Crashed, "the dead worker's claim was voided");

    // The retry waits out its backoff; the restarted worker then runs it.
    node.advance(Duration::from_secs(1)).await;
    gate.open(1);
    node.drain().await;
    node.assert_status(job_id, JobStatus::Completed).await;
    node.assert_attempts(job_id, 2).await;

    let crash = CrashWorker { worker_id, mode: CrashMode::Panic };
    assert!(node.actors().supervisor.send(crash).await.unwrap());
    let again = node.expect_event("a second restart", |e| matches!(e, Event::WorkerRestarted { .. })).await;
    assert_eq!(again, Event::WorkerRestarted { worker_id, failure_count: 2 });
    assert!(node.actors().supervisor.send(crash).await.unwrap());
    node.expect_event("giving up", |e| matches!(e, Event::WorkerFailed { .. })).await;

    let slot = node.slots().await.pop().unwrap();
    assert_eq!((slot.status, slot.failure_count, slot.incarnation), (WorkerStatus::Failed, 3, 2));
    assert!(!node.actors().supervisor.send(crash).await.unwrap());
    node.tick().await; // the sweep records the workers
    node.actors().store.send(Flush).await.unwrap();
    let row = node.store().list_workers().await.unwrap().pop().unwrap();
    assert_eq!((row.status, row.failure_count), (WorkerStatus::Failed, 3));
    node.shutdown().await;
}

async fn old_restarts_fall_out_of_the_window(db: TestDb) {
    let mut rig = rig(db, 1, 1).await;
    let worker_id = rig.node.supervisor.send(GetSlots).await.unwrap()[0].worker_id;
    for failure_count in 1..=3 {
        rig.node.supervisor.send(CrashWorker { worker_id, mode: CrashMode::Panic }).await.unwrap();
        let restarted =
            expect_event(&mut rig.events, "a restart", |e| matches!(e, Event::WorkerRestarted { .. })).await;
        assert_eq!(restarted, Event::WorkerRestarted { worker_id, failure_count });
        rig.clock.advance(Duration::from_secs(61));
    }
}

async fn a_hung_worker_is_declared_dead_and_replaced(db: TestDb) {
    let (mut node, _gate) = kit_node(&db, 5).await;
    let worker_id = node.slots().await[0].worker_id;
    node.actors().supervisor.send(CrashWorker { worker_id, mode: CrashMode::Hang { ms: None } }).await.unwrap();
    node.advance(Duration::from_millis(5_000)).await;
    let dead = |e: &Event| matches!(e, Event::WorkerDeclaredDead { worker_id: w } if *w == worker_id);
    assert!(!node.events().iter().any(dead), "silent for dead_after_ms, not more: alive");
    node.advance(Duration::from_millis(1)).await;
    node.expect_event("the death", dead).await;
    let restarted = node.expect_event("the replacement", |e| matches!(e, Event::WorkerRestarted { .. })).await;
    assert_eq!(restarted, Event::WorkerRestarted { worker_id, failure_count: 1 });
    node.expect_event("the new incarnation", |e| matches!(e, Event::WorkerStarted { incarnation: 1, .. })).await;
    node.shutdown().await;
}

async fn unhealthy_workers_get_no_new_jobs(db: TestDb) {
    let mut rig = rig(db, 2, 5).await;
    let slots = rig.node.supervisor.send(GetSlots).await.unwrap();
    let (sick, well) = (slots[0].worker_id, slots[1].worker_id);
    let verdict = |worker_id, score, status| WorkerVerdict { worker_id, score, status, dead: false };
    rig.node
        .supervisor
        .send(Verdicts(vec![verdict(sick, 0.1, WorkerStatus::Unhealthy), verdict(well, 0.9, WorkerStatus::Active)]))
        .await
        .unwrap();
    let store = rig.db.store(exact_backoff());
    store.enqueue((0..4).map(|i| new_job("gate", json!(i))).collect(), rig.clock.now()).await.unwrap();
    rig.node.supervisor.send(Wake).await.unwrap();
    let claimed = expect_event(&mut rig.events, "a claim", |e| matches!(e, Event::Claimed { .. })).await;
    assert_eq!(claimed, Event::Claimed { worker_id: well, count: 2 }, "only the healthy worker, up to its capacity");
    rig.gate.open(2);
    // Slots are free when the handlers return, so the next claim may come before the
    // runs' results are written: wait for all three, in whatever order.
    let (mut finished, mut next) = (0, None);
    while finished < 2 || next.is_none() {
        match expect_event(&mut rig.events, "runs and the next claim", |e| {
            matches!(e, Event::JobFinished { result: RunResult::Succeeded, .. } | Event::Claimed { .. })
        })
        .await
        {
            Event::Claimed { worker_id, count } => next = Some((worker_id, count)),
            _ => finished += 1,
        }
    }
    // Handlers end on threads of their own, one after the other: the next claim may
    // fill one slot or both, but only ever the healthy worker's.
    let (worker, count) = next.unwrap();
    assert_eq!(worker, well, "the next claim is the healthy worker's too");
    assert!((1..=2).contains(&count), "{count}");
    let slots = rig.node.supervisor.send(GetSlots).await.unwrap();
    assert_eq!(slots.iter().find(|s| s.worker_id == sick).unwrap().load, 0);
}

/// Runs `n` `sick` jobs to their end (no retries: a crash dead-letters one); answers
/// the worker each started on.
async fn run_sick_jobs(rig: &mut Rig, n: usize) -> Vec<uuid::Uuid> {
    let store = rig.db.store(exact_backoff());
    let job = |i| {
        job_with(|r| {
            r.job_type = "sick".into();
            r.payload = json!(i);
            r.max_retries = Some(0);
        })
    };
    store.enqueue((0..n).map(job).collect(), rig.clock.now()).await.unwrap();
    rig.node.supervisor.send(Wake).await.unwrap();
    let (mut started, mut settled) = (Vec::new(), 0);
    while started.len() < n || settled < n {
        match expect_event(&mut rig.events, "runs starting and settling", |e| {
            matches!(e, Event::JobStarted { .. } | Event::JobSettled { .. })
        })
        .await
        {
            Event::JobStarted { worker_id, .. } => started.push(worker_id),
            _ => settled += 1,
        }
    }
    started
}

async fn a_worker_crashing_every_run_gets_no_jobs_until_a_probation_run_succeeds(db: TestDb) {
    let mut rig = rig(db, 2, 5).await;
    let slots = rig.node.supervisor.send(GetSlots).await.unwrap();
    let (sick, well) = (slots[0].worker_id, slots[1].worker_id);
    rig.sickness.set(sick, true);

    // Both workers run jobs; every run on the sick one crashes. The HealthMonitor's own
    // sweep scores it unhealthy from those runs alone (defaults: under 0.3).
    let first = run_sick_jobs(&mut rig, 4).await;
    assert!(first.contains(&sick) && first.contains(&well), "claims spread over both: {first:?}");
    let verdicts = rig.node.health.send(Sweep).await.unwrap();
    let verdict = |id| verdicts.iter().find(|v| v.worker_id == id).unwrap().clone();
    assert_eq!(verdict(sick).status, WorkerStatus::Unhealthy, "{verdicts:?}");
    assert!(verdict(sick).score < 0.3, "{verdicts:?}");
    assert_eq!(verdict(well).status, WorkerStatus::Active);

    // The Supervisor acts on the verdict: no new jobs for the sick worker.
    let second = run_sick_jobs(&mut rig, 6).await;
    assert!(second.iter().all(|w| *w == well), "only the healthy worker runs jobs: {second:?}");

    // It gets well. Until its cool-down is over it still gets nothing; then one job on
    // probation, whose success makes it healthy again.
    rig.sickness.set(sick, false);
    let third = run_sick_jobs(&mut rig, 2).await;
    assert!(third.iter().all(|w| *w == well), "still cooling down: {third:?}");
    rig.clock.advance(Duration::from_millis(aeon::actors::health::HealthConfig::default().probation_ms));
    for worker_id in [sick, well] {
        // Timers are off: the workers' heartbeats for the time that passed.
        let beat = Heartbeat { worker_id, load: 0, capacity: 2, sent_at: rig.clock.now() };
        rig.node.health.send(beat).await.unwrap();
    }
    let fourth = run_sick_jobs(&mut rig, 3).await;
    assert_eq!(fourth.iter().filter(|w| **w == sick).count(), 1, "exactly one run on probation: {fourth:?}");
    let verdicts = rig.node.health.send(Sweep).await.unwrap();
    assert_eq!(verdicts.iter().find(|v| v.worker_id == sick).unwrap().status, WorkerStatus::Active);
    let fifth = run_sick_jobs(&mut rig, 8).await;
    assert!(fifth.iter().filter(|w| **w == sick).count() >= 2, "healthy again, it takes its share: {fifth:?}");
}

async fn a_dead_health_monitor_is_restarted_and_sweeps_go_on(db: TestDb) {
    let mut rig = rig(db, 1, 5).await;
    let worker_id = rig.node.supervisor.send(GetSlots).await.unwrap()[0].worker_id;
    rig.node.health.send(Stop).await.unwrap();
    rig.node.supervisor.send(CheckChildren).await.unwrap();
    expect_event(&mut rig.events, "the monitor's restart", |e| matches!(e, Event::MonitorRestarted)).await;
    let monitor = rig.node.supervisor.send(GetMonitor).await.unwrap();
    assert!(monitor.connected() && !rig.node.health.connected(), "a new monitor in the old one's place");
    let beat = Heartbeat { worker_id, load: 0, capacity: 2, sent_at: rig.clock.now() };
    monitor.send(beat).await.unwrap();
    let verdicts = monitor.send(Sweep).await.unwrap();
    assert_eq!(verdicts.iter().map(|v| v.worker_id).collect::<Vec<_>>(), [worker_id], "it tracks the workers again");
    assert_eq!(rig.node.alarm.reason(), None);
}

async fn past_its_restart_intensity_the_supervisor_escalates(db: TestDb) {
    let mut rig = rig(db, 1, 0).await;
    let worker_id = rig.node.supervisor.send(GetSlots).await.unwrap()[0].worker_id;
    rig.node.supervisor.send(CrashWorker { worker_id, mode: CrashMode::Panic }).await.unwrap();
    expect_event(&mut rig.events, "the give-up", |e| matches!(e, Event::WorkerFailed { .. })).await;
    let why = rig.node.alarm.reason().expect("escalated: every worker failed");
    assert!(why.contains("every worker failed"), "{why}");
}

/// The HealthMonitor escalates past its intensity while the worker lives and has
/// room: only the alarm keeps the node from claiming.
async fn an_escalated_node_claims_nothing_though_its_worker_has_room(db: TestDb) {
    let mut rig = rig(db, 1, 0).await;
    rig.node.health.send(Stop).await.unwrap();
    rig.node.supervisor.send(CheckChildren).await.unwrap();
    assert!(rig.node.alarm.reason().is_some(), "escalated");
    let slot = rig.node.supervisor.send(GetSlots).await.unwrap()[0];
    assert_eq!((slot.status, slot.load), (WorkerStatus::Active, 0), "a live worker with room");

    let store = rig.db.store(exact_backoff());
    store.enqueue(vec![new_job("gate", json!(1))], rig.clock.now()).await.unwrap();
    rig.node.supervisor.send(Wake).await.unwrap();
    let held = expect_event(&mut rig.events, "the feed's decision", |e| {
        matches!(e, Event::ClaimHeld { .. } | Event::Claimed { .. })
    })
    .await;
    assert_eq!(held, Event::ClaimHeld { why: Hold::Escalated }, "an escalated node claims nothing");
    assert_eq!(rig.db.count("SELECT COUNT(*) FROM jobs WHERE status = 'PENDING'").await, 1);
}

async fn a_health_monitor_dying_past_its_intensity_escalates(db: TestDb) {
    let rig = rig(db, 1, 0).await;
    rig.node.health.send(Stop).await.unwrap();
    rig.node.supervisor.send(CheckChildren).await.unwrap();
    let why = rig.node.alarm.reason().expect("escalated");
    assert!(why.contains("HealthMonitor"), "{why}");
}

async fn a_slot_frees_when_its_handler_returns_and_unwritten_results_are_bounded_by_the_backlog(db: TestDb) {
    // Completions wait in the StoreActor's batch until the test flushes it.
    let mut rig =
        rig_with(db, 1, 5, 2, StoreActorConfig { window_ms: 3_600_000, max_size: 100, ..Default::default() }).await;
    let store = rig.db.store(exact_backoff());
    store.enqueue((0..2).map(|i| new_job("gate", json!(i))).collect(), rig.clock.now()).await.unwrap();
    rig.gate.open(2);
    rig.node.supervisor.send(Wake).await.unwrap();
    let first = expect_event(&mut rig.events, "a claim", |e| matches!(e, Event::Claimed { .. })).await;
    assert!(matches!(first, Event::Claimed { count: 2, .. }), "{first:?}");

    let deadline = std::time::Instant::now() + crate::common::actors::PATIENCE;
    let slot = loop {
        let slot = rig.node.supervisor.send(GetSlots).await.unwrap()[0];
        if slot.unsettled == 2 {
            break slot;
        }
        assert!(std::time::Instant::now() < deadline, "the handlers did not end: {slot:?}");
        tokio::task::yield_now().await;
    };
    assert_eq!(slot.load, 0, "both slots are free while their results wait to be written");
    assert_eq!(rig.db.count("SELECT COUNT(*) FROM jobs WHERE status = 'RUNNING'").await, 2);

    // The backlog (2) is full: new jobs are not claimed, free slots or not ...
    store.enqueue((2..4).map(|i| new_job("gate", json!(i))).collect(), rig.clock.now()).await.unwrap();
    rig.gate.open(2);
    rig.node.supervisor.send(Wake).await.unwrap();
    let held = expect_event(&mut rig.events, "the feed's decision", |e| {
        matches!(e, Event::ClaimHeld { .. } | Event::Claimed { .. })
    })
    .await;
    assert_eq!(held, Event::ClaimHeld { why: Hold::BacklogFull }, "no claim while the backlog is full");

    // ... until results are written.
    rig.node.store.send(Flush).await.unwrap();
    let mut finished_before_claim = 0;
    loop {
        match expect_event(&mut rig.events, "the next claim", |e| {
            matches!(e, Event::JobFinished { .. } | Event::Claimed { .. })
        })
        .await
        {
            Event::Claimed { .. } => break,
            _ => finished_before_claim += 1,
        }
    }
    assert!(finished_before_claim >= 1, "a claim came only once a result was written");

    let deadline = std::time::Instant::now() + crate::common::actors::PATIENCE;
    while rig.db.count("SELECT COUNT(*) FROM jobs WHERE status = 'COMPLETED'").await < 4 {
        assert!(std::time::Instant::now() < deadline, "not every job completed");
        rig.node.supervisor.send(Wake).await.unwrap();
        rig.node.store.send(Flush).await.unwrap();
    }
}

/// How many jobs the claim an event reports took.
fn claimed_count(event: Event) -> usize {
    match event {
        Event::Claimed { count, .. } => count,
        other => panic!("not a claim: {other:?}"),
    }
}

async fn claims_queue_only_what_the_observed_run_times_say_would_start_soon(db: TestDb) {
    let clock = ManualClock::starting_now();
    let (registry, gate, _) = registry_with_gate_and_sickness();
    let (probe, mut events) = Probe::channel();
    let config = SupervisorConfig {
        node_id: "node-p".into(),
        workers: 1,
        capacity: 2,
        prefetch: 4,
        prefetch_horizon: Some(aeon::actors::worker::prefetch::HORIZON),
        prefetch_wait: Duration::from_secs(3_600),
        backlog: 100,
        lease: Duration::from_secs(600),
        health: Default::default(),
        restarts: RestartPolicy { max_restarts: 5, window_ms: 60_000 },
        batch: StoreActorConfig { window_ms: 1, max_size: 100, ..Default::default() },
        timers: false,
        poll_every: Duration::from_secs(3600),
        contexts: None,
        rescue: Default::default(),
    };
    let store = db.store(exact_backoff());
    store.enqueue((0..10).map(|i| new_job("gate", json!(i))).collect(), clock.now()).await.unwrap();
    let _node = Supervisor::start_node(config, store.shared(), registry, shared(&clock), probe);
    let claim = |e: &Event| matches!(e, Event::Claimed { .. });
    let start = |e: &Event| matches!(e, Event::JobStarted { .. });

    let first = claimed_count(expect_event(&mut events, "the first claim", claim).await);
    assert_eq!(first, 2, "no run seen yet: the free slots only, no queue");

    clock.advance(Duration::from_millis(1));
    gate.open(1);
    let second = claimed_count(expect_event(&mut events, "the claim after a 1 ms run", claim).await);
    assert_eq!(second, 1 + 4, "1 ms runs: the free slot and the whole queue of 4");
    expect_event(&mut events, "the slot's new job starting", start).await;

    // The two running jobs take 10 s; then each queued job as well.
    for (round, ending) in [(1, 2), (2, 2)] {
        clock.advance(Duration::from_secs(10));
        gate.open(ending);
        for _ in 0..ending {
            expect_event(&mut events, &format!("round {round}: a queued job taking a freed slot"), start).await;
        }
    }
    clock.advance(Duration::from_secs(10));
    gate.open(1);
    let after = claimed_count(expect_event(&mut events, "the claim after 10 s runs", claim).await);
    assert_eq!(after, 1, "10 s runs: the free slot only, nothing queued behind it (3 jobs wait)");
}

on_every_backend!(
    a_panicked_worker_is_restarted_its_job_retried_and_given_up_on_past_the_limit,
    old_restarts_fall_out_of_the_window,
    a_hung_worker_is_declared_dead_and_replaced,
    unhealthy_workers_get_no_new_jobs,
    a_worker_crashing_every_run_gets_no_jobs_until_a_probation_run_succeeds,
    a_dead_health_monitor_is_restarted_and_sweeps_go_on,
    past_its_restart_intensity_the_supervisor_escalates,
    an_escalated_node_claims_nothing_though_its_worker_has_room,
    a_health_monitor_dying_past_its_intensity_escalates,
    a_slot_frees_when_its_handler_returns_and_unwritten_results_are_bounded_by_the_backlog,
    claims_queue_only_what_the_observed_run_times_say_would_start_soon,
);
