//! The Worker alone: capacity, contained panics, heartbeats, crash modes.

use aeon::actors::health::RunOutcome;
use aeon::actors::probe::{Event, RunResult};
use aeon::actors::worker::{Assign, Crash, CrashMode, GetLoad, ReleaseAll, Tick};
use aeon::clock::Clock;
use aeon::job::{ExecutionStatus, JobStatus};
use serde_json::json;

use super::worker_rig;
use crate::common::actors::{expect_event, expect_message};
use crate::common::{TestDb, new_job, on_every_backend};

async fn capacity_is_never_exceeded_and_the_excess_is_given_back(db: TestDb) {
    let mut rig = worker_rig(db, 3).await;
    let jobs: Vec<_> = (0..5).map(|i| new_job("gate", json!(i))).collect();
    rig.store.enqueue(jobs, rig.clock.now()).await.unwrap();
    let claimed = rig.claim(5).await;
    assert_eq!(claimed.len(), 5);
    rig.worker.send(Assign(claimed)).await.unwrap();

    let mut loads = Vec::new();
    for _ in 0..3 {
        match expect_event(&mut rig.events, "job start", |e| matches!(e, Event::JobStarted { .. })).await {
            Event::JobStarted { load, .. } => loads.push(load),
            _ => unreachable!(),
        }
    }
    assert_eq!(loads, vec![1, 2, 3]);
    assert_eq!(rig.worker.send(GetLoad).await.unwrap(), (3, 3));
    let freed = expect_message(&mut rig.freed, "slots freed").await;
    assert_eq!((freed.freed, freed.settled), (2, 2), "the two jobs over capacity are given back at once");

    rig.gate.open(3);
    for _ in 0..3 {
        expect_event(&mut rig.events, "job finish", |e| {
            matches!(e, Event::JobFinished { result: RunResult::Succeeded, .. })
        })
        .await;
    }
    assert_eq!(rig.db.count("SELECT COUNT(*) FROM jobs WHERE status = 'COMPLETED'").await, 3);
    assert_eq!(rig.db.count("SELECT COUNT(*) FROM jobs WHERE status = 'PENDING' AND attempts = 0").await, 2);
    assert_eq!(rig.worker.send(GetLoad).await.unwrap(), (0, 3));
}

async fn a_handler_panic_is_contained_recorded_crashed_and_retried(db: TestDb) {
    let mut rig = worker_rig(db, 2).await;
    let job = new_job("panic", json!({"times": 1}));
    rig.store.enqueue(vec![job.clone()], rig.clock.now()).await.unwrap();
    rig.worker.send(Assign(rig.claim(1).await)).await.unwrap();
    expect_event(&mut rig.events, "a panicked run", |e| {
        matches!(e, Event::JobFinished { result: RunResult::Panicked, .. })
    })
    .await;

    assert!(rig.worker.connected(), "the worker survives its handler's panic");
    assert_eq!(rig.worker.send(GetLoad).await.unwrap(), (0, 2));
    let stored = rig.store.get_job(job.job_id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.attempts), (JobStatus::Pending, 1));
    let executions = rig.store.executions(job.job_id).await.unwrap();
    assert_eq!(executions[0].execution_status, ExecutionStatus::Crashed);
    assert!(executions[0].error.as_deref().unwrap().contains("panicked on purpose"), "{executions:?}");
    let metric = expect_message(&mut rig.metrics, "run metric").await;
    assert_eq!(metric.outcome, RunOutcome::Crashed, "a panic is the worker's error");

    rig.clock.advance(std::time::Duration::from_secs(1)); // the backoff
    rig.worker.send(Assign(rig.claim(1).await)).await.unwrap();
    expect_event(&mut rig.events, "the retry", |e| {
        matches!(e, Event::JobFinished { result: RunResult::Succeeded, .. })
    })
    .await;
    let done = rig.store.get_job(job.job_id).await.unwrap().unwrap();
    assert_eq!((done.status, done.attempts), (JobStatus::Completed, 2));
}

