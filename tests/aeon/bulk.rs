//! Filters and bulk actions (the dashboard's and `aeon job cancel --filter`'s): the
//! store contract on both backends, then the API (`POST /v1/jobs/bulk`) and the CLI.

use std::time::Duration;

use aeon::clock::Clock;
use aeon::job::{ExecutionStatus, JobStatus};
use aeon::store::{ApplyBulkParams, BulkAction, Failure, HealthHistoryParams, JobFilter};
use serde_json::{Value, json};

use crate::common::api::ApiNode;
use crate::common::{TestDb, claim, clock, exact_backoff, job_with, new_job, on_every_backend};

fn filter(f: impl FnOnce(&mut JobFilter)) -> JobFilter {
    let mut filter = JobFilter { limit: 100, ..JobFilter::default() };
    f(&mut filter);
    filter
}

async fn filters_narrow_by_status_type_time_and_text_and_page_by_id(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let started = chrono::Utc::now() - chrono::TimeDelta::milliseconds(5);
    let mut jobs: Vec<_> = (0..5).map(|i| new_job("echo", json!({"n": i, "note": "haystack"}))).collect();
    jobs.push(new_job("echo", json!({"note": "a needle here"})));
    jobs.push(new_job("noop", json!({})));
    store.enqueue(jobs.clone(), clock.now()).await.unwrap();

    let all = store.job_ids(filter(|_| {})).await.unwrap();
    let mut newest_first: Vec<_> = jobs.iter().map(|j| j.job_id).collect();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(all, newest_first, "newest (highest UUIDv7) first");

    let echo = filter(|f| f.job_type = Some("echo".into()));
    assert_eq!(store.count_jobs(echo.clone()).await.unwrap(), 6);
    assert_eq!(
        store.count_jobs(JobFilter { limit: 4, ..echo.clone() }).await.unwrap(),
        4,
        "the count stops at the limit"
    );
    let needle = store.list_jobs(filter(|f| f.search = Some("needle".into()))).await.unwrap();
    assert_eq!(needle.iter().map(|j| j.job_id).collect::<Vec<_>>(), vec![jobs[5].job_id]);
    assert_eq!(store.count_jobs(filter(|f| f.statuses = vec![JobStatus::Completed])).await.unwrap(), 0);
    let both = filter(|f| f.statuses = vec![JobStatus::Pending, JobStatus::Completed]);
    assert_eq!(store.count_jobs(both).await.unwrap(), 7);

    // Keyset paging: three pages of 3, 3 and 1, no job twice.
    let mut seen: Vec<uuid::Uuid> = Vec::new();
    let mut before = None;
    loop {
        let page = store.job_ids(filter(|f| (f.before, f.limit) = (before, 3))).await.unwrap();
        seen.extend(&page);
        if page.len() < 3 {
            break;
        }
        before = page.last().copied();
    }
    assert_eq!(seen, newest_first);

    // Creation time ranges are id ranges.
    let later = chrono::Utc::now() + chrono::TimeDelta::seconds(1);
    assert_eq!(store.count_jobs(filter(|f| f.created_from = Some(started))).await.unwrap(), 7);
    assert_eq!(store.count_jobs(filter(|f| f.created_from = Some(later))).await.unwrap(), 0);
    assert_eq!(store.count_jobs(filter(|f| f.created_until = Some(started))).await.unwrap(), 0);
    let chosen = vec![jobs[0].job_id, jobs[6].job_id];
    assert_eq!(store.count_jobs(filter(|f| f.job_ids = chosen.clone())).await.unwrap(), 2);
    assert_eq!(store.pending_by_type().await.unwrap(), vec![("echo".to_string(), 6), ("noop".to_string(), 1)]);
}

