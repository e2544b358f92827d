//! Claims that never started cost no attempt (docs/cluster.md, "Claims that never
//! started"): a claim is marked queued when it goes to a worker's prefetch queue, and a
//! rescue gives such a claim back to `PENDING` for free, at most
//! [`MAX_UNSTARTED_RETURNS`] times per job. In the store, on every backend; and with
//! real `aeon node` processes, one SIGKILLed holding prefetched claims, and a job that
//! takes its node down each time it starts.

use std::time::Duration;

use aeon::clock::{Clock, SystemClock};
use aeon::job::{ExecutionStatus, JobStatus};
use aeon::retry::BackoffPolicy;
use aeon::store::{ClaimRequest, FailOutcome, MAX_UNSTARTED_RETURNS, Room};
use serde_json::json;
use uuid::Uuid;

use crate::common::cluster::{NodeProcess, eventually};
use crate::common::redis::TestRedis;
use crate::common::{TestDb, clock, exact_backoff, job_with, on_every_backend, postgres_only};

const LEASE: Duration = Duration::from_secs(30);

/// One worker asking for `slots` jobs to start and `queue` to queue.
fn room(worker_id: Uuid, slots: u32, queue: u32) -> ClaimRequest {
    ClaimRequest { workers: vec![Room { worker_id, slots, queue }], lease: LEASE, job_types: ["noop".into()].into() }
}

async fn a_rescued_claim_that_was_only_queued_goes_back_without_an_attempt_a_bounded_number_of_times(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let started = job_with(|j| {
        j.priority = Some(10);
        j.max_retries = Some(0);
    });
    let queued = job_with(|j| j.max_retries = Some(0));
    store.enqueue(vec![started.clone(), queued.clone()], clock.now()).await.unwrap();
    let worker = Uuid::new_v4();
    let claimed = store.claim(room(worker, 1, 1), clock.now()).await.unwrap();
    assert_eq!(claimed.iter().map(|c| c.job_id).collect::<Vec<_>>(), vec![started.job_id, queued.job_id]);

    // The worker dies: the claim that started is a crashed attempt (dead-lettered, no
    // retries), the queued one goes back as if it had never been claimed.
    let mut rescued = store.rescue_worker(worker, clock.now()).await.unwrap();
    rescued.sort_by_key(|r| r.job_id != started.job_id);
    let outcomes: Vec<_> = rescued.iter().map(|r| (r.job_id, r.outcome)).collect();
    assert_eq!(outcomes, vec![(started.job_id, FailOutcome::DeadLettered), (queued.job_id, FailOutcome::GivenBack)]);
    let job = store.get_job(queued.job_id).await.unwrap().unwrap();
    assert_eq!((job.status, job.attempts, job.worker_id), (JobStatus::Pending, 0, None));
    assert!(store.executions(queued.job_id).await.unwrap().is_empty(), "no attempt was recorded");

    // Claimed into a queue again and again (a lease running out this time): free
    // returns until the bound, then the attempt counts.
    for round in 2..=MAX_UNSTARTED_RETURNS + 1 {
        let worker = Uuid::new_v4();
        assert_eq!(store.claim(room(worker, 0, 1), clock.now()).await.unwrap().len(), 1);
        clock.advance(LEASE + Duration::from_secs(1));
        let rescued = store.rescue_expired(100, clock.now()).await.unwrap();
        let expected = if round <= MAX_UNSTARTED_RETURNS { FailOutcome::GivenBack } else { FailOutcome::DeadLettered };
        assert_eq!(rescued.iter().map(|r| r.outcome).collect::<Vec<_>>(), vec![expected], "round {round}");
    }
    let job = store.get_job(queued.job_id).await.unwrap().unwrap();
    assert_eq!((job.status, job.attempts), (JobStatus::DeadLetter, 1));
    let executions = store.executions(queued.job_id).await.unwrap();
    assert_eq!(executions.iter().map(|e| e.execution_status).collect::<Vec<_>>(), vec![ExecutionStatus::Crashed]);

    // A requeue from the dead-letter queue starts a new life: its attempts and its
    // free returns count from zero again.
    store.requeue_dead_letter(queued.job_id, clock.now()).await.unwrap();
    assert_eq!(store.claim(room(Uuid::new_v4(), 0, 1), clock.now()).await.unwrap().len(), 1);
    clock.advance(LEASE + Duration::from_secs(1));
    let rescued = store.rescue_expired(100, clock.now()).await.unwrap();
    assert_eq!(rescued.iter().map(|r| r.outcome).collect::<Vec<_>>(), vec![FailOutcome::GivenBack]);
}

