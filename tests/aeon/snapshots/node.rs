//! Taking and restoring snapshots on a node (manual clock), on every backend: FULL
//! and FULL + INCREMENTAL round trips compared field by field, jobs left alone, and
//! AUTO snapshots on the injected clock with retention.

use std::time::Duration;

use actix::Actor;
use aeon::actors::probe::Event;
use aeon::job::JobRequest;
use aeon::snapshot::{AutoSnapshots, AutoTick, Content, SnapshotConfig, SnapshotMeta};
use aeon::store::{SnapshotFilter, SnapshotType};
use serde_json::json;

use super::{restored_fields, rig};
use crate::common::actors::expect_event;
use crate::common::{TestDb, on_every_backend};

fn meta(row: &aeon::store::SnapshotRow) -> SnapshotMeta {
    serde_json::from_str(&row.metadata).expect("metadata")
}

async fn a_full_snapshot_restores_scores_restart_counters_and_history_and_leaves_jobs_alone(db: TestDb) {
    let mut rig = rig(db).await;
    let [a, b] = rig.workers().await[..] else { panic!("two workers") };
    // Before: a has a poor record, b died once; one job is running.
    rig.runs(a, &[(false, 100), (false, 200), (false, 50), (true, 10)]).await;
    assert_eq!(rig.crash(b).await, 1);
    let submitted = rig.node.submit(vec![JobRequest::new("gate", json!("held"))]).await.unwrap();
    let job_id = submitted[0].job_id;
    expect_event(
        &mut rig.events,
        "the job to start",
        |e| matches!(e, Event::JobStarted { job_id: j, .. } if *j == job_id),
    )
    .await;

    let row = rig.node.snapshots().take(SnapshotType::Full).await.unwrap();
    let taken = rig.node.snapshots().verify(row.snapshot_id).await.unwrap();
    assert_eq!(taken.chain, [row.snapshot_id]);
    let m = meta(&row);
    assert_eq!(
        (m.content, m.parent_id, m.schema_version, m.node_id.as_str()),
        (Content::Full, None, 1, rig.node.node_id.as_str())
    );
    let before = &taken.state;
    let wa = &before.workers[0];
    assert_eq!((wa.worker_id, wa.restarts.failure_count, wa.health.runs.len()), (a, 0, 4));
    assert!(wa.health.score < 0.6 && (wa.health.error_rate - 0.75).abs() < 1e-9, "{wa:?}");
    assert_eq!((before.workers[1].restarts.failure_count, before.workers[1].restarts.window.len()), (1, 1));
    assert_eq!(before.restart_history.len(), 1);
    assert_eq!(before.in_flight.len(), 1, "{:?}", before.in_flight);
    assert_eq!(before.in_flight[0].job_id, job_id);
    assert_eq!(before.queue.by_status["RUNNING"], 1);

    // Change the node: the job completes, a dies twice (fresh score), b does well.
    rig.gate.open(1);
    expect_event(
        &mut rig.events,
        "the job to settle",
        |e| matches!(e, Event::JobSettled { job_id: j } if *j == job_id),
    )
    .await;
    assert_eq!(rig.crash(a).await, 1);
    assert_eq!(rig.crash(a).await, 2);
    rig.runs(b, &[(true, 5), (true, 5)]).await;
    let changed = rig.state().await;
    assert_ne!(super::restored_fields(&changed), super::restored_fields(before));

    let report = rig.node.snapshots().restore(row.snapshot_id).await.unwrap();
    assert_eq!(report.chain, [row.snapshot_id]);
    assert!(report.config_matches);
    assert!(
        report.workers.iter().all(|w| w.note == "restored" && w.worker_id == Some(w.snapshot_worker_id)),
        "{report:?}"
    );
    assert_eq!(report.in_flight.len(), 1);
    assert_eq!((report.in_flight[0].status_now.as_str(), report.in_flight[0].same_claim), ("COMPLETED", false));

    let after = rig.state().await;
    assert_eq!(restored_fields(&after), restored_fields(before), "field by field, every worker");
    assert_eq!(after.restart_history, before.restart_history);
    let slots = rig.node.slots().await;
    assert_eq!(slots.iter().map(|s| s.failure_count).collect::<Vec<_>>(), [0, 1]);
    assert!((slots[0].score - wa.health.score).abs() < 1e-12);
    // The job the snapshot saw running is not touched: it stays COMPLETED, once.
    let job = rig.node.store().get_job(job_id).await.unwrap().unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("COMPLETED", 1));
}

