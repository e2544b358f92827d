//! `TestNode`: drain, advance, events, and the database it makes and removes.

use std::time::Duration;

use aeon::actors::probe::{Event, RunResult};
use aeon::handler::{JobContext, Outcome, Registry};
use aeon::job::{JobRequest, JobStatus};
use aeon::testing::{TestDatabase, TestNode};
use serde_json::json;

use super::{gated_node, node_on};
use crate::common::actors::GateEvent;
use crate::common::{TestDb, on_every_backend};

/// `flaky`: fails until its attempt reaches the payload's number.
fn flaky_registry() -> Registry {
    let mut registry = Registry::with_builtins();
    registry
        .register_fn("flaky", |ctx: JobContext, succeed_at: i32| async move {
            if ctx.attempt < succeed_at {
                Outcome::Fail(format!("attempt {} failed", ctx.attempt))
            } else {
                Outcome::Complete(json!(ctx.attempt))
            }
        })
        .unwrap();
    registry
}

async fn drain_runs_what_is_ready_and_leaves_retries_to_advance(db: TestDb) {
    let mut node = node_on(&db, flaky_registry()).await;
    let flaky = node.submit("flaky", json!(3)).await;
    let plain = node.submit("echo", json!("at once")).await;
    let drained = node.drain().await;
    assert_eq!((drained.succeeded(), drained.failed()), (1, 1), "{drained:?}");
    node.assert_status(plain, JobStatus::Completed).await;
    node.assert_status(flaky, JobStatus::Pending).await;
    assert_eq!(node.drain().await.runs, [], "the retry is not due: nothing runs");

    node.advance(Duration::from_millis(999)).await;
    assert_eq!(node.drain().await.runs, [], "still not due");
    node.advance(Duration::from_millis(1)).await;
    assert_eq!(node.drain().await.runs, [(flaky, RunResult::Failed { permanent: false })]);
    node.advance(Duration::from_secs(2)).await; // the second backoff
    node.drain().await;
    node.assert_status(flaky, JobStatus::Completed).await;
    node.assert_attempts(flaky, 3).await;
    let statuses: Vec<String> = node.executions(flaky).await.iter().map(|e| e.execution_status.to_string()).collect();
    assert_eq!(statuses, ["FAILED", "FAILED", "SUCCEEDED"]);
    node.shutdown().await;
}

async fn drain_runs_dependents_released_on_the_way(db: TestDb) {
    let mut node = node_on(&db, Registry::with_builtins()).await;
    let first = node.submit("echo", json!(1)).await;
    let mut second = JobRequest::new("echo", json!(2));
    second.depends_on = Some(vec![first.to_string()]);
    let second = node.submit_request(second).await;
    let mut third = JobRequest::new("collect", json!({}));
    third.depends_on = Some(vec![second.to_string()]);
    let third = node.submit_request(third).await;

    let drained = node.drain().await;
    assert_eq!(drained.runs.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [first, second, third]);
    node.assert_status(third, JobStatus::Completed).await;
    node.shutdown().await;
}

async fn advance_brings_scheduled_jobs_due_and_times_runs_out(db: TestDb) {
    let (mut node, _gate) = gated_node(&db).await;
    let mut later = JobRequest::new("echo", json!("later"));
    later.run_at = Some((node.now() + chrono::Duration::seconds(30)).to_rfc3339());
    let later = node.submit_request(later).await;
    let mut stuck = JobRequest::new("gate", json!("never opened"));
    stuck.timeout_ms = Some(10_000);
    stuck.max_retries = Some(0);
    let stuck = node.submit_request(stuck).await;
    node.expect_event("the gated job starting", |e| matches!(e, Event::JobStarted { .. })).await;

    node.advance(Duration::from_secs(10)).await;
    node.expect_settled(stuck).await;
    node.assert_status(stuck, JobStatus::DeadLetter).await;
    node.assert_status(later, JobStatus::Pending).await;
    node.advance(Duration::from_secs(20)).await;
    node.drain().await;
    node.assert_status(later, JobStatus::Completed).await;
    node.shutdown().await;
}

