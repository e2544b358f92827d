//! The store's side of the cluster, on each backend: node rows, the rescue lease and
//! its fencing token, and voiding a dead node's claims at once.

use std::time::Duration;

use aeon::clock::Clock;
use aeon::job::{ExecutionStatus, JobStatus};
use aeon::store::{
    AcquireLeaseParams, Fence, NodeRecord, NodeStatus, RESCUE_LEASE, RescueNodeParams, TakeNodeParams, WorkerRecord,
    WorkerStatus,
};
use serde_json::json;
use uuid::Uuid;

use crate::common::{TestDb, claim_request, clock, exact_backoff, new_job, on_every_backend};

fn node(id: &str, at: chrono::DateTime<chrono::Utc>) -> NodeRecord {
    NodeRecord {
        node_id: id.into(),
        address: format!("{id}:8080"),
        status: NodeStatus::Active,
        started_at: at,
        last_seen: at,
        incarnation: format!("{id}-1"),
    }
}

fn worker(worker_id: Uuid, node_id: &str) -> WorkerRecord {
    WorkerRecord {
        worker_id,
        node_id: node_id.into(),
        status: WorkerStatus::Active,
        capacity: 10,
        current_load: 1,
        health_score: 1.0,
        failure_count: 0,
        metadata: json!({}),
        last_heartbeat: None,
    }
}

async fn one_holder_at_a_time_and_the_token_grows_when_the_lease_changes_hands(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let ttl = chrono::Duration::seconds(10);
    let a = store.acquire_lease(rescue_lease("a", clock.now() + ttl), clock.now()).await.unwrap();
    assert_eq!(a, Some(1));
    assert_eq!(store.acquire_lease(rescue_lease("b", clock.now() + ttl), clock.now()).await.unwrap(), None);
    clock.advance(Duration::from_secs(5));
    let renewed = store.acquire_lease(rescue_lease("a", clock.now() + ttl), clock.now()).await.unwrap();
    assert_eq!(renewed, Some(1), "renewing keeps the token");
    clock.advance(Duration::from_secs(11));
    let b = store.acquire_lease(rescue_lease("b", clock.now() + ttl), clock.now()).await.unwrap();
    assert_eq!(b, Some(2), "an expired lease is taken, under a larger token");
    assert_eq!(store.acquire_lease(rescue_lease("a", clock.now() + ttl), clock.now()).await.unwrap(), None);
}

