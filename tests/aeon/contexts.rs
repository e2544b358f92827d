//! Execution contexts on a running node: checkpoints that survive a worker crash, a
//! Qdrant that does not answer (jobs run on, the node says it is degraded, writes are
//! retried and counted), the queue that drops its oldest and counts them, similar
//! failures through the API and the CLI, and the ContextActor retrying a flaky store.

use std::collections::HashSet;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aeon::actors::context::{ContextActor, ContextConfig, FlushContexts, RecordContext};
use aeon::actors::probe::{Event, Probe};
use aeon::actors::worker::CrashMode;
use aeon::clock::{Clock, SystemClock};
use aeon::config::Config;
use aeon::handler::{JobContext, Outcome, Registry};
use aeon::node::Node;
use aeon::store::{Applied, ClaimRef, SaveCheckpointParams};
use aeon::vector::{ContextPoint, ExecutionContext, Scored, SimilarQuery, VectorError, VectorResult, VectorStore};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc::{self, UnboundedReceiver};
use uuid::Uuid;

use crate::common::actors::{PATIENCE, expect_event};
use crate::common::api::ApiNode;
use crate::common::{TestDb, claim, clock, exact_backoff, new_job, on_every_backend};

/// Waits until every job of `jobs` has its run settled (its result written and its
/// context handed to the ContextActor).
async fn settled(events: &mut UnboundedReceiver<Event>, jobs: &[Uuid]) {
    let mut left: HashSet<Uuid> = jobs.iter().copied().collect();
    while !left.is_empty() {
        if let Event::JobSettled { job_id } =
            expect_event(events, "runs settled", |e| matches!(e, Event::JobSettled { .. })).await
        {
            left.remove(&job_id);
        }
    }
}

fn id_of(submitted: &Value) -> Uuid {
    submitted["job_id"].as_str().and_then(|s| Uuid::try_parse(s).ok()).expect("a job id")
}

/// A URL where nothing listens: a port the OS gave and took back.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// The value of a metric line `name{labels} value` in a Prometheus text.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

// --- Checkpoints in the store --------------------------------------------------------

on_every_backend!(checkpoints_are_fenced_by_the_claim_and_the_latest_wins);

async fn checkpoints_are_fenced_by_the_claim_and_the_latest_wins(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let job = store.enqueue(vec![new_job("echo", json!({}))], clock.now()).await.unwrap()[0].job_id;
    let claimed = claim(&store, 1, &clock).await.pop().expect("claimed");
    assert_eq!(store.last_checkpoint(job).await.unwrap(), None);

    let stranger = ClaimRef { job_id: job, execution_id: Uuid::now_v7() };
    assert_eq!(
        store
            .save_checkpoint(SaveCheckpointParams { claim: stranger, data: json!({"step": 9}) }, clock.now())
            .await
            .unwrap(),
        Applied::Stale
    );
    assert_eq!(store.last_checkpoint(job).await.unwrap(), None, "a lost claim writes nothing");

    let holder = claimed.claim_ref();
    for step in [1, 2] {
        assert_eq!(
            store
                .save_checkpoint(SaveCheckpointParams { claim: holder, data: json!({"step": step}) }, clock.now())
                .await
                .unwrap(),
            Applied::Applied
        );
    }
    let saved = store.last_checkpoint(job).await.unwrap().expect("a checkpoint");
    assert_eq!((saved.data, saved.execution_id, saved.attempt), (json!({"step": 2}), claimed.execution_id, 1));
    assert_eq!(saved.saved_at, clock.now());
}

// --- A checkpoint survives a worker crash ------------------------------------------

#[derive(Deserialize)]
struct Progress {
    step: u32,
}

/// `resumable`: the first attempt saves step 3, tells the test, then works forever
/// (until its worker dies); a later attempt completes with where it resumed from.
fn resumable_registry() -> (Registry, UnboundedReceiver<Uuid>) {
    let (saved_tx, saved) = mpsc::unbounded_channel();
    let mut registry = Registry::with_builtins();
    registry
        .register_fn("resumable", move |ctx: JobContext, _: Value| {
            let saved_tx = saved_tx.clone();
            async move {
                match ctx.resume_from::<Progress>().await.expect("the checkpoint reads") {
                    Some(progress) => {
                        Outcome::Complete(json!({ "resumed_from": progress.step, "attempt": ctx.attempt }))
                    }
                    None => {
                        ctx.checkpoint(json!({ "step": 3 })).await.expect("the checkpoint saves");
                        let _ = saved_tx.send(ctx.worker_id);
                        futures::future::pending::<Outcome>().await
                    }
                }
            }
        })
        .unwrap();
    (registry, saved)
}

