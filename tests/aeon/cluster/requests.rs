//! Requests from one node to another through the mailbox: a cancel (of a running
//! job, of one queued in a peer's worker, in bulk) stops the job where it is; a crash
//! and a drain reach a worker and a node elsewhere; a request left pending by a dead
//! reader is reclaimed and handled once; malformed entries are refused and acknowledged.

use std::time::Duration;

use aeon::clock::{Clock, SystemClock};
use aeon::mailbox::{Body, Delivery, Envelope, Mailbox, RedisMailbox};
use aeon::node::{CANCEL, Cancelled};
use aeon::retry::BackoffPolicy;
use serde_json::json;
use uuid::Uuid;

use super::{count, runner_of, scalar, submit};
use crate::common::cluster::{NodeProcess, eventually};
use crate::common::redis::TestRedis;
use crate::common::{TestDb, new_job, postgres_only};

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

postgres_only!(
    a_job_running_on_another_node_is_cancelled_there_and_its_handler_stops,
    a_job_queued_on_another_node_is_cancelled_out_of_its_queue,
    a_bulk_cancel_stops_a_handler_running_on_another_node,
    crash_and_drain_reach_a_worker_and_a_node_elsewhere,
    a_request_left_pending_by_a_killed_reader_is_reclaimed_and_handled_once,
    malformed_entries_written_into_a_nodes_stream_are_refused_and_acknowledged,
);
