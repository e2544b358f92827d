//! Retention on the injected clock: finished jobs (with their executions), dead
//! letters and health logs are deleted at the right ages, in bounded batches; a job
//! that an unfinished job depends on is kept; 0 keeps a kind forever.

use std::time::Duration;

use actix::Actor;
use aeon::actors::probe::Probe;
use aeon::actors::pruner::{Prune, Pruner, RetentionConfig};
use aeon::actors::store::{StoreActor, StoreActorConfig};
use aeon::clock::{Clock, ManualClock};
use aeon::job::{ExecutionStatus, JobRequest, SubmitLimits, validate_batch};
use aeon::store::{Completion, Failure, HealthLog, PrunePolicy};
use aeon::vector::{ContextPoint, ExecutionContext};
use serde_json::json;
use uuid::Uuid;

use crate::common::{AnyStore, TestDb, claim, clock, exact_backoff, new_job, on_every_backend, shared};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Submits `n` no-op jobs and completes them now; answers their ids.
async fn completed_jobs(store: &AnyStore, clock: &ManualClock, n: usize) -> Vec<Uuid> {
    let jobs: Vec<_> = (0..n).map(|i| new_job("noop", json!(i))).collect();
    store.enqueue(jobs, clock.now()).await.unwrap();
    let runs = claim(store, n as u32, clock).await;
    let done = runs.iter().map(|r| Completion { claim: r.claim_ref(), result: json!("ok") }).collect();
    store.complete(done, clock.now()).await.unwrap();
    runs.iter().map(|r| r.job_id).collect()
}

/// A job dead-lettered now (no retries).
async fn dead_letter(store: &AnyStore, clock: &ManualClock) -> Uuid {
    let mut request = JobRequest::new("noop", json!({}));
    request.max_retries = Some(0);
    store.enqueue(validate_batch(vec![request], &SubmitLimits::default()).unwrap(), clock.now()).await.unwrap();
    let run = claim(store, 1, clock).await.pop().unwrap();
    let failure =
        Failure { claim: run.claim_ref(), status: ExecutionStatus::Failed, error: "no".into(), permanent: true };
    store.fail(vec![failure], clock.now()).await.unwrap();
    run.job_id
}

fn log(clock: &ManualClock) -> HealthLog {
    HealthLog {
        worker_id: Uuid::new_v4(),
        metric_type: "load".into(),
        metric_value: 0.5,
        metadata: json!({}),
        logged_at: clock.now(),
    }
}

fn policy(clock: &ManualClock, finished: Duration, dead: Duration, logs: Duration, batch: u32) -> PrunePolicy {
    let before = |age: Duration| Some(clock.now() - chrono::Duration::from_std(age).unwrap());
    PrunePolicy {
        finished_before: before(finished),
        dead_letters_before: before(dead),
        health_logs_before: before(logs),
        contexts_before: None,
        batch,
    }
}

async fn rows_are_pruned_at_their_ages_with_what_cascades_from_them(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let old = completed_jobs(&store, &clock, 3).await;
    let old_dead = dead_letter(&store, &clock).await;
    store.write_health_logs(vec![log(&clock), log(&clock)]).await.unwrap();
    clock.advance(DAY * 6);
    let young = completed_jobs(&store, &clock, 2).await;
    let young_dead = dead_letter(&store, &clock).await;
    clock.advance(DAY * 2); // `old` are 8 days old now, `young` 2
    store.write_health_logs(vec![log(&clock)]).await.unwrap(); // a fresh log

    let pruned = store.prune(policy(&clock, DAY * 7, DAY * 7, DAY, 100)).await.unwrap();
    assert_eq!((pruned.finished, pruned.dead_letters, pruned.health_logs), (3, 1, 2), "{pruned:?}");
    assert!(!pruned.skipped);
    for id in old.iter().chain([&old_dead]) {
        assert_eq!(store.get_job(*id).await.unwrap(), None, "an old job is gone");
        assert!(store.executions(*id).await.unwrap().is_empty(), "and its executions with it");
    }
    for id in young.iter().chain([&young_dead]) {
        assert!(store.get_job(*id).await.unwrap().is_some(), "a young job stays");
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM job_executions").await, 3, "the young jobs' attempts");
    assert_eq!(db.count("SELECT COUNT(*) FROM dead_letter_queue").await, 1, "the young dead letter's entry");
    assert_eq!(db.count("SELECT COUNT(*) FROM worker_health_logs").await, 1);

    let again = store.prune(policy(&clock, DAY * 7, DAY * 7, DAY, 100)).await.unwrap();
    assert_eq!((again.finished, again.dead_letters, again.health_logs), (0, 0, 0), "nothing more is due");
}

async fn a_pass_deletes_at_most_a_batch_of_each_kind_oldest_first(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.extend(completed_jobs(&store, &clock, 1).await);
        clock.advance(Duration::from_secs(1));
    }
    clock.advance(DAY * 8);
    let first = store.prune(policy(&clock, DAY * 7, DAY * 7, DAY, 2)).await.unwrap();
    assert_eq!(first.finished, 2);
    assert!(first.full(2), "a full batch says more may wait");
    assert_eq!(store.get_job(ids[0]).await.unwrap(), None, "the oldest go first");
    assert_eq!(store.get_job(ids[1]).await.unwrap(), None);
    assert!(store.get_job(ids[2]).await.unwrap().is_some());
    assert_eq!(store.prune(policy(&clock, DAY * 7, DAY * 7, DAY, 2)).await.unwrap().finished, 2);
    let last = store.prune(policy(&clock, DAY * 7, DAY * 7, DAY, 2)).await.unwrap();
    assert_eq!(last.finished, 1);
    assert!(!last.full(2));
}