on_every_backend!(a_retry_after_a_worker_panic_resumes_from_the_checkpoint);

async fn a_retry_after_a_worker_panic_resumes_from_the_checkpoint(db: TestDb) {
    let mut config = Config::default();
    config.workers.count = 2;
    config.health.heartbeat_ms = 50;
    config.health.sweep_ms = 100;
    config.node.poll_ms = 50;
    config.retry.base_ms = 10;
    config.retry.max_ms = 50;
    let (registry, mut saved) = resumable_registry();
    let (probe, mut events) = Probe::channel();
    let store = db.store(config.retry).shared();
    let node =
        Node::start_with_store(config, store, registry, Arc::new(SystemClock), probe).await.expect("node starts");

    let job = node.submit(vec![aeon::job::JobRequest::new("resumable", json!({}))]).await.unwrap()[0].job_id;
    let worker = tokio::time::timeout(PATIENCE, saved.recv()).await.expect("the first attempt saves").unwrap();
    assert!(node.crash(worker, CrashMode::Panic).await, "the worker is told to panic");
    settled(&mut events, &[job]).await;

    let done = node.store().get_job(job).await.unwrap().unwrap();
    assert_eq!(done.status.as_str(), "COMPLETED");
    assert_eq!(done.result, Some(json!({ "resumed_from": 3, "attempt": 2 })), "the retry resumed at step 3");
    let runs = node.store().executions(job).await.unwrap();
    let statuses: Vec<&str> = runs.iter().map(|e| e.execution_status.as_str()).collect();
    assert_eq!(statuses, vec!["CRASHED", "SUCCEEDED"]);

    // Both attempts' contexts reach the (embedded) vector store; the crashed one
    // carries the checkpoint it saved.
    assert!(node.contexts.addr.send(FlushContexts).await.unwrap(), "contexts written");
    let contexts = node.contexts.addr.send(aeon::actors::context::ContextsOfJob(job)).await.unwrap().unwrap();
    let by_attempt: Vec<(i32, &str)> =
        contexts.iter().map(|p| (p.context.attempt, p.context.outcome.as_str())).collect();
    assert_eq!(by_attempt, vec![(1, "CRASHED"), (2, "SUCCEEDED")]);
    assert_eq!(contexts[0].context.checkpoint, Some(json!({ "step": 3 })));
    assert_eq!(contexts[0].context.execution_id, runs[0].execution_id, "the point id is the execution id");
    node.drain().await;
}

// --- Qdrant unreachable ---------------------------------------------------------------

#[actix_rt::test]
async fn an_unreachable_qdrant_degrades_the_node_but_never_its_jobs() {
    let url = closed_port_url();
    let mut api = ApiNode::start(|c| {
        c.qdrant.url = url.clone();
        c.qdrant.timeout_ms = 1_000;
        c.qdrant.queue_capacity = 2;
        c.qdrant.retry_initial_ms = 20;
        c.qdrant.retry_max_ms = 50;
    })
    .await;

    let mut jobs = Vec::new();
    for i in 0..5 {
        let (status, body) = api.post("/v1/jobs", &json!({"type": "echo", "payload": {"i": i}}).to_string()).await;
        assert_eq!(status, 201, "{body}");
        jobs.push(id_of(&body));
    }
    for job in &jobs {
        assert_eq!(api.until_finished(&job.to_string()).await["status"], "COMPLETED");
    }
    settled(&mut api.events, &jobs).await;
    // Every context is queued by now (each was sent before its run settled); the
    // flush answers at the next failed call.
    assert!(!api.node.contexts.addr.send(FlushContexts).await.unwrap(), "nothing can be written");
    let stats = api.node.contexts.status.stats();
    assert_eq!((stats.queued, stats.dropped, stats.written), (2, 3, 0), "two fit the queue; the three oldest dropped");
    expect_event(
        &mut api.events,
        "two retries",
        |e| matches!(e, Event::ContextWriteFailed { retries_total } if *retries_total >= 2),
    )
    .await;

    let (status, ready) = api.get("/readyz").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["degraded"], json!(["qdrant"]));
    assert!(ready["reason"].as_str().unwrap().starts_with("qdrant: "), "{ready}");

    let (_, metrics) = api.get("/metrics").await;
    let metrics = metrics.as_str().expect("metrics are text").to_string();
    assert_eq!(metric(&metrics, "aeon_vector_store_degraded{backend=\"qdrant\"}"), 1.0);
    assert_eq!(metric(&metrics, "aeon_vector_dropped_total{backend=\"qdrant\"}"), 3.0);
    assert_eq!(metric(&metrics, "aeon_vector_queue_depth{backend=\"qdrant\"}"), 2.0);
    assert!(metric(&metrics, "aeon_vector_write_retries_total{backend=\"qdrant\"}") >= 2.0);
    assert_eq!(metric(&metrics, "aeon_vector_degraded_total{backend=\"qdrant\"}"), 1.0);

    // The checkpoint lives in the job store: the context endpoint still answers it,
    // and says why the vector store's part is missing.
    let (status, context) = api.get(&format!("/v1/jobs/{}/context", jobs[0])).await;
    assert_eq!(status, 200, "{context}");
    assert!(context["contexts_error"].as_str().is_some(), "{context}");
    api.stop().await;
}

