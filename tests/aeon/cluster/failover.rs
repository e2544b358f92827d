//! A node lost: a SIGKILLed node is declared dead and its jobs run elsewhere within
//! the bound; the rescue lease stays with a live holder and passes on from a stalled
//! one.

use std::time::{Duration, Instant};

use aeon::clock::{Clock, SystemClock};
use aeon::retry::BackoffPolicy;
use serde_json::json;

use super::{count, scalar};
use crate::common::cluster::{NodeProcess, eventually};
use crate::common::redis::TestRedis;
use crate::common::{TestDb, new_job, postgres_only};

/// How many running jobs `node`'s workers hold.
fn held_by(node: &str) -> String {
    format!(
        "SELECT COUNT(*) FROM jobs j JOIN workers w USING (worker_id) WHERE j.status = 'RUNNING' AND w.node_id = '{node}'"
    )
}

async fn a_sigkilled_node_is_declared_dead_and_its_jobs_run_elsewhere_within_the_bound(mut db: TestDb) {
    const JOBS: usize = 60;
    let store = db.store(BackoffPolicy::default());
    // One attempt only: a job whose claim was voided runs again only if the rescue
    // costs... no more than the retries it has.
    store
        .enqueue((0..JOBS).map(|_| new_job("sleep", json!({"ms": 1_500}))).collect(), SystemClock.now())
        .await
        .unwrap();
    drop(store);
    db.release_lock();
    let redis = TestRedis::start(None).await;
    // a starts every claim at once (no prefetch), so each it holds is a crashed attempt
    // when it dies (claims only queued go back free: tests/aeon/unstarted.rs).
    let mut a = NodeProcess::start(&db, &redis.url(), "a", &[("AEON__WORKERS__PREFETCH", "0")]).await;
    let b = NodeProcess::start(&db, &redis.url(), "b", &[]).await;
    let c = NodeProcess::start(&db, &redis.url(), "c", &[]).await;
    eventually("a runs jobs", Duration::from_secs(20), || async {
        (count(&db, &held_by("a")).await >= 4).then_some(())
    })
    .await;
    let a_workers = count(&db, "SELECT COUNT(*) FROM workers WHERE node_id = 'a'").await;
    a.kill();
    let killed = Instant::now();
    let stranded = count(&db, &held_by("a")).await;
    assert!(stranded > 0, "the kill left claims behind");

    eventually("every job completed", Duration::from_secs(120), || async {
        (count(&db, "SELECT COUNT(*) FROM jobs WHERE status = 'COMPLETED'").await == JOBS as i64).then_some(())
    })
    .await;
    let one_success = "SELECT COUNT(*) FROM jobs j WHERE 1 = (SELECT COUNT(*) FROM job_executions e
                       WHERE e.job_id = j.job_id AND e.execution_status = 'SUCCEEDED')";
    assert_eq!(count(&db, one_success).await, JOBS as i64, "every job completed exactly once");
    let voided = "SELECT COUNT(*) FROM job_executions WHERE execution_status = 'CRASHED'
                  AND error LIKE 'node a stopped heartbeating%'";
    assert!(count(&db, voided).await >= stranded, "a's claims were voided as a dead node's, not by lease expiry");
    // The bound: node_dead_after_ms (1.5 s) + a heartbeat (0.1 s), with room for a
    // loaded machine; the job lease (60 s) played no part.
    let rescue_after: f64 = scalar(
        &db,
        "SELECT EXTRACT(EPOCH FROM (MAX(e.finished_at) - (SELECT MAX(last_seen) FROM nodes WHERE node_id = 'a')))::float8
         FROM job_executions e WHERE e.execution_status = 'CRASHED'",
    )
    .await;
    assert!(rescue_after < 3.0, "claims voided {rescue_after:.2} s after a's last heartbeat");
    assert!(killed.elapsed() < Duration::from_secs(60));

    let (_, nodes) = b.get("/v1/nodes").await;
    let status = |id: &str| nodes.as_array().unwrap().iter().find(|n| n["node_id"] == id).unwrap()["status"].clone();
    assert_eq!((status("a"), status("b"), status("c")), (json!("DEAD"), json!("ACTIVE"), json!("ACTIVE")), "{nodes}");
    let (_, workers) = c.get("/v1/workers").await;
    let dead = workers.as_array().unwrap().iter().filter(|w| w["node_id"] == "a" && w["status"] == "DEAD").count();
    assert_eq!(dead as i64, a_workers, "a's workers are reported DEAD: {workers}");
    let why = workers.as_array().unwrap().iter().filter(|w| w["node_id"] == "a").map(|w| &w["health_reason"]);
    assert!(why.into_iter().all(|r| r == "dead: its node a stopped heartbeating"), "and say why: {workers}");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM cluster_leases WHERE name = 'rescue'").await, 1);
}

/// The rescue lease: its holder renews it under the same token; a holder that stalls
/// (SIGSTOP) past the lease's term loses it to the other node under a larger token, and
/// woken, finds it held elsewhere and does not take it back.
async fn the_rescue_lease_is_renewed_by_its_holder_and_passes_on_when_the_holder_stalls(mut db: TestDb) {
    db.release_lock();
    let redis = TestRedis::start(None).await;
    let said = [("RUST_LOG", "warn,aeon::cluster::membership=info")]; // where the lease moves
    let nodes = [
        NodeProcess::start(&db, &redis.url(), "a", &said).await,
        NodeProcess::start(&db, &redis.url(), "b", &said).await,
    ];
    let lease = "SELECT holder || ' ' || token::text FROM cluster_leases WHERE name = 'rescue'";
    let read = || async {
        let row: String = scalar(&db, lease).await;
        let (holder, token) = row.split_once(' ').expect("holder and token");
        (holder.to_string(), token.parse::<i64>().expect("a token"))
    };
    let expires = "SELECT EXTRACT(EPOCH FROM expires_at)::float8 FROM cluster_leases WHERE name = 'rescue'";
    let (holder, token) = read().await;
    let first: f64 = scalar(&db, expires).await;
    eventually("the holder renews", Duration::from_secs(5), || async {
        (scalar::<f64>(&db, expires).await > first).then_some(())
    })
    .await;
    assert_eq!(read().await, (holder.clone(), token), "renewed by its holder, under the same token");

    let (stalled, other) = if holder == "a" { (&nodes[0], &nodes[1]) } else { (&nodes[1], &nodes[0]) };
    let signal = |sig: &str| {
        let sent = std::process::Command::new("kill").args([sig, &stalled.child.id().to_string()]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill {sig}");
    };
    let said_before = stalled.log().len();
    signal("-STOP");
    let (taker, taken) = eventually("the lease passes on", Duration::from_secs(10), || async {
        let (now_holder, now_token) = read().await;
        (now_holder != holder).then_some((now_holder, now_token))
    })
    .await;
    signal("-CONT");
    assert_eq!(taker, other.id, "the other node took it");
    assert!(taken > token, "under a larger token ({token} -> {taken})");
    eventually("the woken holder learns it is held elsewhere", Duration::from_secs(10), || async {
        stalled.log()[said_before..].contains("rescue lease held elsewhere").then_some(())
    })
    .await;
    let (last_holder, last_token) = read().await;
    assert_eq!((last_holder.as_str(), last_token), (other.id.as_str(), taken), "the woken holder did not take it back");
}

postgres_only!(
    a_sigkilled_node_is_declared_dead_and_its_jobs_run_elsewhere_within_the_bound,
    the_rescue_lease_is_renewed_by_its_holder_and_passes_on_when_the_holder_stalls,
);
