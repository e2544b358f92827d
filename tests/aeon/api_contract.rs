//! The API keeps its word: payload numbers are kept exactly or refused by path, the
//! OpenAPI document is valid and declares what the server enforces, a routed path
//! answers other methods with 405 and `Allow`, jobs nobody can run are pointed out,
//! and `/metrics` is well-formed OpenMetrics served from memory.

use std::time::{Duration, Instant};

use aeon::clock::Clock;
use serde_json::{Value, json};

use crate::common::api::ApiNode;
use crate::common::{TestDb, clock, exact_backoff, new_job, on_every_backend, postgres_only};

/// A request with any method; answers (status, `Allow` header, body text).
async fn raw(url: String, method: &'static str, body: Option<String>) -> (u16, Option<String>, String) {
    tokio::task::spawn_blocking(move || {
        // Bounded, so an answer held up (by a locked table, say) fails the test instead of hanging it.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("content-type", "application/json")
            .body(body.unwrap_or_default())
            .expect("a request");
        let mut response = agent.run(request).unwrap_or_else(|e| panic!("{method} {url}: no answer: {e}"));
        let allow = response.headers().get("allow").map(|v| v.to_str().unwrap().to_string());
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (response.status().as_u16(), allow, text)
    })
    .await
    .unwrap()
}

/// Runs a Python check that needs `module` (a PyPI package `.ci/run` installs). Without
/// the module the check is skipped with a note — except under CI, where it fails.
fn python_check(module: &str, script: &str, arg: &str) -> Option<std::process::Output> {
    let present = std::process::Command::new("python3").args(["-c", &format!("import {module}")]).output();
    if !present.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run this check: python3 cannot import {module} (.ci/run installs it)"
        );
        eprintln!("skipped: python3 cannot import {module} (pip install it to run this check)");
        return None;
    }
    Some(std::process::Command::new("python3").args(["-c", script, arg]).output().expect("run python3"))
}