async fn a_dead_nodes_claims_are_voided_at_once_under_a_valid_fence_only(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let t0 = clock.now();
    store.heartbeat_node(node("dead", t0), t0).await.unwrap();
    store.heartbeat_node(node("alive", t0), t0).await.unwrap();
    let (w_dead, w_alive) = (Uuid::new_v4(), Uuid::new_v4());
    store.upsert_workers(vec![worker(w_dead, "dead"), worker(w_alive, "alive")]).await.unwrap();
    store.enqueue((0..3).map(|_| new_job("echo", json!({}))).collect(), t0).await.unwrap();
    let lease = Duration::from_secs(300);
    let held = store.claim(claim_request(w_dead, 2, lease), t0).await.unwrap();
    let other = store.claim(claim_request(w_alive, 1, lease), t0).await.unwrap();
    assert_eq!((held.len(), other.len()), (2, 1));

    clock.advance(Duration::from_secs(20));
    let now = clock.now();
    store.heartbeat_node(node("alive", now), now).await.unwrap();
    let token = store.acquire_lease(rescue_lease("alive", now + chrono::Duration::seconds(10)), now).await.unwrap();
    let fence = Fence { name: RESCUE_LEASE.into(), holder: "alive".into(), token: token.unwrap() };
    let silent_since = now - chrono::Duration::seconds(10);

    // A fence holds only with the lease's token, its holder and before it expires: a
    // fence wrong in any one of them changes nothing.
    let later = now + chrono::Duration::seconds(10); // the lease's own expiry
    for (stale, at, why) in [
        (Fence { token: fence.token + 1, ..fence.clone() }, now, "another token"),
        (Fence { token: fence.token - 1, ..fence.clone() }, now, "an older token"),
        (Fence { holder: "dead".into(), ..fence.clone() }, now, "another holder"),
        (fence.clone(), later, "an expired lease"),
    ] {
        assert_eq!(
            store
                .rescue_node(RescueNodeParams { node_id: "dead".into(), silent_since, fence: stale }, at)
                .await
                .unwrap(),
            None,
            "{why} changes nothing"
        );
    }
    assert_eq!(store.get_job(held[0].job_id).await.unwrap().unwrap().status, JobStatus::Running);

    let spoke = store
        .rescue_node(RescueNodeParams { node_id: "alive".into(), silent_since, fence: fence.clone() }, now)
        .await
        .unwrap();
    assert_eq!(spoke, Some(Vec::new()), "a node that spoke recently is not dead");

    let rescued = store
        .rescue_node(RescueNodeParams { node_id: "dead".into(), silent_since, fence: fence.clone() }, now)
        .await
        .unwrap()
        .unwrap();
    let mut ids: Vec<Uuid> = rescued.iter().map(|r| r.job_id).collect();
    ids.sort();
    let mut expected: Vec<Uuid> = held.iter().map(|c| c.job_id).collect();
    expected.sort();
    assert_eq!(ids, expected, "exactly the dead node's claims");
    for claim in &held {
        let job = store.get_job(claim.job_id).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Pending, "retried");
        let runs = store.executions(claim.job_id).await.unwrap();
        assert_eq!(runs[0].execution_status, ExecutionStatus::Crashed);
        assert!(runs[0].error.as_deref().unwrap().starts_with("node dead stopped heartbeating"), "{:?}", runs[0].error);
    }
    assert_eq!(store.get_job(other[0].job_id).await.unwrap().unwrap().status, JobStatus::Running);

    let nodes = store.list_nodes().await.unwrap();
    let statuses: Vec<(&str, NodeStatus)> = nodes.iter().map(|n| (n.node_id.as_str(), n.status)).collect();
    assert_eq!(statuses, vec![("alive", NodeStatus::Active), ("dead", NodeStatus::Dead)]);
    assert_eq!(nodes[1].address, "dead:8080");
    let workers = store.list_workers().await.unwrap();
    let status_of = |id: Uuid| workers.iter().find(|w| w.worker_id == id).unwrap().status;
    assert_eq!((status_of(w_dead), status_of(w_alive)), (WorkerStatus::Dead, WorkerStatus::Active));
    assert_eq!(
        store.rescue_node(RescueNodeParams { node_id: "dead".into(), silent_since, fence }, now).await.unwrap(),
        Some(Vec::new()),
        "once"
    );
}

/// The rescue lease for `holder`, until `until`.
fn rescue_lease(holder: &str, until: chrono::DateTime<chrono::Utc>) -> AcquireLeaseParams {
    AcquireLeaseParams { name: RESCUE_LEASE.into(), holder: holder.into(), until }
}

fn incarnation(id: &str, incarnation: &str, at: chrono::DateTime<chrono::Utc>) -> NodeRecord {
    NodeRecord { incarnation: incarnation.into(), ..node(id, at) }
}

