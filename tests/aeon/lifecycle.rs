//! A job's way through the store: submit, claim, complete; cancel; release; ordering.

use std::time::Duration;

use aeon::clock::Clock;
use aeon::job::{ExecutionStatus, JobStatus};
use aeon::store::{Applied, Completion, HealthLog, ReleaseParams, Room, StoreError, WorkerRecord, WorkerStatus};
use serde_json::json;
use uuid::Uuid;

use crate::common::{TestDb, claim, claim_request, clock, exact_backoff, job_with, new_job, on_every_backend};

async fn a_job_goes_from_pending_to_completed_with_its_result(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let job = new_job("echo", json!({"hello": "world"}));
    let enqueued = store.enqueue(vec![job.clone()], clock.now()).await.unwrap();
    assert_eq!(enqueued[0].job_id, job.job_id);
    assert_eq!(enqueued[0].status, JobStatus::Pending);
    assert!(enqueued[0].created);

    let stored = store.get_job(job.job_id).await.unwrap().expect("job stored");
    assert_eq!((stored.status, stored.attempts, stored.timeout_ms), (JobStatus::Pending, 0, 300_000));
    assert_eq!(stored.payload, json!({"hello": "world"}));

    clock.advance(Duration::from_millis(10));
    let worker = Uuid::new_v4();
    let claimed = store.claim(claim_request(worker, 10, Duration::from_secs(30)), clock.now()).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let run = &claimed[0];
    assert_eq!((run.job_id, run.attempt, run.job_type.as_str()), (job.job_id, 1, "echo"));
    assert_eq!(run.lease_expires_at, clock.now() + chrono::Duration::seconds(30));

    let running = store.get_job(job.job_id).await.unwrap().unwrap();
    assert_eq!(running.status, JobStatus::Running);
    assert_eq!(running.worker_id, Some(worker));
    assert_eq!(running.current_execution_id, Some(run.execution_id));
    assert_eq!(running.started_at, Some(clock.now()));
    let executions = store.executions(job.job_id).await.unwrap();
    assert_eq!(executions.len(), 1);
    assert_eq!(executions[0].execution_status, ExecutionStatus::Running, "the running attempt, from the job's row");
    assert_eq!((executions[0].execution_id, executions[0].attempt), (run.execution_id, 1));
    let started = clock.now();

    clock.advance(Duration::from_millis(5));
    let applied = store
        .complete(vec![Completion { claim: run.claim_ref(), result: json!({"echo": 1}) }], clock.now())
        .await
        .unwrap()
        .applied;
    assert_eq!(applied, vec![Applied::Applied]);

    let done = store.get_job(job.job_id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.result, Some(json!({"echo": 1})));
    assert_eq!(done.completed_at, Some(clock.now()));
    assert_eq!(done.current_execution_id, None);
    let executions = store.executions(job.job_id).await.unwrap();
    assert_eq!(executions.len(), 1, "the attempt's row, written as it ended");
    assert_eq!(executions[0].execution_status, ExecutionStatus::Succeeded);
    assert_eq!((executions[0].started_at, executions[0].finished_at), (Some(started), Some(clock.now())));
    assert_eq!((executions[0].worker_id, executions[0].attempt), (worker, 1));
    assert!(claim(&store, 10, &clock).await.is_empty(), "a completed job is never claimed again");
}