async fn bulk_actions_change_only_the_jobs_they_fit(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let parent = new_job("echo", json!({"role": "parent"}));
    let child = job_with(|r| r.depends_on = Some(vec![parent.job_id.to_string()]));
    let later = job_with(|r| r.run_at = Some((clock.now() + chrono::TimeDelta::hours(1)).to_rfc3339()));
    let dead = new_job("echo", json!({"role": "dead"}));
    let running = new_job("echo", json!({"role": "running"}));
    store.enqueue(vec![dead.clone()], clock.now()).await.unwrap();
    let run = claim(&store, 1, &clock).await.remove(0);
    let failure =
        Failure { claim: run.claim_ref(), status: ExecutionStatus::Failed, error: "boom".into(), permanent: true };
    store.fail(vec![failure], clock.now()).await.unwrap();
    store.enqueue(vec![running.clone()], clock.now()).await.unwrap();
    let held = claim(&store, 1, &clock).await.remove(0);
    assert_eq!(held.job_id, running.job_id);
    store.enqueue(vec![parent.clone(), child.clone(), later.clone()], clock.now()).await.unwrap();
    let every = vec![parent.job_id, child.job_id, later.job_id, dead.job_id, running.job_id];

    // Requeue touches only the dead letter, and closes its entry.
    let requeued = store
        .apply_bulk(ApplyBulkParams { action: BulkAction::Requeue, job_ids: every.clone() }, clock.now())
        .await
        .unwrap();
    assert_eq!(requeued, vec![dead.job_id]);
    let back = store.get_job(dead.job_id).await.unwrap().unwrap();
    assert_eq!((back.status, back.attempts), (JobStatus::Pending, 0));
    assert!(store.dead_letters(10, None).await.unwrap().is_empty());

    // Retry-now makes pending jobs due: the one scheduled in an hour is claimable now.
    let due = store
        .apply_bulk(
            ApplyBulkParams { action: BulkAction::RetryNow, job_ids: vec![later.job_id, running.job_id] },
            clock.now(),
        )
        .await
        .unwrap();
    assert_eq!(due, vec![later.job_id], "a running job is not pending");
    assert!(store.get_job(later.job_id).await.unwrap().unwrap().scheduled_at <= clock.now());

    // Cancel: every unfinished job; the running attempt is recorded, the dependent of a
    // cancelled parent is cancelled by its policy (it was cancelled here anyway).
    clock.advance(Duration::from_millis(5));
    let mut cancelled = store
        .apply_bulk(ApplyBulkParams { action: BulkAction::Cancel, job_ids: every.clone() }, clock.now())
        .await
        .unwrap();
    cancelled.sort();
    let mut expected = every.clone();
    expected.sort();
    assert_eq!(cancelled, expected);
    for id in &every {
        assert_eq!(store.get_job(*id).await.unwrap().unwrap().status, JobStatus::Cancelled, "{id}");
    }
    let attempts = store.executions(running.job_id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].execution_status, ExecutionStatus::Cancelled);
    // Nothing is left to change: a second run changes nothing.
    assert!(
        store
            .apply_bulk(ApplyBulkParams { action: BulkAction::Cancel, job_ids: every }, clock.now())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_bulk_cancel_applies_the_dependents_policy(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let parent = new_job("echo", json!({}));
    let child = job_with(|r| r.depends_on = Some(vec![parent.job_id.to_string()]));
    store.enqueue(vec![parent.clone(), child.clone()], clock.now()).await.unwrap();
    let cancelled = store
        .apply_bulk(ApplyBulkParams { action: BulkAction::Cancel, job_ids: vec![parent.job_id] }, clock.now())
        .await
        .unwrap();
    assert_eq!(cancelled, vec![parent.job_id]);
    let child = store.get_job(child.job_id).await.unwrap().unwrap();
    assert_eq!(child.status, JobStatus::Cancelled, "the default policy cancels the dependent");
}

on_every_backend!(
    filters_narrow_by_status_type_time_and_text_and_page_by_id,
    bulk_actions_change_only_the_jobs_they_fit,
    a_bulk_cancel_applies_the_dependents_policy,
);

// --- the API ----------------------------------------------------------------------

/// Submits `n` jobs of `job_type` that fail at once and waits until they are dead.
async fn dead_letters(api: &ApiNode, job_type: &str, n: usize) -> Vec<String> {
    let jobs: Vec<Value> =
        (0..n).map(|i| json!({"type": job_type, "payload": {"i": i, "message": "boom"}, "max_retries": 0})).collect();
    let (status, body) = api.post("/v1/jobs/batch", &json!({ "jobs": jobs }).to_string()).await;
    assert_eq!(status, 201, "{body}");
    let ids: Vec<String> =
        body["job_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    for id in &ids {
        assert_eq!(api.until_finished(id).await["status"], "DEAD_LETTER");
    }
    ids
}

#[actix_rt::test]
async fn a_bulk_requeue_previews_then_changes_the_filtered_dead_letters_in_batches() {
    let api = ApiNode::start(|_| {}).await;
    dead_letters(&api, "fail", 3).await;
    let target = json!({"action": "requeue", "filter": {"status": "DEAD_LETTER", "type": "fail"}, "preview": true});
    let (status, preview) = api.post("/v1/jobs/bulk", &target.to_string()).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!((preview["matched"].as_u64(), preview["changed"].as_u64()), (Some(3), Some(0)));
    let (_, still) = api.get("/v1/jobs?status=DEAD_LETTER").await;
    assert_eq!(still["jobs"].as_array().unwrap().len(), 3, "a preview changes nothing");

    let run = json!({"action": "requeue", "filter": {"type": "fail"}});
    let (status, done) = api.post("/v1/jobs/bulk", &run.to_string()).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (done["matched"].as_u64(), done["changed"].as_u64(), done["batches"].as_u64()),
        (Some(3), Some(3), Some(1))
    );
    api.stop().await;
}

