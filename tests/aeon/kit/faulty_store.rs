//! `FaultyStore`: faults once, n times, always, for one job; and what the runtime does
//! with them — the StoreActor's per-item fallback, a Job actor's retried write, a
//! claim tried again.

use std::time::Duration;

use actix::prelude::*;
use aeon::actors::store::{Complete, Flush, StoreActor, StoreActorConfig};
use aeon::clock::{Clock, ManualClock};
use aeon::handler::Registry;
use aeon::job::{ExecutionStatus, JobStatus};
use aeon::store::{Applied, Completion, Store, StoreError};
use aeon::testing::{Fault, FaultyStore, Op, TestNode};
use serde_json::json;

use crate::common::{TestDb, claim, exact_backoff, new_job, on_every_backend, shared};
use aeon::store::Reads;

async fn a_completion_that_always_fails_fails_alone_and_its_batch_mates_are_applied(db: TestDb) {
    let store = db.store(exact_backoff());
    let clock = ManualClock::starting_now();
    let jobs: Vec<_> = (0..3).map(|i| new_job("echo", json!(i))).collect();
    store.enqueue(jobs, clock.now()).await.unwrap();
    let claimed = claim(&store, 3, &clock).await;
    let bad = claimed[1].job_id;

    let faults = FaultyStore::new(store.shared());
    faults.inject(Fault::on(Op::Complete).always().for_job(bad));
    // Completions wait in one batch until the test flushes it.
    let batching = StoreActorConfig { window_ms: 3_600_000, max_size: 100, ..Default::default() };
    let actor = StoreActor::new(std::sync::Arc::new(faults.clone()), shared(&clock), batching).start();
    let answers: Vec<_> = claimed
        .iter()
        .map(|c| actor.send(Complete(Completion { claim: c.claim_ref(), result: json!("done") })))
        .collect();
    actor.send(Flush).await.unwrap();
    let answers: Vec<_> = futures::future::join_all(answers).await.into_iter().map(Result::unwrap).collect();

    for (claimed, answer) in claimed.iter().zip(&answers) {
        if claimed.job_id == bad {
            let Err(StoreError::Database(why)) = answer else { panic!("the bad item gets the error: {answer:?}") };
            assert!(why.to_string().contains("injected fault: Complete"), "{why}");
        } else {
            assert!(matches!(answer, Ok(Applied::Applied)), "{answer:?}");
        }
    }
    assert_eq!(faults.calls(Op::Complete), 4, "the batch, then each of its three items alone");
    assert_eq!(faults.injected(Op::Complete), 2, "the batch and the bad item");
    let statuses: Vec<JobStatus> = futures::future::join_all(claimed.iter().map(|c| store.get_job(c.job_id)))
        .await
        .into_iter()
        .map(|j| j.unwrap().unwrap().status)
        .collect();
    assert_eq!(statuses, [JobStatus::Completed, JobStatus::Running, JobStatus::Completed]);
}

async fn a_completion_write_that_fails_once_is_retried_by_its_job_actor(db: TestDb) {
    let faults = FaultyStore::new(db.store(exact_backoff()).shared());
    let mut node =
        TestNode::builder(Registry::with_builtins()).store(std::sync::Arc::new(faults.clone())).start().await;
    faults.inject(Fault::on(Op::Complete).once());
    let job_id = node.submit("echo", json!("kept")).await;
    faults.until_injected(Op::Complete, 1).await;
    node.assert_status(job_id, JobStatus::Running).await; // the write waits to be tried again
    node.advance(Duration::from_secs(1)).await; // past the Job actor's write retry
    node.drain().await;
    let done = node.assert_status(job_id, JobStatus::Completed).await;
    assert_eq!((done.attempts, done.result), (1, Some(json!("kept"))), "one attempt, its result recorded once");
    node.shutdown().await;
}

/// A result the store keeps refusing holds its claim: the worker renews the lease of a
/// run whose result waits to be written, so no sweep takes the job back meanwhile, and
/// the result lands once the store takes it, in the same attempt.
async fn a_result_waiting_for_its_write_keeps_its_lease(db: TestDb) {
    let faults = FaultyStore::new(db.store(exact_backoff()).shared());
    let mut node =
        TestNode::builder(Registry::with_builtins()).store(std::sync::Arc::new(faults.clone())).start().await;
    faults.inject(Fault::on(Op::Complete).always());
    let job_id = node.submit("echo", json!("kept")).await;
    faults.until_injected(Op::Complete, 1).await;
    let claimed = node.job(job_id).await.lease_expires_at.expect("a lease");

    node.advance(Duration::from_secs(65)).await; // two leases (30 s), the sweep at each tick
    let held = node.assert_status(job_id, JobStatus::Running).await;
    assert!(held.lease_expires_at.expect("a lease") > node.now(), "renewed past now: {held:?} (claimed {claimed})");
    assert!(faults.injected(Op::Complete) > 1, "the write was tried again meanwhile");
    let executions = node.executions(job_id).await;
    assert!(executions.iter().all(|e| e.execution_status != ExecutionStatus::Crashed), "{executions:?}");

    faults.clear();
    node.advance(Duration::from_secs(1)).await; // the Job actor's next try
    node.drain().await;
    let done = node.assert_status(job_id, JobStatus::Completed).await;
    assert_eq!((done.attempts, done.result), (1, Some(json!("kept"))), "the same attempt's result");
    node.shutdown().await;
}

async fn a_failed_claim_is_claimed_again(db: TestDb) {
    let faults = FaultyStore::detached();
    let store = db.store(exact_backoff()).shared();
    let mut node = TestNode::builder(Registry::with_builtins()).store(store).wrap_store(faults.wrapper()).start().await;
    faults.inject(Fault::on(Op::Claim).times(2));
    let job_id = node.submit("echo", json!(1)).await;
    node.drain().await;
    node.assert_status(job_id, JobStatus::Completed).await;
    assert_eq!(faults.injected(Op::Claim), 2);
    assert!(faults.calls(Op::Claim) >= 3);
    node.shutdown().await;
}

on_every_backend!(
    a_completion_that_always_fails_fails_alone_and_its_batch_mates_are_applied,
    a_completion_write_that_fails_once_is_retried_by_its_job_actor,
    a_result_waiting_for_its_write_keeps_its_lease,
    a_failed_claim_is_claimed_again,
);

#[actix_rt::test]
async fn faults_fail_as_often_as_armed_and_only_for_their_job() {
    let db = TestDb::new(crate::common::Backend::Sqlite).await;
    let faults = FaultyStore::new(db.store(exact_backoff()).shared());
    let (one, other) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    faults.inject(Fault::on(Op::GetJob).times(2).for_job(one));
    assert!(faults.get_job(other).await.is_ok(), "another job's read passes");
    assert!(faults.get_job(one).await.is_err());
    assert!(faults.get_job(one).await.is_err());
    assert!(faults.get_job(one).await.is_ok(), "twice, then no more");
    assert_eq!((faults.calls(Op::GetJob), faults.injected(Op::GetJob)), (4, 2));

    faults.inject(Fault::on(Op::Ping).always());
    for _ in 0..5 {
        assert!(faults.ping().await.is_err());
    }
    faults.clear();
    assert!(faults.ping().await.is_ok(), "cleared");
    faults.inject(Fault::on(Op::Ping));
    assert!(faults.ping().await.is_err() && faults.ping().await.is_ok(), "once by default");
    assert_eq!(faults.calls(Op::ListWorkers), 0, "counted per operation");
}
