//! The dashboard (`/ui`) in a real browser: headless Chromium against a real node.
//! Each page is loaded, filtered and screenshotted (under the test's output folder,
//! `target/tmp/dashboard/`; `docs/images/` holds copies), a filtered set of dead
//! letters is requeued in bulk and seen to complete, a read-only token sees no
//! button and has its direct write refused, and a page of another site cannot write
//! through the browser while the dashboard's own page can.
//!
//! They need `chromium` and `chromium-driver`; without them (at build time) they are
//! listed as ignored, with the reason, unless `AEON_BROWSER_TESTS=1` demands them, as
//! CI does.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aeon::handler::{Outcome, Registry};
use serde_json::{Value, json};

use crate::common::api::ApiNode;
use crate::common::browser::Browser;

const WRITE_TOKEN: &str = "dashboard-write-token";
const READ_TOKEN: &str = "dashboard-read-token";

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard")
}

/// The built-in handlers and `invoice`, which fails for good while `broken` is set
/// (an outage), and completes once it is cleared (the fix is deployed).
fn registry(broken: Arc<AtomicBool>) -> Registry {
    let mut registry = Registry::with_builtins();
    registry
        .register_fn("invoice", move |_ctx, payload: Value| {
            let broken = broken.clone();
            async move {
                if broken.load(Ordering::SeqCst) {
                    Outcome::FailPermanently("upstream 503: the invoice service is down".into())
                } else {
                    Outcome::Complete(json!({ "invoiced": payload["invoice"] }))
                }
            }
        })
        .expect("register invoice");
    registry
}