#[actix_rt::test]
async fn a_bad_bulk_request_is_refused_naming_the_field_and_changes_nothing() {
    let api = ApiNode::start(|_| {}).await;
    dead_letters(&api, "fail", 2).await;
    let cases = [
        (json!({"action": "requeue", "filter": {"status": "DONE"}}), "filter.status"),
        (json!({"action": "requeue", "filter": {"status": "COMPLETED"}}), "filter.status"),
        (json!({"action": "requeue", "filter": {"type": "no spaces allowed"}}), "filter.type"),
        (json!({"action": "requeue", "filter": {"since": "yesterday"}}), "filter.since"),
        (json!({"action": "requeue", "filter": {"search": "x".repeat(201)}}), "filter.search"),
        (json!({"action": "requeue"}), "filter"),
        (json!({"action": "requeue", "filter": {}, "job_ids": []}), "filter"),
        (json!({"action": "requeue", "job_ids": []}), "job_ids"),
        (json!({"action": "explode", "filter": {}}), "action"),
        (json!({"action": "requeue", "filter": {"colour": "red"}}), "colour"),
    ];
    for (body, field) in cases {
        let (status, answer) = api.post("/v1/jobs/bulk", &body.to_string()).await;
        assert_eq!(status, 422, "{body} -> {answer}");
        assert!(answer["error"]["field"].as_str().unwrap_or("").starts_with(field), "{body} -> {answer}");
    }
    let (status, _) = api.post("/v1/jobs/bulk", "{not json").await;
    assert_eq!(status, 400);
    let (_, dead) = api.get("/v1/jobs?status=DEAD_LETTER").await;
    assert_eq!(dead["jobs"].as_array().unwrap().len(), 2, "nothing changed");
    api.stop().await;
}

