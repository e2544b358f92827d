//! Faults on demand through a `TestNode`: a crashed or hung worker, a killed Job
//! actor. Each time the job is retried as a node retries it.

use std::time::Duration;

use aeon::actors::health::RescueGate;
use aeon::actors::probe::Event;
use aeon::actors::worker::CrashMode;
use aeon::job::{ExecutionStatus, JobRequest, JobStatus};
use aeon::testing::TestNode;
use serde_json::json;

use super::gated_node;
use crate::common::actors::GateEvent;
use crate::common::{TestDb, on_every_backend};

async fn a_panicked_worker_s_job_is_recorded_crashed_and_retried(db: TestDb) {
    let (mut node, mut gate) = gated_node(&db).await;
    let job_id = node.submit("gate", json!("once")).await;
    assert_eq!(gate.next().await, GateEvent::Arrived(json!("once")));
    let worker_id = node.crash_worker_running(job_id, CrashMode::Panic).await;
    assert_eq!(node.slots().await[0].failure_count, 1, "restarted once");
    let crashed = node.executions(job_id).await;
    assert_eq!((crashed[0].execution_status, crashed[0].worker_id), (ExecutionStatus::Crashed, worker_id));
    node.assert_status(job_id, JobStatus::Pending).await;

    node.advance(Duration::from_secs(1)).await;
    gate.open(1);
    node.drain().await;
    node.assert_status(job_id, JobStatus::Completed).await;
    node.assert_attempts(job_id, 2).await;
    node.shutdown().await;
}

async fn a_hung_worker_is_declared_dead_once_time_passes_and_its_job_retried(db: TestDb) {
    let (mut node, mut gate) = gated_node(&db).await;
    let job_id = node.submit("gate", json!("hang")).await;
    assert_eq!(gate.next().await, GateEvent::Arrived(json!("hang")));
    let worker_id = node.crash_worker_running(job_id, CrashMode::Hang { ms: None }).await;
    node.advance(Duration::from_millis(5_001)).await; // health.dead_after_ms
    node.expect_event(
        "the hung worker's death",
        |e| matches!(e, Event::WorkerDeclaredDead { worker_id: w } if *w == worker_id),
    )
    .await;
    node.expect_event("its replacement", |e| matches!(e, Event::WorkerRestarted { .. })).await;
    assert_eq!(node.executions(job_id).await[0].execution_status, ExecutionStatus::Crashed);

    gate.open(2); // the hung incarnation's run was stopped; the retry passes
    node.advance(Duration::from_secs(1)).await;
    node.drain().await;
    node.assert_status(job_id, JobStatus::Completed).await;
    node.assert_attempts(job_id, 2).await;
    node.shutdown().await;
}

async fn a_killed_job_actor_s_run_is_recorded_crashed_and_retried(db: TestDb) {
    let (mut node, mut gate) = gated_node(&db).await;
    let job_id = node.submit("gate", json!("killed")).await;
    assert_eq!(gate.next().await, GateEvent::Arrived(json!("killed")));
    node.kill_job(job_id).await;
    assert_eq!(gate.next().await, GateEvent::Dropped(json!("killed")), "the handler stopped with its actor");
    let executions = node.executions(job_id).await;
    assert_eq!(executions[0].execution_status, ExecutionStatus::Crashed);
    assert!(executions[0].error.as_deref().unwrap_or("").contains("Job actor died"), "{executions:?}");
    assert_eq!(node.slots().await[0].load, 0, "its slot is free");

    node.advance(Duration::from_secs(1)).await;
    gate.open(1);
    node.drain().await;
    node.assert_status(job_id, JobStatus::Completed).await;
    node.assert_attempts(job_id, 2).await;
    node.shutdown().await;
}

/// A node's defaults queue claims on a worker behind its running ones (prefetch): when
/// the worker dies, its Supervisor voids the running ones (CRASHED) and gives the
/// queued ones back free (no attempt, no execution) at once, not at lease expiry.
async fn a_dead_worker_s_queued_claims_go_back_free_at_its_death(db: TestDb) {
    let (mut node, mut gate) = gated_node(&db).await;
    node.submit("noop", json!({})).await; // a first run: the worker learns run times
    node.drain().await;
    let jobs: Vec<_> = (0..6).map(|i| JobRequest::new("gate", json!(i))).collect();
    let ids: Vec<_> = node.try_submit(jobs).await.unwrap().iter().map(|e| e.job_id).collect();
    for _ in 0..4 {
        assert!(matches!(gate.next().await, GateEvent::Arrived(_)), "four run, one per slot");
    }
    let deadline = std::time::Instant::now() + aeon::testing::PATIENCE;
    while node.slots().await[0].load < 6 {
        assert!(std::time::Instant::now() < deadline, "two claims queued: {:?}", node.slots().await);
        tokio::task::yield_now().await;
    }
    let worker_id = node.crash_worker_running(ids[0], CrashMode::Panic).await;
    let voided = node.expect_event("the claims voided", |e| matches!(e, Event::ClaimsVoided { .. })).await;
    assert_eq!(voided, Event::ClaimsVoided { worker_id, crashed: 4, given_back: 2 });
    // The restarted worker may have claimed them again already: count what the
    // death left in the store, the CRASHED attempts.
    let mut crashed = Vec::new();
    for id in &ids {
        let runs = node.executions(*id).await;
        crashed.push(runs.iter().filter(|e| e.execution_status == ExecutionStatus::Crashed).count());
    }
    crashed.sort();
    assert_eq!(crashed, [0, 0, 1, 1, 1, 1], "the two queued claims went back without an attempt recorded");
    node.shutdown().await;
}