async fn expect_event_answers_the_first_match_after_those_already_read(db: TestDb) {
    let (mut node, mut gate) = gated_node(&db).await;
    let a = node.submit("gate", json!("a")).await;
    assert_eq!(gate.next().await, GateEvent::Arrived(json!("a")));
    let b = node.submit("gate", json!("b")).await;
    assert_eq!(gate.next().await, GateEvent::Arrived(json!("b")));
    let started = |e: &Event| matches!(e, Event::JobStarted { .. });
    let job_of = |e: Event| match e {
        Event::JobStarted { job_id, .. } => job_id,
        other => panic!("{other:?}"),
    };
    assert_eq!(job_of(node.expect_event("a start", started).await), a);
    assert_eq!(job_of(node.expect_event("a second start", started).await), b, "not the first one again");
    assert!(node.events().iter().filter(|e| started(e)).count() == 2, "events() keeps every event");
    gate.open(2);
    node.drain().await;
    node.shutdown().await;
}

on_every_backend!(
    drain_runs_what_is_ready_and_leaves_retries_to_advance,
    drain_runs_dependents_released_on_the_way,
    advance_brings_scheduled_jobs_due_and_times_runs_out,
    expect_event_answers_the_first_match_after_those_already_read,
);

#[actix_rt::test]
#[should_panic(expected = "no the impossible within 50ms; events meanwhile: [")]
async fn expect_event_fails_naming_what_it_waited_for_and_what_it_saw() {
    let mut node = TestNode::start(Registry::with_builtins()).await;
    node.submit("echo", json!(1)).await;
    node.drain().await;
    node.expect_event_within(Duration::from_millis(50), "the impossible", |_| false).await;
    node.shutdown().await;
}

#[actix_rt::test]
#[should_panic(expected = "drain: the node did not come to rest")]
async fn drain_fails_when_a_handler_never_returns() {
    let (registry, _gate) = crate::common::actors::registry_with_gate();
    let mut node = TestNode::builder(registry).patience(Duration::from_millis(300)).start().await;
    node.submit("gate", json!("shut")).await;
    node.drain().await;
    node.shutdown().await;
}

#[actix_rt::test]
async fn the_sqlite_file_is_made_fresh_and_removed_with_the_node() {
    let node = TestNode::start(Registry::with_builtins()).await;
    let file = std::path::PathBuf::from(node.database().expect("a database of its own"));
    assert!(file.exists() && file.ends_with("aeon.db"), "{file:?}");
    let folder = file.parent().unwrap().to_path_buf();
    assert!(folder.file_name().unwrap().to_string_lossy().starts_with("aeon-testnode-"), "a folder of its own");
    assert!(node.enqueued("echo").await.is_empty(), "a fresh database");
    node.shutdown().await;
    assert!(!folder.exists(), "removed with the node");
}

#[actix_rt::test]
#[cfg_attr(
    not(aeon_postgres_tests),
    ignore = "Postgres case: AEON_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test"
)]
async fn a_postgres_schema_is_made_fresh_and_dropped_with_the_node() {
    let url = crate::common::database_url();
    let mut node = TestNode::builder(Registry::with_builtins()).database(TestDatabase::Postgres(url)).start().await;
    let schema = node.database().expect("a schema of its own");
    let job_id = node.submit("echo", json!("on postgres")).await;
    node.drain().await;
    node.assert_status(job_id, JobStatus::Completed).await;
    let exists = |schema: String| async move {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&crate::common::database_url()).await.unwrap();
        let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_namespace WHERE nspname = $1")
            .bind(schema)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        found == 1
    };
    assert!(exists(schema.clone()).await, "{schema} exists while the node runs");
    node.shutdown().await;
    assert!(!exists(schema.clone()).await, "{schema} is dropped with the node");
}

#[actix_rt::test]
async fn test_database_from_env_follows_the_variable() {
    let expected = match std::env::var("AEON_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => TestDatabase::Postgres(url),
        _ => TestDatabase::Sqlite,
    };
    assert_eq!(TestDatabase::from_env(), expected);
}