async fn a_full_plus_incremental_chain_restores_the_incremental_state(db: TestDb) {
    let mut rig = rig(db).await;
    let [a, b] = rig.workers().await[..] else { panic!("two workers") };
    assert_eq!(rig.crash(b).await, 1);
    let full = rig.node.snapshots().take(SnapshotType::Full).await.unwrap();

    rig.clock.advance(Duration::from_secs(5));
    rig.runs(a, &[(false, 10), (true, 10)]).await;
    assert_eq!(rig.crash(a).await, 1);
    let incremental = rig.node.snapshots().take(SnapshotType::Incremental).await.unwrap();
    let m = meta(&incremental);
    assert_eq!((m.content, m.parent_id, m.depth), (Content::Incremental, Some(full.snapshot_id), 1));
    // Only what changed travels: no job moved, so no queue statistics or claims.
    let delta: aeon::snapshot::delta::Delta = serde_json::from_str(&incremental.state_data).unwrap();
    assert!(delta.workers.iter().any(|w| w.worker_id == a), "{:?}", delta.workers);
    assert!(delta.restart_history.is_some());
    assert!(delta.queue.is_none() && delta.in_flight.is_none() && delta.removed_workers.is_empty(), "{delta:?}");
    let expected = rig.node.snapshots().verify(incremental.snapshot_id).await.unwrap();
    assert_eq!(expected.chain, [full.snapshot_id, incremental.snapshot_id]);
    assert_eq!(restored_fields(&expected.state), restored_fields(&rig.state().await));

    // Change everything again, then go back to the INCREMENTAL state.
    rig.clock.advance(Duration::from_secs(5));
    assert_eq!(rig.crash(a).await, 2);
    assert_eq!(rig.crash(b).await, 2);
    rig.runs(b, &[(false, 10)]).await;
    let report = rig.node.snapshots().restore(incremental.snapshot_id).await.unwrap();
    assert_eq!(report.chain, [full.snapshot_id, incremental.snapshot_id]);
    let after = rig.state().await;
    assert_eq!(restored_fields(&after), restored_fields(&expected.state));
    assert_eq!(after.workers.iter().map(|w| w.restarts.failure_count).collect::<Vec<_>>(), [1, 1]);
    assert_eq!(after.restart_history, expected.state.restart_history);
    assert_eq!(after.restart_history.len(), 2);
}

async fn auto_snapshots_follow_the_injected_clock_alternate_full_and_incremental_and_keep_the_last(db: TestDb) {
    let mut rig = rig(db).await;
    let b = rig.workers().await[1];
    let config = SnapshotConfig { auto_interval_s: 60, keep_last: 3, full_every: 2 };
    let auto = AutoSnapshots::new(rig.node.snapshot_subject(), config, None).start();
    let tick = || async { auto.send(AutoTick).await.unwrap().unwrap() };

    assert!(tick().await.is_none(), "the first is due one interval after the start");
    rig.clock.advance(Duration::from_secs(59));
    assert!(tick().await.is_none());
    let mut taken = Vec::new();
    for n in 0..6 {
        rig.clock.advance(Duration::from_secs(if n == 0 { 1 } else { 60 }));
        if n == 3 {
            rig.crash(b).await; // a change for the increments to carry
        }
        let done = tick().await.expect("due");
        assert!(tick().await.is_none(), "one per interval");
        taken.push(done.snapshot);
    }
    let contents: Vec<(Content, u32)> = taken.iter().map(|r| (meta(r).content, meta(r).depth)).collect();
    use Content::{Full as F, Incremental as I};
    assert_eq!(contents, [(F, 0), (I, 1), (F, 0), (I, 1), (F, 0), (I, 1)]);
    assert_eq!(meta(&taken[3]).parent_id, Some(taken[2].snapshot_id));
    assert!(taken.iter().all(|r| r.snapshot_type == SnapshotType::Auto));

    // keep_last = 3 keeps the newest three and the FULL the oldest of them needs.
    let left = rig.node.store().list_snapshots(SnapshotFilter::newest(100)).await.unwrap();
    let left: Vec<_> = left.iter().map(|s| s.snapshot_id).collect();
    let expected: Vec<_> = [5, 4, 3, 2].iter().map(|&n| taken[n].snapshot_id).collect();
    assert_eq!(left, expected);
    for id in left {
        rig.node.snapshots().verify(id).await.expect("what retention keeps still verifies");
    }
    let last = rig.node.snapshots().verify(taken[5].snapshot_id).await.unwrap();
    assert_eq!(last.state.workers[1].restarts.failure_count, 1);
}

on_every_backend!(
    a_full_snapshot_restores_scores_restart_counters_and_history_and_leaves_jobs_alone,
    a_full_plus_incremental_chain_restores_the_incremental_state,
    auto_snapshots_follow_the_injected_clock_alternate_full_and_incremental_and_keep_the_last,
);
