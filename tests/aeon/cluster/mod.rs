//! A cluster of `aeon node` processes on one Postgres and one Redis (a `redis-server`
//! of the test's own): cross-node wake-ups, failover of a SIGKILLed node, remote
//! cancel, crash and drain, mailbox entries reclaimed or refused, Redis lost and back.
//! [`mailbox_faults`]: what issue 23 found in the mailbox (a paused node's late
//! requests, a remote exit, a stream key written over, a flood of refused entries).

mod mailbox_faults;

use std::time::{Duration, Instant};

use aeon::clock::{Clock, SystemClock};
use aeon::mailbox::{Body, Delivery, Envelope, Mailbox, RedisMailbox};
use aeon::node::{CANCEL, Cancelled};
use aeon::retry::BackoffPolicy;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::cluster::{NodeProcess, eventually};
use crate::common::redis::TestRedis;
use crate::common::{TestDb, new_job, postgres_only};

async fn scalar<T>(db: &TestDb, sql: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&db.postgres().pool).await.expect(sql)
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    scalar::<i64>(db, sql).await
}

/// The node whose worker holds `job_id`, once it runs.
async fn runner_of(db: &TestDb, job_id: Uuid) -> String {
    let sql = format!(
        "SELECT COALESCE((SELECT w.node_id FROM jobs j JOIN workers w USING (worker_id)
          WHERE j.job_id = '{job_id}' AND j.status = 'RUNNING'), '')"
    );
    eventually("the job runs", Duration::from_secs(20), || async {
        let node: String = scalar(db, &sql).await;
        (!node.is_empty()).then_some(node)
    })
    .await
}

async fn submit(node: &NodeProcess, job_type: &str, payload: Value) -> Uuid {
    let (status, body) = node.post("/v1/jobs", &json!({"type": job_type, "payload": payload}).to_string()).await;
    assert_eq!(status, 201, "{body}");
    body["job_id"].as_str().unwrap().parse().unwrap()
}

/// How many running jobs `node`'s workers hold.
fn held_by(node: &str) -> String {
    format!(
        "SELECT COUNT(*) FROM jobs j JOIN workers w USING (worker_id) WHERE j.status = 'RUNNING' AND w.node_id = '{node}'"
    )
}

async fn a_job_submitted_to_one_node_is_started_by_an_idle_other_at_once(mut db: TestDb) {
    db.release_lock();
    let redis = TestRedis::start(None).await;
    // A: one slot, kept busy. B: idle. Both poll every 30 s: only a wake-up explains a
    // quick start on B.
    let busy = [("AEON__WORKERS__COUNT", "1"), ("AEON__WORKERS__CAPACITY", "1"), ("AEON__WORKERS__PREFETCH", "0")];
    let a = NodeProcess::start(&db, &redis.url(), "a", &busy).await;
    let _b = NodeProcess::start(&db, &redis.url(), "b", &[]).await;
    eventually("a and b know each other", Duration::from_secs(10), || async {
        let (_, nodes) = a.get("/v1/nodes").await;
        (nodes.as_array().unwrap().iter().filter(|n| n["status"] == "ACTIVE").count() == 2).then_some(())
    })
    .await;
    let blocker = submit(&a, "sleep", json!({"ms": 600_000})).await;
    // Whoever took the blocker, make A busy: submit until A holds one.
    let mut on_a = runner_of(&db, blocker).await == "a";
    while !on_a {
        let job = submit(&a, "sleep", json!({"ms": 600_000})).await;
        on_a = runner_of(&db, job).await == "a";
    }

    let mut delays = Vec::new();
    for _ in 0..5 {
        let job_id = submit(&a, "noop", json!({})).await;
        let sql = format!("SELECT COUNT(*) FROM jobs WHERE job_id = '{job_id}' AND status = 'COMPLETED'");
        let start = Instant::now();
        while count(&db, &sql).await != 1 {
            if start.elapsed() > Duration::from_secs(10) {
                let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
                    "SELECT j.job_type, j.status, w.node_id FROM jobs j LEFT JOIN workers w USING (worker_id)",
                )
                .fetch_all(&db.postgres().pool)
                .await
                .unwrap();
                panic!("the noop job did not complete on b: {rows:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(runner_node_of_execution(&db, job_id).await, "b", "the idle node ran it");
        let delay: f64 = scalar(
            &db,
            &format!(
                "SELECT EXTRACT(EPOCH FROM (started_at - created_at))::float8 FROM jobs WHERE job_id = '{job_id}'"
            ),
        )
        .await;
        delays.push(delay);
    }
    delays.sort_by(f64::total_cmp);
    // Without the wake-up B would find them at its poll, up to 30 s later.
    assert!(delays[delays.len() / 2] < 0.5, "submit-to-start on the other node: {delays:?} s");
}

/// The node of the worker that ran `job_id`'s successful attempt.
async fn runner_node_of_execution(db: &TestDb, job_id: Uuid) -> String {
    scalar(
        db,
        &format!(
            "SELECT w.node_id FROM job_executions e JOIN workers w USING (worker_id)
             WHERE e.job_id = '{job_id}' AND e.execution_status = 'SUCCEEDED'"
        ),
    )
    .await
}

async fn a_dependent_released_on_a_draining_node_starts_at_once_on_the_other(mut db: TestDb) {
    db.release_lock();
    let redis = TestRedis::start(None).await;
    let a = NodeProcess::start(&db, &redis.url(), "a", &[]).await;
    let b = NodeProcess::start(&db, &redis.url(), "b", &[]).await;
    let parent = submit(&a, "sleep", json!({"ms": 1_000})).await;
    let body = json!({"type": "noop", "payload": {}, "depends_on": [parent.to_string()]}).to_string();
    let (status, answer) = a.post("/v1/jobs", &body).await;
    assert_eq!(status, 201, "{answer}");
    let child: Uuid = answer["job_id"].as_str().unwrap().parse().unwrap();
    // The node running the parent drains: the parent finishes there, and its release
    // of the child must reach the other node (polls are 30 s).
    let runner = runner_of(&db, parent).await;
    let (drained, other) = if runner == "a" { (&a, "b") } else { (&b, "a") };
    let (status, _) = drained.post(&format!("/v1/nodes/{runner}/drain"), "").await;
    assert_eq!(status, 202);
    let done = format!("SELECT COUNT(*) FROM jobs WHERE job_id = '{child}' AND status = 'COMPLETED'");
    eventually("the child completes", Duration::from_secs(10), || async {
        (count(&db, &done).await == 1).then_some(())
    })
    .await;
    assert_eq!(runner_node_of_execution(&db, child).await, other);
    let gap: f64 = scalar(
        &db,
        &format!(
            "SELECT EXTRACT(EPOCH FROM ((SELECT started_at FROM jobs WHERE job_id = '{child}')
                                     - (SELECT completed_at FROM jobs WHERE job_id = '{parent}')))::float8"
        ),
    )
    .await;
    assert!(gap < 1.0, "the child started {gap:.3} s after its parent completed elsewhere");
}

