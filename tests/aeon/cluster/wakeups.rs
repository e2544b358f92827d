//! Wake-ups across nodes: work that one node makes ready (a submit, a dependent
//! released by a parent that finished) starts at once on an idle other node, not at
//! its next poll.

use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use super::{count, runner_of, scalar, submit};
use crate::common::cluster::{NodeProcess, eventually};
use crate::common::redis::TestRedis;
use crate::common::{TestDb, postgres_only};

async fn a_job_submitted_to_one_node_is_started_by_an_idle_other_at_once(mut db: TestDb) {
    db.release_lock();
    let redis = TestRedis::start(None).await;
    // A: one slot, kept busy. B: idle. Both poll every 30 s: only a wake-up explains a
    // quick start on B.
    let busy = [("AEON__WORKERS__COUNT", "1"), ("AEON__WORKERS__CAPACITY", "1"), ("AEON__WORKERS__PREFETCH", "0")];
    let a = NodeProcess::start(&db, &redis.url(), "a", &busy).await;
    let _b = NodeProcess::start(&db, &redis.url(), "b", &[]).await;
    eventually("a and b know each other", Duration::from_secs(10), || async {
        let (_, nodes) = a.get("/v1/nodes").await;
        (nodes.as_array().unwrap().iter().filter(|n| n["status"] == "ACTIVE").count() == 2).then_some(())
    })
    .await;
    let blocker = submit(&a, "sleep", json!({"ms": 600_000})).await;
    // Whoever took the blocker, make A busy: submit until A holds one.
    let mut on_a = runner_of(&db, blocker).await == "a";
    while !on_a {
        let job = submit(&a, "sleep", json!({"ms": 600_000})).await;
        on_a = runner_of(&db, job).await == "a";
    }

    let mut delays = Vec::new();
    for _ in 0..5 {
        let job_id = submit(&a, "noop", json!({})).await;
        let sql = format!("SELECT COUNT(*) FROM jobs WHERE job_id = '{job_id}' AND status = 'COMPLETED'");
        let start = Instant::now();
        while count(&db, &sql).await != 1 {
            if start.elapsed() > Duration::from_secs(10) {
                let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
                    "SELECT j.job_type, j.status, w.node_id FROM jobs j LEFT JOIN workers w USING (worker_id)",
                )
                .fetch_all(&db.postgres().pool)
                .await
                .unwrap();
                panic!("the noop job did not complete on b: {rows:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(runner_node_of_execution(&db, job_id).await, "b", "the idle node ran it");
        let delay: f64 = scalar(
            &db,
            &format!(
                "SELECT EXTRACT(EPOCH FROM (started_at - created_at))::float8 FROM jobs WHERE job_id = '{job_id}'"
            ),
        )
        .await;
        delays.push(delay);
    }
    delays.sort_by(f64::total_cmp);
    // Without the wake-up B would find them at its poll, up to 30 s later.
    assert!(delays[delays.len() / 2] < 0.5, "submit-to-start on the other node: {delays:?} s");
}

/// The node of the worker that ran `job_id`'s successful attempt.
async fn runner_node_of_execution(db: &TestDb, job_id: Uuid) -> String {
    scalar(
        db,
        &format!(
            "SELECT w.node_id FROM job_executions e JOIN workers w USING (worker_id)
             WHERE e.job_id = '{job_id}' AND e.execution_status = 'SUCCEEDED'"
        ),
    )
    .await
}

async fn a_dependent_released_on_a_draining_node_starts_at_once_on_the_other(mut db: TestDb) {
    db.release_lock();
    let redis = TestRedis::start(None).await;
    let a = NodeProcess::start(&db, &redis.url(), "a", &[]).await;
    let b = NodeProcess::start(&db, &redis.url(), "b", &[]).await;
    let parent = submit(&a, "sleep", json!({"ms": 1_000})).await;
    let body = json!({"type": "noop", "payload": {}, "depends_on": [parent.to_string()]}).to_string();
    let (status, answer) = a.post("/v1/jobs", &body).await;
    assert_eq!(status, 201, "{answer}");
    let child: Uuid = answer["job_id"].as_str().unwrap().parse().unwrap();
    // The node running the parent drains: the parent finishes there, and its release
    // of the child must reach the other node (polls are 30 s).
    let runner = runner_of(&db, parent).await;
    let (drained, other) = if runner == "a" { (&a, "b") } else { (&b, "a") };
    let (status, _) = drained.post(&format!("/v1/nodes/{runner}/drain"), "").await;
    assert_eq!(status, 202);
    let done = format!("SELECT COUNT(*) FROM jobs WHERE job_id = '{child}' AND status = 'COMPLETED'");
    eventually("the child completes", Duration::from_secs(10), || async {
        (count(&db, &done).await == 1).then_some(())
    })
    .await;
    assert_eq!(runner_node_of_execution(&db, child).await, other);
    let gap: f64 = scalar(
        &db,
        &format!(
            "SELECT EXTRACT(EPOCH FROM ((SELECT started_at FROM jobs WHERE job_id = '{child}')
                                     - (SELECT completed_at FROM jobs WHERE job_id = '{parent}')))::float8"
        ),
    )
    .await;
    assert!(gap < 1.0, "the child started {gap:.3} s after its parent completed elsewhere");
}

postgres_only!(
    a_job_submitted_to_one_node_is_started_by_an_idle_other_at_once,
    a_dependent_released_on_a_draining_node_starts_at_once_on_the_other,
);
