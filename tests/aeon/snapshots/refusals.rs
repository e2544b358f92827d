//! Snapshots that do not verify are refused with a clear error and change nothing;
//! `--restore latest` falls back to the newest one that verifies, and says so.

use aeon::actors::probe::Probe;
use aeon::handler::Registry;
use aeon::node::start_restored;
use aeon::snapshot::SnapshotError;
use aeon::store::SnapshotType;
use serde_json::json;

use super::{config, restored_fields, rig, tampered};
use crate::common::{TestDb, on_every_backend, shared};

async fn corrupt_tampered_wrong_version_and_broken_chain_snapshots_are_refused_and_change_nothing(db: TestDb) {
    let mut rig = rig(db).await;
    let a = rig.workers().await[0];
    let good = rig.node.snapshots().take(SnapshotType::Full).await.unwrap();
    let incremental = {
        rig.crash(a).await;
        rig.node.snapshots().take(SnapshotType::Incremental).await.unwrap()
    };
    let store = rig.db.store(Default::default());
    let same = |_: &mut serde_json::Value| {};

    // A score changed after the snapshot was taken: the checksum says so.
    let edited = tampered(&good, false, |s| s["workers"][0]["health"]["score"] = json!(0.01), same);
    // The right checksum over a state of the wrong shape.
    let misshapen = tampered(&good, true, |s| s["workers"] = json!("nobody"), same);
    // Another schema version (sealed, so only the version is wrong).
    let future = tampered(&good, true, same, |m| m["schema_version"] = json!(99));
    // A checksum over a state whose node is not the metadata's.
    let elsewhere = tampered(&good, true, |s| s["node_id"] = json!("another-node"), same);
    for row in [&edited, &misshapen, &future, &elsewhere] {
        store.insert_snapshot(row.clone()).await.unwrap();
    }
    // The INCREMENTAL's parent goes: its chain is broken.
    store.delete_snapshots(vec![good.snapshot_id]).await.unwrap();

    rig.crash(a).await; // failure_count 2 now; a restore of any of these would undo it
    let before = restored_fields(&rig.state().await);
    let cases = [
        (edited.snapshot_id, "checksum_mismatch", "does not match its checksum"),
        (misshapen.snapshot_id, "corrupt", "state_data is not a node state"),
        (future.snapshot_id, "schema_version", "schema version 99; this build reads version 1"),
        (elsewhere.snapshot_id, "corrupt", "names node \"another-node\""),
        (incremental.snapshot_id, "broken_chain", &format!("its parent {} does not exist", good.snapshot_id)),
    ];
    for (id, code, says) in cases {
        let refused = rig.node.snapshots().restore(id).await.expect_err("refused");
        assert!(refused.is_invalid_snapshot(), "{refused}");
        assert_eq!(refused.code(), code, "{refused}");
        let message = refused.to_string();
        assert!(message.contains(says) && message.contains(&id.to_string()), "{message}");
    }
    assert_eq!(restored_fields(&rig.state().await), before, "nothing changed");
    assert!(matches!(rig.node.snapshots().restore(uuid::Uuid::now_v7()).await, Err(SnapshotError::NotFound(_))));
}

async fn restore_latest_at_start_falls_back_to_the_newest_snapshot_that_verifies(db: TestDb) {
    let mut rig = rig(db).await;
    let [a, b] = rig.workers().await[..] else { panic!("two workers") };
    rig.runs(a, &[(false, 10), (true, 10)]).await;
    rig.crash(b).await;
    let good = rig.node.snapshots().take(SnapshotType::Full).await.unwrap();
    let expected = rig.node.snapshots().verify(good.snapshot_id).await.unwrap().state;
    let broken = tampered(&good, false, |s| s["workers"][1]["restarts"]["failure_count"] = json!(0), |_| {});
    let store = rig.db.store(Default::default());
    store.insert_snapshot(broken.clone()).await.unwrap();
    rig.node.drain().await;

    // A second node over the same database restores at its start.
    let (node, report) = start_restored(
        config(),
        store.shared(),
        Registry::with_builtins(),
        shared(&rig.clock),
        Probe::none(),
        "latest",
    )
    .await
    .expect("starts");
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert_eq!(report.skipped[0].snapshot_id, broken.snapshot_id);
    assert!(report.skipped[0].error.contains("checksum"), "{report:?}");
    let restored = report.restored.expect("fell back to the good one");
    assert_eq!(restored.snapshot_id, good.snapshot_id);
    // Its workers are the snapshot's: same ids, counters and health.
    let slots = node.slots().await;
    assert_eq!(slots.iter().map(|s| (s.worker_id, s.failure_count)).collect::<Vec<_>>(), [(a, 0), (b, 1)]);
    let state = aeon::snapshot::capture::capture(&node.snapshot_subject()).await.unwrap();
    assert_eq!(restored_fields(&state), restored_fields(&expected));

    // An id that does not verify stops the start, naming why.
    let refused = start_restored(
        config(),
        store.shared(),
        Registry::with_builtins(),
        shared(&rig.clock),
        Probe::none(),
        &broken.snapshot_id.to_string(),
    )
    .await
    .err()
    .expect("refused");
    assert!(refused.to_string().contains("does not match its checksum"), "{refused}");
}

on_every_backend!(
    corrupt_tampered_wrong_version_and_broken_chain_snapshots_are_refused_and_change_nothing,
    restore_latest_at_start_falls_back_to_the_newest_snapshot_that_verifies,
);
