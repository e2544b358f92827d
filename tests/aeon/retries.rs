//! Failure paths: backoff, dead-lettering, requeue, rescue of expired leases, fencing.

use std::time::Duration;

use aeon::clock::Clock;
use aeon::job::{ExecutionStatus, JobStatus};
use aeon::retry::BackoffPolicy;
use aeon::store::{Applied, ClaimedJob, Completion, FailOutcome, Failure, StoreError};
use serde_json::json;
use uuid::Uuid;

use crate::common::{TestDb, claim, claim_request, clock, exact_backoff, job_with, on_every_backend};

fn failure(run: &ClaimedJob, message: &str) -> Failure {
    Failure { claim: run.claim_ref(), status: ExecutionStatus::Failed, error: message.into(), permanent: false }
}

async fn failed_attempts_back_off_exponentially_then_dead_letter_after_exactly_max_retries(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let job = job_with(|j| j.max_retries = Some(3));
    store.enqueue(vec![job.clone()], clock.now()).await.unwrap();

    for (attempt, delay_s) in [(1, 1), (2, 2), (3, 4)] {
        let run = claim(&store, 1, &clock).await.pop().expect("the job is ready");
        assert_eq!(run.attempt, attempt);
        let outcome = store.fail(vec![failure(&run, &format!("boom {attempt}"))], clock.now()).await.unwrap().outcomes;
        let retry_at = clock.now() + chrono::Duration::seconds(delay_s);
        assert_eq!(outcome, vec![FailOutcome::Retrying { at: retry_at }]);
        let waiting = store.get_job(job.job_id).await.unwrap().unwrap();
        assert_eq!((waiting.status, waiting.scheduled_at), (JobStatus::Pending, retry_at));
        assert_eq!(waiting.error.as_deref(), Some(format!("boom {attempt}").as_str()));

        clock.advance(Duration::from_secs(delay_s as u64) - Duration::from_millis(1));
        assert!(claim(&store, 1, &clock).await.is_empty(), "not before its backoff has passed");
        clock.advance(Duration::from_millis(1));
    }
    let last = claim(&store, 1, &clock).await.pop().expect("fourth and last attempt");
    assert_eq!(last.attempt, 4);
    let outcome = store.fail(vec![failure(&last, "boom 4")], clock.now()).await.unwrap().outcomes;
    assert_eq!(outcome, vec![FailOutcome::DeadLettered]);

    let dead = store.get_job(job.job_id).await.unwrap().unwrap();
    assert_eq!((dead.status, dead.attempts), (JobStatus::DeadLetter, 4));
    let letters = store.dead_letters(10, None).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!((letters[0].job_id, letters[0].attempts), (job.job_id, 4));
    assert_eq!(letters[0].last_error.as_deref(), Some("boom 4"));
    let executions = store.executions(job.job_id).await.unwrap();
    assert_eq!(executions.len(), 4);
    assert!(executions.iter().all(|e| e.execution_status == ExecutionStatus::Failed));
    clock.advance(Duration::from_secs(3600));
    assert!(claim(&store, 1, &clock).await.is_empty(), "a dead-lettered job stays put");
}

async fn jitter_spreads_retries_within_its_bound(db: TestDb) {
    let clock = clock();
    let store = db.store(BackoffPolicy { base_ms: 1_000, max_ms: 60_000, jitter: 0.5 });
    let jobs: Vec<_> = (0..50).map(|_| job_with(|j| j.max_retries = Some(5))).collect();
    store.enqueue(jobs, clock.now()).await.unwrap();
    let runs = claim(&store, 50, &clock).await;
    let outcomes = store.fail(runs.iter().map(|r| failure(r, "x")).collect(), clock.now()).await.unwrap().outcomes;
    let delays: Vec<i64> = outcomes
        .iter()
        .map(|o| match o {
            FailOutcome::Retrying { at } => (*at - clock.now()).num_milliseconds(),
            other => panic!("expected a retry, got {other:?}"),
        })
        .collect();
    assert!(delays.iter().all(|d| (1_000..=1_500).contains(d)), "delays out of bounds: {delays:?}");
    assert!(delays.iter().any(|d| *d != delays[0]), "jitter must spread the retries");
}

async fn a_permanent_failure_dead_letters_at_once_and_requeue_gives_fresh_retries(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let job = job_with(|j| j.max_retries = Some(5));
    store.enqueue(vec![job.clone()], clock.now()).await.unwrap();
    let run = claim(&store, 1, &clock).await.pop().unwrap();
    let permanent = Failure { permanent: true, ..failure(&run, "bad payload") };
    assert_eq!(store.fail(vec![permanent], clock.now()).await.unwrap().outcomes, vec![FailOutcome::DeadLettered]);

    match store.requeue_dead_letter(Uuid::new_v4(), clock.now()).await {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("expected not found, got {other:?}"),
    }
    clock.advance(Duration::from_millis(1));
    let requeued = store.requeue_dead_letter(job.job_id, clock.now()).await.unwrap();
    assert_eq!((requeued.status, requeued.attempts, requeued.error), (JobStatus::Pending, 0, None));
    assert!(store.dead_letters(10, None).await.unwrap().is_empty(), "the entry is closed");
    assert_eq!(db.count("SELECT COUNT(*) FROM dead_letter_queue WHERE requeued").await, 1);
    assert!(matches!(
        store.requeue_dead_letter(job.job_id, clock.now()).await,
        Err(StoreError::Conflict { status: JobStatus::Pending, .. })
    ));
    let again = claim(&store, 1, &clock).await.pop().expect("requeued job runs again");
    assert_eq!(again.attempt, 1);
}

