//! Handlers that cannot stall the node: a handler that blocks its thread without ever
//! yielding costs its own slot only. Heartbeats, `/livez`, claims for other workers and
//! other jobs go on; its timeout fires and the job is settled (here dead-lettered)
//! while its thread is still blocked.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::api::ApiNode;

/// Long enough that nothing in this test could finish behind it by chance (and the
/// test's end waits for the blocked thread: keep it short).
const BLOCKED_MS: u64 = 6_000;

#[actix_rt::test]
async fn a_handler_that_never_yields_costs_only_its_slot_and_its_timeout_fires() {
    let api = ApiNode::start(|c| c.workers.count = 2).await;
    let started = Instant::now();
    let body = json!({"type": "block", "payload": {"ms": BLOCKED_MS}, "timeout_ms": 300, "max_retries": 0});
    let (status, blocker) = api.post("/v1/jobs", &body.to_string()).await;
    assert_eq!(status, 201, "{blocker}");
    let blocker = blocker["job_id"].as_str().unwrap().to_string();

    // The blocking handler is abandoned at its timeout, long before it returns.
    let settled = api.until_finished(&blocker).await;
    assert!(started.elapsed() < Duration::from_millis(BLOCKED_MS), "settled only when the handler returned");
    assert_eq!(settled["status"], "DEAD_LETTER", "{settled}");
    assert_eq!(settled["executions"][0]["execution_status"], "TIMED_OUT", "{settled}");

    // Meanwhile everything else goes on: the API, heartbeats, other jobs on every worker.
    assert_eq!(api.get("/livez").await.0, 200);
    let mut others = Vec::new();
    for i in 0..20 {
        let (status, job) = api.post("/v1/jobs", &json!({"type": "echo", "payload": {"i": i}}).to_string()).await;
        assert_eq!(status, 201);
        others.push(job["job_id"].as_str().unwrap().to_string());
    }
    for id in &others {
        assert_eq!(api.until_finished(id).await["status"], "COMPLETED");
    }
    let (_, workers) = api.get("/v1/workers").await;
    let beats: Vec<&str> = workers.as_array().unwrap().iter().map(|w| w["status"].as_str().unwrap()).collect();
    // Alive, every one: none declared dead for silence (the one whose run timed out
    // may score unhealthy for it, but it heartbeats).
    assert!(beats.iter().all(|s| ["ACTIVE", "UNHEALTHY"].contains(s)), "every worker still heartbeats: {workers}");
    assert!(started.elapsed() < Duration::from_millis(BLOCKED_MS), "all of it while the handler was blocked");
    api.stop().await;
}
