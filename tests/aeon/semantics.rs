//! What a job's life promises, seen from outside a real node: cancelling a running job
//! stops its handler; a drain lets a job finish inside its grace and waits for the
//! results still being written; `Snooze` puts a job back without spending an attempt;
//! a payload that does not fit its handler's type fails for good, naming the field.

use std::time::Duration;

use aeon::actors::probe::{Event, RunResult};
use aeon::handler::{JobContext, Outcome, Registry};
use serde_json::{Value, json};

use crate::common::actors::expect_event;
use crate::common::api::ApiNode;

async fn submit(api: &ApiNode, body: Value) -> String {
    let (status, job) = api.post("/v1/jobs", &body.to_string()).await;
    assert_eq!(status, 201, "{job}");
    job["job_id"].as_str().unwrap().to_string()
}

#[actix_rt::test]
async fn cancelling_a_running_job_through_the_api_stops_its_handler() {
    let mut api = ApiNode::start(|_| {}).await;
    let id = submit(&api, json!({"type": "sleep", "payload": {"ms": 600_000}})).await;
    expect_event(
        &mut api.events,
        "the job starting",
        |e| matches!(e, Event::JobStarted { job_id, .. } if job_id.to_string() == id),
    )
    .await;
    let (status, cancelled) = api.post(&format!("/v1/jobs/{id}/cancel"), "").await;
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("CANCELLED")), "{cancelled}");
    let finished = expect_event(&mut api.events, "the run ending", |e| matches!(e, Event::JobFinished { .. })).await;
    assert!(matches!(finished, Event::JobFinished { result: RunResult::Cancelled, .. }), "{finished:?}");
    let (_, job) = api.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(job["executions"][0]["execution_status"], "CANCELLED", "{job}");
    assert!(api.node.slots().await.iter().all(|s| s.load == 0), "its slot is free: the handler was stopped");
    api.stop().await;
}

#[actix_rt::test]
async fn a_job_that_ends_inside_the_drain_grace_completes_and_its_result_is_written_before_drain_returns() {
    // Results wait up to a second in their batch: the drain must wait for the write.
    let mut api = ApiNode::start(|c| {
        c.node.drain_grace_ms = 30_000;
        c.batch.window_ms = 1_000;
    })
    .await;
    let id = submit(&api, json!({"type": "sleep", "payload": {"ms": 200}})).await;
    expect_event(&mut api.events, "the job starting", |e| matches!(e, Event::JobStarted { .. })).await;
    let released = api.node.drain().await;
    assert_eq!(released, 0, "nothing had to be given back");
    let job = api.node.store().get_job(id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(job.status.as_str(), "COMPLETED", "finished inside the grace, written before drain returned");
    api.stop().await;
}

#[actix_rt::test]
async fn a_snoozed_job_goes_back_without_spending_an_attempt_and_runs_again() {
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut registry = Registry::with_builtins();
    registry
        .register_fn("snooze_once", move |ctx: JobContext, _: Value| {
            // The first run snoozes; the one after it completes.
            let run = runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if run == 0 {
                    Outcome::Snooze(Duration::from_millis(100))
                } else {
                    Outcome::Complete(json!({"attempt": ctx.attempt}))
                }
            }
        })
        .unwrap();
    let api = ApiNode::start_with(|_| {}, registry).await;
    let id = submit(&api, json!({"type": "snooze_once", "payload": {}, "max_retries": 0})).await;
    let done = api.until_finished(&id).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let executions = done["executions"].as_array().unwrap();
    assert_eq!(executions.len(), 2, "{done}");
    assert_eq!(executions[0]["execution_status"], "CANCELLED", "the snoozed run: {done}");
    assert_eq!(done["attempts"], 1, "the snooze did not count, even with max_retries 0: {done}");
    assert_eq!(done["result"], json!({"attempt": 1}));
    api.stop().await;
}

#[actix_rt::test]
async fn a_payload_that_does_not_fit_its_handler_fails_for_good_naming_the_field() {
    let api = ApiNode::start(|_| {}).await;
    let id = submit(&api, json!({"type": "sleep", "payload": {"ms": "soon"}, "max_retries": 5})).await;
    let done = api.until_finished(&id).await;
    assert_eq!(done["status"], "DEAD_LETTER", "not retried: it can never fit: {done}");
    assert_eq!(done["executions"].as_array().unwrap().len(), 1, "{done}");
    let error = done["error"].as_str().unwrap();
    assert!(error.contains("ms"), "the error names the field: {done}");
    api.stop().await;
}