async fn claims_take_priority_then_age_and_wait_for_run_at(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let old_low = job_with(|j| j.priority = Some(0));
    clock.advance(Duration::from_millis(1));
    let young_low = job_with(|j| j.priority = Some(0));
    let high = job_with(|j| j.priority = Some(5));
    let later = (clock.now() + chrono::Duration::seconds(60)).to_rfc3339();
    let scheduled = job_with(|j| {
        j.priority = Some(100);
        j.run_at = Some(later);
    });
    store.enqueue(vec![old_low.clone()], clock.now() - chrono::Duration::seconds(1)).await.unwrap();
    store.enqueue(vec![young_low.clone(), high.clone(), scheduled.clone()], clock.now()).await.unwrap();

    let first = claim(&store, 2, &clock).await;
    assert_eq!(first.iter().map(|c| c.job_id).collect::<Vec<_>>(), vec![high.job_id, old_low.job_id]);
    let second = claim(&store, 10, &clock).await;
    assert_eq!(second.iter().map(|c| c.job_id).collect::<Vec<_>>(), vec![young_low.job_id]);

    clock.advance(Duration::from_secs(60));
    let third = claim(&store, 10, &clock).await;
    assert_eq!(third.iter().map(|c| c.job_id).collect::<Vec<_>>(), vec![scheduled.job_id]);
}

async fn one_claim_serves_several_workers_spreading_a_short_batch(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    store.enqueue((0..5).map(|i| new_job("noop", json!(i))).collect(), clock.now()).await.unwrap();
    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut request = claim_request(a, 3, Duration::from_secs(60));
    request.workers.extend([Room { worker_id: b, slots: 1, queue: 0 }, Room { worker_id: c, slots: 0, queue: 2 }]);
    request.workers[0].queue = 2;
    assert_eq!(
        request.slots(),
        vec![a, b, a, a, a, c, a, c],
        "free slots first, round robin; then queue room, round robin"
    );

    let claimed = store.claim(request, clock.now()).await.unwrap();
    let count = |w| claimed.iter().filter(|j| j.worker_id == w).count();
    assert_eq!((count(a), count(b), count(c)), (4, 1, 0), "five jobs: every free slot, then a's queue first");
    for job in &claimed {
        let running = store.executions(job.job_id).await.unwrap();
        assert_eq!(running.len(), 1);
        assert_eq!((running[0].worker_id, running[0].execution_id), (job.worker_id, job.execution_id));
        assert_eq!(store.get_job(job.job_id).await.unwrap().unwrap().worker_id, Some(job.worker_id));
    }
}

async fn cancelling_stops_a_job_and_fences_its_running_attempt(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let (waiting, running, finished) =
        (new_job("noop", json!({})), new_job("noop", json!({})), new_job("noop", json!({})));
    store.enqueue(vec![running.clone(), finished.clone()], clock.now()).await.unwrap();
    let claimed = claim(&store, 2, &clock).await;
    let (run, fin) =
        if claimed[0].job_id == running.job_id { (&claimed[0], &claimed[1]) } else { (&claimed[1], &claimed[0]) };
    let _ =
        store.complete(vec![Completion { claim: fin.claim_ref(), result: json!(null) }], clock.now()).await.unwrap();
    store.enqueue(vec![waiting.clone()], clock.now()).await.unwrap();

    assert_eq!(store.cancel(waiting.job_id, clock.now()).await.unwrap().status, JobStatus::Cancelled);
    let cancelled = store.cancel(running.job_id, clock.now()).await.unwrap();
    assert_eq!((cancelled.status, cancelled.current_execution_id), (JobStatus::Cancelled, None));
    let executions = store.executions(running.job_id).await.unwrap();
    assert_eq!(executions[0].execution_status, ExecutionStatus::Cancelled);

    // The worker that was running it finishes late: nothing changes.
    let late = store
        .complete(vec![Completion { claim: run.claim_ref(), result: json!(1) }], clock.now())
        .await
        .unwrap()
        .applied;
    assert_eq!(late, vec![Applied::Stale]);
    let after = store.get_job(running.job_id).await.unwrap().unwrap();
    assert_eq!((after.status, after.result), (JobStatus::Cancelled, None));

    match store.cancel(finished.job_id, clock.now()).await {
        Err(StoreError::Conflict { status: JobStatus::Completed, .. }) => {}
        other => panic!("cancelling a completed job must conflict, got {other:?}"),
    }
    let unknown = Uuid::new_v4();
    assert!(matches!(store.cancel(unknown, clock.now()).await, Err(StoreError::NotFound(id)) if id == unknown));
    assert!(claim(&store, 10, &clock).await.is_empty(), "cancelled jobs are never claimed");
}

