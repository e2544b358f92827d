//! Honest health when the database is stuck: with `jobs` locked from outside, no job
//! makes progress, so `/readyz` answers 503 with the reason — promptly, never hanging
//! on the lock — and `/metrics` and `/v1/stats` still answer; once the lock goes, the node is ready
//! again and the work goes on. With its disk full, a submit is 507 naming the disk and
//! `/readyz` 503 naming it too, until there is room again; nothing is lost. A slow read
//! of the API is seen by a watch of its own (logged, counted), and the node stays ready.

use std::time::{Duration, Instant};

use aeon::handler::Registry;
use aeon::metrics::METRICS;
use aeon::testing::{FaultyStore, Gate, Op};

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
    api.stop().await;
}

on_every_backend!(a_locked_jobs_table_makes_the_node_unready_until_it_is_released);

async fn a_full_disk_is_507_on_submits_and_unready_naming_it_until_there_is_room(db: TestDb) {
    let api = ApiNode::start_on(db, |c| c.health.store_stall_ms = 2_000).await;
    let soon = (chrono::Utc::now() + chrono::TimeDelta::seconds(1)).to_rfc3339();
    let mut accepted = Vec::new();
    for n in 0..5 {
        let (status, job) =
            api.post("/v1/jobs", &format!(r#"{{"type":"echo","payload":{{"n":{n}}},"run_at":"{soon}"}}"#)).await;
        assert_eq!(status, 201, "{job}");
        accepted.push(job["job_id"].as_str().unwrap().to_string());
    }

    let full = api.db.fill_disk().await;
    // On SQLite the pages the file has still hold a few rows; the first that needs a new
    // one is refused. On Postgres the first insert is.
    let refused = loop {
        let (status, answer) = api.post("/v1/jobs", r#"{"type":"noop","payload":{"filling":"the last page"}}"#).await;
        match status {
            201 => accepted.push(answer["job_id"].as_str().unwrap().to_string()),
            _ => break (status, answer),
        }
        assert!(accepted.len() < 5_000, "the capped database took {} jobs", accepted.len());
    };
    assert_eq!((refused.0, refused.1["error"]["code"].as_str()), (507, Some("disk_full")), "{}", refused.1);
    let message = refused.1["error"]["message"].as_str().unwrap();
    assert!(message.contains("the database's disk is full") && message.contains("nothing was written"), "{message}");
    let (status, batch) = api.post("/v1/jobs/batch", r#"{"jobs":[{"type":"noop"},{"type":"noop"}]}"#).await;
    assert_eq!((status, batch["error"]["code"].as_str()), (507, Some("disk_full")), "{batch}");
    let (status, health) = timed_get(&api, "/readyz").await;
    let reason = health["reason"].as_str().unwrap_or_default();
    assert_eq!(status, 503, "unready while writes fail for want of space: {health}");
    assert!(reason.contains("the database's disk is full"), "the reason names the disk: {reason}");
    assert_eq!(api.db.count("SELECT COUNT(*) FROM jobs").await, accepted.len() as i64, "refused jobs were not written");

    full.free().await;
    let started = Instant::now();
    while api.get("/readyz").await.0 != 200 {
        assert!(started.elapsed() < Duration::from_secs(20), "the node did not become ready again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, after) = api.post("/v1/jobs", r#"{"type":"noop"}"#).await;
    assert_eq!(status, 201, "{after}");
    accepted.push(after["job_id"].as_str().unwrap().to_string());
    for job_id in &accepted {
        assert_eq!(api.until_finished(job_id).await["status"], "COMPLETED", "nothing accepted is lost");
    }
    api.stop().await;
}

on_every_backend!(a_full_disk_is_507_on_submits_and_unready_naming_it_until_there_is_room);

/// `GET /v1/jobs/{id}` held in the store for longer than both thresholds: the read
/// watch has it in flight (and would say so past `store_read_slow_ms`), it is counted
/// in `aeon_slow_store_reads_total{op="get_job"}`, and `/readyz` stays 200 though the
/// read waits past `store_stall_ms`: only the actors' calls judge readiness. Once let
/// through, the read answers and the watch is clear.
async fn a_slow_api_read_is_seen_by_the_read_watch_and_the_node_stays_ready(db: TestDb) {
    let faults = FaultyStore::detached();
    let tweak = |c: &mut aeon::config::Config| {
        c.health.store_stall_ms = 300;
        c.health.store_read_slow_ms = 100;
    };
    let api = ApiNode::start_wrapped(db, tweak, Registry::with_builtins(), faults.wrapper()).await;
    let (status, job) = api.post("/v1/jobs", r#"{"type":"noop"}"#).await;
    assert_eq!(status, 201, "{job}");
    let job_id = job["job_id"].as_str().unwrap().to_string();
    api.until_finished(&job_id).await;
    let slow = Duration::from_millis(100);
    let watch = api.node.read_watch().clone();
    let counted = METRICS.slow_store_reads("get_job");

    let gate = Gate::new();
    faults.hold(Op::GetJob, gate.clone());
    let url = format!("{}/v1/jobs/{job_id}", api.url());
    let held = tokio::task::spawn_blocking(move || ureq::get(&url).call().map(|r| r.status().as_u16()));
    gate.arrived(1).await;
    let started = Instant::now();
    let seen = loop {
        if let Some(seen) = watch.trouble(chrono::Duration::from_std(slow).unwrap()) {
            break seen;
        }
        assert!(started.elapsed() < PROBE, "the read watch did not see the held read");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(seen.contains("a store call has waited"), "{seen}");
    while METRICS.slow_store_reads("get_job") == counted {
        assert!(started.elapsed() < PROBE, "the slow read was not counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await; // past store_stall_ms, still held
    let (status, health) = timed_get(&api, "/readyz").await;
    assert_eq!(status, 200, "a slow read does not make the node unready: {health}");
    assert_eq!(api.node.readiness().await, Ok(()));
    let (_, metrics) = timed_get(&api, "/metrics").await;
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(metrics.contains(r#"aeon_slow_store_reads_total{op="get_job"}"#), "{metrics}");

    gate.open(usize::MAX >> 4);
    assert_eq!(held.await.unwrap().expect("the held read answers"), 200);
    assert_eq!(watch.trouble(chrono::Duration::zero()), None, "nothing in flight, nothing failing");
    assert!(api.node.reads().get_job(job_id.parse().unwrap()).await.unwrap().is_some(), "a read through the handle");
    api.stop().await;
}

on_every_backend!(a_slow_api_read_is_seen_by_the_read_watch_and_the_node_stays_ready);