async fn heartbeats_carry_load_and_a_hung_worker_falls_silent_until_its_hang_ends(db: TestDb) {
    let mut rig = worker_rig(db, 4).await;
    let first = expect_message(&mut rig.beats, "the first heartbeat").await;
    assert_eq!((first.worker_id, first.load, first.capacity), (rig.worker_id, 0, 4));
    rig.store.enqueue(vec![new_job("gate", json!(1)), new_job("gate", json!(2))], rig.clock.now()).await.unwrap();
    let mut claimed = rig.claim(2).await;
    let late = claimed.pop().unwrap();
    rig.worker.send(Assign(claimed)).await.unwrap();
    rig.worker.send(Tick).await.unwrap();
    assert_eq!(expect_message(&mut rig.beats, "a heartbeat").await.load, 1);

    rig.worker.send(Crash(CrashMode::Hang { ms: Some(1_000) })).await.unwrap();
    let hung_at = rig.clock.now();
    rig.worker.send(Tick).await.unwrap();
    let load = tokio::time::timeout(std::time::Duration::from_millis(50), rig.worker.send(GetLoad)).await;
    assert!(load.is_err(), "a hung worker does not answer");
    rig.worker.send(Assign(vec![late])).await.unwrap(); // arrives while it is hung
    rig.clock.advance(std::time::Duration::from_millis(999));
    rig.worker.send(Tick).await.unwrap();
    rig.clock.advance(std::time::Duration::from_millis(1));
    rig.worker.send(Tick).await.unwrap(); // the hang is over

    // Heartbeats reach the test in order: the next one is the first after the hang,
    // so the ticks during the hang sent none.
    let next = expect_message(&mut rig.beats, "the heartbeat after the hang").await;
    assert_eq!(next.sent_at, hung_at + chrono::Duration::milliseconds(1_000), "none while hung");
    assert_eq!(next.load, 2, "the claim assigned during the hang started when it ended");
    assert_eq!(rig.worker.send(GetLoad).await.unwrap(), (2, 4), "it answers again");
}

async fn a_hang_without_a_duration_lasts(db: TestDb) {
    let mut rig = worker_rig(db, 1).await;
    expect_message(&mut rig.beats, "the first heartbeat").await;
    rig.worker.send(Crash(CrashMode::Hang { ms: None })).await.unwrap();
    rig.clock.advance(std::time::Duration::from_secs(3_600));
    rig.worker.send(Tick).await.unwrap();
    let load = tokio::time::timeout(std::time::Duration::from_millis(50), rig.worker.send(GetLoad)).await;
    assert!(load.is_err(), "still hung an hour later");
    rig.token.cancel();
    rig.worker.send(aeon::actors::worker::Terminate).await.ok(); // only the Supervisor's kill ends it
    let closed = tokio::time::timeout(crate::common::actors::PATIENCE, rig.beats.recv()).await;
    assert!(matches!(closed, Ok(None)), "no heartbeat, ever: the channel closed empty ({closed:?})");
}

async fn the_panic_crash_mode_kills_the_worker_actor(db: TestDb) {
    let rig = worker_rig(db, 1).await;
    let answer = rig.worker.send(Crash(CrashMode::Panic)).await;
    assert!(answer.is_err(), "the worker died without answering");
    assert!(!rig.worker.connected());
    // The store actor and the rest of the system live on.
    assert!(rig.store_addr.send(aeon::actors::store::Ping).await.unwrap().is_ok());
}

async fn a_worker_renews_only_the_claims_it_runs(db: TestDb) {
    let mut rig = worker_rig(db, 2).await;
    rig.store
        .enqueue(vec![new_job("gate", json!("run")), new_job("gate", json!("orphan"))], rig.clock.now())
        .await
        .unwrap();
    let mut claimed = rig.claim(2).await;
    let orphan = claimed.pop().unwrap(); // claimed in the worker's name, never handed to it
    let lease_of = |job_id| {
        let store = rig.store.clone();
        async move { store.get_job(job_id).await.unwrap().expect("the job").lease_expires_at.expect("a lease") }
    };
    let (run_before, orphan_before) = (lease_of(claimed[0].job_id).await, lease_of(orphan.job_id).await);
    rig.worker.send(Assign(claimed.clone())).await.unwrap();
    expect_event(&mut rig.events, "job start", |e| matches!(e, Event::JobStarted { .. })).await;

    rig.clock.advance(std::time::Duration::from_secs(20)); // a third of the 60 s lease
    rig.worker.send(Tick).await.unwrap();
    rig.store_addr.send(aeon::actors::store::Ping).await.unwrap().unwrap(); // the renewal was sent before this
    let deadline = std::time::Instant::now() + crate::common::actors::PATIENCE;
    while lease_of(claimed[0].job_id).await == run_before {
        assert!(std::time::Instant::now() < deadline, "the running claim was not renewed");
        tokio::task::yield_now().await;
    }
    assert_eq!(lease_of(claimed[0].job_id).await, rig.clock.now() + chrono::Duration::seconds(60));
    assert_eq!(lease_of(orphan.job_id).await, orphan_before, "a claim nobody runs is left to run out");
}