async fn a_sigkilled_node_is_declared_dead_and_its_jobs_run_elsewhere_within_the_bound(mut db: TestDb) {
    const JOBS: usize = 60;
    let store = db.store(BackoffPolicy::default());
    // One attempt only: a job whose claim was voided runs again only if the rescue
    // costs... no more than the retries it has.
    store
        .enqueue((0..JOBS).map(|_| new_job("sleep", json!({"ms": 1_500}))).collect(), SystemClock.now())
        .await
        .unwrap();
    drop(store);
    db.release_lock();
    let redis = TestRedis::start(None).await;
    // a starts every claim at once (no prefetch), so each it holds is a crashed attempt
    // when it dies (claims only queued go back free: tests/aeon/unstarted.rs).
    let mut a = NodeProcess::start(&db, &redis.url(), "a", &[("AEON__WORKERS__PREFETCH", "0")]).await;
    let b = NodeProcess::start(&db, &redis.url(), "b", &[]).await;
    let c = NodeProcess::start(&db, &redis.url(), "c", &[]).await;
    eventually("a runs jobs", Duration::from_secs(20), || async {
        (count(&db, &held_by("a")).await >= 4).then_some(())
    })
    .await;
    let a_workers = count(&db, "SELECT COUNT(*) FROM workers WHERE node_id = 'a'").await;
    a.kill();
    let killed = Instant::now();
    let stranded = count(&db, &held_by("a")).await;
    assert!(stranded > 0, "the kill left claims behind");

    eventually("every job completed", Duration::from_secs(120), || async {
        (count(&db, "SELECT COUNT(*) FROM jobs WHERE status = 'COMPLETED'").await == JOBS as i64).then_some(())
    })
    .await;
    let one_success = "SELECT COUNT(*) FROM jobs j WHERE 1 = (SELECT COUNT(*) FROM job_executions e
                       WHERE e.job_id = j.job_id AND e.execution_status = 'SUCCEEDED')";
    assert_eq!(count(&db, one_success).await, JOBS as i64, "every job completed exactly once");
    let voided = "SELECT COUNT(*) FROM job_executions WHERE execution_status = 'CRASHED'
                  AND error LIKE 'node a stopped heartbeating%'";
    assert!(count(&db, voided).await >= stranded, "a's claims were voided as a dead node's, not by lease expiry");
    // The bound: node_dead_after_ms (1.5 s) + a heartbeat (0.1 s), with room for a
    // loaded machine; the job lease (60 s) played no part.
    let rescue_after: f64 = scalar(
        &db,
        "SELECT EXTRACT(EPOCH FROM (MAX(e.finished_at) - (SELECT MAX(last_seen) FROM nodes WHERE node_id = 'a')))::float8
         FROM job_executions e WHERE e.execution_status = 'CRASHED'",
    )
    .await;
    assert!(rescue_after < 3.0, "claims voided {rescue_after:.2} s after a's last heartbeat");
    assert!(killed.elapsed() < Duration::from_secs(60));

    let (_, nodes) = b.get("/v1/nodes").await;
    let status = |id: &str| nodes.as_array().unwrap().iter().find(|n| n["node_id"] == id).unwrap()["status"].clone();
    assert_eq!((status("a"), status("b"), status("c")), (json!("DEAD"), json!("ACTIVE"), json!("ACTIVE")), "{nodes}");
    let (_, workers) = c.get("/v1/workers").await;
    let dead = workers.as_array().unwrap().iter().filter(|w| w["node_id"] == "a" && w["status"] == "DEAD").count();
    assert_eq!(dead as i64, a_workers, "a's workers are reported DEAD: {workers}");
    let why = workers.as_array().unwrap().iter().filter(|w| w["node_id"] == "a").map(|w| &w["health_reason"]);
    assert!(why.into_iter().all(|r| r == "dead: its node a stopped heartbeating"), "and say why: {workers}");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM cluster_leases WHERE name = 'rescue'").await, 1);
}

