//! The StoreActor batches: completions, failures and health logs that arrive together
//! go to the database as one statement, and each sender gets its own answer.

use std::time::Duration;

use actix::Actor;
use aeon::actors::store::{
    Claim, Complete, EnqueueOne, Fail, Flush, StoreActor, StoreActorConfig, StoreHandle, WriteHealthLogs,
};
use aeon::clock::{Clock, ManualClock};
use aeon::job::ExecutionStatus;
use aeon::store::{Applied, Completion, FailOutcome, Failure, HealthLog};
use futures::future::join_all;
use serde_json::json;
use uuid::Uuid;

use crate::common::{AnyStore, TestDb, claim_request, clock, exact_backoff, new_job, on_every_backend, shared};

fn actor(store: &AnyStore, clock: &ManualClock, config: StoreActorConfig) -> StoreHandle {
    StoreActor::new(store.shared(), shared(clock), config).start()
}

async fn n_completions_arriving_together_cost_what_one_does(db: TestDb) {
    const N: usize = 200;
    let clock = clock();
    let store = db.store(exact_backoff());
    // The window is long: only reaching max_size can send this batch.
    let addr = actor(&store, &clock, StoreActorConfig { window_ms: 1_000, max_size: N, ..Default::default() });
    store.enqueue((0..N).map(|i| new_job("noop", json!(i))).collect(), clock.now()).await.unwrap();
    let request = claim_request(Uuid::new_v4(), N as u32, Duration::from_secs(60));
    let runs = addr.send(Claim(request)).await.unwrap().unwrap();
    assert_eq!(runs.len(), N);

    // What one completion costs alone (BEGIN, the completion, the look for waiting
    // dependents, COMMIT) ...
    let lone = db.store(exact_backoff());
    lone.enqueue(vec![new_job("echo", json!(0))], clock.now()).await.unwrap();
    let one = lone.claim(claim_request(Uuid::new_v4(), 1, Duration::from_secs(60)), clock.now()).await.unwrap();
    let before = lone.statements_sent();
    lone.complete(vec![Completion { claim: one[0].claim_ref(), result: json!("done") }], clock.now()).await.unwrap();
    let cost_of_one = lone.statements_sent() - before;
    assert!(cost_of_one <= 4, "{cost_of_one}");

    // ... is what N cost together: the completions themselves are one statement.
    let before = store.statements_sent();
    let sends = runs.iter().map(|r| addr.send(Complete(Completion { claim: r.claim_ref(), result: json!("done") })));
    let answers: Vec<Applied> = join_all(sends).await.into_iter().map(|a| a.unwrap().unwrap()).collect();
    assert_eq!(store.statements_sent() - before, cost_of_one, "{N} completions in one batch");
    assert!(answers.iter().all(|a| *a == Applied::Applied));
    assert_eq!(db.count("SELECT COUNT(*) FROM jobs WHERE status = 'COMPLETED'").await, N as i64 + 1);
}

async fn a_lone_completion_goes_out_when_its_window_ends(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let addr = actor(&store, &clock, StoreActorConfig { window_ms: 2, max_size: 500, ..Default::default() });
    let enqueued = addr.send(EnqueueOne(new_job("noop", json!({})))).await.unwrap().unwrap();
    let request = claim_request(Uuid::new_v4(), 1, Duration::from_secs(60));
    let run = addr.send(Claim(request)).await.unwrap().unwrap().pop().unwrap();
    assert_eq!(run.job_id, enqueued.job_id);
    let answer = addr.send(Complete(Completion { claim: run.claim_ref(), result: json!(7) })).await.unwrap();
    assert_eq!(answer.unwrap(), Applied::Applied);
    assert_eq!(store.get_job(run.job_id).await.unwrap().unwrap().result, Some(json!(7)));
}

async fn failures_and_health_logs_batch_and_flush_on_demand(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let addr = actor(&store, &clock, StoreActorConfig { window_ms: 1_000, max_size: 10_000, ..Default::default() });
    store.enqueue((0..20).map(|i| new_job("noop", json!(i))).collect(), clock.now()).await.unwrap();
    let request = claim_request(Uuid::new_v4(), 20, Duration::from_secs(60));
    let runs = store.claim(request.clone(), clock.now()).await.unwrap();

    let failing = runs.iter().map(|r| {
        let failure =
            Failure { claim: r.claim_ref(), status: ExecutionStatus::TimedOut, error: "slow".into(), permanent: false };
        addr.send(Fail(failure))
    });
    let logs = (0..50)
        .map(|i| HealthLog {
            worker_id: request.workers[0].worker_id,
            metric_type: "load".into(),
            metric_value: f64::from(i) / 50.0,
            metadata: json!({}),
            logged_at: clock.now(),
        })
        .collect();
    let before = store.statements_sent();
    let failing = join_all(failing);
    let logging = addr.send(WriteHealthLogs(logs));
    // Nothing is written until the window ends or someone flushes.
    let ((outcomes, logged), ()) = futures::join!(futures::future::join(failing, logging), async {
        addr.send(Flush).await.unwrap();
    });
    assert!(logged.unwrap().is_ok());
    assert!(outcomes.into_iter().all(|o| matches!(o.unwrap().unwrap(), FailOutcome::Retrying { .. })));
    // Failures: BEGIN, lock, settle, COMMIT. Health logs: one insert.
    assert_eq!(store.statements_sent() - before, 5, "20 failures and 50 logs in two batches");
    assert_eq!(db.count("SELECT COUNT(*) FROM job_executions WHERE execution_status = 'TIMED_OUT'").await, 20);
    assert_eq!(db.count("SELECT COUNT(*) FROM worker_health_logs").await, 50);
}

on_every_backend!(
    n_completions_arriving_together_cost_what_one_does,
    a_lone_completion_goes_out_when_its_window_ends,
    failures_and_health_logs_batch_and_flush_on_demand,
);