async fn a_new_process_takes_a_node_id_over_only_as_it_saw_it_and_voids_what_the_previous_one_left(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let t0 = clock.now();
    assert!(store.heartbeat_node(incarnation("n", "first", t0), t0).await.unwrap(), "a first beat writes the row");
    let w_old = Uuid::new_v4();
    store.upsert_workers(vec![worker(w_old, "n"), worker(Uuid::new_v4(), "other")]).await.unwrap();
    store.enqueue((0..3).map(|_| new_job("echo", json!({}))).collect(), t0).await.unwrap();
    let held = store.claim(claim_request(w_old, 2, Duration::from_secs(300)), t0).await.unwrap();
    assert_eq!(held.len(), 2);

    // The second process, before it takes the id: its beats write nothing.
    clock.advance(Duration::from_secs(1));
    let t1 = clock.now();
    assert!(!store.heartbeat_node(incarnation("n", "second", t1), t1).await.unwrap(), "fenced off");
    let seen = store.list_nodes().await.unwrap().into_iter().find(|n| n.node_id == "n").unwrap();
    assert_eq!((seen.incarnation.as_str(), seen.last_seen), ("first", t0));

    // The row moved after it was read (the first process beat again): nothing changes.
    assert_eq!(
        store.take_node(TakeNodeParams { node: incarnation("n", "second", t1), seen: None }, t1).await.unwrap(),
        None,
        "a row exists"
    );
    assert!(store.heartbeat_node(incarnation("n", "first", t1), t1).await.unwrap());
    clock.advance(Duration::from_secs(1));
    let t2 = clock.now();
    let moved =
        store.take_node(TakeNodeParams { node: incarnation("n", "second", t2), seen: Some(seen) }, t2).await.unwrap();
    assert_eq!(moved, None, "the first process beat since the row was read");
    for claim in &held {
        assert_eq!(store.get_job(claim.job_id).await.unwrap().unwrap().status, JobStatus::Running);
    }

    // As seen now: taken, and the first process's claims voided at once.
    let seen = store.list_nodes().await.unwrap().into_iter().find(|n| n.node_id == "n").unwrap();
    let rescued = store
        .take_node(TakeNodeParams { node: incarnation("n", "second", t2), seen: Some(seen) }, t2)
        .await
        .unwrap()
        .expect("taken");
    let mut ids: Vec<Uuid> = rescued.iter().map(|r| r.job_id).collect();
    ids.sort();
    let mut expected: Vec<Uuid> = held.iter().map(|c| c.job_id).collect();
    expected.sort();
    assert_eq!(ids, expected, "exactly the previous process's claims");
    for claim in &held {
        let job = store.get_job(claim.job_id).await.unwrap().unwrap();
        assert_eq!((job.status, job.worker_id), (JobStatus::Pending, None));
        for run in store.executions(claim.job_id).await.unwrap() {
            let error = run.error.unwrap_or_default();
            assert!(error.starts_with("node n was restarted"), "{error:?}");
        }
    }
    let row = store.list_nodes().await.unwrap().into_iter().find(|n| n.node_id == "n").unwrap();
    assert_eq!((row.incarnation.as_str(), row.status, row.started_at), ("second", NodeStatus::Active, t2));
    let workers = store.list_workers().await.unwrap();
    let status_of = |node: &str| workers.iter().find(|w| w.node_id == node).unwrap().status;
    assert_eq!((status_of("n"), status_of("other")), (WorkerStatus::Dead, WorkerStatus::Active));

    // From now on the first process is fenced off, the second is not.
    assert!(!store.heartbeat_node(incarnation("n", "first", t2), t2).await.unwrap());
    assert!(store.heartbeat_node(incarnation("n", "second", t2), t2).await.unwrap());
    // A node id nobody held is taken at once, with nothing to void.
    assert_eq!(
        store.take_node(TakeNodeParams { node: incarnation("m", "one", t2), seen: None }, t2).await.unwrap(),
        Some(Vec::new())
    );
    assert_eq!(
        store.take_node(TakeNodeParams { node: incarnation("m", "two", t2), seen: None }, t2).await.unwrap(),
        None,
        "once"
    );
}

on_every_backend!(
    one_holder_at_a_time_and_the_token_grows_when_the_lease_changes_hands,
    a_dead_nodes_claims_are_voided_at_once_under_a_valid_fence_only,
    a_new_process_takes_a_node_id_over_only_as_it_saw_it_and_voids_what_the_previous_one_left,
);