async fn a_job_running_on_another_node_is_cancelled_there_and_its_handler_stops(mut db: TestDb) {
    db.release_lock();
    let redis = TestRedis::start(None).await;
    let a = NodeProcess::start(&db, &redis.url(), "a", &[]).await;
    let b = NodeProcess::start(&db, &redis.url(), "b", &[]).await;
    let job_id = submit(&a, "sleep", json!({"ms": 600_000})).await;
    let runner = runner_of(&db, job_id).await;
    let (other, running) = if runner == "a" { (&b, &a) } else { (&a, &b) };

    let (status, body) = other.post(&format!("/v1/jobs/{job_id}/cancel"), "").await;
    assert_eq!((status, body["status"].clone()), (200, json!("CANCELLED")), "{body}");
    // The handler stopped where it ran: its worker holds nothing any more (a cancel
    // made only in the store would leave the 10-minute sleep running).
    let load = format!("SELECT COALESCE(SUM(current_load), 0)::bigint FROM workers WHERE node_id = '{}'", running.id);
    eventually("the running node's load drops to 0", Duration::from_secs(5), || async {
        (count(&db, &load).await == 0).then_some(())
    })
    .await;
    let cancelled =
        format!("SELECT COUNT(*) FROM job_executions WHERE job_id = '{job_id}' AND execution_status = 'CANCELLED'");
    assert_eq!(count(&db, &cancelled).await, 1);
    // The asking node writes the warning when its peer cannot be told (src/node.rs).
    let log = other.log();
    assert!(!log.contains("remote cancel failed"), "{log}");
}

/// A job claimed by a peer and queued there behind its busy slot, cancelled through
/// another node, leaves the peer's queue: when the slot frees, it does not start.
async fn a_job_queued_on_another_node_is_cancelled_out_of_its_queue(mut db: TestDb) {
    db.release_lock();
    let redis = TestRedis::start(None).await;
    // One slot and a fixed queue (no horizon), so a second job waits in b's worker.
    let one_slot = [
        ("AEON__WORKERS__COUNT", "1"),
        ("AEON__WORKERS__CAPACITY", "1"),
        ("AEON__WORKERS__PREFETCH", "4"),
        ("AEON__WORKERS__PREFETCH_HORIZON_MS", "0"),
    ];
    let b = NodeProcess::start(&db, &redis.url(), "b", &one_slot).await;
    let busy = submit(&b, "sleep", json!({"ms": 600_000})).await;
    assert_eq!(runner_of(&db, busy).await, "b");
    let queued = submit(&b, "sleep", json!({"ms": 600_000})).await;
    assert_eq!(runner_of(&db, queued).await, "b", "claimed by b, queued behind its one slot");
    let a = NodeProcess::start(&db, &redis.url(), "a", &[]).await;
    // Worker rows are written at each sweep: wait until they show the busy slot.
    let load = "SELECT COALESCE(SUM(current_load), 0)::bigint FROM workers WHERE node_id = 'b'";
    eventually("b's row shows its busy slot", Duration::from_secs(10), || async {
        (count(&db, load).await == 1).then_some(())
    })
    .await;

    for job_id in [queued, busy] {
        let (status, body) = a.post(&format!("/v1/jobs/{job_id}/cancel"), "").await;
        assert_eq!((status, &body["status"]), (200, &json!("CANCELLED")), "{body}");
    }
    // b's slot is free: had the cancelled job stayed in b's queue, it would run now.
    eventually("b holds nothing", Duration::from_secs(10), || async { (count(&db, load).await == 0).then_some(()) })
        .await;
    let runs = format!("SELECT COUNT(*) FROM job_executions WHERE job_id = '{queued}'");
    assert_eq!(count(&db, &runs).await, 1, "its only execution is the cancelled claim");
    assert_eq!(count(&db, &format!("{runs} AND execution_status = 'CANCELLED'")).await, 1);
    assert!(!a.log().contains("remote cancel failed"), "b was told: {}", a.log());
}