async fn claims_beyond_capacity_queue_up_to_prefetch_start_as_slots_free_and_drain_back(db: TestDb) {
    let mut rig = super::worker_rig_with(db, 2, 2, std::time::Duration::from_secs(2)).await;
    rig.store.enqueue((0..5).map(|i| new_job("gate", json!(i))).collect(), rig.clock.now()).await.unwrap();
    rig.worker.send(Assign(rig.claim(5).await)).await.unwrap();
    for _ in 0..2 {
        expect_event(&mut rig.events, "job start", |e| matches!(e, Event::JobStarted { .. })).await;
    }
    let freed = expect_message(&mut rig.freed, "slots freed").await;
    assert_eq!((freed.freed, freed.settled), (1, 1), "two run, two wait, the fifth goes back");
    assert_eq!(rig.worker.send(GetLoad).await.unwrap(), (2, 2));
    until_given_back(&rig, 1).await;

    rig.gate.open(1);
    expect_event(&mut rig.events, "a queued job starting as a slot frees", |e| {
        matches!(e, Event::JobStarted { load: 2, .. })
    })
    .await;
    // (It starts before the finished job's result is written: wait for that too.)
    expect_event(&mut rig.events, "the first job's result written", |e| {
        matches!(e, Event::JobFinished { result: RunResult::Succeeded, .. })
    })
    .await;

    let given_back = rig.worker.send(ReleaseAll { reason: "released: node shutting down".into() }).await.unwrap();
    assert_eq!(given_back, 3, "the queued job and the two running");
    for _ in 0..2 {
        expect_event(&mut rig.events, "a released run", |e| {
            matches!(e, Event::JobFinished { result: RunResult::Released, .. })
        })
        .await;
    }
    until_given_back(&rig, 4).await;
    assert_eq!(rig.db.count("SELECT COUNT(*) FROM jobs WHERE status = 'COMPLETED'").await, 1);
    assert_eq!(rig.worker.send(GetLoad).await.unwrap(), (0, 2));
    let released = "SELECT COUNT(*) FROM job_executions WHERE execution_status = 'CANCELLED'";
    assert_eq!(rig.db.count(released).await, 2, "the two started runs are recorded; jobs that never started are not");
    assert_eq!(rig.db.count("SELECT COUNT(*) FROM job_executions").await, 3);
}

/// Waits until `n` jobs are back in the queue unrun (releases are written asynchronously).
async fn until_given_back(rig: &super::WorkerRig, n: i64) {
    let deadline = std::time::Instant::now() + crate::common::actors::PATIENCE;
    while rig.db.count("SELECT COUNT(*) FROM jobs WHERE status = 'PENDING' AND attempts = 0").await < n {
        assert!(std::time::Instant::now() < deadline, "{}", rig.db.status_summary().await);
        tokio::task::yield_now().await;
    }
}

async fn a_queued_job_that_waits_past_prefetch_wait_goes_back(db: TestDb) {
    let mut rig = super::worker_rig_with(db, 1, 2, std::time::Duration::from_secs(2)).await;
    rig.store.enqueue((0..3).map(|i| new_job("gate", json!(i))).collect(), rig.clock.now()).await.unwrap();
    rig.worker.send(Assign(rig.claim(2).await)).await.unwrap(); // one runs, one queues at t0
    expect_event(&mut rig.events, "job start", |e| matches!(e, Event::JobStarted { .. })).await;
    rig.clock.advance(std::time::Duration::from_secs(1));
    rig.worker.send(Assign(rig.claim(1).await)).await.unwrap(); // queues at t0 + 1 s

    rig.clock.advance(std::time::Duration::from_secs(1));
    rig.worker.send(Tick).await.unwrap();
    let first = expect_message(&mut rig.freed, "the first queued job going back").await;
    assert_eq!((first.freed, first.settled), (1, 1), "only the job queued 2 s ago");
    until_given_back(&rig, 1).await;

    rig.clock.advance(std::time::Duration::from_secs(1));
    rig.worker.send(Tick).await.unwrap();
    let second = expect_message(&mut rig.freed, "the second queued job going back").await;
    assert_eq!((second.freed, second.settled), (1, 1));
    until_given_back(&rig, 2).await;
    assert_eq!(rig.worker.send(GetLoad).await.unwrap(), (1, 1), "the running job runs on");
}