async fn an_expired_lease_is_rescued_and_the_late_completion_changes_nothing(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let job = job_with(|j| j.max_retries = Some(1));
    store.enqueue(vec![job.clone()], clock.now()).await.unwrap();
    let lost_worker = Uuid::new_v4();
    let lease = Duration::from_secs(10);
    let request = claim_request(lost_worker, 1, lease);
    let first = store.claim(request, clock.now()).await.unwrap().pop().unwrap();

    clock.advance(Duration::from_secs(9));
    assert!(store.rescue_expired(100, clock.now()).await.unwrap().is_empty(), "the lease still holds");
    assert_eq!(
        store.extend_leases(vec![first.claim_ref()], clock.now() + chrono::Duration::seconds(10)).await.unwrap(),
        1
    );
    clock.advance(Duration::from_secs(9));
    assert!(store.rescue_expired(100, clock.now()).await.unwrap().is_empty(), "the renewed lease holds");

    clock.advance(Duration::from_secs(2));
    let rescued = store.rescue_expired(100, clock.now()).await.unwrap();
    assert_eq!(rescued.len(), 1);
    assert_eq!((rescued[0].job_id, rescued[0].worker_id), (job.job_id, lost_worker));
    assert_eq!(rescued[0].outcome, FailOutcome::Retrying { at: clock.now() + chrono::Duration::seconds(1) });
    let executions = store.executions(job.job_id).await.unwrap();
    assert_eq!(executions[0].execution_status, ExecutionStatus::Crashed);

    // The worker that lost its claim comes back and reports: fenced off.
    let late = Completion { claim: first.claim_ref(), result: json!("late") };
    assert_eq!(store.complete(vec![late], clock.now()).await.unwrap().applied, vec![Applied::Stale]);
    assert_eq!(
        store.fail(vec![failure(&first, "late")], clock.now()).await.unwrap().outcomes,
        vec![FailOutcome::Stale]
    );
    let job_now = store.get_job(job.job_id).await.unwrap().unwrap();
    assert_eq!((job_now.status, job_now.result), (JobStatus::Pending, None));

    clock.advance(Duration::from_secs(1));
    let second = claim(&store, 1, &clock).await.pop().expect("rescued job runs again");
    assert_eq!(second.attempt, 2);
    let done = Completion { claim: second.claim_ref(), result: json!("ok") };
    assert_eq!(store.complete(vec![done], clock.now()).await.unwrap().applied, vec![Applied::Applied]);
    assert_eq!(store.get_job(job.job_id).await.unwrap().unwrap().result, Some(json!("ok")));
    let successes = db.count("SELECT COUNT(*) FROM job_executions WHERE execution_status = 'SUCCEEDED'").await;
    assert_eq!(successes, 1);
}

async fn a_job_whose_node_keeps_dying_is_dead_lettered_by_rescue(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let job = job_with(|j| j.max_retries = Some(0));
    store.enqueue(vec![job.clone()], clock.now()).await.unwrap();
    claim(&store, 1, &clock).await;
    clock.advance(Duration::from_secs(31));
    let rescued = store.rescue_expired(100, clock.now()).await.unwrap();
    assert_eq!(rescued[0].outcome, FailOutcome::DeadLettered);
    assert_eq!(store.get_job(job.job_id).await.unwrap().unwrap().status, JobStatus::DeadLetter);
    assert_eq!(store.dead_letters(10, None).await.unwrap()[0].job_id, job.job_id);
}

async fn a_completion_counts_once_even_when_sent_twice(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    store.enqueue(vec![job_with(|_| {})], clock.now()).await.unwrap();
    let run = claim(&store, 1, &clock).await.pop().unwrap();
    let done = Completion { claim: run.claim_ref(), result: json!(1) };
    let outcomes = store.complete(vec![done.clone(), done.clone()], clock.now()).await.unwrap().applied;
    assert_eq!(outcomes, vec![Applied::Applied, Applied::Stale]);
    assert_eq!(store.complete(vec![done], clock.now()).await.unwrap().applied, vec![Applied::Stale]);
}

on_every_backend!(
    failed_attempts_back_off_exponentially_then_dead_letter_after_exactly_max_retries,
    jitter_spreads_retries_within_its_bound,
    a_permanent_failure_dead_letters_at_once_and_requeue_gives_fresh_retries,
    an_expired_lease_is_rescued_and_the_late_completion_changes_nothing,
    a_job_whose_node_keeps_dying_is_dead_lettered_by_rescue,
    a_completion_counts_once_even_when_sent_twice,
);
