//! A node judging its own workers (issue #23, items 2 and 3), through a test node:
//! - a node stopped for longer than `health.dead_after_ms` (SIGSTOP, a paused VM)
//!   kills none of its own workers when it wakes, so no claim is voided and no job
//!   without retries is dead-lettered; a worker that is really silent still dies,
//!   `dead_after_ms` of running time after its last heartbeat, and its job runs again;
//! - a worker whose handlers return failures stays healthy (the failures are the
//!   jobs'), one whose runs panic or time out does not, and its row says why.

use std::time::Duration;

use aeon::actors::health::HealthConfig;
use aeon::actors::probe::{Event, RunResult};
use aeon::actors::store::Flush;
use aeon::actors::worker::CrashMode;
use aeon::api::WorkerView;
use aeon::job::{ExecutionStatus, JobRequest, JobStatus};
use aeon::store::WorkerStatus;
use aeon::testing::TestNode;
use serde_json::json;
use uuid::Uuid;

use crate::common::actors::{Gate, GateEvent, registry_with_gate};
use crate::common::{TestDb, exact_backoff, on_every_backend};

/// Two workers of two slots on `db`, the built-ins and `gate` as handlers, and a
/// node's own health thresholds (the kit's default never makes a worker unhealthy).
async fn node(db: &TestDb) -> (TestNode, Gate) {
    let (registry, gate) = registry_with_gate();
    let node = TestNode::builder(registry)
        .store(db.store(exact_backoff()).shared())
        .workers(2, 2)
        .health(HealthConfig::default())
        .start()
        .await;
    (node, gate)
}

fn job(job_type: &str, payload: serde_json::Value, max_retries: i64) -> JobRequest {
    let mut request = JobRequest::new(job_type, payload);
    request.max_retries = Some(max_retries);
    request
}

/// The workers as `GET /v1/workers` shows them, after a sweep.
async fn workers(node: &TestNode) -> Vec<WorkerView> {
    node.tick().await;
    node.actors().store.send(Flush).await.unwrap();
    node.store().list_workers().await.unwrap().into_iter().map(WorkerView::from).collect()
}

fn deaths(node: &mut TestNode) -> Vec<Uuid> {
    let dead = |e: &Event| match e {
        Event::WorkerDeclaredDead { worker_id } => Some(*worker_id),
        _ => None,
    };
    node.events().iter().filter_map(dead).collect()
}

async fn a_node_paused_past_dead_after_kills_none_of_its_own_workers(db: TestDb) {
    let (mut node, mut gate) = node(&db).await;
    node.advance(Duration::from_secs(1)).await;
    let mut jobs = Vec::new();
    for i in 0..4 {
        jobs.push(node.submit_request(job("gate", json!(i), 0)).await);
    }
    for _ in 0..4 {
        assert!(matches!(gate.next().await, GateEvent::Arrived(_)), "all four run, two on each worker");
    }

    // Stopped for 7 s (dead_after_ms: 5 s); on waking, the sweep runs before any
    // heartbeat is heard.
    node.pause(Duration::from_secs(7)).await;
    node.expect_event("the late sweep", |e| matches!(e, Event::SweepLate { .. })).await;
    node.advance(Duration::from_secs(2)).await;
    assert_eq!(deaths(&mut node), Vec::<Uuid>::new(), "no worker of its own declared dead");
    let voided = node.events().iter().any(|e| matches!(e, Event::ClaimsVoided { .. }));
    assert!(!voided, "no claim voided");
    for w in workers(&node).await {
        let why = (w.status.as_str(), w.health_reason.as_deref());
        assert_eq!(why, ("ACTIVE", Some("2 of 2 slots busy")), "alive, busy and nothing else: {w:?}");
    }

    gate.open(4);
    node.drain().await;
    for job_id in jobs {
        node.assert_status(job_id, JobStatus::Completed).await;
        node.assert_attempts(job_id, 1).await;
    }
    node.shutdown().await;
}