async fn a_bulk_cancel_stops_a_handler_running_on_another_node(mut db: TestDb) {
    db.release_lock();
    let redis = TestRedis::start(None).await;
    let a = NodeProcess::start(&db, &redis.url(), "a", &[]).await;
    let b = NodeProcess::start(&db, &redis.url(), "b", &[]).await;
    let job_id = submit(&a, "sleep", json!({"ms": 600_000})).await;
    let runner = runner_of(&db, job_id).await;
    let (other, running) = if runner == "a" { (&b, &a) } else { (&a, &b) };
    // The node making the cancel must know the other as a peer: it reads the membership
    // keys every 100 ms, so once the runner has renewed its own for 300 ms, it has.
    let peers = format!(
        "SELECT COUNT(*) FROM nodes WHERE node_id = '{}' AND status = 'ACTIVE'
           AND last_seen >= started_at + interval '300 milliseconds'",
        running.id
    );
    eventually("both nodes are up", Duration::from_secs(5), || async { (count(&db, &peers).await == 1).then_some(()) })
        .await;

    let request = json!({"action": "cancel", "job_ids": [job_id]}).to_string();
    let (status, body) = other.post("/v1/jobs/bulk", &request).await;
    assert_eq!((status, body["changed"].clone()), (200, json!(1)), "{body}");
    // The handler stopped where it ran: its worker holds nothing any more (a cancel
    // made only in the store would leave the 10-minute sleep running).
    let load = format!("SELECT COALESCE(SUM(current_load), 0)::bigint FROM workers WHERE node_id = '{}'", running.id);
    eventually("the running node's load drops to 0", Duration::from_secs(5), || async {
        (count(&db, &load).await == 0).then_some(())
    })
    .await;
    let status: String = scalar(&db, &format!("SELECT status FROM jobs WHERE job_id = '{job_id}'")).await;
    assert_eq!(status, "CANCELLED");
    let cancelled =
        format!("SELECT COUNT(*) FROM job_executions WHERE job_id = '{job_id}' AND execution_status = 'CANCELLED'");
    assert_eq!(count(&db, &cancelled).await, 1, "one attempt, recorded cancelled once");
    let log = other.log();
    assert!(!log.contains("bulk cancel could not stop handlers"), "{log}");
}

