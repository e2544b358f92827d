//! Whole nodes, on each backend: thousands of jobs through crashing workers, a node
//! killed with SIGKILL and another (on SQLite: the same one restarted on its file)
//! finishing its work, SIGTERM draining.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aeon::actors::probe::{Event, Probe};
use aeon::actors::worker::CrashMode;
use aeon::clock::{Clock, SystemClock};
use aeon::config::Config;
use aeon::handler::Registry;
use aeon::job::JobRequest;
use aeon::node::Node;
use aeon::retry::BackoffPolicy;
use serde_json::json;
use uuid::Uuid;

use crate::common::actors::expect_event;
use crate::common::{TestDb, new_job, on_every_backend};

/// Waits until `sql` (a count) satisfies `done`, checking every 50 ms. The node runs
/// in real time (or in another process): this polls the database it writes.
async fn wait_for_count(
    db: &TestDb,
    sql: &'static str,
    what: &str,
    limit: Duration,
    done: impl Fn(i64) -> bool,
) -> i64 {
    let start = Instant::now();
    loop {
        let n = db.count(sql).await;
        if done(n) {
            return n;
        }
        assert!(start.elapsed() < limit, "{what}: still {n} after {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const UNFINISHED: &str = "SELECT COUNT(*) FROM jobs WHERE status NOT IN ('COMPLETED', 'DEAD_LETTER')";

/// Timings short enough for a test, in the proportions of the defaults.
fn fast_config() -> Config {
    let mut config = Config::default();
    config.workers.count = 4;
    config.workers.capacity = 10;
    config.workers.lease_ms = 2_000;
    config.health.heartbeat_ms = 50;
    config.health.sweep_ms = 100;
    config.health.dead_after_ms = 500;
    config.restarts.max_restarts = 1_000;
    config.node.poll_ms = 50;
    config.retry = BackoffPolicy { base_ms: 10, max_ms: 100, jitter: 0.2 };
    config
}

fn request(i: usize) -> JobRequest {
    let (job_type, payload) = match i % 20 {
        0..=11 => ("noop", json!({})),
        12..=14 => ("fail", json!({"times": 1})),
        15 => ("fail", json!({"times": 10, "message": "never works"})),
        16..=17 => ("panic", json!({"times": 1})),
        _ => ("sleep", json!({"ms": 1 + i % 5})),
    };
    let mut request = JobRequest::new(job_type, payload);
    request.max_retries = Some(2);
    request
}

async fn five_thousand_jobs_through_crashing_workers_all_end_completed_or_dead_lettered(db: TestDb) {
    const JOBS: usize = 5_000;
    let config = fast_config();
    let store = db.store(config.retry).shared();
    let (probe, mut events) = Probe::channel();
    let node = Node::start_with_store(config, store, Registry::with_builtins(), Arc::new(SystemClock), probe)
        .await
        .expect("node starts");

    for batch in (0..JOBS).collect::<Vec<_>>().chunks(1_000) {
        node.submit(batch.iter().map(|&i| request(i)).collect()).await.unwrap();
    }

    // Crash workers while the jobs run — panics, and one hang — each after the node has
    // settled another 150 jobs, so the crashes land in the middle of the work.
    let workers: Vec<Uuid> = node.slots().await.iter().map(|s| s.worker_id).collect();
    let (mut restarts, mut voided) = (0, 0);
    let count = |event: &Event, restarts: &mut usize, voided: &mut usize| match event {
        Event::WorkerRestarted { .. } => *restarts += 1,
        Event::ClaimsVoided { crashed, given_back, .. } => *voided += crashed + given_back,
        _ => {}
    };
    for crash in 0..12 {
        let mut settled = 0;
        while settled < 150 {
            let event = expect_event(&mut events, "progress between crashes", |e| {
                matches!(e, Event::JobSettled { .. } | Event::WorkerRestarted { .. } | Event::ClaimsVoided { .. })
            })
            .await;
            settled += usize::from(matches!(event, Event::JobSettled { .. }));
            count(&event, &mut restarts, &mut voided);
        }
        let mode = if crash == 5 { CrashMode::Hang { ms: None } } else { CrashMode::Panic };
        node.crash(workers[crash % workers.len()], mode).await;
    }
    let start = Instant::now();
    while db.count(UNFINISHED).await > 0 {
        if start.elapsed() > Duration::from_secs(120) {
            panic!(
                "jobs still unfinished after 120 s: {:?}\nworkers: {:?}",
                db.status_summary().await,
                node.slots().await
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while let Ok(event) = events.try_recv() {
        count(&event, &mut restarts, &mut voided);
    }
    assert!(restarts >= 5, "workers really were crashed and restarted ({restarts})");
    // The Supervisor itself voided the dead workers' claims (running or queued), at
    // their death: not the lease sweep, which would also end them, seconds later.
    assert!(voided > 0, "the Supervisor voided no dead worker's claims");

    assert_eq!(db.count("SELECT COUNT(*) FROM jobs").await, JOBS as i64);
    assert_eq!(db.count(UNFINISHED).await, 0, "every job is COMPLETED or DEAD_LETTER");
    let twice = "SELECT COUNT(*) FROM (SELECT job_id FROM job_executions WHERE execution_status = 'SUCCEEDED' GROUP BY job_id HAVING COUNT(*) > 1) t";
    assert_eq!(db.count(twice).await, 0, "no job has two successful executions");
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM jobs j WHERE status = 'COMPLETED' AND 1 <> (SELECT COUNT(*) FROM job_executions e WHERE e.job_id = j.job_id AND e.execution_status = 'SUCCEEDED')"
        )
        .await,
        0,
        "every completed job has exactly one successful execution"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM jobs WHERE attempts > max_retries + 1").await, 0);
    let counted = "SELECT COUNT(*) FROM (SELECT job_id FROM job_executions WHERE execution_status <> 'CANCELLED' GROUP BY job_id HAVING COUNT(*) > 3) t";
    assert_eq!(db.count(counted).await, 0, "attempts never exceed max_retries + 1");

    let dead = db.ids("SELECT job_id FROM jobs WHERE status = 'DEAD_LETTER'").await;
    let letters = db.ids("SELECT job_id FROM dead_letter_queue WHERE NOT requeued").await;
    let exhausted = db
        .ids(
            "SELECT job_id FROM job_executions WHERE execution_status IN ('FAILED', 'TIMED_OUT', 'CRASHED')
         GROUP BY job_id HAVING COUNT(*) = 3",
        )
        .await;
    assert_eq!(letters, dead, "the dead-letter queue holds exactly the dead-lettered jobs");
    assert_eq!(dead, exhausted, "...which are exactly the jobs that exhausted their retries");
    let hopeless = db.ids("SELECT job_id FROM jobs WHERE payload->>'message' = 'never works'").await;
    assert_eq!(hopeless.len(), JOBS / 20);
    assert!(hopeless.is_subset(&dead), "jobs that always fail are dead-lettered");
    // The crashes hit claims: attempts a worker's death ended (CRASHED), or claims
    // queued on it that went back unstarted, without an attempt (docs/cluster.md).
    // Which of the two depends on whether a job was running at the crash.
    let crashed = db.count("SELECT COUNT(*) FROM job_executions WHERE error LIKE 'worker % died%'").await;
    let returned = db.count("SELECT COUNT(*) FROM jobs WHERE unstarted_returns > 0").await;
    assert!(crashed + returned > 0, "the crashes voided claims ({crashed} crashed, {returned} given back)");
}

/// An `aeon node` process on the test's database.
fn spawn_node(db: &TestDb, extra: &[(&str, &str)]) -> Child {
    let url = db.url();
    let mut command = Command::new(env!("CARGO_BIN_EXE_aeon"));
    command
        .args(["--config", concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml"), "node"])
        .env("DATABASE_URL", url)
        .env("AEON__WORKERS__COUNT", "2")
        .env("AEON__API__BIND", "127.0.0.1:0")
        .env("AEON__WORKERS__LEASE_MS", "1000")
        .env("AEON__HEALTH__HEARTBEAT_MS", "100")
        .env("AEON__HEALTH__SWEEP_MS", "100")
        .env("AEON__HEALTH__DEAD_AFTER_MS", "500")
        .env("AEON__NODE__POLL_MS", "50")
        .env("AEON__RETRY__BASE_MS", "10")
        .env("RUST_LOG", std::env::var("AEON_TEST_NODE_LOG").unwrap_or("warn".into()))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in extra {
        command.env(k, v);
    }
    command.spawn().expect("start aeon node")
}

async fn wait_for_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < limit, "node did not exit within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill {sig}");
}

async fn a_node_killed_with_sigkill_leaves_nothing_behind_once_another_node_runs(mut db: TestDb) {
    const JOBS: usize = 60;
    let store = db.store(BackoffPolicy::default());
    let jobs = (0..JOBS).map(|_| new_job("sleep", json!({"ms": 2_000}))).collect();
    store.enqueue(jobs, SystemClock.now()).await.unwrap();
    drop(store);
    db.release_lock(); // the nodes take the database from here

    // No prefetch: jobs start as they are claimed, in waves of the node's capacity, so
    // `started_at` shows a fresh wave (a queued job's `started_at` is its claim).
    let mut first = spawn_node(&db, &[("AEON__NODE__ID", "first"), ("AEON__WORKERS__PREFETCH", "0")]);
    // Kill it mid-run: one wave done, the next just started (so it cannot finish
    // between the look and the kill).
    let fresh_wave = "SELECT CASE WHEN (SELECT COUNT(*) FROM jobs WHERE status = 'COMPLETED') >= 10
        THEN (SELECT COUNT(*) FROM jobs WHERE status = 'RUNNING' AND started_at > $1) ELSE 0 END";
    let start = Instant::now();
    while db.count_since(fresh_wave, SystemClock.now() - Duration::from_millis(500)).await < 10 {
        assert!(start.elapsed() < Duration::from_secs(60), "no fresh wave running: {}", db.status_summary().await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap(); // SIGKILL: no drain, no goodbye
    first.wait().unwrap();
    let stranded = db.count("SELECT COUNT(*) FROM jobs WHERE status = 'RUNNING'").await;
    assert!(stranded > 0, "the kill left claimed jobs behind");

    // On Postgres another node takes over; on SQLite (one node per file) the same
    // node restarts on its file.
    let mut second = spawn_node(&db, &[("AEON__NODE__ID", "second")]);
    wait_for_count(&db, UNFINISHED, "jobs left after the restart", Duration::from_secs(120), |n| n == 0).await;
    signal(&second, "-TERM");
    assert!(wait_for_exit(&mut second, Duration::from_secs(30)).await.success(), "SIGTERM exits 0");

    assert_eq!(db.count("SELECT COUNT(*) FROM jobs WHERE status = 'COMPLETED'").await, JOBS as i64);
    let one_success = "SELECT COUNT(*) FROM jobs j WHERE 1 = (SELECT COUNT(*) FROM job_executions e WHERE e.job_id = j.job_id AND e.execution_status = 'SUCCEEDED')";
    assert_eq!(db.count(one_success).await, JOBS as i64);
    // (A claim in flight at the kill may still commit afterwards: at least `stranded`.)
    let rescued = "SELECT COUNT(*) FROM job_executions e JOIN workers w USING (worker_id)
                   WHERE w.node_id = 'first' AND e.execution_status = 'CRASHED' AND e.error LIKE 'lease expired%'";
    assert!(db.count(rescued).await >= stranded, "every stranded claim was rescued after its lease");
    let first_runs = "SELECT COUNT(*) FROM job_executions e JOIN workers w USING (worker_id)
                      WHERE w.node_id = 'first' AND e.execution_status NOT IN ('SUCCEEDED', 'CRASHED')";
    assert_eq!(db.count(first_runs).await, 0, "the killed node's runs either finished or were rescued");
    let second_crashes = "SELECT COUNT(*) FROM job_executions e JOIN workers w USING (worker_id)
                          WHERE w.node_id = 'second' AND e.execution_status <> 'SUCCEEDED'";
    assert_eq!(db.count(second_crashes).await, 0, "the surviving node ran its claims cleanly");
}

async fn sigterm_drains_releasing_what_outlives_the_grace_period(mut db: TestDb) {
    const JOBS: i64 = 6;
    let store = db.store(BackoffPolicy::default());
    let jobs = (0..JOBS).map(|_| new_job("sleep", json!({"ms": 600_000}))).collect();
    store.enqueue(jobs, SystemClock.now()).await.unwrap();
    drop(store);
    db.release_lock();

    // Two workers of two slots: four jobs run, two wait in the workers' queues (a fixed
    // prefetch: an adaptive one would queue none of these 10-minute jobs).
    let settings = [
        ("AEON__NODE__DRAIN_GRACE_MS", "200"),
        ("AEON__WORKERS__CAPACITY", "2"),
        ("AEON__WORKERS__PREFETCH_HORIZON_MS", "0"),
    ];
    let mut node = spawn_node(&db, &settings);
    wait_for_count(
        &db,
        "SELECT COUNT(*) FROM jobs WHERE status = 'RUNNING'",
        "running jobs",
        Duration::from_secs(60),
        |n| n == JOBS,
    )
    .await;
    signal(&node, "-TERM");
    assert!(wait_for_exit(&mut node, Duration::from_secs(30)).await.success(), "a drained node exits 0");

    assert_eq!(db.count("SELECT COUNT(*) FROM jobs WHERE status = 'PENDING' AND attempts = 0").await, JOBS);
    let unowned = "SELECT COUNT(*) FROM jobs WHERE status = 'PENDING' AND worker_id IS NULL";
    assert_eq!(db.count(unowned).await, JOBS, "jobs given back belong to no worker");
    let released = "SELECT COUNT(*) FROM job_executions WHERE execution_status = 'CANCELLED' AND error = 'released: node shutting down'";
    assert_eq!(db.count(released).await, 4, "the four running attempts are recorded as released");
    assert_eq!(db.count("SELECT COUNT(*) FROM job_executions").await, 4, "the two queued jobs never ran: no rows");
    assert_eq!(db.count("SELECT COUNT(*) FROM workers WHERE status = 'STOPPED'").await, 2);
}

/// A second SIGTERM while the node drains stops it at once: the grace (ten minutes
/// here) is cut short and the running jobs are released, as when it runs out.
async fn a_second_sigterm_during_the_drain_stops_at_once(mut db: TestDb) {
    const JOBS: i64 = 2;
    let store = db.store(BackoffPolicy::default());
    let jobs = (0..JOBS).map(|_| new_job("sleep", json!({"ms": 600_000}))).collect();
    store.enqueue(jobs, SystemClock.now()).await.unwrap();
    drop(store);
    db.release_lock();

    let mut node = spawn_node(&db, &[("AEON__NODE__DRAIN_GRACE_MS", "600000")]);
    let running = "SELECT COUNT(*) FROM jobs WHERE status = 'RUNNING'";
    wait_for_count(&db, running, "running jobs", Duration::from_secs(60), |n| n == JOBS).await;
    signal(&node, "-TERM");
    // The node says it drains (its row, at its next heartbeat) once it listens for the
    // second signal.
    let draining = "SELECT COUNT(*) FROM nodes WHERE status = 'DRAINING'";
    wait_for_count(&db, draining, "a draining node", Duration::from_secs(30), |n| n == 1).await;
    signal(&node, "-TERM");
    assert!(wait_for_exit(&mut node, Duration::from_secs(30)).await.success(), "stopped at once, exit 0");

    assert_eq!(db.count("SELECT COUNT(*) FROM jobs WHERE status = 'PENDING' AND attempts = 0").await, JOBS);
    let released = "SELECT COUNT(*) FROM job_executions WHERE execution_status = 'CANCELLED' AND error = 'released: node shutting down'";
    assert_eq!(db.count(released).await, JOBS, "the running attempts are recorded as released");
}

/// `Node::shutdown`, in order: a run that outlives the grace is released (its job
/// `PENDING` again, written before the store closes), the node leaves the cluster
/// (`STOPPED`), every actor stops, and the store's pools close; a second call does
/// nothing.
async fn shutdown_releases_what_outlives_the_grace_stops_the_actors_and_closes_the_store(db: TestDb) {
    let started = Arc::new(tokio::sync::Notify::new());
    let mut registry = Registry::new();
    let told = started.clone();
    registry
        .register_fn("forever", move |_: aeon::handler::JobContext, _: serde_json::Value| {
            let told = told.clone();
            async move {
                told.notify_one();
                std::future::pending::<aeon::handler::Outcome>().await
            }
        })
        .unwrap();
    let mut config = Config::default();
    config.workers.count = 1;
    config.node.poll_ms = 50;
    let store = db.store(config.retry).shared();
    let node = Node::start_with_store(config, store, registry, Arc::new(SystemClock), Probe::none()).await.unwrap();
    let job_id = node.submit(vec![JobRequest::new("forever", json!({}))]).await.unwrap()[0].job_id;
    tokio::time::timeout(Duration::from_secs(10), started.notified()).await.expect("the handler starts");

    assert_eq!(node.shutdown_within(Duration::from_millis(50)).await, 1, "the run outlived the grace");
    assert!(!node.actors.supervisor.connected(), "the Supervisor stopped");
    assert!(!node.actors.store.connected(), "the StoreActor stopped");
    assert!(!node.actors.health.connected(), "the HealthMonitor stopped");
    assert!(!node.pruner.connected(), "the Pruner stopped");
    assert!(!node.contexts.addr.connected(), "the ContextActor stopped");
    assert!(node.store().ping().await.is_err(), "the store's pools are closed");
    assert_eq!(node.shutdown().await, 0, "a second shutdown does nothing");

    // What the shutdown wrote, read on a connection of the test's own (the node closed
    // the pools it shared with the test's stores).
    let job = format!("SELECT status FROM jobs WHERE job_id = '{job_id}'");
    let read = |sql: String| async {
        match db.backend {
            crate::common::Backend::Sqlite => {
                sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).fetch_one(db.sqlite()).await.unwrap()
            }
            crate::common::Backend::Postgres => {
                let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url()).await.unwrap();
                sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).fetch_one(&mut c).await.unwrap()
            }
        }
    };
    assert_eq!(read(job).await, "PENDING", "released before the store closed");
    assert_eq!(read("SELECT status FROM nodes".into()).await, "STOPPED", "the node left the cluster");
}

on_every_backend!(
    shutdown_releases_what_outlives_the_grace_stops_the_actors_and_closes_the_store,
    five_thousand_jobs_through_crashing_workers_all_end_completed_or_dead_lettered,
    a_node_killed_with_sigkill_leaves_nothing_behind_once_another_node_runs,
    sigterm_drains_releasing_what_outlives_the_grace_period,
    a_second_sigterm_during_the_drain_stops_at_once,
);