#[actix_rt::test]
async fn the_job_listing_filters_by_type_time_and_search_and_refuses_a_bad_filter() {
    let api = ApiNode::start(|_| {}).await;
    let batch = json!({"jobs": [
        {"type": "noop", "payload": {"tag": "alpha"}, "run_at": "2999-01-01T00:00:00Z"},
        {"type": "noop", "payload": {"tag": "beta"}, "run_at": "2999-01-01T00:00:00Z"},
        {"type": "echo", "payload": {"tag": "alpha"}, "run_at": "2999-01-01T00:00:00Z"},
    ]});
    assert_eq!(api.post("/v1/jobs/batch", &batch.to_string()).await.0, 201);
    let count = |body: &Value| body["jobs"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(count(&api.get("/v1/jobs?type=noop").await.1), 2);
    assert_eq!(count(&api.get("/v1/jobs?search=alpha").await.1), 2);
    assert_eq!(count(&api.get("/v1/jobs?type=noop&search=alpha").await.1), 1);
    assert_eq!(count(&api.get("/v1/jobs?since=2999-01-01T00:00:00Z").await.1), 0);
    assert_eq!(count(&api.get("/v1/jobs?until=2000-01-01T00:00:00Z").await.1), 0);
    assert_eq!(count(&api.get("/v1/jobs?status=&type=&search=").await.1), 3, "empty fields do not narrow");
    for (query, field) in [
        ("since=soon", "since"),
        ("status=NOPE", "status"),
        ("until=2000-01-01T00:00:00Z&since=2001-01-01T00:00:00Z", "until"),
    ] {
        let (status, body) = api.get(&format!("/v1/jobs?{query}")).await;
        assert_eq!((status, body["error"]["field"].as_str()), (400, Some(field)), "{query}: {body}");
    }

    // Retry-now makes the scheduled jobs due: they run.
    let (status, done) =
        api.post("/v1/jobs/bulk", &json!({"action": "retry_now", "filter": {"type": "noop"}}).to_string()).await;
    assert_eq!((status, done["changed"].as_u64()), (200, Some(2)), "{done}");
    let (_, page) = api.get("/v1/jobs?type=noop").await;
    for job in page["jobs"].as_array().unwrap() {
        api.until_finished(job["job_id"].as_str().unwrap()).await;
    }
    // Cancel by selection: only the unfinished one of the two changes.
    let (_, echo) = api.get("/v1/jobs?type=echo").await;
    let ids = vec![echo["jobs"][0]["job_id"].clone(), page["jobs"][0]["job_id"].clone()];
    let (status, done) = api.post("/v1/jobs/bulk", &json!({"action": "cancel", "job_ids": ids}).to_string()).await;
    assert_eq!((status, done["matched"].as_u64(), done["changed"].as_u64()), (200, Some(1), Some(1)), "{done}");
    api.stop().await;
}

#[actix_rt::test]
async fn a_read_only_token_reads_everything_and_writes_nothing() {
    let api = ApiNode::start(|c| {
        c.api.token = "writer-secret".into();
        c.api.read_token = "reader-secret".into();
    })
    .await;
    let (status, session) = api.call("GET", "/v1/session", None, Some("reader-secret")).await;
    assert_eq!((status, session["access"].as_str()), (200, Some("read")));
    let (_, session) = api.call("GET", "/v1/session", None, Some("writer-secret")).await;
    assert_eq!(session["access"], "write");
    for path in ["/v1/jobs", "/v1/stats", "/v1/stats/history", "/v1/workers", "/v1/dead-letters"] {
        assert_eq!(api.call("GET", path, None, Some("reader-secret")).await.0, 200, "{path}");
    }
    let submit = json!({"type": "noop", "payload": {}}).to_string();
    let (status, body) = api.call("POST", "/v1/jobs", Some(submit.clone()), Some("reader-secret")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("read_only")));
    let bulk = json!({"action": "cancel", "filter": {}, "preview": true}).to_string();
    assert_eq!(api.call("POST", "/v1/jobs/bulk", Some(bulk), Some("reader-secret")).await.0, 403);
    assert_eq!(api.call("GET", "/v1/jobs", None, Some("wrong")).await.0, 401);
    assert_eq!(api.call("GET", "/v1/jobs", None, None).await.0, 401);
    let (_, jobs) = api.call("GET", "/v1/jobs", None, Some("writer-secret")).await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0, "the refused submit wrote nothing");
    assert_eq!(api.call("POST", "/v1/jobs", Some(submit), Some("writer-secret")).await.0, 201);
    api.stop().await;
}

#[actix_rt::test]
async fn the_dashboard_files_are_served_without_a_token() {
    let api = ApiNode::start(|c| c.api.token = "secret".into()).await;
    let csp = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
               connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
    // Every file of the dashboard the server routes: the page, its scripts (app.js and
    // the modules it imports), its style sheet.
    let files: Vec<&str> =
        aeon::api::routes::ROUTES.iter().map(|r| r.path).filter(|p| *p == "/ui" || p.starts_with("/ui/")).collect();
    for expected in ["/ui", "/ui/", "/ui/app.js", "/ui/app.css"] {
        assert!(files.contains(&expected), "{expected} is routed: {files:?}");
    }
    for path in files {
        let (kind, starts) = match path.rsplit_once('.') {
            Some((_, "js")) => ("text/javascript; charset=utf-8", ""),
            Some((_, "css")) => ("text/css; charset=utf-8", ""),
            _ => ("text/html; charset=utf-8", "<!doctype html>"),
        };
        let url = format!("{}{path}", api.url());
        let (status, headers, body) = tokio::task::spawn_blocking(move || {
            let mut response = ureq::get(&url).call().expect("an answer");
            let headers = response.headers().clone();
            (response.status().as_u16(), headers, response.body_mut().read_to_string().unwrap())
        })
        .await
        .unwrap();
        assert_eq!(status, 200, "{path}");
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        assert_eq!(header("content-type").as_deref(), Some(kind), "{path}");
        assert!(body.len() > 100 && body.to_lowercase().starts_with(starts), "{path}: {body:.80}");
        // What the page may load, and the headers that keep it from being sniffed,
        // framed or leaking its address.
        assert_eq!(header("content-security-policy").as_deref(), Some(csp), "{path}");
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
        assert_eq!(header("referrer-policy").as_deref(), Some("no-referrer"), "{path}");
        assert_eq!(header("cache-control").as_deref(), Some("no-cache"), "{path}");
    }
    api.stop().await;
}