// --- Similar failures through the API and the CLI ------------------------------------

async fn submit_failing(api: &ApiNode, message: &str) -> Uuid {
    let body = json!({"type": "fail", "payload": {"times": 1, "message": message}, "max_retries": 0});
    let (status, answer) = api.post("/v1/jobs", &body.to_string()).await;
    assert_eq!(status, 201, "{answer}");
    id_of(&answer)
}

#[actix_rt::test]
async fn similar_failures_come_best_first_through_the_api_and_the_cli() {
    let mut api = ApiNode::start(|_| {}).await;
    let asked = submit_failing(&api, "smtp: connection refused by mx1 after 300 ms").await;
    let alike = submit_failing(&api, "smtp: connection refused by mx2 after 5000 ms").await;
    let apart = submit_failing(&api, "template: missing variable first_name").await;
    let (_, ok) = api.post("/v1/jobs", r#"{"type":"echo","payload":{}}"#).await;
    let succeeded = id_of(&ok);
    settled(&mut api.events, &[asked, alike, apart, succeeded]).await;
    assert!(api.node.contexts.addr.send(FlushContexts).await.unwrap(), "contexts written");

    let (status, found) = api.get(&format!("/v1/jobs/{asked}/similar?limit=5")).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["backend"], "embedded");
    assert_eq!(found["basis"]["outcome"], "FAILED");
    let similar = found["similar"].as_array().unwrap();
    let jobs: Vec<&str> = similar.iter().map(|s| s["job_id"].as_str().unwrap()).collect();
    assert_eq!(jobs, vec![alike.to_string(), apart.to_string()], "alike first; successes and the job itself left out");
    let scores: Vec<f64> = similar.iter().map(|s| s["score"].as_f64().unwrap()).collect();
    assert!(scores[0] > scores[1], "{scores:?}");
    assert_eq!(similar[0]["error"], "smtp: connection refused by mx2 after 5000 ms");
    assert!(Uuid::try_parse(similar[0]["execution_id"].as_str().unwrap()).is_ok());

    let (_, best) = api.get(&format!("/v1/jobs/{asked}/similar?limit=1")).await;
    assert_eq!(best["similar"].as_array().unwrap().len(), 1);

    // A job that never failed has nothing to compare.
    let (status, none) = api.get(&format!("/v1/jobs/{succeeded}/similar")).await;
    assert_eq!((status, &none["basis"], &none["similar"]), (200, &Value::Null, &json!([])));

    // Bad input names its field; nothing is searched.
    for (path, field) in [
        (format!("/v1/jobs/{asked}/similar?limit=0"), "limit"),
        (format!("/v1/jobs/{asked}/similar?limit=101"), "limit"),
        (format!("/v1/jobs/{asked}/similar?limit=ten"), "limit"),
        ("/v1/jobs/not-a-uuid/similar".to_string(), "job_id"),
        ("/v1/jobs/ctx-123/context".to_string(), "job_id"),
    ] {
        let (status, error) = api.get(&path).await;
        assert_eq!((status, error["error"]["field"].as_str()), (400, Some(field)), "{path}: {error}");
    }
    let unknown = Uuid::new_v4();
    assert_eq!(api.get(&format!("/v1/jobs/{unknown}/similar")).await.0, 404);
    assert_eq!(api.get(&format!("/v1/jobs/{unknown}/context")).await.0, 404);

    let (status, context) = api.get(&format!("/v1/jobs/{asked}/context")).await;
    assert_eq!(status, 200, "{context}");
    assert_eq!(context["checkpoint"], Value::Null);
    let executions = context["executions"].as_array().unwrap();
    assert_eq!(executions.len(), 1);
    assert_eq!(executions[0]["outcome"], "FAILED");
    assert_eq!(executions[0]["job_id"], asked.to_string());
    assert_eq!(executions[0]["node_id"], api.node.node_id);

    // The CLI: a table best first, --json, and exit code 2 for a bad id.
    let url = api.url();
    let table = aeon(&url, &["job", "similar", &asked.to_string()]).await;
    assert_eq!(table.0, 0, "{}", table.2);
    let rows: Vec<&str> = table.1.lines().filter(|l| l.contains("FAILED") && !l.starts_with("job ")).collect();
    assert!(rows[0].contains(&alike.to_string()), "{}", table.1);
    let json_out = aeon(&url, &["job", "similar", &asked.to_string(), "--limit", "1", "--json"]).await;
    let parsed: Value = serde_json::from_str(&json_out.1).expect("--json prints JSON");
    assert_eq!(parsed["similar"][0]["job_id"], alike.to_string());
    let bad = aeon(&url, &["job", "similar", "nope"]).await;
    assert_eq!(bad.0, 2, "{}", bad.2);
    let context = aeon(&url, &["job", "context", &asked.to_string()]).await;
    assert!(context.0 == 0 && context.1.contains("FAILED"), "{}", context.1);
    api.stop().await;
}