async fn a_released_claim_goes_back_unrun_without_spending_an_attempt(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let job = new_job("noop", json!({}));
    store.enqueue(vec![job.clone()], clock.now()).await.unwrap();
    let claimed = claim(&store, 1, &clock).await;
    let released = store
        .release(
            ReleaseParams {
                claims: vec![claimed[0].claim_ref()],
                run_at: Some(clock.now()),
                reason: "draining".into(),
            },
            clock.now(),
        )
        .await
        .unwrap();
    assert_eq!(released, vec![Applied::Applied]);
    let back = store.get_job(job.job_id).await.unwrap().unwrap();
    assert_eq!((back.status, back.attempts), (JobStatus::Pending, 0));
    assert_eq!(
        store
            .release(
                ReleaseParams {
                    claims: vec![claimed[0].claim_ref()],
                    run_at: Some(clock.now()),
                    reason: "draining".into()
                },
                clock.now()
            )
            .await
            .unwrap(),
        vec![Applied::Stale]
    );
    clock.advance(Duration::from_millis(1));
    let again = claim(&store, 1, &clock).await;
    assert_eq!(again[0].attempt, 1, "the released attempt did not count");
    let executions = store.executions(job.job_id).await.unwrap();
    assert_eq!(executions[0].execution_status, ExecutionStatus::Cancelled);
    assert_eq!(executions[1].execution_status, ExecutionStatus::Running);
}

async fn workers_and_health_logs_are_written_in_bulk(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let mut workers: Vec<WorkerRecord> = (0..3)
        .map(|i| WorkerRecord {
            worker_id: Uuid::new_v4(),
            node_id: "node-a".into(),
            status: WorkerStatus::Active,
            capacity: 10,
            current_load: i,
            health_score: 1.0,
            failure_count: 0,
            metadata: json!({"index": i}),
            last_heartbeat: Some(clock.now()),
        })
        .collect();
    let before = store.statements_sent();
    store.upsert_workers(workers.clone()).await.unwrap();
    workers[1].status = WorkerStatus::Unhealthy;
    workers[1].health_score = 0.456;
    workers[1].failure_count = 2;
    store.upsert_workers(workers.clone()).await.unwrap();
    assert_eq!(store.statements_sent() - before, 2, "one statement per upsert, whatever the count");

    let listed = store.list_workers().await.unwrap();
    assert_eq!(listed.len(), 3);
    let second = listed.iter().find(|w| w.worker_id == workers[1].worker_id).unwrap();
    assert_eq!((second.status, second.failure_count), (WorkerStatus::Unhealthy, 2));
    assert_eq!(second.health_score, 0.46, "health_score is stored with two decimals");

    let logs: Vec<HealthLog> = workers
        .iter()
        .flat_map(|w| {
            ["heartbeat_latency_ms", "error_rate", "load", "health_score"].map(|metric| HealthLog {
                worker_id: w.worker_id,
                metric_type: metric.into(),
                metric_value: 0.25,
                metadata: json!({}),
                logged_at: clock.now(),
            })
        })
        .collect();
    let before = store.statements_sent();
    store.write_health_logs(logs).await.unwrap();
    assert_eq!(store.statements_sent() - before, 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM worker_health_logs").await, 12);
}

on_every_backend!(
    a_job_goes_from_pending_to_completed_with_its_result,
    claims_take_priority_then_age_and_wait_for_run_at,
    one_claim_serves_several_workers_spreading_a_short_batch,
    cancelling_stops_a_job_and_fences_its_running_attempt,
    a_released_claim_goes_back_unrun_without_spending_an_attempt,
    workers_and_health_logs_are_written_in_bulk,
);