/// The dashboard's scripts are ES modules that import each other by relative path:
/// each file under `src/ui/assets/` is routed at `/ui/<file>`, and each module imported
/// is one of them (a page added without its route would fail only in a browser).
#[test]
fn every_dashboard_script_is_routed_and_every_import_is_one_of_them() {
    let assets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ui/assets");
    let scripts: Vec<String> = std::fs::read_dir(&assets)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".js"))
        .collect();
    assert!(scripts.len() > 1, "{scripts:?}");
    for name in &scripts {
        let path = format!("/ui/{name}");
        assert!(
            aeon::api::routes::ROUTES.iter().any(|r| (r.method, r.path) == ("GET", path.as_str())),
            "{path} is not routed (src/api/routes.rs, src/ui/mod.rs)"
        );
        let text = std::fs::read_to_string(assets.join(name)).unwrap();
        for import in text.split(" from \"./").skip(1) {
            let imported = &import[..import.find('"').unwrap()];
            assert!(scripts.iter().any(|s| s == imported), "{name} imports ./{imported}, which is not a script here");
        }
    }
}

// --- the CLI ----------------------------------------------------------------------

/// Runs `aeon <args>` against `url` off the actors' thread: (exit code, stdout, stderr).
async fn aeon(url: &str, args: &[&str]) -> (i32, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_aeon"));
    command.args(args).env("AEON_URL", url).env_remove("AEON_TOKEN");
    let out = tokio::task::spawn_blocking(move || command.output().expect("run aeon")).await.unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[actix_rt::test]
async fn the_cli_requeues_and_cancels_in_bulk_after_a_preview() {
    let api = ApiNode::start(|_| {}).await;
    let url = api.url();
    dead_letters(&api, "fail", 2).await;

    // Without --yes (and no terminal to ask on) nothing changes: exit 2.
    let (code, _, stderr) = aeon(&url, &["dlq", "requeue", "--all", "--type", "fail"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("2 job(s)") && stderr.contains("--yes"), "{stderr}");
    assert_eq!(api.get("/v1/jobs?status=DEAD_LETTER").await.1["jobs"].as_array().unwrap().len(), 2);

    let (code, stdout, stderr) = aeon(&url, &["dlq", "requeue", "--all", "--type", "fail", "--yes"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("2 job(s) changed"), "{stdout}");

    let later = json!({"type": "noop", "payload": {}, "run_at": "2999-01-01T00:00:00Z"});
    for _ in 0..3 {
        assert_eq!(api.post("/v1/jobs", &later.to_string()).await.0, 201);
    }
    let (code, stdout, stderr) =
        aeon(&url, &["job", "cancel", "--filter", "type=noop", "--filter", "status=PENDING", "--yes", "--json"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap()["changed"], 3, "{stdout}");
    let (code, _, stderr) = aeon(&url, &["job", "cancel", "--filter", "colour=red", "--yes"]).await;
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = aeon(&url, &["job", "cancel", "--filter", "status=COMPLETED", "--yes"]).await;
    assert!(code == 2 && stderr.contains("filter.status"), "{code} {stderr}");
    api.stop().await;
}

async fn a_workers_health_history_reads_newest_first(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let worker = uuid::Uuid::new_v4();
    let logs = (0..5)
        .map(|i| aeon::store::HealthLog {
            worker_id: worker,
            metric_type: if i == 4 { "load".into() } else { "health_score".into() },
            metric_value: 0.5 + f64::from(i) / 10.0,
            metadata: json!({}),
            logged_at: clock.now() + chrono::TimeDelta::seconds(i.into()),
        })
        .collect();
    store.write_health_logs(logs).await.unwrap();
    let samples = store
        .health_history(HealthHistoryParams { worker_id: worker, metric_type: "health_score".into(), limit: 2 })
        .await
        .unwrap();
    let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    assert_eq!(values, vec![0.8, 0.7]);
    assert!(samples[0].logged_at > samples[1].logged_at);
    assert!(
        store
            .health_history(HealthHistoryParams {
                worker_id: uuid::Uuid::new_v4(),
                metric_type: "health_score".into(),
                limit: 2
            })
            .await
            .unwrap()
            .is_empty()
    );
}

on_every_backend!(a_workers_health_history_reads_newest_first);