#[actix_rt::test]
async fn payload_numbers_are_stored_exactly_or_refused_naming_the_field() {
    let api = ApiNode::start(|_| {}).await;
    // Numbers no u64, i64 or f64 holds exactly: refused by path, nothing written.
    let single = [
        (r#"{"type":"echo","payload":{"amount":1180591620717411303424}}"#, "payload.amount"),
        (r#"{"type":"echo","payload":{"rate":1.00000000000000000001}}"#, "payload.rate"),
        (r#"{"type":"echo","payload":[1, {"x": 1e400}]}"#, "payload[1].x"),
    ];
    for (body, field) in single {
        let (status, answer) = api.post("/v1/jobs", body).await;
        assert_eq!((status, answer["error"]["field"].as_str()), (422, Some(field)), "{body}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains("cannot be stored exactly"), "{answer}");
    }
    let batch = r#"{"jobs":[{"type":"noop"},{"type":"noop","payload":{}},
        {"type":"echo","payload":{"x":[0, 1, 2, 1.00000000000000000001]}}]}"#;
    let (status, answer) = api.post("/v1/jobs/batch", batch).await;
    assert_eq!((status, answer["error"]["field"].as_str()), (422, Some("jobs[2].payload.x[3]")), "{answer}");
    assert_eq!(api.db.count("SELECT COUNT(*) FROM jobs").await, 0, "nothing was written");

    // Numbers that fit come back as the same numbers, in the payload and in the
    // echo handler's result, submitted alone or in a batch.
    let payload = r#"{"u64":18446744073709551615,"i64":-9223372036854775808,"tenth":0.1,
        "sum":0.30000000000000004,"max":1.7976931348623157e308,"tiny":5e-324,"hundred":1e2,"list":[1.5,-2,0]}"#;
    let expected: Value = serde_json::from_str(payload).unwrap();
    let (status, one) = api.post("/v1/jobs", &format!(r#"{{"type":"echo","payload":{payload}}}"#)).await;
    assert_eq!(status, 201, "{one}");
    let (status, many) =
        api.post("/v1/jobs/batch", &format!(r#"{{"jobs":[{{"type":"echo","payload":{payload}}}]}}"#)).await;
    assert_eq!(status, 201, "{many}");
    for id in [one["job_id"].as_str().unwrap(), many["job_ids"][0].as_str().unwrap()] {
        api.until_finished(id).await;
        let (status, _, text) = raw(format!("{}/v1/jobs/{id}", api.url()), "GET", None).await;
        assert_eq!(status, 200);
        assert_eq!(aeon::job::inexact_number(text.as_bytes()), None, "every number answered is exact: {text}");
        for literal in
            ["18446744073709551615", "-9223372036854775808", "0.30000000000000004", "1.7976931348623157e+308", "5e-324"]
        {
            assert_eq!(text.matches(literal).count(), 2, "{literal} in the payload and the result: {text}");
        }
        let job: Value = serde_json::from_str(&text).unwrap();
        assert_eq!((&job["payload"], &job["result"]), (&expected, &expected));
    }

    // The CLI refuses such a payload before sending it (parsed, it would be changed).
    let out = tokio::task::spawn_blocking({
        let url = api.url();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_aeon"))
                .args(["job", "submit", "--type", "echo", "--payload", r#"{"a":[18446744073709551616]}"#])
                .env("AEON_URL", url)
                .env_remove("AEON_TOKEN")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("payload.a[0]"), "{out:?}");
    api.stop().await;
}

/// Both backends give back the numbers serde_json wrote, digit for digit.
async fn payload_numbers_round_trip_exactly_in_the_store(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let payload = json!({
        "u64": u64::MAX, "i64": i64::MIN, "tenth": 0.1, "sum": 0.1 + 0.2, "max": f64::MAX,
        "tiny": 5e-324, "big": 1e300, "small": -2.5e-300, "nested": [[1.5], {"x": 9007199254740993u64}],
    });
    let job = new_job("echo", payload.clone());
    store.enqueue(vec![job.clone()], clock.now()).await.unwrap();
    let stored = store.get_job(job.job_id).await.unwrap().unwrap();
    assert_eq!(stored.payload.to_string(), payload.to_string());
}

on_every_backend!(payload_numbers_round_trip_exactly_in_the_store,);

#[actix_rt::test]
async fn the_openapi_document_is_valid_and_declares_what_the_server_enforces() {
    let doc: Value = serde_json::from_str(&aeon::api::openapi::document()).unwrap();
    let script =
        "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))";
    let path = std::env::temp_dir().join(format!("aeon-openapi-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, aeon::api::openapi::document()).unwrap();
    if let Some(out) = python_check("openapi_spec_validator", script, path.to_str().unwrap()) {
        assert!(out.status.success(), "not valid OpenAPI 3.1:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    std::fs::remove_file(&path).ok();

    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (code, response) in operation["responses"].as_object().unwrap() {
                assert!(response["description"].is_string(), "{method} {path} {code} has no description");
            }
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if parameter["in"] == "path" && !path.starts_with("/v1/nodes/") {
                    assert_eq!(parameter["schema"]["format"], "uuid", "{method} {path}: {parameter}");
                }
                if parameter["name"] == "limit"
                    && ["/v1/jobs", "/v1/dead-letters", "/v1/snapshots"].contains(&path.as_str())
                {
                    assert_eq!(
                        (&parameter["schema"]["minimum"], &parameter["schema"]["maximum"]),
                        (&json!(1), &json!(1000))
                    );
                }
            }
        }
    }
    let schemas = &doc["components"]["schemas"];
    let request = &schemas["JobRequest"]["properties"];
    assert_eq!(request["type"]["pattern"], "^[a-z0-9_.-]{1,64}$");
    assert_eq!((&request["type"]["minLength"], &request["type"]["maxLength"]), (&json!(1), &json!(64)));
    assert_eq!((&request["max_retries"]["minimum"], &request["max_retries"]["maximum"]), (&json!(0), &json!(100)));
    assert_eq!(request["timeout_ms"]["minimum"], 1);
    assert_eq!(request["timeout_ms"]["maximum"], i32::MAX);
    assert_eq!(request["run_at"]["format"], "date-time");
    assert_eq!(request["payload"]["$ref"], "#/components/schemas/JsonValue");
    let jobs = &schemas["BatchRequest"]["properties"]["jobs"];
    assert_eq!((&jobs["minItems"], &jobs["maxItems"]), (&json!(1), &json!(10_000)));
    // A job's JSON is any JSON, going in and coming out.
    for view in ["JobView", "DeadLetterView"] {
        assert_eq!(schemas[view]["properties"]["payload"]["$ref"], "#/components/schemas/JsonValue", "{view}");
    }
    assert_eq!(schemas["JobView"]["properties"]["result"]["$ref"], "#/components/schemas/JsonValue");
    assert_eq!(schemas["BulkRequest"]["properties"]["action"]["enum"], json!(["cancel", "retry_now", "requeue"]));
    assert_eq!(schemas["CreateSnapshot"]["properties"]["type"]["enum"], json!(["FULL", "INCREMENTAL", "AUTO"]));
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    // Every /v1 operation needs the token and says what its absence, a read-only token
    // and a store that does not answer get; every body may be malformed or too large.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let codes: Vec<&str> = operation["responses"].as_object().unwrap().keys().map(String::as_str).collect();
            let mut expected = Vec::new();
            if path.starts_with("/v1/") {
                assert_eq!(operation["security"], json!([{"bearer": []}]), "{method} {path}");
                expected.extend(["401", "503"]);
                if method != "get" {
                    expected.push("403");
                }
            }
            if operation.get("requestBody").is_some() {
                expected.extend(["400", "413"]);
            }
            if path.contains('{') {
                expected.push("400");
            }
            for code in expected {
                assert!(codes.contains(&code), "{method} {path} does not document {code}: {codes:?}");
            }
        }
    }
    assert!(schemas["Submitted"]["properties"]["warnings"].is_object());
    assert!(schemas["Stats"]["properties"]["unhandled_types"].is_object());

    // What the document calls valid, the server takes: the bounds themselves.
    let api = ApiNode::start(|_| {}).await;
    let edge = json!({"type": "a".repeat(64), "payload": {"n": i64::MIN}, "priority": i32::MIN, "max_retries": 100,
                      "timeout_ms": i32::MAX, "idempotency_key": "é".repeat(255), "run_at": "2999-01-01T00:00:00Z"});
    let (status, answer) = api.post("/v1/jobs", &edge.to_string()).await;
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = api.get("/v1/jobs?limit=1000&status=PENDING").await;
    assert_eq!(status, 200, "{answer}");
    let (_, served) = api.get("/openapi.json").await;
    assert_eq!(served, doc);
    api.stop().await;
}

/// An error answer quotes at most a bounded part of what was sent, however large, and
/// a body nested deeper than the parser's limit is malformed (400), not invalid (422).
#[actix_rt::test]
async fn error_answers_are_bounded_and_too_deep_a_body_is_malformed() {
    let api = ApiNode::start(|_| {}).await;
    let huge = "x".repeat(3_000_000);
    // The field named is the one at fault; an unknown field's name is itself cut.
    for (body, field) in [
        (json!({"type": huge}).to_string(), "type"),
        (json!({"type": "noop", "run_at": huge}).to_string(), "run_at"),
        (format!(r#"{{"type":"noop","{huge}":1}}"#), "xxxxxxxx"),
    ] {
        let (status, _, text) = raw(format!("{}/v1/jobs", api.url()), "POST", Some(body)).await;
        assert_eq!(status, 422, "{text:.300}");
        assert!(text.len() < 2_000, "a {} byte answer: {text:.300}", text.len());
        let error: Value = serde_json::from_str(&text).unwrap();
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.ends_with(" more characters]"), "the cut is marked: {message}");
        let given = error["error"]["field"].as_str().unwrap();
        assert!(given.starts_with(field) && given.len() < 300, "{given:.300}");
    }
    // The body's object, and the payload's arrays inside it: a payload deeper than a
    // stored value may be is a field that does not fit (422), a body deeper than the
    // parser reads is malformed (400).
    let deep = |depth: usize| format!(r#"{{"type":"noop","payload":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
    let (status, answer) = api.post("/v1/jobs", &deep(aeon::job::MAX_NESTING)).await;
    assert_eq!(status, 201, "as deep as a payload may be: {answer}");
    let (status, answer) = api.post("/v1/jobs", &deep(126)).await;
    assert_eq!((status, answer["error"]["field"].as_str()), (422, Some("payload")), "{answer}");
    for depth in [127, 10_000] {
        let (status, answer) = api.post("/v1/jobs", &deep(depth)).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("malformed_json")), "{depth}: {answer}");
        assert_eq!(answer["error"]["field"], "body");
    }
    api.stop().await;
}

/// Routes the OpenAPI document does not describe, on purpose: the document itself,
/// and the dashboard (`/ui`, `/ui/`, and its files under `/ui/`: the script modules and
/// the style sheet).
fn undocumented(method: &str, path: &str) -> bool {
    method == "GET" && (path == "/openapi.json" || path == "/ui" || path.starts_with("/ui/"))
}

#[test]
fn the_document_describes_exactly_the_routes_the_server_registers() {
    let doc: Value = serde_json::from_str(&aeon::api::openapi::document()).unwrap();
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone())))
        .collect();
    documented.sort();
    let mut routed: Vec<(String, String)> = aeon::api::routes::ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .filter(|(m, p)| !undocumented(m, p))
        .collect();
    routed.sort();
    let missing: Vec<_> = documented.iter().filter(|d| !routed.contains(d)).collect();
    let extra: Vec<_> = routed.iter().filter(|r| !documented.contains(r)).collect();
    assert!(missing.is_empty(), "documented but not routed: {missing:?}");
    assert!(extra.is_empty(), "routed but not documented (nor undocumented on purpose): {extra:?}");
}

#[actix_rt::test]
async fn methods_a_path_does_not_allow_answer_405_with_allow() {
    let api = ApiNode::start(|_| {}).await;
    let id = uuid::Uuid::new_v4().to_string();
    let mut templates: Vec<&str> = aeon::api::routes::ROUTES.iter().map(|r| r.path).collect();
    templates.dedup();
    for path in templates {
        let concrete = path.replace("{id}", &id).replace("{job_id}", &id);
        let mut routed: Vec<&str> =
            aeon::api::routes::ROUTES.iter().filter(|r| r.path == path).map(|r| r.method).collect();
        routed.sort();
        assert_eq!(aeon::api::routes::allowed_methods(&concrete), Some(routed.clone()), "{path}");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if routed.contains(&method) {
                continue;
            }
            let (status, allow, body) = raw(format!("{}{concrete}", api.url()), method, None).await;
            assert_eq!(status, 405, "{method} {path}: {body}");
            let allow = allow.unwrap_or_else(|| panic!("{method} {path}: no Allow header"));
            assert_eq!(allow, routed.join(", "), "{method} {path}");
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["error"]["code"], "method_not_allowed");
        }
    }
    // A literal segment beside a parameter is its own path, never the parameter's.
    for path in ["/v1/jobs/batch", "/v1/jobs/bulk"] {
        let (status, allow, body) = raw(format!("{}{path}", api.url()), "GET", None).await;
        assert_eq!((status, allow.as_deref()), (405, Some("POST")), "GET {path}: {body}");
    }
    // A route's shape with a malformed id: 400 naming the id, whatever the method.
    for (method, path, field) in [
        ("GET", "/v1/jobs/not-a-uuid", "job_id"),
        ("POST", "/v1/jobs/batch/cancel", "job_id"),
        ("GET", "/v1/snapshots/42", "snapshot_id"),
        ("POST", "/v1/nodes/a%20b/drain", "node_id"),
    ] {
        let (status, _, body) = raw(format!("{}{path}", api.url()), method, None).await;
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!((status, body["error"]["field"].as_str()), (400, Some(field)), "{method} {path}: {body}");
    }
    let (status, allow, _) = raw(format!("{}/openapi.json", api.url()), "POST", None).await;
    assert_eq!((status, allow.as_deref()), (405, Some("GET")));
    let (status, allow, _) = raw(format!("{}/v1/nothing-here", api.url()), "PUT", None).await;
    assert_eq!((status, allow), (404, None), "an unknown path is still 404");
    api.stop().await;
}

#[actix_rt::test]
async fn jobs_of_a_type_no_live_worker_handles_are_pointed_out() {
    let api = ApiNode::start(|_| {}).await;
    let (status, answer) = api.post("/v1/jobs", r#"{"type":"nobody.runs-this"}"#).await;
    assert_eq!(status, 201, "{answer}");
    let warnings = answer["warnings"].as_array().expect("a warning");
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].as_str().unwrap().contains("\"nobody.runs-this\""), "{answer}");
    let batch = r#"{"jobs":[{"type":"noop"},{"type":"nobody.runs-this"},{"type":"nobody.runs-this"}]}"#;
    let (status, answer) = api.post("/v1/jobs/batch", batch).await;
    assert_eq!((status, answer["warnings"].as_array().map(Vec::len)), (201, Some(1)), "{answer}");
    let (_, known) = api.post("/v1/jobs", r#"{"type":"noop"}"#).await;
    assert!(known.get("warnings").is_none(), "no warning for a handled type: {known}");

    // The workers' rows say what they handle (written at each sweep).
    api.node.actors.health.send(aeon::actors::health::Sweep).await.unwrap();
    let (_, stats) = api.get("/v1/stats").await;
    assert_eq!(stats["unhandled_types"], json!([{"type": "nobody.runs-this", "pending": 3}]), "{stats}");
    let out = tokio::task::spawn_blocking({
        let url = api.url();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_aeon"))
                .arg("stats")
                .env("AEON_URL", url)
                .env_remove("AEON_TOKEN")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("no live worker handles") && shown.contains("nobody.runs-this"), "{shown}");
    api.node.refresh_gauges().await;
    let (_, metrics) = api.get("/metrics").await;
    assert!(
        metrics.as_str().unwrap().contains("aeon_unhandled_pending_jobs{type=\"nobody.runs-this\"} 3"),
        "{metrics}"
    );

    api.stop().await;
}

#[test]
fn only_live_workers_count_as_handling_a_type() {
    let now = chrono::Utc::now();
    let worker = |status, heartbeat_ago: i64, types: &[&str]| aeon::store::WorkerRecord {
        worker_id: uuid::Uuid::new_v4(),
        node_id: "n".into(),
        status,
        capacity: 1,
        current_load: 0,
        health_score: 1.0,
        failure_count: 0,
        metadata: json!({ "job_types": types }),
        last_heartbeat: Some(now - chrono::TimeDelta::seconds(heartbeat_ago)),
    };
    use aeon::store::WorkerStatus::{Active, Dead, Unhealthy};
    let workers = [
        worker(Active, 1, &["a"]),
        worker(Unhealthy, 1, &["b"]),
        worker(Dead, 1, &["c"]),
        worker(Active, 600, &["d"]), // its node stopped writing long ago
    ];
    let pending: Vec<(String, i64)> = ["a", "b", "c", "d", "e"].iter().map(|t| (t.to_string(), 2)).collect();
    let unhandled = aeon::gauges::unhandled(pending, &workers, now - chrono::TimeDelta::seconds(10));
    let types: Vec<&str> = unhandled.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["c", "d", "e"]);
}

#[actix_rt::test]
async fn metrics_are_openmetrics_text_with_every_family() {
    let api = ApiNode::start(|_| {}).await;
    let (_, done) = api.post("/v1/jobs", r#"{"type":"noop"}"#).await;
    api.until_finished(done["job_id"].as_str().unwrap()).await;
    api.node.refresh_gauges().await;
    let (status, _, text) = raw(format!("{}/metrics", api.url()), "GET", None).await;
    assert_eq!(status, 200);
    for family in [
        "# TYPE aeon_jobs counter",
        "aeon_jobs_total{outcome=\"succeeded\"} ",
        "aeon_jobs_total{outcome=\"snoozed\"} ", // every outcome, from the start (counts are process-wide)
        "# TYPE aeon_claim_duration_seconds histogram",
        "aeon_claim_duration_seconds_bucket{le=\"+Inf\"}",
        "aeon_run_duration_seconds_count",
        "aeon_worker_restarts_total",
        "aeon_rescued_jobs_total",
        "aeon_queue_depth{status=\"COMPLETED\"} 1",
        "aeon_queue_depth{status=\"WAITING\"} 0",
        "aeon_gauges_age_seconds",
        "aeon_worker_health{",
        "aeon_worker_load{",
    ] {
        assert!(text.contains(family), "{family} missing from /metrics:\n{text}");
    }
    assert!(text.ends_with("# EOF\n"), "an OpenMetrics exposition ends with # EOF");
    let script = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as parse\n\
                  names = [f.name for f in parse(open(sys.argv[1]).read())]\nprint(' '.join(names))";
    let path = std::env::temp_dir().join(format!("aeon-metrics-{}.txt", uuid::Uuid::new_v4()));
    std::fs::write(&path, &text).unwrap();
    if let Some(out) = python_check("prometheus_client", script, path.to_str().unwrap()) {
        assert!(out.status.success(), "not OpenMetrics text:\n{}\n{text}", String::from_utf8_lossy(&out.stderr));
        let names = String::from_utf8_lossy(&out.stdout);
        for family in ["aeon_jobs", "aeon_queue_depth", "aeon_worker_health", "aeon_run_duration_seconds"] {
            assert!(names.split_whitespace().any(|n| n == family), "{family} not parsed: {names}");
        }
    }
    std::fs::remove_file(&path).ok();
    api.stop().await;
}

/// With the jobs table locked from outside, `/metrics` answers at once from its cache.
async fn metrics_answer_at_once_while_the_jobs_table_is_locked(db: TestDb) {
    let api = ApiNode::start_on(db, |_| {}).await;
    api.node.refresh_gauges().await;
    let mut lock = api.db.postgres().pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.unwrap();
    // A refresh running meanwhile, stuck on the lock (bounded: it gives up after a second).
    let refreshing = Instant::now();
    let refresh = actix_rt::spawn({
        let node = api.node.clone();
        async move { node.refresh_gauges().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!refresh.is_finished(), "the refresh is stuck on the locked table while /metrics is scraped");
    let started = Instant::now();
    let (status, _, text) = raw(format!("{}/metrics", api.url()), "GET", None).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(1), "/metrics took {:?}", started.elapsed());
    assert!(!refresh.is_finished(), "/metrics answered only once the refresh had given up");
    assert!(text.contains("aeon_queue_depth{status=\"PENDING\"} 0"), "the cached depth:\n{text}");
    refresh.await.unwrap();
    assert!(refreshing.elapsed() < Duration::from_secs(3), "a refresh is bounded: {:?}", refreshing.elapsed());
    lock.rollback().await.unwrap();
    api.stop().await;
}

postgres_only!(metrics_answer_at_once_while_the_jobs_table_is_locked);
