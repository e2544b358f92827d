//! A test's end: one that fails, or forgets its shutdown, before its node is shut down
//! cannot abort the others (the kit's `Teardown` guard).

use std::sync::Arc;
use std::time::Duration;

use aeon::handler::{JobContext, Outcome, Registry};
use aeon::testing::TestNode;
use serde_json::{Value, json};
use sqlx::sqlite::SqlitePoolOptions;

/// Fails on purpose while a handler holds a pooled database connection (as an actor
/// may at any moment), before the node is shut down. The actix System then ends with
/// that connection in one of its tasks; sqlx gives a dropped connection back by
/// spawning a task, no runtime is current while a System's tasks are dropped, and the
/// spawn panics ("requires a Tokio context", printed with `--nocapture`) — inside the
/// dropped task, where tokio contains it. This test alone fails, as `should_panic`
/// expects, and every other test of the binary still runs: no spare runtime (the old
/// `TestSystem`) is needed for that.
#[actix_rt::test]
#[should_panic(expected = "deliberately, before the node's shutdown")]
async fn a_test_that_fails_before_its_shutdown_cannot_abort_the_others() {
    let pool = SqlitePoolOptions::new().max_connections(1).connect("sqlite::memory:").await.expect("a pool");
    let holding = Arc::new(tokio::sync::Notify::new());
    let mut registry = Registry::new();
    let (held_pool, held) = (pool.clone(), holding.clone());
    registry
        .register_fn("hold", move |_: JobContext, _: Value| {
            let (pool, holding) = (held_pool.clone(), held.clone());
            async move {
                let _connection = pool.acquire().await.expect("a connection");
                holding.notify_one();
                std::future::pending::<()>().await;
                Outcome::Complete(Value::Null)
            }
        })
        .expect("register");
    let node = TestNode::start(registry).await;
    node.submit("hold", json!({})).await;
    node.tick().await; // the worker claims it and its handler starts
    tokio::time::timeout(Duration::from_secs(10), holding.notified()).await.expect("the handler holds a connection");
    panic!("deliberately, before the node's shutdown");
}

/// A test that ends without shutting its node down fails, saying what to do, instead of
/// leaving its actors mid-work to the System's end. (Seen passing only with the check:
/// with `Teardown`'s drop emptied, this test fails for want of a panic.)
#[actix_rt::test]
#[should_panic(expected = "dropped before it was shut down")]
async fn a_test_that_forgets_its_shutdown_fails_saying_so() {
    let node = TestNode::start(Registry::with_builtins()).await;
    node.submit("echo", json!("left running")).await;
}
