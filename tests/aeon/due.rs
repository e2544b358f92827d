//! A node wakes itself by a timer for the earliest time it knows a job comes due (a
//! retry's backoff, a submit's `run_at`), so that neither waits for the poll: here the
//! poll is a minute, and each job must run within a few seconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aeon::actors::probe::Probe;
use aeon::clock::{Clock, SystemClock};
use aeon::config::Config;
use aeon::handler::Registry;
use aeon::job::{JobRequest, JobStatus};
use aeon::node::Node;
use aeon::retry::BackoffPolicy;
use serde_json::json;

use crate::common::{TestDb, on_every_backend};

fn slow_poll() -> Config {
    let mut config = Config::default();
    config.node.poll_ms = 60_000;
    config.retry = BackoffPolicy { base_ms: 300, max_ms: 300, jitter: 0.0 };
    config
}

async fn until_completed(node: &Node, job_id: uuid::Uuid, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let job = node.store().get_job(job_id).await.unwrap().unwrap();
        if job.status == JobStatus::Completed {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "job {job_id} is {} after {limit:?}: no timer woke the node", job.status);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_job_scheduled_for_later_runs_when_it_comes_due_not_at_the_poll(db: TestDb) {
    let store = db.store(slow_poll().retry).shared();
    let node =
        Node::start_with_store(slow_poll(), store, Registry::with_builtins(), Arc::new(SystemClock), Probe::none())
            .await
            .expect("node starts");
    let mut request = JobRequest::new("noop", json!({}));
    request.run_at = Some((SystemClock.now() + chrono::Duration::milliseconds(400)).to_rfc3339());
    let job_id = node.submit(vec![request]).await.unwrap()[0].job_id;
    let waited = until_completed(&node, job_id, Duration::from_secs(10)).await;
    assert!(waited >= Duration::from_millis(300), "not before it was due ({waited:?})");
}

async fn a_retry_runs_when_its_backoff_ends_not_at_the_poll(db: TestDb) {
    let store = db.store(slow_poll().retry).shared();
    let node =
        Node::start_with_store(slow_poll(), store, Registry::with_builtins(), Arc::new(SystemClock), Probe::none())
            .await
            .expect("node starts");
    let job_id = node.submit(vec![JobRequest::new("fail", json!({"times": 1}))]).await.unwrap()[0].job_id;
    until_completed(&node, job_id, Duration::from_secs(10)).await;
    let attempts = node.store().executions(job_id).await.unwrap();
    assert_eq!(attempts.len(), 2, "failed once, then retried by the timer");
}

on_every_backend!(
    a_job_scheduled_for_later_runs_when_it_comes_due_not_at_the_poll,
    a_retry_runs_when_its_backoff_ends_not_at_the_poll,
);