on_every_backend!(a_rescued_claim_that_was_only_queued_goes_back_without_an_attempt_a_bounded_number_of_times);

async fn scalar<T>(db: &TestDb, sql: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&db.postgres().pool).await.expect(sql)
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    scalar::<i64>(db, sql).await
}

/// Submits `n` `sleep` jobs of `ms` with `priority`, none retried.
async fn sleeps(db: &TestDb, n: usize, ms: u64, priority: i32) -> Vec<Uuid> {
    let store = db.store(BackoffPolicy::default());
    let jobs: Vec<_> = (0..n)
        .map(|_| {
            let mut job = crate::common::new_job("sleep", json!({ "ms": ms }));
            (job.priority, job.max_retries) = (priority, 0);
            job
        })
        .collect();
    let ids = jobs.iter().map(|j| j.job_id).collect();
    store.enqueue(jobs, SystemClock.now()).await.unwrap();
    ids
}

fn id_list(ids: &[Uuid]) -> String {
    ids.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(", ")
}

/// The probe, scaled down: a node holds 4 running jobs and 40 prefetched
/// behind them, none retried (`max_retries: 0`), and is SIGKILLed. The rescuer voids
/// its claims: the 4 that ran are dead-lettered, the 40 that never started go back
/// without an attempt and complete, each exactly once.
async fn a_sigkilled_nodes_prefetched_claims_cost_no_attempt_and_complete_once(mut db: TestDb) {
    const RUNNING: usize = 4;
    const QUEUED: usize = 40;
    let blockers = sleeps(&db, RUNNING, 600_000, 10).await;
    let waiting = sleeps(&db, QUEUED, 100, 0).await;
    db.release_lock();
    let redis = TestRedis::start(None).await;
    // Two workers of two slots, each with 20 claims queued that wait as long as needed.
    let holding = [
        ("AEON__WORKERS__COUNT", "2"),
        ("AEON__WORKERS__CAPACITY", "2"),
        ("AEON__WORKERS__PREFETCH", "20"),
        ("AEON__WORKERS__PREFETCH_HORIZON_MS", "0"), // queue up to the prefetch, whatever the run times
        ("AEON__WORKERS__PREFETCH_WAIT_MS", "600000"),
    ];
    let mut a = NodeProcess::start(&db, &redis.url(), "a", &holding).await;
    let held =
        "SELECT COUNT(*) FROM jobs j JOIN workers w USING (worker_id) WHERE j.status = 'RUNNING' AND w.node_id = 'a'";
    eventually("a holds every job", Duration::from_secs(20), || async {
        (count(&db, held).await == (RUNNING + QUEUED) as i64).then_some(())
    })
    .await;
    let marked = format!("SELECT COUNT(*) FROM jobs WHERE claim_queued AND job_id IN ({})", id_list(&waiting));
    assert_eq!(count(&db, &marked).await, QUEUED as i64, "the prefetched claims are marked queued");
    a.kill();

    let b = NodeProcess::start(&db, &redis.url(), "b", &[]).await;
    let completed =
        format!("SELECT COUNT(*) FROM jobs WHERE status = 'COMPLETED' AND job_id IN ({})", id_list(&waiting));
    eventually("every prefetched job completed", Duration::from_secs(60), || async {
        (count(&db, &completed).await == QUEUED as i64).then_some(())
    })
    .await;
    let once = format!(
        "SELECT COUNT(*) FROM jobs j WHERE j.job_id IN ({}) AND j.attempts = 1 AND j.unstarted_returns = 1
           AND (SELECT COUNT(*) FROM job_executions e WHERE e.job_id = j.job_id) = 1
           AND (SELECT COUNT(*) FROM job_executions e WHERE e.job_id = j.job_id AND e.execution_status = 'SUCCEEDED') = 1",
        id_list(&waiting)
    );
    assert_eq!(count(&db, &once).await, QUEUED as i64, "each ran once, after one free return, with no attempt lost");
    let dead = "SELECT COUNT(*) FROM dead_letter_queue";
    assert_eq!(count(&db, dead).await, RUNNING as i64, "only the jobs that ran on a are dead-lettered");
    let crashed = format!(
        "SELECT COUNT(*) FROM jobs j JOIN job_executions e USING (job_id) WHERE j.job_id IN ({})
           AND j.status = 'DEAD_LETTER' AND e.execution_status = 'CRASHED' AND e.error LIKE 'node a stopped heartbeating%'",
        id_list(&blockers)
    );
    assert_eq!(count(&db, &crashed).await, RUNNING as i64, "the started ones were crashed attempts");
    drop(b);
}

