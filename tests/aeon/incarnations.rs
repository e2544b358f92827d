//! One process per node id (docs/cluster.md, "One process per node id"), with whole
//! nodes on each backend: a node restarted under its id voids what its previous process
//! left at start (not when the leases run out), a second live process with the same id
//! is refused, and a process whose id was taken over stops and writes nothing more.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aeon::actors::probe::Probe;
use aeon::clock::{Clock, SystemClock};
use aeon::config::Config;
use aeon::handler::Registry;
use aeon::job::{JobRequest, JobStatus};
use aeon::node::Node;
use aeon::store::{NodeRecord, NodeStatus, Store, WorkerRecord, WorkerStatus};
use serde_json::json;
use uuid::Uuid;

use crate::common::{TestDb, claim_request, new_job, on_every_backend, postgres_only};

/// Leases far longer than any test: only the takeover can free a claim in time.
const LEASE_MS: u64 = 300_000;
const PATIENCE: Duration = Duration::from_secs(20);

fn config(node_id: &str) -> Config {
    let mut config = Config::default();
    config.node.id = node_id.into();
    config.node.poll_ms = 50;
    config.workers.count = 2;
    config.workers.capacity = 2;
    config.workers.lease_ms = LEASE_MS;
    config.cluster.heartbeat_ms = 100;
    config.cluster.node_dead_after_ms = 2_000;
    config
}

/// One store handle per test, shared by its nodes as processes share a database.
fn shared_store(db: &TestDb) -> Arc<dyn Store> {
    db.store(Config::default().retry).shared()
}

async fn start(store: &Arc<dyn Store>, node_id: &str) -> anyhow::Result<Node> {
    Node::start_with_store(
        config(node_id),
        store.clone(),
        Registry::with_builtins(),
        Arc::new(SystemClock),
        Probe::none(),
    )
    .await
}

async fn row(store: &dyn Store, node_id: &str) -> NodeRecord {
    store.list_nodes().await.unwrap().into_iter().find(|n| n.node_id == node_id).expect("the node's row")
}

/// Polls `done` every 20 ms until it holds, for at most [`PATIENCE`].
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < PATIENCE, "{what}: not after {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_node_restarted_under_its_id_voids_its_previous_process_claims_at_start(db: TestDb) {
    // What a SIGKILLed process leaves: a fresh row, a worker in service, claims.
    let store = shared_store(&db);
    let now = SystemClock.now();
    let previous = NodeRecord {
        node_id: "n".into(),
        address: String::new(),
        status: NodeStatus::Active,
        started_at: now,
        last_seen: now,
        incarnation: "previous".into(),
    };
    assert!(store.heartbeat_node(previous, now).await.unwrap());
    let ghost = Uuid::new_v4();
    store.upsert_workers(vec![worker(ghost, "n")]).await.unwrap();
    store.enqueue((0..3).map(|_| new_job("noop", json!({}))).collect(), now).await.unwrap();
    let held = store.claim(claim_request(ghost, 3, Duration::from_millis(LEASE_MS)), now).await.unwrap();
    assert_eq!(held.len(), 3);

    let node = start(&store, "n").await.expect("the previous process is gone: the id is free");
    until("the previous process's claims completed by this one", || async {
        let mut done = true;
        for claim in &held {
            done &= store.get_job(claim.job_id).await.unwrap().unwrap().status == JobStatus::Completed;
        }
        done
    })
    .await;
    let workers = store.list_workers().await.unwrap();
    let in_service: Vec<&WorkerRecord> =
        workers.iter().filter(|w| w.node_id == "n" && w.status != WorkerStatus::Dead).collect();
    assert_eq!(in_service.len(), 2, "only this process's workers: {workers:?}");
    assert_eq!(workers.iter().find(|w| w.worker_id == ghost).unwrap().status, WorkerStatus::Dead);
    assert_eq!(row(&*store, "n").await.incarnation, node.cluster.incarnation());
    node.leave().await;
}

async fn a_second_live_process_with_the_same_node_id_is_refused(db: TestDb) {
    let store = shared_store(&db);
    let first = start(&store, "twin").await.unwrap();
    let error = start(&store, "twin").await.err().expect("refused while the first process beats").to_string();
    assert!(error.contains("\"twin\" is in use by another live process"), "{error}");
    assert!(error.contains(first.cluster.incarnation()), "names the live incarnation: {error}");

    // The first process still holds its id, and its heartbeat still writes.
    let before = row(&*store, "twin").await;
    assert_eq!(before.incarnation, first.cluster.incarnation());
    until("the first process beats on", || {
        let store = store.clone();
        let before = before.last_seen;
        async move { row(&*store, "twin").await.last_seen > before }
    })
    .await;
    assert!(!first.cluster.is_superseded());
    first.leave().await;

    // Once it has left, its id is free at once.
    let again = start(&store, "twin").await.expect("a stopped node's id is free");
    assert_eq!(row(&*store, "twin").await.status, NodeStatus::Active);
    again.leave().await;
}

async fn a_process_whose_node_id_was_taken_over_stops_and_writes_nothing_more(db: TestDb) {
    let store = shared_store(&db);
    let node = start(&store, "n").await.unwrap();
    let job = node.submit(vec![JobRequest::new("sleep", json!({"ms": 60_000}))]).await.unwrap()[0].job_id;
    until("the job runs", || async { store.get_job(job).await.unwrap().unwrap().status == JobStatus::Running }).await;

    // Another process takes the id over, as if this one had been paused past the bound
    // (the take is refused when this one beats between the read and the take: again).
    let mut rescued = None;
    while rescued.is_none() {
        let seen = row(&*store, "n").await;
        let now = SystemClock.now();
        let usurper = NodeRecord { incarnation: "usurper".into(), last_seen: now, ..seen.clone() };
        rescued = store.take_node(aeon::store::TakeNodeParams { node: usurper, seen: Some(seen) }, now).await.unwrap();
    }
    let rescued = rescued.unwrap();
    assert_eq!(rescued.iter().map(|r| r.job_id).collect::<Vec<_>>(), vec![job], "its run voided");

    tokio::time::timeout(PATIENCE, node.superseded()).await.expect("the process learns it was superseded");
    node.stand_down().await;
    node.leave().await;
    let after = row(&*store, "n").await;
    assert_eq!((after.incarnation.as_str(), after.status), ("usurper", NodeStatus::Active), "nothing written");
    let job = store.get_job(job).await.unwrap().unwrap();
    assert_ne!(job.status, JobStatus::Completed);
    let runs = store.executions(job.job_id).await.unwrap();
    let error = runs[0].error.clone().unwrap_or_default();
    assert!(error.starts_with("node n was restarted"), "{runs:?}");
}

fn worker(worker_id: Uuid, node_id: &str) -> WorkerRecord {
    WorkerRecord {
        worker_id,
        node_id: node_id.into(),
        status: WorkerStatus::Active,
        capacity: 10,
        current_load: 3,
        health_score: 1.0,
        failure_count: 0,
        metadata: json!({}),
        last_heartbeat: None,
    }
}

on_every_backend!(
    a_node_restarted_under_its_id_voids_its_previous_process_claims_at_start,
    a_process_whose_node_id_was_taken_over_stops_and_writes_nothing_more,
);

// On SQLite the file's lock refuses a second process before it gets this far
// (`sqlite_schema`), so a second store handle in one process proves nothing there.
postgres_only!(a_second_live_process_with_the_same_node_id_is_refused);
