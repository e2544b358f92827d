//! Redis lost and back, or refusing a password: while it is down, nodes go on through
//! Postgres (degraded, nothing lost); a node starts without it and connects when it
//! comes; a wrong password stops a node with an error that names the key, never the
//! password.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{count, runner_of, scalar, submit};
use crate::common::cluster::{NodeProcess, eventually};
use crate::common::redis::TestRedis;
use crate::common::{TestDb, postgres_only};

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
    nothing_is_lost_when_redis_is_killed_restarted_and_flushed_mid_run,
    a_node_starts_while_its_redis_is_down_and_connects_when_it_comes,
    a_redis_password_right_works_and_wrong_fails_clearly_without_showing_it,
);