async fn a_worker_hung_before_a_pause_still_dies_dead_after_of_running_time_later(db: TestDb) {
    let (mut node, mut gate) = node(&db).await;
    let job_id = node.submit_request(job("gate", json!("hung"), 1)).await;
    assert_eq!(gate.next().await, GateEvent::Arrived(json!("hung")));
    node.advance(Duration::from_secs(1)).await; // every worker beats
    let hung = node.crash_worker_running(job_id, CrashMode::Hang { ms: None }).await;

    // Silent 1 s, then the node is stopped for 7 s: that time does not count.
    node.advance(Duration::from_secs(1)).await;
    node.pause(Duration::from_secs(7)).await;
    node.advance(Duration::from_secs(3)).await;
    // 1 s before the pause, a sweep period for the late sweep, 3 s after: 5 s.
    assert_eq!(deaths(&mut node), Vec::<Uuid>::new(), "silent 5 s by the node's running time, not more: alive");
    node.advance(Duration::from_millis(1)).await;
    assert_eq!(deaths(&mut node), [hung], "then dead, and only it");
    node.expect_event("its replacement", |e| matches!(e, Event::WorkerRestarted { .. })).await;
    let row = workers(&node).await.into_iter().find(|w| w.worker_id == hung).unwrap();
    assert!(row.status == "ACTIVE" && row.health_reason.is_none(), "restarted fresh: {row:?}");

    // Its claim was voided and the job runs again.
    assert_eq!(node.executions(job_id).await[0].execution_status, ExecutionStatus::Crashed);
    gate.open(2);
    node.advance(Duration::from_secs(1)).await;
    node.drain().await;
    node.assert_status(job_id, JobStatus::Completed).await;
    node.assert_attempts(job_id, 2).await;
    node.shutdown().await;
}

async fn a_worker_whose_handlers_return_failures_stays_healthy(db: TestDb) {
    let (mut node, _gate) = node(&db).await;
    let mut failed = Vec::new();
    for _ in 0..10 {
        failed.push(node.submit_request(job("fail", json!({"times": 1}), 0)).await);
    }
    let drained = node.drain().await;
    assert_eq!(drained.failed(), 10);
    for job_id in failed {
        node.assert_status(job_id, JobStatus::DeadLetter).await;
    }
    for w in workers(&node).await {
        assert_eq!((w.status.as_str(), w.health_score, w.health_reason), ("ACTIVE", 1.0, None), "{}", w.worker_id);
    }
    node.shutdown().await;
}

async fn a_worker_whose_runs_panic_or_time_out_is_unhealthy_and_says_why(db: TestDb) {
    let (registry, _gate) = registry_with_gate();
    let store = db.store(exact_backoff()).shared();
    let mut node = TestNode::builder(registry).store(store).workers(1, 2).health(HealthConfig::default()).start().await;
    for _ in 0..4 {
        node.submit_request(job("panic", json!({"times": 1}), 0)).await;
    }
    assert_eq!(node.drain().await.failed(), 4);
    let mut slow = job("gate", json!("never opened"), 0);
    slow.timeout_ms = Some(1_000);
    let timed_out = node.submit_request(slow).await;
    node.expect_event("its start", |e| matches!(e, Event::JobStarted { job_id, .. } if *job_id == timed_out)).await;
    node.advance(Duration::from_secs(1)).await;
    let timeout = |e: &Event| matches!(e, Event::JobFinished { result: RunResult::TimedOut, .. });
    node.expect_settled(timed_out).await;
    node.expect_event("the timeout", timeout).await; // its run metric is sent: the next sweep has it
    node.assert_status(timed_out, JobStatus::DeadLetter).await;

    let [w] = &workers(&node).await[..] else { panic!("one worker") };
    assert_eq!((w.status.as_str(), w.health_score), ("UNHEALTHY", 0.25), "{w:?}");
    assert_eq!(w.health_reason.as_deref(), Some("5 of its last 5 runs crashed or timed out"));
    let row = node.store().list_workers().await.unwrap().pop().unwrap();
    assert_eq!(row.status, WorkerStatus::Unhealthy);
    node.shutdown().await;
}

on_every_backend!(
    a_node_paused_past_dead_after_kills_none_of_its_own_workers,
    a_worker_hung_before_a_pause_still_dies_dead_after_of_running_time_later,
    a_worker_whose_handlers_return_failures_stays_healthy,
    a_worker_whose_runs_panic_or_time_out_is_unhealthy_and_says_why,
);