async fn submit(api: &ApiNode, token: &str, jobs: Vec<Value>) -> Vec<String> {
    let body = json!({ "jobs": jobs }).to_string();
    let (status, answer) = api.call("POST", "/v1/jobs/batch", Some(body), Some(token)).await;
    assert_eq!(status, 201, "{answer}");
    answer["job_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

async fn status_of(api: &ApiNode, token: &str, id: &str) -> String {
    let (_, job) = api.call("GET", &format!("/v1/jobs/{id}"), None, Some(token)).await;
    job["status"].as_str().unwrap_or("").to_string()
}

async fn until_status(api: &ApiNode, token: &str, ids: &[String], status: &str) {
    let start = std::time::Instant::now();
    for id in ids {
        while status_of(api, token, id).await != status {
            assert!(start.elapsed() < crate::common::browser::PATIENCE, "job {id} never became {status}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

#[cfg_attr(
    not(aeon_browser_tests),
    ignore = "needs chromium and chromedriver: apt-get install chromium chromium-driver"
)]
#[actix_rt::test]
async fn every_page_works_in_a_browser_and_a_filtered_bulk_requeue_completes_the_dead_letters() {
    let broken = Arc::new(AtomicBool::new(true));
    let api = ApiNode::start_with(
        |c| {
            c.api.token = WRITE_TOKEN.into();
            c.experiments.allow_crash = true;
        },
        registry(broken.clone()),
    )
    .await;
    let orders: Vec<Value> = (0..12)
        .map(|i| json!({"type": "echo", "payload": {"order": 1000 + i, "customer": if i % 3 == 0 { "acme" } else { "globex" }}}))
        .collect();
    let done = submit(&api, WRITE_TOKEN, orders).await;
    let invoices: Vec<Value> =
        (0..5).map(|i| json!({"type": "invoice", "payload": {"invoice": 500 + i}, "max_retries": 0})).collect();
    let invoices = submit(&api, WRITE_TOKEN, invoices).await;
    let other =
        submit(&api, WRITE_TOKEN, vec![json!({"type": "fail", "payload": {"times": 9}, "max_retries": 0})]).await;
    let workflow = submit(
        &api,
        WRITE_TOKEN,
        vec![
            json!({"ref": "extract", "type": "echo", "payload": {"step": "extract"}}),
            json!({"ref": "a", "type": "echo", "payload": {"step": "transform-a"}, "depends_on": ["extract"]}),
            json!({"ref": "b", "type": "echo", "payload": {"step": "transform-b"}, "depends_on": ["extract"]}),
            json!({"type": "collect", "payload": {}, "depends_on": ["a", "b"]}),
        ],
    )
    .await;
    let later: Vec<Value> = (0..7)
        .map(|i| json!({"type": if i < 4 { "report" } else { "email" }, "payload": {"n": i}, "run_at": "2999-01-01T00:00:00Z"}))
        .collect();
    submit(&api, WRITE_TOKEN, later).await;
    until_status(&api, WRITE_TOKEN, &done, "COMPLETED").await;
    until_status(&api, WRITE_TOKEN, &workflow, "COMPLETED").await;
    until_status(&api, WRITE_TOKEN, &invoices, "DEAD_LETTER").await;
    until_status(&api, WRITE_TOKEN, &other, "DEAD_LETTER").await;
    let shots = screenshots();

    let browser = Browser::start(&api.url()).await;
    // The node has a token: the dashboard asks for it.
    browser.open("/ui").await;
    browser.until("the token form", "document.querySelector('#login-form')").await;
    browser.type_into("#token", WRITE_TOKEN).await;
    browser.click("#login-go").await;

    // Overview: counts, charts, queue depth, nodes.
    let completed = "document.querySelector('#status-counts [data-status=COMPLETED] .count')?.textContent";
    assert_eq!(browser.until("the completed count", &format!("{completed} === '16' && {completed}")).await, "16");
    let dead = "document.querySelector('#status-counts [data-status=DEAD_LETTER] .count').textContent";
    assert_eq!(browser.eval(dead).await, "6");
    browser
        .until("the throughput chart", "document.querySelectorAll('#chart-throughput svg rect.ok').length === 60")
        .await;
    browser.until("the failure-rate chart", "document.querySelector('#chart-failures svg polyline.rate')").await;
    browser.until("the queue depth", "document.querySelector('#queue-depth').textContent.includes('report')").await;
    browser.until("the workers", "document.querySelector('#workers-summary').textContent.includes('2/2 active')").await;
    browser.screenshot(&shots, "overview.png").await;

    // Jobs: filter by type with the form, newest first.
    browser.open("/ui#/jobs").await;
    browser.until("the jobs", "document.querySelectorAll('#jobs-table tr[data-job-id]').length === 29").await;
    browser.type_into("#filter input[name=type]", "echo").await;
    browser.type_into("#filter input[name=search]", "acme").await;
    browser.click("#apply-filter").await;
    browser.until("the filtered jobs", "document.querySelectorAll('#jobs-table tr[data-job-id]').length === 4").await;
    let types = browser
        .eval("[...document.querySelectorAll('#jobs-table tr[data-job-id] td:nth-child(3)')].map(t => t.textContent)")
        .await;
    assert_eq!(types, json!(["echo", "echo", "echo", "echo"]));
    browser.type_into("#filter input[name=search]", "").await;
    browser.click("#apply-filter").await;
    browser.until("every echo job", "document.querySelectorAll('#jobs-table tr[data-job-id]').length === 15").await;
    browser.screenshot(&shots, "jobs.png").await;

    // A job opened from the list; then the workflow's fan-in job with its graph.
    browser.click("#jobs-table tr[data-job-id] a").await;
    browser.until("the job page", "document.querySelector('#job-detail #job-status')").await;
    browser.until("its attempt", "document.querySelectorAll('#attempts tbody tr').length === 1").await;
    assert_eq!(browser.eval("document.querySelector('#attempts tbody').textContent.includes('SUCCEEDED')").await, true);
    browser.open(&format!("/ui#/jobs/{}", workflow[1])).await;
    browser.until("the dependency graph", "document.querySelectorAll('#dep-graph svg g.node').length === 3").await;
    browser.until("the payload", "document.querySelector('#payload').textContent.includes('transform-a')").await;
    browser.screenshot(&shots, "job.png").await;

    // Dead letters: filter to the invoices, preview, requeue them all, see them done.
    browser.open("/ui#/dead-letters").await;
    browser.until("the dead letters", "document.querySelectorAll('#jobs-table tr[data-job-id]').length === 6").await;
    browser.type_into("#filter input[name=type]", "invoice").await;
    browser.click("#apply-filter").await;
    browser.until("the invoices", "document.querySelectorAll('#jobs-table tr[data-job-id]').length === 5").await;
    browser.screenshot(&shots, "dead-letters.png").await;
    broken.store(false, Ordering::SeqCst); // the fix is deployed
    browser.click("#bulk-requeue").await;
    let preview = browser
        .until(
            "the preview",
            "document.querySelector('#confirm[open]') && document.querySelector('#confirm-text').textContent",
        )
        .await;
    assert!(preview.as_str().unwrap().contains("requeue 5 job(s)"), "{preview}");
    browser.screenshot(&shots, "bulk-requeue.png").await;
    browser.click("#confirm-go").await;
    let toast = browser.until("the answer", "document.querySelector('#toast:not([hidden])')?.textContent").await;
    assert!(toast.as_str().unwrap().contains("5 job(s) changed"), "{toast}");
    until_status(&api, WRITE_TOKEN, &invoices, "COMPLETED").await;
    assert_eq!(status_of(&api, WRITE_TOKEN, &other[0]).await, "DEAD_LETTER", "outside the filter: untouched");
    browser
        .until("the emptied list", "document.querySelector('#jobs-table tbody').textContent.includes('No job matches')")
        .await;

    // Workers: both, with crash buttons (allow_crash is on).
    browser.open("/ui#/workers").await;
    browser.until("the workers", "document.querySelectorAll('#workers-table tr[data-worker-id]').length === 2").await;
    browser.until("a health history", "document.querySelectorAll('#workers-table svg.spark').length === 2").await;
    assert_eq!(browser.count("#workers-table button.crash").await, 6);
    let crashed =
        "[...document.querySelectorAll('#workers-table .health-reason')].some(r => r.textContent.includes('crashed'))";
    assert_eq!(browser.eval(crashed).await, false, "the failing jobs were the jobs' own doing, not their workers'");
    // A run that panics is its worker's error: the page says so under its score.
    let panicked =
        submit(&api, WRITE_TOKEN, vec![json!({"type": "panic", "payload": {"times": 1}, "max_retries": 0})]).await;
    until_status(&api, WRITE_TOKEN, &panicked, "DEAD_LETTER").await;
    let reason = browser
        .until(
            "the reason under a score",
            "[...document.querySelectorAll('#workers-table .health-reason')].map(r => r.textContent)
               .find(t => t.includes('crashed or timed out'))",
        )
        .await;
    assert!(reason.as_str().unwrap().starts_with("1 of its last "), "{reason}");
    browser.screenshot(&shots, "workers.png").await;

    // A worker of this node's previous process: not in service: the
    // overview's summary still counts this process's two workers only.
    let earlier = aeon::store::WorkerRecord {
        worker_id: uuid::Uuid::new_v4(),
        node_id: api.node.node_id.clone(),
        status: aeon::store::WorkerStatus::Stopped,
        capacity: 10,
        current_load: 0,
        health_score: 1.0,
        failure_count: 0,
        metadata: json!({}),
        last_heartbeat: None,
    };
    api.node.store().upsert_workers(vec![earlier]).await.unwrap();
    browser.open("/ui").await;
    browser.until("the summary", "document.querySelector('#workers-summary').textContent.includes('2/2 active')").await;
    browser.close().await;
    api.stop().await;
}

#[cfg_attr(
    not(aeon_browser_tests),
    ignore = "needs chromium and chromedriver: apt-get install chromium chromium-driver"
)]
#[actix_rt::test]
async fn a_read_only_token_sees_no_button_and_its_direct_write_is_refused() {
    let api = ApiNode::start(|c| {
        c.api.token = WRITE_TOKEN.into();
        c.api.read_token = READ_TOKEN.into();
        c.experiments.allow_crash = true;
    })
    .await;
    let dead =
        submit(&api, WRITE_TOKEN, vec![json!({"type": "fail", "payload": {"times": 9}, "max_retries": 0})]).await;
    submit(&api, WRITE_TOKEN, vec![json!({"type": "noop", "payload": {}, "run_at": "2999-01-01T00:00:00Z"})]).await;
    until_status(&api, WRITE_TOKEN, &dead, "DEAD_LETTER").await;

    let browser = Browser::start(&api.url()).await;
    browser.open("/ui").await;
    browser.type_into("#token", READ_TOKEN).await;
    browser.click("#login-go").await;
    browser.until("the read-only badge", "document.querySelector('#session').textContent.includes('read-only')").await;
    browser.until("the overview", "document.querySelector('#status-counts .count')").await;

    browser.open("/ui#/jobs").await;
    browser.until("the jobs", "document.querySelectorAll('#jobs-table tr[data-job-id]').length === 2").await;
    for control in [".bulk-bar", "button.bulk", "button.sel", ".select-job", "#select-all"] {
        assert_eq!(browser.count(control).await, 0, "{control} shown to a read-only token");
    }
    browser.screenshot(&screenshots(), "read-only.png").await;
    browser.open("/ui#/dead-letters").await;
    browser.until("the dead letter", "document.querySelectorAll('#jobs-table tr[data-job-id]').length === 1").await;
    assert_eq!(browser.count("#bulk-requeue").await, 0);
    browser.open(&format!("/ui#/jobs/{}", dead[0])).await;
    browser.until("the job page", "document.querySelector('#job-detail')").await;
    assert_eq!(browser.count(".job-actions button").await, 0);
    browser.open("/ui#/workers").await;
    browser.until("the workers", "document.querySelectorAll('#workers-table tr[data-worker-id]').length === 2").await;
    assert_eq!(browser.count("button.crash").await, 0);

    // The same token, by hand, from the page: the API refuses the write.
    let script = "const done = arguments[arguments.length - 1];
        fetch('/v1/jobs/bulk', {method: 'POST', headers: {'Content-Type': 'application/json',
            Authorization: 'Bearer ' + sessionStorage.getItem('aeon.token')},
            body: JSON.stringify({action: 'requeue', filter: {}})}).then(r => done(r.status));";
    let status = browser.client.execute_async(script, vec![]).await.expect("fetch from the page");
    assert_eq!(status, 403);
    assert_eq!(status_of(&api, WRITE_TOKEN, &dead[0]).await, "DEAD_LETTER", "nothing changed");
    browser.close().await;
    api.stop().await;
}

#[cfg_attr(
    not(aeon_browser_tests),
    ignore = "needs chromium and chromedriver: apt-get install chromium chromium-driver"
)]
#[actix_rt::test]
async fn a_page_of_another_site_cannot_write_through_the_browser_and_the_dashboard_can() {
    let api = ApiNode::start(|_| {}).await; // the default: loopback, no token
    let (_, job) = api.post("/v1/jobs", r#"{"type":"noop","run_at":"2999-01-01T00:00:00Z"}"#).await;
    let job = job["job_id"].as_str().unwrap().to_string();
    let node = api.url();

    // http://localhost:port is another origin (and site) than http://127.0.0.1:port:
    // what its page sends to the node is what any site's page could send. A no-cors
    // fetch, like a form, needs no preflight: text/plain bodies and body-less posts.
    let elsewhere = Browser::start(&format!("http://localhost:{}", api.addr.port())).await;
    elsewhere.open("/livez").await; // a page without the dashboard's Content-Security-Policy
    let script = format!(
        "const done = arguments[arguments.length - 1];
        const post = (path, body) => fetch('{node}' + path, {{method: 'POST', mode: 'no-cors', body}});
        Promise.all([
            post('/v1/jobs/{job}/cancel'),
            post('/v1/jobs', JSON.stringify({{type: 'noop'}})),
            post('/v1/jobs/bulk', JSON.stringify({{action: 'cancel', filter: {{}}}})),
            post('/v1/nodes/{node_id}/drain'),
        ]).then(() => done('sent'), e => done('failed: ' + e));",
        node_id = api.node.node_id
    );
    let sent = elsewhere.client.execute_async(&script, vec![]).await.expect("fetch from the other page");
    assert_eq!(sent, "sent");
    elsewhere.close().await;
    let (_, shown) = api.get(&format!("/v1/jobs/{job}")).await;
    assert_eq!(shown["status"], "PENDING", "not cancelled: {shown}");
    assert_eq!(api.db.count("SELECT COUNT(*) FROM jobs").await, 1, "nothing submitted");
    assert_eq!(api.get("/readyz").await.0, 200, "not draining");

    // The dashboard's own page (same origin) writes as before.
    let browser = Browser::start(&node).await;
    browser.open("/ui").await;
    let script = format!(
        "const done = arguments[arguments.length - 1];
        fetch('/v1/jobs/{job}/cancel', {{method: 'POST'}}).then(r => done(r.status), e => done('failed: ' + e));"
    );
    assert_eq!(browser.client.execute_async(&script, vec![]).await.expect("fetch from the dashboard"), 200);
    browser.close().await;
    let (_, shown) = api.get(&format!("/v1/jobs/{job}")).await;
    assert_eq!(shown["status"], "CANCELLED", "{shown}");
    api.stop().await;
}