/// The rescue lease: its holder renews it under the same token; a holder that stalls
/// (SIGSTOP) past the lease's term loses it to the other node under a larger token, and
/// woken, finds it held elsewhere and does not take it back.
async fn the_rescue_lease_is_renewed_by_its_holder_and_passes_on_when_the_holder_stalls(mut db: TestDb) {
    db.release_lock();
    let redis = TestRedis::start(None).await;
    let said = [("RUST_LOG", "warn,aeon::cluster::membership=info")]; // where the lease moves
    let nodes = [
        NodeProcess::start(&db, &redis.url(), "a", &said).await,
        NodeProcess::start(&db, &redis.url(), "b", &said).await,
    ];
    let lease = "SELECT holder || ' ' || token::text FROM cluster_leases WHERE name = 'rescue'";
    let read = || async {
        let row: String = scalar(&db, lease).await;
        let (holder, token) = row.split_once(' ').expect("holder and token");
        (holder.to_string(), token.parse::<i64>().expect("a token"))
    };
    let expires = "SELECT EXTRACT(EPOCH FROM expires_at)::float8 FROM cluster_leases WHERE name = 'rescue'";
    let (holder, token) = read().await;
    let first: f64 = scalar(&db, expires).await;
    eventually("the holder renews", Duration::from_secs(5), || async {
        (scalar::<f64>(&db, expires).await > first).then_some(())
    })
    .await;
    assert_eq!(read().await, (holder.clone(), token), "renewed by its holder, under the same token");

    let (stalled, other) = if holder == "a" { (&nodes[0], &nodes[1]) } else { (&nodes[1], &nodes[0]) };
    let signal = |sig: &str| {
        let sent = std::process::Command::new("kill").args([sig, &stalled.child.id().to_string()]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill {sig}");
    };
    let said_before = stalled.log().len();
    signal("-STOP");
    let (taker, taken) = eventually("the lease passes on", Duration::from_secs(10), || async {
        let (now_holder, now_token) = read().await;
        (now_holder != holder).then_some((now_holder, now_token))
    })
    .await;
    signal("-CONT");
    assert_eq!(taker, other.id, "the other node took it");
    assert!(taken > token, "under a larger token ({token} -> {taken})");
    eventually("the woken holder learns it is held elsewhere", Duration::from_secs(10), || async {
        stalled.log()[said_before..].contains("rescue lease held elsewhere").then_some(())
    })
    .await;
    let (last_holder, last_token) = read().await;
    assert_eq!((last_holder.as_str(), last_token), (other.id.as_str(), taken), "the woken holder did not take it back");
}

async fn crash_and_drain_reach_a_worker_and_a_node_elsewhere(mut db: TestDb) {
    db.release_lock();
    let redis = TestRedis::start(None).await;
    let a = NodeProcess::start(&db, &redis.url(), "a", &[]).await;
    let b = NodeProcess::start(&db, &redis.url(), "b", &[]).await;
    let worker: String = eventually("b's workers have rows", Duration::from_secs(10), || async {
        let (_, workers) = a.get("/v1/workers").await;
        workers
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["node_id"] == "b")
            .map(|w| w["worker_id"].as_str().unwrap().to_string())
    })
    .await;

    let (status, body) = a.post(&format!("/v1/workers/{worker}/crash"), r#"{"mode": "panic"}"#).await;
    assert_eq!(status, 202, "{body}");
    let restarted = format!("SELECT COUNT(*) FROM workers WHERE worker_id = '{worker}' AND failure_count = 1");
    eventually("b restarted its crashed worker", Duration::from_secs(10), || async {
        (count(&db, &restarted).await == 1).then_some(())
    })
    .await;
    let (status, _) = a.post(&format!("/v1/workers/{}/crash", Uuid::new_v4()), r#"{"mode": "panic"}"#).await;
    assert_eq!(status, 404, "an unknown worker");

    let (status, body) = a.post("/v1/nodes/b/drain", "").await;
    assert_eq!(status, 202, "{body}");
    // b says who asked: the node, and the HTTP caller behind it (item 9 of issue 23).
    eventually("b logs who asked", Duration::from_secs(5), || async {
        b.log().contains("draining: asked by node a (HTTP caller 127.0.0.1:").then_some(())
    })
    .await;
    eventually("b reports DRAINING", Duration::from_secs(10), || async {
        let (_, nodes) = a.get("/v1/nodes").await;
        nodes.as_array().unwrap().iter().any(|n| n["node_id"] == "b" && n["status"] == "DRAINING").then_some(())
    })
    .await;
    let (ready, _) = b.get("/readyz").await;
    assert_eq!(ready, 503, "a draining node is not ready");
    for _ in 0..10 {
        submit(&a, "noop", json!({})).await;
    }
    eventually("a ran them", Duration::from_secs(20), || async {
        (count(&db, "SELECT COUNT(*) FROM jobs WHERE status = 'COMPLETED'").await == 10).then_some(())
    })
    .await;
    let on_b = "SELECT COUNT(*) FROM job_executions e JOIN workers w USING (worker_id) WHERE w.node_id = 'b'";
    assert_eq!(count(&db, on_b).await, 0, "the drained node claims nothing");
    let (status, _) = a.post("/v1/nodes/nobody/drain", "").await;
    assert_eq!(status, 404);

    let mut a = a;
    assert!(a.terminate().await.success(), "SIGTERM: a drains and exits 0");
    let (_, nodes) = b.get("/v1/nodes").await;
    let a_row = nodes.as_array().unwrap().iter().find(|n| n["node_id"] == "a").unwrap().clone();
    assert_eq!(a_row["status"], "STOPPED", "a node that left says so: {nodes}");
}

async fn a_request_left_pending_by_a_killed_reader_is_reclaimed_and_handled_once(mut db: TestDb) {
    let store = db.store(BackoffPolicy::default());
    let job = new_job("sleep", json!({"ms": 1}));
    let job_id = job.job_id;
    let mut waiting = job;
    waiting.run_at = Some(SystemClock.now() + chrono::Duration::hours(1)); // stays PENDING
    store.enqueue(vec![waiting], SystemClock.now()).await.unwrap();
    drop(store);
    db.release_lock();
    let redis = TestRedis::start(None).await;
    let mailbox = RedisMailbox::open(&redis.url(), "aeon", 1_000).unwrap();
    // The test asks as a member (a node answers members only), for a minute.
    mailbox.announce("test", "{}", Duration::from_secs(60)).await.unwrap();
    // A request to node b, read by a reader of b that then died without acking.
    let request = Envelope::new("test", Body::request(CANCEL, json!(job_id)));
    mailbox.post(vec![("b".into(), request.encode())]).await.unwrap();
    let read = mailbox.receive("b", "b:dead-process", 10, Duration::from_millis(50)).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(mailbox.pending("b").await.unwrap(), 1);

    let _b = NodeProcess::start(&db, &redis.url(), "b", &[("AEON__CLUSTER__RECLAIM_IDLE_MS", "1000")]).await;
    let sql = format!("SELECT COUNT(*) FROM jobs WHERE job_id = '{job_id}' AND status = 'CANCELLED'");
    eventually("b reclaimed the request and cancelled the job", Duration::from_secs(15), || async {
        (count(&db, &sql).await == 1).then_some(())
    })
    .await;
    let replies: Vec<Delivery> = eventually("the reply arrives", Duration::from_secs(5), || async {
        let got = mailbox.receive("test", "test", 10, Duration::from_millis(100)).await.unwrap();
        (!got.is_empty()).then(|| got.into_iter().map(Delivery::from).collect())
    })
    .await;
    assert_eq!(replies.len(), 1, "handled once");
    let Body::Reply { request_id, answer } = replies[0].envelope.clone().unwrap().body else { panic!("a reply") };
    assert_eq!(request_id, request.id);
    let cancelled: Cancelled = serde_json::from_value(answer.unwrap()).unwrap();
    assert_eq!(cancelled.status.as_str(), "CANCELLED");
    eventually("nothing left pending", Duration::from_secs(5), || async {
        (mailbox.pending("b").await.unwrap() == 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await; // another reclaim round: nothing handled twice
    assert!(mailbox.receive("test", "test", 10, Duration::from_millis(100)).await.unwrap().is_empty());
}

async fn malformed_entries_written_into_a_nodes_stream_are_refused_and_acknowledged(mut db: TestDb) {
    db.release_lock();
    let redis = TestRedis::start(None).await;
    let a = NodeProcess::start(&db, &redis.url(), "a", &[]).await;
    eventually("a reads its mailbox", Duration::from_secs(10), || async {
        redis.cli(&["XINFO", "GROUPS", "aeon:mailbox:a"]).filter(|o| o.contains("aeon")).map(drop)
    })
    .await;
    // An entry without its envelope first: the first of its kind is logged in full,
    // the malformed ones after it are counted (tested below).
    redis.cli(&["XADD", "aeon:mailbox:a", "*", "other", "field"]).expect("XADD");
    for data in ["{not json", r#"{"v":3,"id":"x","kind":"wake"}"#, r#"{"v":1}"#] {
        redis.cli(&["XADD", "aeon:mailbox:a", "*", "e", data]).expect("XADD");
    }
    // A well-formed request whose `from` names no node: its reply would go to a stream
    // the forger chose.
    let forged = Envelope::new("nobody", Body::request("nothing", json!(null)));
    let forged = String::from_utf8(forged.encode()).unwrap();
    redis.cli(&["XADD", "aeon:mailbox:a", "*", "e", &forged]).expect("XADD");
    eventually("all five refused", Duration::from_secs(10), || async {
        let (_, metrics) = a.get("/metrics").await;
        metrics.as_str().unwrap().contains("aeon_mailbox_rejected_total{backend=\"redis\"} 5").then_some(())
    })
    .await;
    let streams = redis.cli(&["KEYS", "aeon:mailbox:*"]).unwrap_or_default();
    assert!(!streams.contains("nobody"), "no reply to the forger's stream: {streams}");
    let pending = redis.cli(&["XPENDING", "aeon:mailbox:a", "aeon"]).unwrap();
    assert!(pending.starts_with("0\n"), "acknowledged: {pending}");
    // The mailbox still works: a request after them is answered.
    let b = NodeProcess::start(&db, &redis.url(), "b", &[]).await;
    let (status, body) = b.post("/v1/nodes/a/drain", "").await;
    assert_eq!(status, 202, "{body}");
    let log = a.log();
    assert!(log.contains("envelope version 3"), "the refusal is logged with its reason: {log}");
    assert!(log.contains("`e` field is missing"), "an entry without its envelope says so: {log}");
}

async fn nothing_is_lost_when_redis_is_killed_restarted_and_flushed_mid_run(mut db: TestDb) {
    db.release_lock();
    let mut redis = TestRedis::start(None).await;
    let poll = [("AEON__NODE__POLL_MS", "200")];
    let a = NodeProcess::start(&db, &redis.url(), "a", &poll).await;
    let b = NodeProcess::start(&db, &redis.url(), "b", &poll).await;
    let mut submitted = 0;
    let mut submit_some = async |n: usize| {
        for _ in 0..n {
            let node = if submitted % 2 == 0 { &a } else { &b };
            submit(node, "sleep", json!({"ms": 20})).await;
            submitted += 1;
        }
    };
    submit_some(20).await;
    // A job that outlives the outage's first seconds, to cancel while its node
    // cannot be told.
    let slow = submit(&a, "sleep", json!({"ms": 3_000})).await;
    let runner = runner_of(&db, slow).await;
    let (asker, other_id) = if runner == "a" { (&b, "a") } else { (&a, "b") };

    redis.kill();
    submit_some(20).await;
    for node in [&a, &b] {
        let body = eventually("degraded: redis", Duration::from_secs(10), || async {
            let (status, body) = node.get("/readyz").await;
            (status == 200 && body["degraded"] == json!(["redis"])).then_some(body)
        })
        .await;
        assert!(body["reason"].as_str().unwrap().starts_with("redis: "), "{body}");
        let (_, metrics) = node.get("/metrics").await;
        assert!(metrics.as_str().unwrap().contains("aeon_redis_degraded{backend=\"redis\"} 1"));
    }

    // What needs the other node answers 503 and changes nothing ...
    let (status, body) = asker.post(&format!("/v1/nodes/{other_id}/drain"), "").await;
    assert_eq!(status, 503, "a drain elsewhere while Redis is down: {body}");
    let worker = format!("SELECT worker_id::text FROM workers WHERE node_id = '{other_id}' LIMIT 1");
    let worker: String = scalar(&db, &worker).await;
    let (status, body) = asker.post(&format!("/v1/workers/{worker}/crash"), r#"{"mode": "panic"}"#).await;
    assert_eq!(status, 503, "a crash elsewhere while Redis is down: {body}");
    let status_of = |id: &str| format!("SELECT status FROM nodes WHERE node_id = '{id}'");
    assert_eq!(scalar::<String>(&db, &status_of(other_id)).await, "ACTIVE", "not drained");
    // ... but a cancel falls back to the store, and the holder's late result is fenced off.
    let (status, body) = asker.post(&format!("/v1/jobs/{slow}/cancel"), "").await;
    assert_eq!((status, &body["status"]), (200, &json!("CANCELLED")), "{body}");
    assert!(asker.log().contains("remote cancel failed"), "the asker fell back to the store");
    eventually("jobs still complete (by the poll)", Duration::from_secs(30), || async {
        (count(&db, "SELECT COUNT(*) FROM jobs WHERE status = 'COMPLETED'").await == 40).then_some(())
    })
    .await;
    // The holder's handler ran its 3 s and ended (its worker rows show no load: the
    // no-ops are done), and its result changed nothing.
    let load = format!("SELECT COALESCE(SUM(current_load), 0)::bigint FROM workers WHERE node_id = '{other_id}'");
    eventually("the holder's handler ends", Duration::from_secs(15), || async {
        (count(&db, &load).await == 0).then_some(())
    })
    .await;
    let runs = format!("SELECT COUNT(*) FROM job_executions WHERE job_id = '{slow}'");
    assert_eq!(count(&db, &runs).await, 1, "one attempt");
    assert_eq!(count(&db, &format!("{runs} AND execution_status = 'CANCELLED'")).await, 1, "still cancelled");
    assert_eq!(scalar::<String>(&db, &format!("SELECT status FROM jobs WHERE job_id = '{slow}'")).await, "CANCELLED");

    redis.restart().await;
    for node in [&a, &b] {
        eventually("reconnected", Duration::from_secs(15), || async {
            let (status, body) = node.get("/readyz").await;
            (status == 200 && body.get("degraded").is_none()).then_some(())
        })
        .await;
    }
    submit_some(20).await;
    redis.cli(&["FLUSHALL"]).expect("FLUSHALL");
    submit_some(20).await;
    eventually("every job completed", Duration::from_secs(30), || async {
        (count(&db, "SELECT COUNT(*) FROM jobs WHERE status = 'COMPLETED'").await == 80).then_some(())
    })
    .await;
    let once = "SELECT COUNT(*) FROM jobs j WHERE 1 = (SELECT COUNT(*) FROM job_executions e
                WHERE e.job_id = j.job_id AND e.execution_status = 'SUCCEEDED')";
    assert_eq!(count(&db, once).await, 80, "each exactly once");
    // Membership and mailboxes are rebuilt after the flush.
    eventually("membership rebuilt", Duration::from_secs(10), || async {
        let members = redis.cli(&["KEYS", "aeon:node:*"]).unwrap_or_default();
        (members.contains("aeon:node:a") && members.contains("aeon:node:b")).then_some(())
    })
    .await;
    let (status, _) = a.post("/v1/nodes/b/drain", "").await;
    assert_eq!(status, 202, "requests cross nodes again");
}

async fn a_node_starts_while_its_redis_is_down_and_connects_when_it_comes(mut db: TestDb) {
    db.release_lock();
    let mut redis = TestRedis::start(None).await;
    redis.kill();
    let a = NodeProcess::start(&db, &redis.url(), "a", &[("AEON__NODE__POLL_MS", "200")]).await;
    let body = eventually("ready, degraded: redis", Duration::from_secs(10), || async {
        let (status, body) = a.get("/readyz").await;
        (status == 200 && body["degraded"] == json!(["redis"])).then_some(body)
    })
    .await;
    assert!(body["reason"].as_str().unwrap().contains("redis"), "{body}");
    assert!(a.log().contains("starting degraded"), "the start says so: {}", a.log());
    let job_id = submit(&a, "noop", json!({})).await;
    let done = format!("SELECT COUNT(*) FROM jobs WHERE job_id = '{job_id}' AND status = 'COMPLETED'");
    eventually("it works on the store alone", Duration::from_secs(10), || async {
        (count(&db, &done).await == 1).then_some(())
    })
    .await;
    redis.restart().await;
    eventually("connected once Redis is up", Duration::from_secs(15), || async {
        let (status, body) = a.get("/readyz").await;
        (status == 200 && body.get("degraded").is_none()).then_some(())
    })
    .await;
    eventually("registered in Redis", Duration::from_secs(5), || async {
        redis.cli(&["EXISTS", "aeon:node:a"]).filter(|o| o.trim() == "1").map(drop)
    })
    .await;
}

async fn a_redis_password_right_works_and_wrong_fails_clearly_without_showing_it(mut db: TestDb) {
    db.release_lock();
    let redis = TestRedis::start(Some("s3cret-pass")).await;
    let a = NodeProcess::start(&db, &redis.url(), "a", &[]).await;
    let (status, body) = a.get("/readyz").await;
    assert_eq!((status, body.get("degraded")), (200, None), "{body}");
    let b = NodeProcess::start(&db, &redis.url(), "b", &[]).await;
    eventually("b has joined", Duration::from_secs(10), || async {
        let (_, nodes) = a.get("/v1/nodes").await;
        nodes.as_array().unwrap().iter().any(|n| n["node_id"] == "b" && n["status"] == "ACTIVE").then_some(())
    })
    .await;
    let (status, body) = a.post("/v1/nodes/b/drain", "").await;
    assert_eq!(status, 202, "the authenticated mailbox carries requests: {body}");

    // A normal start and a `--restore` start make the same checks.
    for args in [&[][..], &["--restore", "latest"][..]] {
        let mut wrong = NodeProcess::spawn_with_args(&db, &redis.url_with_password("wr0ng-pass"), "c", &[], args);
        let start = Instant::now();
        let exit = loop {
            if let Some(exit) = wrong.child.try_wait().unwrap() {
                break exit;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "a wrong password must stop the node ({args:?})");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(!exit.success(), "{args:?}");
        let log = wrong.log();
        assert!(log.contains("redis.url"), "the error names the key ({args:?}): {log}");
        assert!(log.contains("refused the credentials"), "{args:?}: {log}");
        assert!(!log.contains("wr0ng-pass"), "the password is never shown: {log}");
    }
    drop(b);
}

postgres_only!(
    a_job_submitted_to_one_node_is_started_by_an_idle_other_at_once,
    a_sigkilled_node_is_declared_dead_and_its_jobs_run_elsewhere_within_the_bound,
    a_dependent_released_on_a_draining_node_starts_at_once_on_the_other,
    a_job_running_on_another_node_is_cancelled_there_and_its_handler_stops,
    a_bulk_cancel_stops_a_handler_running_on_another_node,
    a_job_queued_on_another_node_is_cancelled_out_of_its_queue,
    the_rescue_lease_is_renewed_by_its_holder_and_passes_on_when_the_holder_stalls,
    crash_and_drain_reach_a_worker_and_a_node_elsewhere,
    a_request_left_pending_by_a_killed_reader_is_reclaimed_and_handled_once,
    malformed_entries_written_into_a_nodes_stream_are_refused_and_acknowledged,
    nothing_is_lost_when_redis_is_killed_restarted_and_flushed_mid_run,
    a_node_starts_while_its_redis_is_down_and_connects_when_it_comes,
    a_redis_password_right_works_and_wrong_fails_clearly_without_showing_it,
);
