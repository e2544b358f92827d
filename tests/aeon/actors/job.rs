//! The Job actor, through its Worker: timeouts in simulated time, cancellation,
//! release, and abandonment when its worker dies.

use std::time::Duration;

use aeon::actors::probe::{Event, RunResult};
use aeon::actors::worker::{Assign, CancelJob, ReleaseAll};
use aeon::clock::Clock;
use aeon::job::{ExecutionStatus, JobRequest, JobStatus, SubmitLimits};
use serde_json::json;

use super::worker_rig;
use crate::common::actors::{GateEvent, expect_event};
use crate::common::{TestDb, on_every_backend};

/// On a test node (the testing kit): the real Worker ticks as the clock moves.
async fn a_timed_out_job_is_retried_then_dead_lettered(db: TestDb) {
    let (mut node, _gate) = crate::kit::gated_node(&db).await;
    let mut request = JobRequest::new("gate", json!("never opened"));
    request.timeout_ms = Some(1_000);
    request.max_retries = Some(1);
    let job_id = node.submit_request(request).await;

    for (attempt, expected) in [(1, JobStatus::Pending), (2, JobStatus::DeadLetter)] {
        node.expect_event("job start", |e| matches!(e, Event::JobStarted { .. })).await;
        node.assert_attempts(job_id, attempt).await;
        node.advance(Duration::from_millis(999)).await;
        node.advance(Duration::from_millis(1)).await;
        let finished = node.expect_event("the timeout", |e| matches!(e, Event::JobFinished { .. })).await;
        assert!(matches!(finished, Event::JobFinished { result: RunResult::TimedOut, .. }), "{finished:?}");
        let ran = node.events().iter().filter(|e| matches!(e, Event::JobFinished { .. })).count();
        assert_eq!(ran, attempt as usize, "not before its deadline");
        node.assert_status(job_id, expected).await;
        node.advance(Duration::from_secs(1)).await; // the backoff before the retry
    }
    let executions = node.executions(job_id).await;
    assert_eq!(executions.len(), 2);
    assert!(executions.iter().all(|e| e.execution_status == ExecutionStatus::TimedOut));
    // Each attempt ended exactly at its deadline by the test's clock: not at 999 ms,
    // when the first tick already checked it, nor later.
    for e in &executions {
        let ran = e.finished_at.expect("finished") - e.started_at.expect("started");
        assert_eq!(ran, chrono::Duration::milliseconds(1_000), "not before its deadline: {e:?}");
    }
    assert_eq!(node.store().dead_letters(10, None).await.unwrap()[0].job_id, job_id);
    node.shutdown().await;
}

async fn cancelling_a_running_job_stops_it_and_records_the_cancellation(db: TestDb) {
    let mut rig = worker_rig(db, 2).await;
    let job = JobRequest::new("gate", json!(1)).validate(&SubmitLimits::default()).unwrap();
    rig.store.enqueue(vec![job.clone()], rig.clock.now()).await.unwrap();
    rig.worker.send(Assign(rig.claim(1).await)).await.unwrap();
    expect_event(&mut rig.events, "job start", |e| matches!(e, Event::JobStarted { .. })).await;

    assert_eq!(rig.gate.next().await, GateEvent::Arrived(json!(1)), "the handler waits at the gate");
    let cancelled = rig.worker.send(CancelJob { job_id: job.job_id }).await.unwrap().expect("runs here").unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    expect_event(&mut rig.events, "the cancelled run", |e| {
        matches!(e, Event::JobFinished { result: RunResult::Cancelled, .. })
    })
    .await;
    // The handler itself was stopped, not merely fenced off: its run was dropped
    // while it waited at the gate.
    assert_eq!(rig.gate.next().await, GateEvent::Dropped(json!(1)));
    let executions = rig.store.executions(job.job_id).await.unwrap();
    assert_eq!(executions.len(), 1);
    assert_eq!(executions[0].execution_status, ExecutionStatus::Cancelled);
    assert_eq!(rig.store.get_job(job.job_id).await.unwrap().unwrap().status, JobStatus::Cancelled);
    let unknown = uuid::Uuid::new_v4();
    assert!(rig.worker.send(CancelJob { job_id: unknown }).await.unwrap().is_none());
}

async fn releasing_gives_running_jobs_back_without_spending_an_attempt(db: TestDb) {
    let mut rig = worker_rig(db, 3).await;
    let jobs: Vec<_> =
        (0..3).map(|i| JobRequest::new("gate", json!(i)).validate(&SubmitLimits::default()).unwrap()).collect();
    rig.store.enqueue(jobs, rig.clock.now()).await.unwrap();
    rig.worker.send(Assign(rig.claim(3).await)).await.unwrap();
    let running = rig.worker.send(ReleaseAll { reason: "draining".into() }).await.unwrap();
    assert_eq!(running, 3);
    for _ in 0..3 {
        expect_event(&mut rig.events, "a release", |e| {
            matches!(e, Event::JobFinished { result: RunResult::Released, .. })
        })
        .await;
    }
    assert_eq!(rig.db.count("SELECT COUNT(*) FROM jobs WHERE status = 'PENDING' AND attempts = 0").await, 3);
    assert_eq!(rig.db.count("SELECT COUNT(*) FROM job_executions WHERE execution_status = 'CANCELLED'").await, 3);
}

async fn jobs_of_a_dead_worker_incarnation_are_abandoned_without_writing(db: TestDb) {
    let mut rig = worker_rig(db, 2).await;
    let job = JobRequest::new("gate", json!(1)).validate(&SubmitLimits::default()).unwrap();
    rig.store.enqueue(vec![job.clone()], rig.clock.now()).await.unwrap();
    rig.worker.send(Assign(rig.claim(1).await)).await.unwrap();
    assert_eq!(rig.gate.next().await, GateEvent::Arrived(json!(1)), "the handler waits at the gate");
    rig.token.cancel();
    expect_event(&mut rig.events, "abandonment", |e| {
        matches!(e, Event::JobFinished { result: RunResult::Abandoned, .. })
    })
    .await;
    // The run was stopped with its incarnation, and wrote nothing: the claim is the
    // Supervisor's to void.
    assert_eq!(rig.gate.next().await, GateEvent::Dropped(json!(1)));
    rig.store_addr.send(aeon::actors::store::Flush).await.unwrap();
    assert_eq!(rig.store.get_job(job.job_id).await.unwrap().unwrap().status, JobStatus::Running);
    assert!(
        rig.store.executions(job.job_id).await.unwrap().iter().all(|e| e.execution_status == ExecutionStatus::Running)
    );
}

on_every_backend!(
    a_timed_out_job_is_retried_then_dead_lettered,
    cancelling_a_running_job_stops_it_and_records_the_cancellation,
    releasing_gives_running_jobs_back_without_spending_an_attempt,
    jobs_of_a_dead_worker_incarnation_are_abandoned_without_writing,
);