/// Expired leases are swept by one node, the rescue lease's holder: a node whose
/// rescue gate is shut (the lease held elsewhere, src/cluster/membership.rs) leaves an
/// expired claim alone, and takes it back at its first sweep once the gate opens.
async fn only_the_rescue_lease_holder_sweeps_expired_leases(db: TestDb) {
    let gate = RescueGate::default();
    gate.set(false);
    let store = db.store(crate::common::exact_backoff()).shared();
    let clock = aeon::clock::ManualClock::starting_now();
    let now = aeon::clock::Clock::now(&clock);
    store.enqueue(vec![crate::common::new_job("echo", json!("orphan"))], now).await.unwrap();
    let lease = Duration::from_secs(30);
    let foreign = crate::common::claim_request(uuid::Uuid::new_v4(), 1, lease); // another node's worker
    let job_id = store.claim(foreign, now).await.unwrap()[0].job_id;
    let registry = aeon::handler::Registry::with_builtins();
    let builder = TestNode::builder(registry).store(store).clock(clock);
    let mut node = builder.supervisor(|c| c.rescue = gate.clone()).start().await;

    node.advance(lease * 2).await; // sweeps at every tick, the lease long expired
    node.assert_status(job_id, JobStatus::Running).await;
    assert_eq!(node.executions(job_id).await.len(), 1, "not swept: the lease is another node's to sweep");

    gate.set(true);
    node.tick().await;
    let runs = node.executions(job_id).await;
    assert_eq!(runs[0].execution_status, ExecutionStatus::Crashed, "swept once the gate opened: {runs:?}");
    node.advance(Duration::from_secs(1)).await; // the retry's backoff
    node.drain().await;
    node.assert_status(job_id, JobStatus::Completed).await;
    node.shutdown().await;
}

/// A result the store refuses (the claim was lost while the handler ran: here the job
/// was cancelled in the store behind the node's back) counts as nothing: the run ends
/// `Fenced`, not `Succeeded`, so neither its context nor the metrics record a success.
async fn a_result_the_store_refuses_is_not_counted_a_success(db: TestDb) {
    let (mut node, mut gate) = gated_node(&db).await;
    let job_id = node.submit("gate", json!("late")).await;
    assert_eq!(gate.next().await, GateEvent::Arrived(json!("late")));
    node.store().cancel(job_id, node.now()).await.expect("cancelled in the store alone");
    gate.open(1);
    let ended =
        node.expect_event("the run's end", |e| matches!(e, Event::JobFinished { job_id: j, .. } if *j == job_id)).await;
    assert!(matches!(ended, Event::JobFinished { result: aeon::actors::probe::RunResult::Fenced, .. }), "{ended:?}");
    let runs = node.executions(job_id).await;
    let statuses: Vec<_> = runs.iter().map(|e| e.execution_status).collect();
    assert_eq!(statuses, [ExecutionStatus::Cancelled], "the cancel's record only");
    node.assert_status(job_id, JobStatus::Cancelled).await;
    node.shutdown().await;
}

on_every_backend!(
    a_result_the_store_refuses_is_not_counted_a_success,
    only_the_rescue_lease_holder_sweeps_expired_leases,
    a_dead_worker_s_queued_claims_go_back_free_at_its_death,
    a_panicked_worker_s_job_is_recorded_crashed_and_retried,
    a_hung_worker_is_declared_dead_once_time_passes_and_its_job_retried,
    a_killed_job_actor_s_run_is_recorded_crashed_and_retried,
);

#[actix_rt::test]
#[should_panic(expected = "is not running")]
async fn crashing_the_worker_of_a_job_that_does_not_run_fails_the_test() {
    let db = TestDb::new(crate::common::Backend::Sqlite).await;
    let (mut node, _gate) = super::gated_node(&db).await;
    let job_id = node.submit("sms", json!({})).await; // nobody handles it
    node.crash_worker_running(job_id, CrashMode::Panic).await;
    node.shutdown().await;
}