/// A job that takes its node down each time it starts, always from a worker's queue
/// (a higher-priority `sleep` holds the only slot when it is claimed; the test's
/// SIGKILL stands for the job killing its node once it starts): its free returns run
/// out after [`MAX_UNSTARTED_RETURNS`], and the next rescue dead-letters it.
async fn a_job_that_kills_its_node_from_the_queue_is_still_dead_lettered(mut db: TestDb) {
    let killer = sleeps(&db, 1, 600_000, 0).await[0];
    db.release_lock();
    let one_slot = [
        ("AEON__WORKERS__COUNT", "1"),
        ("AEON__WORKERS__CAPACITY", "1"),
        ("AEON__WORKERS__PREFETCH", "1"),
        ("AEON__WORKERS__PREFETCH_HORIZON_MS", "0"),
        ("AEON__WORKERS__PREFETCH_WAIT_MS", "600000"),
        ("AEON__WORKERS__LEASE_MS", "1500"),
        // No Redis: a claim freed by the sweep is found by the poll, well within the blocker's run.
        ("AEON__NODE__POLL_MS", "200"),
    ];
    let status_of = format!("SELECT status FROM jobs WHERE job_id = '{killer}'");
    let mut kills = 0;
    for round in 0..MAX_UNSTARTED_RETURNS + 3 {
        if scalar::<String>(&db, &status_of).await == "DEAD_LETTER" {
            break;
        }
        // The killer's last claim has run out (a new node rescues it at its first sweep).
        let expired = format!(
            "SELECT COUNT(*) FROM jobs WHERE job_id = '{killer}' AND (lease_expires_at IS NULL OR lease_expires_at < now())"
        );
        eventually("the killer's lease runs out", Duration::from_secs(10), || async {
            (count(&db, &expired).await == 1).then_some(())
        })
        .await;
        let blocker = sleeps(&db, 1, 3_000, 10).await[0];
        let mut node = NodeProcess::start(&db, "", &format!("k{round}"), &one_slot).await;
        // The killer starts once the blocker is done, from the queue; or the rescue
        // dead-lettered it.
        let started = format!(
            "SELECT COUNT(*) FROM jobs k, jobs b WHERE k.job_id = '{killer}' AND b.job_id = '{blocker}'
               AND ((k.status = 'RUNNING' AND k.claim_queued AND b.status = 'COMPLETED') OR k.status = 'DEAD_LETTER')"
        );
        eventually("the killer starts on the new node", Duration::from_secs(30), || async {
            (count(&db, &started).await == 1).then_some(())
        })
        .await;
        if scalar::<String>(&db, &status_of).await == "RUNNING" {
            node.kill();
            kills += 1;
        }
    }
    assert_eq!(scalar::<String>(&db, &status_of).await, "DEAD_LETTER");
    assert_eq!(kills, MAX_UNSTARTED_RETURNS + 1, "free returns, then the one attempt it had");
    let returns: i32 = scalar(&db, &format!("SELECT unstarted_returns FROM jobs WHERE job_id = '{killer}'")).await;
    assert_eq!(returns, MAX_UNSTARTED_RETURNS);
    let executions =
        format!("SELECT COUNT(*) FROM job_executions WHERE job_id = '{killer}' AND execution_status = 'CRASHED'");
    assert_eq!(count(&db, &executions).await, 1, "one attempt, recorded crashed");
}

postgres_only!(
    a_sigkilled_nodes_prefetched_claims_cost_no_attempt_and_complete_once,
    a_job_that_kills_its_node_from_the_queue_is_still_dead_lettered,
);