async fn a_job_an_unfinished_job_depends_on_is_kept_until_its_dependent_finishes(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let parent = completed_jobs(&store, &clock, 1).await[0];
    let mut child = JobRequest::new("echo", json!({}));
    child.depends_on = Some(vec![parent.to_string()]);
    let child =
        store.enqueue(validate_batch(vec![child], &SubmitLimits::default()).unwrap(), clock.now()).await.unwrap();
    clock.advance(DAY * 8);
    let keep_finished = policy(&clock, DAY * 7, DAY * 7, DAY, 100);
    assert_eq!(store.prune(keep_finished).await.unwrap().finished, 0, "its dependent is still pending");
    assert!(store.get_job(parent).await.unwrap().is_some());

    let run = claim(&store, 1, &clock).await.pop().unwrap();
    assert_eq!(run.job_id, child[0].job_id);
    assert_eq!(run.dependencies[0].job_id, parent, "the dependent still reads its dependency's outcome");
    store.complete(vec![Completion { claim: run.claim_ref(), result: json!(1) }], clock.now()).await.unwrap();
    let pruned = store.prune(policy(&clock, DAY * 7, DAY * 7, DAY, 100)).await.unwrap();
    assert_eq!(pruned.finished, 1, "once the dependent finished, the old parent goes (the child is young)");
    assert_eq!(store.get_job(parent).await.unwrap(), None);
    assert!(store.get_job(child[0].job_id).await.unwrap().is_some());
}

async fn the_pruner_works_off_a_backlog_in_one_tick_and_zero_keeps_forever(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    completed_jobs(&store, &clock, 7).await;
    dead_letter(&store, &clock).await;
    store.write_health_logs(vec![log(&clock)]).await.unwrap();
    clock.advance(DAY * 40);
    let addr = StoreActor::new(store.shared(), shared(&clock), StoreActorConfig::default()).start();
    let config = RetentionConfig { batch: 3, dead_letter_after_s: 0, ..RetentionConfig::default() };
    let pruner = Pruner::new(config, addr, shared(&clock), Probe::none(), false).start();
    let pruned = pruner.send(Prune).await.unwrap();
    assert_eq!((pruned.finished, pruned.dead_letters, pruned.health_logs), (7, 0, 1), "{pruned:?}");
    assert_eq!(db.count("SELECT COUNT(*) FROM jobs").await, 1, "the dead letter is kept forever");
    let metrics = aeon::gauges::render(&Default::default());
    let line =
        metrics.lines().find(|l| l.starts_with("aeon_pruned_rows_total{kind=\"finished\"}")).expect("the metric");
    let counted: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(counted >= 7.0, "counted for the metric: {line}");
}

fn context_at(at: chrono::DateTime<chrono::Utc>) -> ContextPoint {
    let context = ExecutionContext {
        execution_id: Uuid::now_v7(),
        job_id: Uuid::new_v4(),
        job_type: "noop".into(),
        attempt: 1,
        outcome: "FAILED".into(),
        error: Some("boom".into()),
        duration_ms: 1,
        worker_id: Uuid::new_v4(),
        node_id: "node-r".into(),
        checkpoint: None,
        recorded_at: at,
    };
    ContextPoint { vector: aeon::vector::embed("noop", "FAILED", Some("boom")), context }
}

async fn old_execution_contexts_are_pruned_by_age(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    store.put_contexts(vec![context_at(clock.now())]).await.unwrap();
    clock.advance(DAY * 31);
    store.put_contexts(vec![context_at(clock.now())]).await.unwrap();
    let before = |age: Duration| Some(clock.now() - chrono::Duration::from_std(age).unwrap());
    let policy = PrunePolicy {
        finished_before: None,
        dead_letters_before: None,
        health_logs_before: None,
        contexts_before: before(DAY * 30),
        batch: 10,
    };
    assert_eq!(store.prune(policy).await.unwrap().contexts, 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM execution_contexts").await, 1, "the young one stays");
}

on_every_backend!(
    old_execution_contexts_are_pruned_by_age,
    rows_are_pruned_at_their_ages_with_what_cascades_from_them,
    a_pass_deletes_at_most_a_batch_of_each_kind_oldest_first,
    a_job_an_unfinished_job_depends_on_is_kept_until_its_dependent_finishes,
    the_pruner_works_off_a_backlog_in_one_tick_and_zero_keeps_forever,
);