/// Runs `aeon <args>` against `url` off the actors' thread: (exit code, stdout, stderr).
async fn aeon(url: &str, args: &[&str]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aeon"));
    command.args(args).env("AEON_URL", url).env_remove("AEON_TOKEN");
    let out = tokio::task::spawn_blocking(move || command.output().expect("run aeon")).await.unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

// --- The ContextActor alone ------------------------------------------------------------

/// A vector store that refuses its first `failures` calls, then keeps what it gets.
#[derive(Default)]
struct Flaky {
    failures: u32,
    calls: AtomicU32,
    kept: std::sync::Mutex<Vec<ContextPoint>>,
}

#[async_trait]
impl VectorStore for Flaky {
    fn backend(&self) -> &'static str {
        "flaky"
    }

    async fn prepare(&self) -> VectorResult<()> {
        Ok(())
    }

    async fn upsert(&self, points: Vec<ContextPoint>) -> VectorResult<()> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
            return Err(VectorError::Unavailable("refused on purpose".into()));
        }
        self.kept.lock().unwrap().extend(points);
        Ok(())
    }

    async fn search(&self, _: SimilarQuery) -> VectorResult<Vec<Scored>> {
        Ok(Vec::new())
    }

    async fn job_contexts(&self, _: Uuid) -> VectorResult<Vec<ContextPoint>> {
        Ok(Vec::new())
    }
}

fn context_point(attempt: i32) -> ContextPoint {
    let context = ExecutionContext {
        execution_id: Uuid::now_v7(),
        job_id: Uuid::new_v4(),
        job_type: "echo".into(),
        attempt,
        outcome: "FAILED".into(),
        error: Some("x".into()),
        duration_ms: 1,
        worker_id: Uuid::new_v4(),
        node_id: "n".into(),
        checkpoint: None,
        recorded_at: chrono::Utc::now(),
    };
    ContextPoint { vector: aeon::vector::embed("echo", "FAILED", Some("x")), context }
}

#[actix_rt::test]
async fn failed_writes_are_retried_in_order_and_the_store_recovers() {
    let flaky = Arc::new(Flaky { failures: 3, ..Flaky::default() });
    let (probe, mut events) = Probe::channel();
    let config = ContextConfig {
        retry_initial: Duration::from_millis(5),
        retry_max: Duration::from_millis(20),
        ..ContextConfig::default()
    };
    let link = ContextActor::launch(flaky.clone(), config, probe);
    let points: Vec<ContextPoint> = (1..=3).map(context_point).collect();
    for p in &points {
        link.addr.do_send(RecordContext(p.clone()));
    }
    expect_event(&mut events, "all three written", |e| matches!(e, Event::ContextsWritten { written_total: 3 })).await;
    let stats = link.status.stats();
    assert_eq!((stats.retries, stats.written, stats.dropped, stats.queued), (3, 3, 0, 0));
    assert_eq!((stats.degraded, stats.degradations), (None, 1), "degraded once, recovered since");
    let kept: Vec<Uuid> = flaky.kept.lock().unwrap().iter().map(|p| p.context.execution_id).collect();
    let sent: Vec<Uuid> = points.iter().map(|p| p.context.execution_id).collect();
    assert_eq!(kept, sent, "written once each, in the order recorded");
}
