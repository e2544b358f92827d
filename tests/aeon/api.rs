//! Black-box tests of the HTTP API: a node on a free port, the real store.

use aeon::actors::probe::Event;
use serde_json::{Value, json};

use crate::common::actors::expect_event;
use crate::common::api::ApiNode;

#[actix_rt::test]
async fn jobs_are_submitted_run_shown_listed_and_cancelled() {
    let api = ApiNode::start(|_| {}).await;
    let (status, submitted) = api.post("/v1/jobs", r#"{"type":"echo","payload":{"hello":"api"}}"#).await;
    assert_eq!(status, 201, "{submitted}");
    assert_eq!(submitted["status"], "PENDING");
    let id = submitted["job_id"].as_str().unwrap().to_string();
    let job = api.until_finished(&id).await;
    assert_eq!(job["status"], "COMPLETED");
    assert_eq!(job["result"], json!({"hello": "api"}));
    assert_eq!(job["type"], "echo");
    assert_eq!(job["depends_on"], json!([]));
    let executions = job["executions"].as_array().unwrap();
    assert_eq!(executions.len(), 1);
    assert_eq!(executions[0]["execution_status"], "SUCCEEDED");
    for key in [
        "priority",
        "attempts",
        "max_retries",
        "timeout_ms",
        "payload",
        "error",
        "created_at",
        "started_at",
        "completed_at",
    ] {
        assert!(job.get(key).is_some(), "{key} missing from {job}");
    }

    // Idempotency: the same key answers 200 with the first job.
    let keyed = r#"{"type":"noop","idempotency_key":"order-7"}"#;
    let (first_status, first) = api.post("/v1/jobs", keyed).await;
    let (again_status, again) = api.post("/v1/jobs", keyed).await;
    assert_eq!((first_status, again_status), (201, 200));
    assert_eq!(first["job_id"], again["job_id"]);

    // A batch, all or nothing.
    let (status, batch) =
        api.post("/v1/jobs/batch", r#"{"jobs":[{"type":"noop"},{"type":"noop"},{"type":"noop"}]}"#).await;
    assert_eq!(status, 201, "{batch}");
    assert_eq!(batch["job_ids"].as_array().unwrap().len(), 3);
    let before = api.db.count("SELECT COUNT(*) FROM jobs").await;
    let (status, refused) =
        api.post("/v1/jobs/batch", r#"{"jobs":[{"type":"noop"},{"type":"noop","timeout_ms":-1}]}"#).await;
    assert_eq!(status, 422);
    assert_eq!(refused["error"]["field"], "jobs[1].timeout_ms");
    assert_eq!(api.db.count("SELECT COUNT(*) FROM jobs").await, before, "nothing of a refused batch is written");
    assert_eq!(api.post("/v1/jobs/batch", r#"{"jobs":[]}"#).await.0, 422);

    // Listing, filtered and paged.
    let (status, page) = api.get("/v1/jobs?type=noop&limit=2").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["jobs"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().expect("more pages").to_string();
    let (_, rest) = api.get(&format!("/v1/jobs?type=noop&limit=2&cursor={cursor}")).await;
    let first_ids: Vec<&Value> = page["jobs"].as_array().unwrap().iter().map(|j| &j["job_id"]).collect();
    assert!(
        rest["jobs"].as_array().unwrap().iter().all(|j| !first_ids.contains(&&j["job_id"])),
        "pages do not overlap"
    );
    let (_, echoes) = api.get("/v1/jobs?type=echo").await;
    assert_eq!(echoes["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(echoes["next_cursor"], Value::Null);

    // Cancel: a scheduled job cancels; a finished one conflicts.
    let (_, later) = api.post("/v1/jobs", r#"{"type":"noop","run_at":"2999-01-01T00:00:00Z"}"#).await;
    let later = later["job_id"].as_str().unwrap().to_string();
    let (status, cancelled) = api.post(&format!("/v1/jobs/{later}/cancel"), "").await;
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("CANCELLED")));
    let (status, conflict) = api.post(&format!("/v1/jobs/{id}/cancel"), "").await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["error"]["code"], "conflict");
    api.stop().await;
}

#[actix_rt::test]
async fn bad_input_gets_a_clear_4xx_writes_nothing_and_the_node_stays_ready() {
    let api = ApiNode::start(|_| {}).await;
    let deep = format!(r#"{{"type":"noop","payload":{}{}}}"#, "[".repeat(5_000), "]".repeat(5_000));
    let huge = format!(r#"{{"type":"noop","payload":"{}"}}"#, "x".repeat(10 * 1024 * 1024));
    let cases: Vec<(&str, String, u16, &str, Option<&str>)> = vec![
        ("malformed JSON", r#"{"type":"noop","#.into(), 400, "malformed_json", Some("body")),
        ("not an object", r#"["noop"]"#.into(), 422, "invalid", Some("body")),
        ("wrong type", r#"{"type":"noop","priority":"high"}"#.into(), 422, "invalid", Some("priority")),
        ("unknown field", r#"{"type":"noop","colour":"red"}"#.into(), 422, "invalid", Some("colour")),
        ("negative retries", r#"{"type":"noop","max_retries":-1}"#.into(), 422, "invalid", Some("max_retries")),
        ("bad type", r#"{"type":"Not Valid"}"#.into(), 422, "invalid", Some("type")),
        ("absurdly deep", deep, 400, "malformed_json", Some("body")),
        ("10 MB body", huge, 413, "too_large", None),
    ];
    for (what, body, status, code, field) in cases {
        let (got, answer) = api.post("/v1/jobs", &body).await;
        assert_eq!(got, status, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{what}: {answer}");
        assert!(!answer["error"]["message"].as_str().unwrap_or("").is_empty(), "{what}: a message");
        if let Some(field) = field {
            assert_eq!(answer["error"]["field"], field, "{what}: {answer}");
        }
    }
    assert_eq!(api.db.count("SELECT COUNT(*) FROM jobs").await, 0, "nothing was written");

    let (status, answer) = api.get("/v1/jobs/not-a-uuid").await;
    assert_eq!((status, answer["error"]["field"].as_str()), (400, Some("job_id")));
    let (status, answer) = api.get(&format!("/v1/jobs/{}", uuid::Uuid::new_v4())).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("not_found")));
    assert_eq!(api.post(&format!("/v1/jobs/{}/cancel", uuid::Uuid::new_v4()), "").await.0, 404);
    assert_eq!(api.get("/v1/jobs?status=LOST").await.0, 400);
    assert_eq!(api.get("/v1/jobs?limit=0").await.0, 400);
    assert_eq!(api.get("/v1/jobs?colour=red").await.0, 400);
    assert_eq!(api.get("/v1/dead-letters?cursor=abc").await.0, 400);
    let (status, answer) = api.get("/v1/nothing-here").await;
    assert_eq!((status, answer["error"]["message"].as_str()), (404, Some("no such route")));

    assert_eq!(api.get("/readyz").await.0, 200, "the node is still ready");
    api.stop().await;
}

#[actix_rt::test]
async fn a_token_guards_v1_and_leaves_the_probes_open() {
    let api = ApiNode::start(|c| c.api.token = "s3cret-token-value".into()).await;
    assert_eq!(api.call("GET", "/v1/stats", None, None).await.0, 401);
    let (status, answer) = api.call("GET", "/v1/stats", None, Some("wrong")).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (401, Some("unauthorized")));
    assert_eq!(api.call("GET", "/v1/stats", None, Some("s3cret-token-value")).await.0, 200);
    let body = Some(r#"{"type":"noop"}"#.to_string());
    assert_eq!(api.call("POST", "/v1/jobs", body.clone(), None).await.0, 401);
    assert_eq!(api.db.count("SELECT COUNT(*) FROM jobs").await, 0);
    assert_eq!(api.call("POST", "/v1/jobs", body, Some("s3cret-token-value")).await.0, 201);
    for open in ["/livez", "/readyz", "/metrics", "/openapi.json"] {
        assert_eq!(api.get(open).await.0, 200, "{open} needs no token");
    }
    api.stop().await;
}

#[actix_rt::test]
async fn the_crash_endpoint_is_refused_unless_experiments_allow_it() {
    let api = ApiNode::start(|_| {}).await;
    let worker = api.node.actors.supervisor.send(aeon::actors::supervisor::GetSlots).await.unwrap()[0].worker_id;
    let (status, answer) = api.post(&format!("/v1/workers/{worker}/crash"), r#"{"mode":"panic"}"#).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (403, Some("forbidden")));
    api.stop().await;

    let mut api = ApiNode::start(|c| c.experiments.allow_crash = true).await;
    let worker = api.node.actors.supervisor.send(aeon::actors::supervisor::GetSlots).await.unwrap()[0].worker_id;
    assert_eq!(api.post("/v1/workers/nope/crash", r#"{"mode":"panic"}"#).await.0, 400);
    assert_eq!(api.post(&format!("/v1/workers/{}/crash", uuid::Uuid::new_v4()), r#"{"mode":"panic"}"#).await.0, 404);
    // A field that does not apply is refused, not dropped: each answer names the field.
    for (body, field) in [
        (r#"{"mode":"explode"}"#, "mode"),
        (r#"{"mode":"slow"}"#, "ms"),
        (r#"{"mode":"panic","ms":5}"#, "ms"),
        (r#"{"mode":"exit","ms":5}"#, "ms"),
        (r#"{"mode":"hang","ms":-1}"#, "ms"),
        (r#"{"mode":"slow","ms":2.5}"#, "ms"),
        (r#"{"mode":"hang","for":5}"#, "for"),
    ] {
        let (status, answer) = api.post(&format!("/v1/workers/{worker}/crash"), body).await;
        assert_eq!((status, answer["error"]["field"].as_str()), (422, Some(field)), "{body}: {answer}");
    }
    let (status, answer) = api.post(&format!("/v1/workers/{worker}/crash"), r#"{"mode":"hang","ms":1.0}"#).await;
    assert_eq!((status, &answer["crash"]), (202, &serde_json::json!({"mode": "hang", "ms": 1})), "{answer}");
    assert_eq!(api.post(&format!("/v1/workers/{worker}/crash"), r#"{"mode":"slow","ms":1}"#).await.0, 202);
    assert_eq!(api.post(&format!("/v1/workers/{worker}/crash"), r#"{"mode":"panic"}"#).await.0, 202);
    expect_event(
        &mut api.events,
        "the restart",
        |e| matches!(e, Event::WorkerRestarted { worker_id, .. } if *worker_id == worker),
    )
    .await;
    api.stop().await;
}

#[actix_rt::test]
async fn workers_dead_letters_stats_metrics_and_readiness() {
    let api = ApiNode::start(|_| {}).await;
    let (_, doomed) = api.post("/v1/jobs", r#"{"type":"fail","payload":{"times":5},"max_retries":0}"#).await;
    let doomed = doomed["job_id"].as_str().unwrap().to_string();
    assert_eq!(api.until_finished(&doomed).await["status"], "DEAD_LETTER");

    let (status, letters) = api.get("/v1/dead-letters").await;
    assert_eq!(status, 200);
    assert_eq!(letters["dead_letters"][0]["job_id"], doomed.as_str());
    assert_eq!(letters["dead_letters"][0]["attempts"], 1);
    let (status, requeued) = api.post(&format!("/v1/dead-letters/{doomed}/requeue"), "").await;
    assert_eq!((status, requeued["attempts"].as_i64()), (200, Some(0)));
    assert_eq!(api.until_finished(&doomed).await["status"], "DEAD_LETTER", "it fails again, and lands again");
    let (_, done) = api.post("/v1/jobs", r#"{"type":"noop"}"#).await;
    let done = done["job_id"].as_str().unwrap().to_string();
    api.until_finished(&done).await;
    assert_eq!(api.post(&format!("/v1/dead-letters/{done}/requeue"), "").await.0, 409);
    assert_eq!(api.post(&format!("/v1/dead-letters/{}/requeue", uuid::Uuid::new_v4()), "").await.0, 404);

    api.node.actors.health.send(aeon::actors::health::Sweep).await.unwrap(); // rows written
    let (status, workers) = api.get("/v1/workers").await;
    assert_eq!(status, 200);
    let workers = workers.as_array().unwrap();
    assert_eq!(workers.len(), 2);
    for key in [
        "worker_id",
        "node_id",
        "status",
        "capacity",
        "current_load",
        "health_score",
        "health_reason",
        "failure_count",
        "last_heartbeat",
    ] {
        assert!(workers[0].get(key).is_some(), "{key} missing");
    }

    let (status, stats) = api.get("/v1/stats").await;
    assert_eq!(status, 200);
    assert_eq!(stats["jobs"]["COMPLETED"], 1);
    assert_eq!(stats["jobs"]["DEAD_LETTER"], 1);
    assert_eq!(stats["jobs"]["WAITING"], 0);
    assert_eq!(stats["completed_last_minute"], 1);
    // Both workers are alive and healthy: the failing job's failures are its own, not
    // those of the worker that ran it.
    assert_eq!(stats["workers"]["ACTIVE"], 2, "{stats}");

    api.node.refresh_gauges().await; // the node's gauges are read off the request path
    let (status, metrics) = api.get("/metrics").await;
    assert_eq!(status, 200);
    let text = metrics.as_str().unwrap();
    for name in [
        "aeon_jobs_total{outcome=\"succeeded\"}",
        "aeon_claim_duration_seconds_bucket",
        "aeon_run_duration_seconds_count",
        "aeon_queue_depth{status=\"COMPLETED\"} 1",
        "aeon_worker_health{",
        "aeon_worker_restarts_total",
        "aeon_rescued_jobs_total",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }

    assert_eq!(api.get("/livez").await, (200, json!({"status": "alive"})));
    assert_eq!(api.get("/readyz").await, (200, json!({"status": "ready"})));
    api.node.drain().await;
    let (status, ready) = api.get("/readyz").await;
    assert_eq!((status, ready["status"].as_str()), (503, Some("unready")));
    assert!(ready["reason"].as_str().unwrap().contains("draining"));
    assert_eq!(api.get("/livez").await.0, 200, "a draining node is alive");
    api.stop().await;
}

#[actix_rt::test]
async fn the_openapi_document_is_served_committed_and_covers_every_route() {
    let api = ApiNode::start(|_| {}).await;
    let (status, served) = api.get("/openapi.json").await;
    assert_eq!(status, 200);
    let generated: Value = serde_json::from_str(&aeon::api::openapi::document()).unwrap();
    assert_eq!(served, generated);
    let committed_path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    if std::env::var_os("AEON_UPDATE_OPENAPI").is_some() {
        std::fs::write(committed_path, aeon::api::openapi::document() + "\n").unwrap();
    }
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(committed_path).unwrap()).unwrap();
    assert_eq!(committed, generated, "docs/openapi.json is stale: run AEON_UPDATE_OPENAPI=1 cargo test openapi");

    // Every documented operation is served: an unknown id is fine (404 naming it), but
    // neither "no such route" nor 405 (the path routed for other methods only) is.
    let id = uuid::Uuid::new_v4().to_string();
    for (path, item) in generated["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", &id).replace("{job_id}", &id);
        for method in item.as_object().unwrap().keys() {
            let (status, answer) = api.call(&method.to_uppercase(), &concrete, Some("{}".into()), None).await;
            assert_ne!(status, 405, "{method} {path} is documented but not routed: {answer}");
            assert_ne!(answer["error"]["message"], "no such route", "{method} {path} is documented but not routed");
        }
    }
    api.stop().await;
}

#[actix_rt::test]
async fn workflows_run_as_dags_with_fan_in_over_the_api_and_the_cli() {
    let api = ApiNode::start(|_| {}).await;
    let body = json!({"jobs": [
        {"ref": "root", "type": "echo", "payload": "r"},
        {"ref": "left", "type": "echo", "payload": "L", "depends_on": ["root"]},
        {"ref": "right", "type": "echo", "payload": "R", "depends_on": ["root"]},
        {"type": "collect", "depends_on": ["left", "right"]},
    ]});
    let (status, batch) = api.post("/v1/jobs/batch", &body.to_string()).await;
    assert_eq!(status, 201, "{batch}");
    let ids: Vec<String> =
        batch["job_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    let sink = api.until_finished(&ids[3]).await;
    assert_eq!(sink["status"], "COMPLETED");
    let mut seen: Vec<Value> =
        sink["result"]["dependencies"].as_array().unwrap().iter().map(|d| d["result"].clone()).collect();
    seen.sort_by_key(|v| v.to_string());
    assert_eq!(seen, [json!("L"), json!("R")], "the sink saw both results");
    let mut depends_on: Vec<&str> =
        sink["depends_on"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    depends_on.sort();
    let mut mids = vec![ids[1].as_str(), ids[2].as_str()];
    mids.sort();
    assert_eq!(depends_on, mids);
    let (_, root) = api.get(&format!("/v1/jobs/{}", ids[0])).await;
    assert_eq!(root["dependents"].as_array().unwrap().len(), 2);

    let (status, workflow) = api.get(&format!("/v1/workflows/{}", ids[0])).await;
    assert_eq!(status, 200);
    assert_eq!(workflow["jobs"].as_array().unwrap().len(), 4);
    assert!(workflow["jobs"].as_array().unwrap().iter().all(|j| j["status"] == "COMPLETED"));
    assert_eq!(api.get(&format!("/v1/workflows/{}", uuid::Uuid::new_v4())).await.0, 404);

    let unknown = json!({"type": "noop", "depends_on": [uuid::Uuid::new_v4()]});
    let (status, answer) = api.post("/v1/jobs", &unknown.to_string()).await;
    assert_eq!((status, answer["error"]["field"].as_str()), (422, Some("depends_on")), "{answer}");
    let cycle = json!({"jobs": [{"ref": "a", "type": "noop", "depends_on": ["b"]}, {"ref": "b", "type": "noop", "depends_on": ["a"]}]});
    let (status, answer) = api.post("/v1/jobs/batch", &cycle.to_string()).await;
    assert_eq!(status, 422);
    assert!(answer["error"]["message"].as_str().unwrap().contains("cycle"), "{answer}");

    // The CLI: submit with --depends-on, print the tree.
    let run = |args: Vec<String>| {
        let url = api.url();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_aeon"))
                .args(&args)
                .env("AEON_URL", url)
                .env_remove("AEON_TOKEN")
                .output()
                .unwrap()
        })
    };
    let args = ["job", "submit", "--type", "noop", "--depends-on", &ids[3]].map(String::from).to_vec();
    let out = run(args).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("PENDING"), "its dependency is done");
    let out = run(["job", "tree", ids[0].as_str()].map(String::from).to_vec()).await.unwrap();
    let tree = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(tree.starts_with(&format!("{} echo COMPLETED", ids[0])), "{tree}");
    assert!(tree.contains(&format!("\n  {} echo", ids[1])), "{tree}");
    assert!(tree.contains(&format!("\n    {} collect", ids[3])), "{tree}");
    assert!(tree.contains("(see above)"), "the sink under its second parent: {tree}");
    api.stop().await;
}
