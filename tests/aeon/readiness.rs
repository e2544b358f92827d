//! Honest health when the database is stuck: with `jobs` locked from outside, no job
//! makes progress, so `/readyz` answers 503 with the reason — promptly, never hanging
//! on the lock — and `/metrics` and `/v1/stats` still answer; once the lock goes, the node is ready
//! again and the work goes on.

use std::time::{Duration, Instant};

use crate::common::api::ApiNode;
use crate::common::{TestDb, on_every_backend};

/// How long a probe gives `/readyz` and `/metrics`: they must not wait on the store.
const PROBE: Duration = Duration::from_secs(2);

async fn timed_get(api: &ApiNode, path: &str) -> (u16, serde_json::Value) {
    let started = Instant::now();
    let answer = api.get(path).await;
    assert!(started.elapsed() < PROBE, "{path} took {:?} with the table locked", started.elapsed());
    answer
}

async fn a_locked_jobs_table_makes_the_node_unready_until_it_is_released(db: TestDb) {
    let api = ApiNode::start_on(db, |c| c.health.store_stall_ms = 300).await;
    let (status, _) = api.get("/readyz").await;
    assert_eq!(status, 200, "ready before the lock");

    let lock = api.db.lock_jobs().await;
    let submitted = api.node.clone();
    let blocked = actix_rt::spawn(async move {
        submitted.submit(vec![aeon::job::JobRequest::new("echo", serde_json::json!({"after": "lock"}))]).await
    });
    let started = Instant::now();
    let reason = loop {
        let (status, body) = timed_get(&api, "/readyz").await;
        if status == 503 {
            break body["reason"].as_str().unwrap_or_default().to_string();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "/readyz stayed 200 with jobs locked: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(reason.contains("waited"), "the reason names the stuck store: {reason}");
    let (status, metrics) = timed_get(&api, "/metrics").await;
    assert_eq!(status, 200, "{metrics}");
    let (status, stats) = timed_get(&api, "/v1/stats").await;
    assert!([200, 503].contains(&status), "answers, or says the store is busy: {stats}");

    lock.release().await;
    let job = blocked.await.unwrap().expect("the submit went through once the lock went");
    let done = api.until_finished(&job[0].job_id.to_string()).await;
    assert_eq!(done["status"], "COMPLETED");
    let started = Instant::now();
    while api.get("/readyz").await.0 != 200 {
        assert!(started.elapsed() < Duration::from_secs(20), "the node did not become ready again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

on_every_backend!(a_locked_jobs_table_makes_the_node_unready_until_it_is_released);