async fn queued_claims_are_renewed_and_a_cancelled_queued_job_never_starts(db: TestDb) {
    let mut rig = super::worker_rig_with(db, 1, 2, std::time::Duration::from_secs(3_600)).await;
    rig.store.enqueue((0..3).map(|i| new_job("gate", json!(i))).collect(), rig.clock.now()).await.unwrap();
    let claimed = rig.claim(3).await;
    rig.worker.send(Assign(claimed.clone())).await.unwrap(); // the first runs, two queue
    expect_event(&mut rig.events, "job start", |e| matches!(e, Event::JobStarted { .. })).await;

    let (cancelled, waiting) = (claimed[1].job_id, claimed[2].job_id);
    let here = rig.worker.send(aeon::actors::worker::CancelJob { job_id: cancelled }).await.unwrap();
    assert!(here.is_none(), "a queued job is not running here: the store cancels it");
    let freed = expect_message(&mut rig.freed, "the cancelled job leaving the queue").await;
    assert_eq!((freed.freed, freed.settled), (1, 1));
    rig.store.cancel(cancelled, rig.clock.now()).await.unwrap();

    rig.clock.advance(std::time::Duration::from_secs(20)); // a third of the 60 s lease
    rig.worker.send(Tick).await.unwrap();
    let renewed = rig.clock.now() + chrono::Duration::seconds(60);
    let deadline = std::time::Instant::now() + crate::common::actors::PATIENCE;
    while rig.store.get_job(waiting).await.unwrap().unwrap().lease_expires_at != Some(renewed) {
        assert!(std::time::Instant::now() < deadline, "the queued claim's lease was not renewed");
        tokio::task::yield_now().await;
    }

    rig.gate.open(2);
    match expect_event(&mut rig.events, "the queued job starting", |e| matches!(e, Event::JobStarted { .. })).await {
        Event::JobStarted { job_id, .. } => assert_eq!(job_id, waiting, "the cancelled job never starts"),
        _ => unreachable!(),
    }
}

async fn a_worker_asks_for_a_queue_only_as_long_as_its_observed_run_times_allow(db: TestDb) {
    let mut rig = super::worker_rig_with(db, 1, 1, std::time::Duration::from_secs(3_600)).await;
    rig.store.enqueue((0..3).map(|i| new_job("gate", json!(i))).collect(), rig.clock.now()).await.unwrap();
    rig.worker.send(Assign(rig.claim(3).await)).await.unwrap(); // one runs, one queues, one goes back
    expect_event(&mut rig.events, "job start", |e| matches!(e, Event::JobStarted { .. })).await;
    let back = expect_message(&mut rig.freed, "the claim over prefetch going back").await;
    assert_eq!((back.freed, back.queue_room), (1, 0), "no run seen yet: no queue wanted");

    rig.clock.advance(std::time::Duration::from_millis(1));
    rig.gate.open(1);
    let ended = expect_message(&mut rig.freed, "the first run's slot freed").await;
    assert_eq!((ended.freed, ended.queue_room), (1, 1), "1 ms runs: a queue up to prefetch");
    expect_event(&mut rig.events, "the queued job starting", |e| matches!(e, Event::JobStarted { .. })).await;
    let settled = expect_message(&mut rig.freed, "the first run's result written").await;
    assert_eq!(settled.settled, 1);

    rig.clock.advance(std::time::Duration::from_secs(10));
    rig.gate.open(1);
    let ended = expect_message(&mut rig.freed, "the second run's slot freed").await;
    assert_eq!((ended.freed, ended.queue_room), (1, 0), "a 10 s run: nothing would start within the horizon");
}

on_every_backend!(
    capacity_is_never_exceeded_and_the_excess_is_given_back,
    a_handler_panic_is_contained_recorded_crashed_and_retried,
    heartbeats_carry_load_and_a_hung_worker_falls_silent_until_its_hang_ends,
    a_hang_without_a_duration_lasts,
    the_panic_crash_mode_kills_the_worker_actor,
    a_worker_renews_only_the_claims_it_runs,
    claims_beyond_capacity_queue_up_to_prefetch_start_as_slots_free_and_drain_back,
    a_queued_job_that_waits_past_prefetch_wait_goes_back,
    queued_claims_are_renewed_and_a_cancelled_queued_job_never_starts,
    a_worker_asks_for_a_queue_only_as_long_as_its_observed_run_times_allow,
);
