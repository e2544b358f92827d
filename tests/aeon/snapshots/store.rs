//! The store's snapshot methods, on every backend: rows come back as written, newest
//! first, filtered by type and node, paged, deleted; a row whose metadata is not an
//! object does not break a listing.

use aeon::store::{SnapshotFilter, SnapshotRow, SnapshotType};
use chrono::{Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::common::{TestDb, on_every_backend};

fn row(snapshot_type: SnapshotType, node: &str, seconds: i64) -> SnapshotRow {
    let at = chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
    SnapshotRow {
        snapshot_id: Uuid::now_v7(),
        snapshot_type,
        state_data: json!({"n": seconds, "nested": {"b": 1.5, "a": [true, null]}}).to_string(),
        metadata: json!({"node_id": node, "schema_version": 1}).to_string(),
        created_at: at + Duration::seconds(seconds),
    }
}

fn ids(found: &[aeon::store::SnapshotSummary]) -> Vec<Uuid> {
    found.iter().map(|s| s.snapshot_id).collect()
}

async fn snapshot_rows_are_written_listed_newest_first_filtered_paged_and_deleted(db: TestDb) {
    let store = db.store(Default::default());
    let a1 = row(SnapshotType::Full, "a", 1);
    let a2 = row(SnapshotType::Auto, "a", 2);
    let b3 = row(SnapshotType::Incremental, "b", 3);
    let a4 = row(SnapshotType::Auto, "a", 4);
    for r in [&a1, &a2, &b3, &a4] {
        store.insert_snapshot(r.clone()).await.unwrap();
    }

    let got = store.get_snapshot(a2.snapshot_id).await.unwrap().expect("the row");
    assert_eq!((got.snapshot_id, got.snapshot_type, got.created_at), (a2.snapshot_id, a2.snapshot_type, a2.created_at));
    // Postgres re-renders JSONB: the values, not the texts, come back equal.
    let parsed = |t: &str| serde_json::from_str::<serde_json::Value>(t).unwrap();
    assert_eq!(parsed(&got.state_data), parsed(&a2.state_data));
    assert_eq!(parsed(&got.metadata), parsed(&a2.metadata));
    assert_eq!(store.get_snapshot(Uuid::now_v7()).await.unwrap(), None);

    let all = store.list_snapshots(SnapshotFilter::newest(10)).await.unwrap();
    assert_eq!(ids(&all), [a4.snapshot_id, b3.snapshot_id, a2.snapshot_id, a1.snapshot_id]);
    let autos = SnapshotFilter { snapshot_type: Some(SnapshotType::Auto), ..SnapshotFilter::newest(10) };
    assert_eq!(ids(&store.list_snapshots(autos).await.unwrap()), [a4.snapshot_id, a2.snapshot_id]);
    let of_a = SnapshotFilter { node_id: Some("a".into()), ..SnapshotFilter::newest(10) };
    assert_eq!(ids(&store.list_snapshots(of_a).await.unwrap()), [a4.snapshot_id, a2.snapshot_id, a1.snapshot_id]);
    let page2 = SnapshotFilter { before: Some(b3.snapshot_id), ..SnapshotFilter::newest(1) };
    assert_eq!(ids(&store.list_snapshots(page2).await.unwrap()), [a2.snapshot_id]);

    assert_eq!(store.latest_snapshot(None).await.unwrap().map(|r| r.snapshot_id), Some(a4.snapshot_id));
    assert_eq!(store.latest_snapshot(Some("b".into())).await.unwrap().map(|r| r.snapshot_id), Some(b3.snapshot_id));
    assert_eq!(store.latest_snapshot(Some("c".into())).await.unwrap(), None);

    assert_eq!(store.delete_snapshots(vec![a4.snapshot_id, a1.snapshot_id, Uuid::now_v7()]).await.unwrap(), 2);
    assert_eq!(store.delete_snapshots(vec![]).await.unwrap(), 0);
    let left = store.list_snapshots(SnapshotFilter::newest(10)).await.unwrap();
    assert_eq!(ids(&left), [b3.snapshot_id, a2.snapshot_id]);
}

async fn a_row_whose_metadata_is_not_an_object_is_listed_but_matches_no_node(db: TestDb) {
    let store = db.store(Default::default());
    let odd = SnapshotRow { metadata: json!(["not", "an", "object"]).to_string(), ..row(SnapshotType::Full, "a", 5) };
    let good = row(SnapshotType::Full, "a", 1);
    store.insert_snapshot(odd.clone()).await.unwrap();
    store.insert_snapshot(good.clone()).await.unwrap();
    assert_eq!(
        ids(&store.list_snapshots(SnapshotFilter::newest(10)).await.unwrap()),
        [odd.snapshot_id, good.snapshot_id]
    );
    let of_a = SnapshotFilter { node_id: Some("a".into()), ..SnapshotFilter::newest(10) };
    assert_eq!(ids(&store.list_snapshots(of_a).await.unwrap()), [good.snapshot_id]);
    assert_eq!(store.latest_snapshot(Some("a".into())).await.unwrap().map(|r| r.snapshot_id), Some(good.snapshot_id));
}

on_every_backend!(
    snapshot_rows_are_written_listed_newest_first_filtered_paged_and_deleted,
    a_row_whose_metadata_is_not_an_object_is_listed_but_matches_no_node,
);
