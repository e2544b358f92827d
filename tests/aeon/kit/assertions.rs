//! The kit's assertions pass when they should, and fail, showing what was there,
//! when they should.

use aeon::handler::Registry;
use aeon::job::{JobRequest, JobStatus};
use aeon::testing::{AnyPayload, Exactly, PayloadMatcher, TestNode, Where};
use serde_json::json;

/// A node whose handlers do not include `email`, so email jobs stay enqueued.
async fn node_with_mail() -> (TestNode, uuid::Uuid) {
    let node = TestNode::start(Registry::with_builtins()).await;
    let job_id = node.submit("email", json!({"to": "ada@example.com", "subject": "hi", "tags": ["a"]})).await;
    node.submit("report", json!({"day": 1})).await;
    (node, job_id)
}

#[actix_rt::test]
async fn assert_enqueued_finds_a_job_whose_payload_contains_the_matcher() {
    let (node, job_id) = node_with_mail().await;
    assert_eq!(node.assert_enqueued("email", json!({"to": "ada@example.com"})).await.job_id, job_id);
    node.assert_enqueued("email", AnyPayload).await;
    node.assert_enqueued("email", Where::new("a subject", |p| p["subject"].is_string())).await;
    node.refute_enqueued("email", json!({"to": "bob@example.com"})).await;
    node.refute_enqueued("sms", AnyPayload).await;
    assert_eq!(node.enqueued("email").await.len(), 1);

    let mut waiting = JobRequest::new("email", json!({"to": "later"}));
    waiting.depends_on = Some(vec![job_id.to_string()]);
    node.submit_request(waiting).await;
    node.assert_enqueued("email", json!({"to": "later"})).await; // WAITING counts as enqueued
    node.shutdown().await;
}

#[actix_rt::test]
#[should_panic(expected = "expected an enqueued \"email\" job containing {\"to\":\"bob@example.com\"}, found none; \
                           enqueued \"email\" jobs: [")]
async fn assert_enqueued_fails_showing_the_jobs_there_are() {
    let (node, _) = node_with_mail().await;
    node.assert_enqueued("email", json!({"to": "bob@example.com"})).await;
    node.shutdown().await;
}

#[actix_rt::test]
async fn assert_enqueued_failure_lists_payloads_and_other_types() {
    let (node, _) = node_with_mail().await;
    let message = failure_of(node.assert_enqueued("email", json!({"to": "bob@example.com"}))).await;
    assert!(message.contains(r#""to":"ada@example.com""#), "shows the payload there is: {message}");
    assert!(message.contains(r#"other enqueued jobs: {"report": 1}"#), "and the other types: {message}");
    let none = failure_of(node.assert_enqueued("sms", AnyPayload)).await;
    assert!(none.contains("enqueued \"sms\" jobs: none"), "{none}");
    node.shutdown().await;
}

#[actix_rt::test]
#[should_panic(expected = "expected no enqueued \"email\" job containing {\"subject\":\"hi\"}, found: [")]
async fn refute_enqueued_fails_showing_the_job_it_found() {
    let (node, _) = node_with_mail().await;
    node.refute_enqueued("email", json!({"subject": "hi"})).await;
    node.shutdown().await;
}

#[actix_rt::test]
async fn a_finished_job_is_not_enqueued() {
    let mut node = TestNode::start(Registry::with_builtins()).await;
    // Submitting wakes the node, as on a real one: a ready job may start at once.
    // Scheduled a second ahead, it waits until the test moves the clock.
    let mut request = JobRequest::new("echo", json!(1));
    request.run_at = Some((node.now() + chrono::Duration::seconds(1)).to_rfc3339());
    node.submit_request(request).await;
    node.assert_enqueued("echo", json!(1)).await;
    node.advance(std::time::Duration::from_secs(1)).await;
    node.drain().await;
    node.refute_enqueued("echo", AnyPayload).await;
    node.shutdown().await;
}

#[actix_rt::test]
async fn status_and_attempt_assertions_show_the_job_as_it_is() {
    let mut node = TestNode::start(Registry::with_builtins()).await;
    let job_id = node.submit("fail", json!({"times": 5, "message": "boom"})).await;
    node.drain().await;
    node.assert_status(job_id, JobStatus::Pending).await;
    node.assert_attempts(job_id, 1).await;

    let wrong = failure_of(node.assert_status(job_id, JobStatus::Completed)).await;
    assert!(
        wrong.contains(&format!("expected job {job_id} to be COMPLETED, it is PENDING (fail job, attempts 1")),
        "{wrong}"
    );
    assert!(wrong.contains("#1 FAILED (boom)"), "with its attempts: {wrong}");
    let attempts = failure_of(node.assert_attempts(job_id, 2)).await;
    assert!(attempts.contains("to have made 2 attempts, it is PENDING"), "{attempts}");
    let missing = uuid::Uuid::new_v4();
    assert!(failure_of(node.job(missing)).await.contains(&format!("no job {missing}")));
    node.shutdown().await;
}

#[test]
fn matchers_match_what_they_say() {
    let payload = json!({"a": {"b": 1, "c": [1, 2]}, "d": "x"});
    assert!(json!({"a": {"b": 1}}).matches(&payload), "nested objects: a subset");
    assert!(!json!({"a": {"b": 2}}).matches(&payload));
    assert!(!json!({"a": {"c": [1]}}).matches(&payload), "arrays: equal");
    assert!(!json!({"e": null}).matches(&payload), "a missing key is not null");
    assert!(json!("x").matches(&json!("x")) && !json!("x").matches(&json!("y")));
    assert!(Exactly(payload.clone()).matches(&payload) && !Exactly(json!({"d": "x"})).matches(&payload));
    assert!(AnyPayload.matches(&json!(null)));
    assert!(Where("d is x", |p: &serde_json::Value| p["d"] == "x").matches(&payload));
    assert_eq!(Where("d is x", |_: &serde_json::Value| true).describe(), "with d is x");
    assert_eq!(Exactly(json!(1)).describe(), "exactly 1");
}

/// The panic message of a future that must panic.
async fn failure_of<T>(assertion: impl std::future::Future<Output = T>) -> String {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(assertion).catch_unwind().await {
        Ok(_) => panic!("the assertion passed; it should have failed"),
        Err(panic) => aeon::actors::job::panic_message(panic.as_ref()),
    }
}
