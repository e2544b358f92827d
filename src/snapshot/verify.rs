//! Verifying a snapshot before anything is restored from it. A snapshot verifies when
//! it and every snapshot of its chain (parent by parent, down to FULL content):
//!
//! 1. has metadata that parses, of this build's [`SCHEMA_VERSION`];
//! 2. has a `state_data` that parses as JSON and matches its checksum;
//! 3. has a `state_data` of exactly the shape its content says (a [`NodeState`] or a
//!    [`Delta`]), naming the same node as its metadata, with sane values;
//! 4. links to a parent that exists, belongs to the same node, is not newer, and does
//!    not lead round in a cycle.
//!
//! The first failure is the answer, naming the snapshot at fault; nothing is half
//! accepted.

use std::collections::HashSet;

use serde_json::Value;
use uuid::Uuid;

use super::SnapshotError;
use super::canonical::checksum;
use super::delta::{Delta, apply};
use super::model::{Content, NodeState, SCHEMA_VERSION, SnapshotMeta};
use crate::store::{Reads, SnapshotRow};

/// The longest chain followed; a longer one is refused as broken.
pub const MAX_CHAIN: usize = 10_000;

/// A snapshot that verified, and the state its chain rebuilds.
#[derive(Debug, Clone)]
pub struct Verified {
    pub row: SnapshotRow,
    pub meta: SnapshotMeta,
    /// The chain, FULL base first, this snapshot last.
    pub chain: Vec<Uuid>,
    /// The node's state as this snapshot records it (base plus every change).
    pub state: NodeState,
}

/// One row's content, checked alone.
pub enum Checked {
    Full(NodeState),
    Incremental(Delta),
}

/// Checks one row by itself: metadata, version, checksum, shape (steps 1 to 3).
pub fn check_row(row: &SnapshotRow) -> Result<(SnapshotMeta, Checked), SnapshotError> {
    let id = row.snapshot_id;
    let corrupt = |reason: String| SnapshotError::Corrupt { snapshot_id: id, reason };
    let metadata: Value =
        serde_json::from_str(&row.metadata).map_err(|e| corrupt(format!("metadata is not JSON: {e}")))?;
    match metadata.get("schema_version").and_then(Value::as_u64) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        other => {
            let found = other.map(|v| v.to_string()).unwrap_or_else(|| "none".into());
            return Err(SnapshotError::SchemaVersion { snapshot_id: id, found, supported: SCHEMA_VERSION });
        }
    }
    let meta: SnapshotMeta = serde_json::from_value(metadata.clone())
        .map_err(|e| corrupt(format!("metadata does not fit schema version {SCHEMA_VERSION}: {e}")))?;
    let state: Value =
        serde_json::from_str(&row.state_data).map_err(|e| corrupt(format!("state_data is not JSON: {e}")))?;
    let computed = checksum(row.snapshot_type, &metadata, &state);
    if computed != meta.checksum {
        return Err(SnapshotError::ChecksumMismatch { snapshot_id: id, stored: meta.checksum, computed });
    }
    let checked = match meta.content {
        Content::Full => {
            if meta.parent_id.is_some() || meta.depth != 0 {
                return Err(corrupt("FULL content with a parent".into()));
            }
            let state: NodeState =
                serde_json::from_value(state).map_err(|e| corrupt(format!("state_data is not a node state: {e}")))?;
            state.check(&meta.node_id).map_err(corrupt)?;
            Checked::Full(state)
        }
        Content::Incremental => {
            if meta.parent_id.is_none() || meta.depth == 0 {
                return Err(SnapshotError::BrokenChain {
                    snapshot_id: id,
                    reason: "INCREMENTAL content names no parent".into(),
                });
            }
            let delta: Delta = serde_json::from_value(state)
                .map_err(|e| corrupt(format!("state_data is not a change of a node state: {e}")))?;
            if delta.node_id != meta.node_id {
                return Err(corrupt(format!(
                    "state_data names node {:?}, the metadata {:?}",
                    delta.node_id, meta.node_id
                )));
            }
            Checked::Incremental(delta)
        }
    };
    Ok((meta, checked))
}

/// Verifies the snapshot `snapshot_id` and its chain, and rebuilds its state.
pub async fn verify(store: &dyn Reads, snapshot_id: Uuid) -> Result<Verified, SnapshotError> {
    let head = store.get_snapshot(snapshot_id).await?.ok_or(SnapshotError::NotFound(snapshot_id))?;
    verify_row(store, head).await
}

/// [`verify`] of a row already read.
pub async fn verify_row(store: &dyn Reads, head: SnapshotRow) -> Result<Verified, SnapshotError> {
    let (head_meta, checked) = check_row(&head)?;
    let mut deltas: Vec<Delta> = Vec::new();
    let mut chain = vec![head.snapshot_id];
    let mut seen = HashSet::from([head.snapshot_id]);
    let (mut child_id, mut child_meta, mut child_at, mut current) =
        (head.snapshot_id, head_meta.clone(), head.created_at, checked);
    let base = loop {
        match current {
            Checked::Full(state) => break state,
            Checked::Incremental(delta) => {
                deltas.push(delta);
                let broken = |reason: String| SnapshotError::BrokenChain { snapshot_id: child_id, reason };
                let parent_id = child_meta.parent_id.expect("checked: INCREMENTAL names a parent");
                if !seen.insert(parent_id) {
                    return Err(broken(format!("the chain comes back to {parent_id}")));
                }
                if chain.len() >= MAX_CHAIN {
                    return Err(broken(format!("the chain is longer than {MAX_CHAIN} snapshots")));
                }
                let parent = store
                    .get_snapshot(parent_id)
                    .await?
                    .ok_or_else(|| broken(format!("its parent {parent_id} does not exist")))?;
                let (parent_meta, parent_checked) = check_row(&parent)?;
                if parent_meta.node_id != child_meta.node_id {
                    return Err(broken(format!("its parent {parent_id} is of node {:?}", parent_meta.node_id)));
                }
                if parent_meta.depth + 1 != child_meta.depth {
                    return Err(broken(format!(
                        "its depth {} does not follow its parent's {}",
                        child_meta.depth, parent_meta.depth
                    )));
                }
                if parent.created_at > child_at {
                    return Err(broken(format!("its parent {parent_id} is newer than it")));
                }
                chain.push(parent_id);
                (child_id, child_meta, child_at, current) = (parent_id, parent_meta, parent.created_at, parent_checked);
            }
        }
    };
    chain.reverse();
    let state = deltas.iter().rev().fold(base, |state, delta| apply(&state, delta));
    Ok(Verified { row: head, meta: head_meta, chain, state })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use crate::store::{Snapshots, Store};
    use chrono::{DateTime, Utc};
    use serde_json::json;

    use super::*;
    use crate::retry::BackoffPolicy;
    use crate::snapshot::model::QueueStats;
    use crate::store::SnapshotType;
    use crate::store::sqlite::SqliteStore;

    const NODE: &str = "node-a";

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn meta(node: &str, content: Content, parent_id: Option<Uuid>, depth: u32) -> SnapshotMeta {
        SnapshotMeta {
            schema_version: SCHEMA_VERSION,
            node_id: node.into(),
            config_fingerprint: "sha256:0123456789abcdef".into(),
            content,
            parent_id,
            depth,
            checksum: String::new(),
        }
    }

    fn base(node: &str) -> Value {
        let state = NodeState {
            node_id: node.into(),
            taken_at: at(0),
            workers: vec![],
            restart_history: vec![],
            queue: QueueStats { by_status: BTreeMap::new() },
            in_flight: vec![],
        };
        serde_json::to_value(state).unwrap()
    }

    /// A change that sets the queue's PENDING count.
    fn change(node: &str, pending: i64) -> Value {
        let delta = Delta {
            node_id: node.into(),
            taken_at: at(0),
            workers: vec![],
            removed_workers: vec![],
            order: None,
            restart_history: None,
            queue: Some(QueueStats { by_status: BTreeMap::from([("PENDING".to_string(), pending)]) }),
            in_flight: None,
        };
        serde_json::to_value(delta).unwrap()
    }

    /// A row as a snapshot is written: its checksum over its type, metadata and state.
    fn sealed(snapshot_id: Uuid, mut meta: SnapshotMeta, state: Value, created_at: DateTime<Utc>) -> SnapshotRow {
        meta.checksum = checksum(SnapshotType::Auto, &serde_json::to_value(&meta).unwrap(), &state);
        SnapshotRow {
            snapshot_id,
            snapshot_type: SnapshotType::Auto,
            state_data: state.to_string(),
            metadata: serde_json::to_value(&meta).unwrap().to_string(),
            created_at,
        }
    }

    fn full(node: &str, created_at: DateTime<Utc>) -> SnapshotRow {
        sealed(Uuid::new_v4(), meta(node, Content::Full, None, 0), base(node), created_at)
    }

    fn incremental(parent: Uuid, depth: u32, pending: i64, created_at: DateTime<Utc>) -> SnapshotRow {
        sealed(Uuid::new_v4(), meta(NODE, Content::Incremental, Some(parent), depth), change(NODE, pending), created_at)
    }

    fn refused(row: &SnapshotRow) -> SnapshotError {
        check_row(row).err().expect("the row must be refused")
    }

    fn is_broken(e: &SnapshotError, at_fault: Uuid) -> bool {
        matches!(e, SnapshotError::BrokenChain { snapshot_id, .. } if *snapshot_id == at_fault)
    }

    #[test]
    fn rows_as_written_check_with_their_content() {
        let f = full(NODE, at(0));
        assert!(matches!(check_row(&f), Ok((_, Checked::Full(_)))));
        let i = incremental(f.snapshot_id, 1, 3, at(1));
        assert!(matches!(check_row(&i), Ok((_, Checked::Incremental(_)))));
    }

    #[test]
    fn a_state_stored_in_another_rendering_still_matches_its_checksum() {
        let mut f = full(NODE, at(0));
        f.state_data = serde_json::to_string_pretty(&serde_json::from_str::<Value>(&f.state_data).unwrap()).unwrap();
        assert!(check_row(&f).is_ok());
    }

    #[test]
    fn a_state_changed_after_it_was_taken_does_not_match_its_checksum() {
        let mut i = incremental(Uuid::new_v4(), 1, 3, at(0));
        i.state_data = change(NODE, 4).to_string();
        assert!(matches!(refused(&i), SnapshotError::ChecksumMismatch { .. }));
    }

    #[test]
    fn a_snapshot_of_another_schema_version_is_refused() {
        for version in [json!(SCHEMA_VERSION + 1), json!(null)] {
            let mut f = full(NODE, at(0));
            let mut metadata: Value = serde_json::from_str(&f.metadata).unwrap();
            metadata["schema_version"] = version;
            f.metadata = metadata.to_string();
            assert!(matches!(refused(&f), SnapshotError::SchemaVersion { .. }));
        }
    }

    #[test]
    fn full_content_with_a_parent_or_a_depth_is_corrupt() {
        for (parent, depth) in [(Some(Uuid::new_v4()), 0), (None, 1)] {
            let f = sealed(Uuid::new_v4(), meta(NODE, Content::Full, parent, depth), base(NODE), at(0));
            assert!(matches!(refused(&f), SnapshotError::Corrupt { .. }), "parent {parent:?}, depth {depth}");
        }
    }

    #[test]
    fn incremental_content_without_a_parent_or_at_depth_zero_is_a_broken_chain() {
        for (parent, depth) in [(None, 1), (Some(Uuid::new_v4()), 0)] {
            let i = sealed(Uuid::new_v4(), meta(NODE, Content::Incremental, parent, depth), change(NODE, 1), at(0));
            assert!(is_broken(&refused(&i), i.snapshot_id), "parent {parent:?}, depth {depth}");
        }
    }

    #[test]
    fn a_change_naming_another_node_than_its_metadata_is_corrupt() {
        let i = sealed(
            Uuid::new_v4(),
            meta(NODE, Content::Incremental, Some(Uuid::new_v4()), 1),
            change("node-b", 1),
            at(0),
        );
        assert!(matches!(refused(&i), SnapshotError::Corrupt { .. }));
    }

    /// A SQLite store in a folder of its own, removed on drop.
    struct Scratch(SqliteStore, PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }

    async fn store_with(rows: &[&SnapshotRow]) -> Scratch {
        let dir = std::env::temp_dir().join(format!("aeon-verify-{}", Uuid::new_v4().simple()));
        let url = format!("sqlite://{}", dir.join("aeon.db").display());
        let store = SqliteStore::connect(&url, BackoffPolicy::default()).await.unwrap();
        let scratch = Scratch(store, dir);
        scratch.0.migrate().await.unwrap();
        for row in rows {
            scratch.0.insert_snapshot((*row).clone()).await.unwrap();
        }
        scratch
    }

    #[tokio::test]
    async fn a_chain_verifies_down_to_its_full_base_and_rebuilds_the_state() {
        let f = full(NODE, at(0));
        let one = incremental(f.snapshot_id, 1, 1, at(0));
        let two = incremental(one.snapshot_id, 2, 2, at(1));
        let s = store_with(&[&f, &one, &two]).await;
        let verified = verify(&s.0, two.snapshot_id).await.unwrap();
        assert_eq!(verified.chain, vec![f.snapshot_id, one.snapshot_id, two.snapshot_id]);
        assert_eq!(verified.meta.depth, 2);
        assert_eq!(
            verified.state.queue.by_status,
            BTreeMap::from([("PENDING".to_string(), 2)]),
            "the latest change wins"
        );
        assert!(matches!(verify(&s.0, Uuid::new_v4()).await, Err(SnapshotError::NotFound(_))));
    }

    #[tokio::test]
    async fn a_chain_with_a_missing_foreign_skipped_or_newer_parent_is_broken() {
        let other_node = full("node-b", at(0));
        let newer = full(NODE, at(5));
        let older = full(NODE, at(0));
        let children = [
            (incremental(Uuid::new_v4(), 1, 1, at(1)), "does not exist"),
            (incremental(other_node.snapshot_id, 1, 1, at(1)), "is of node \"node-b\""),
            (incremental(older.snapshot_id, 2, 1, at(1)), "its depth 2 does not follow its parent's 0"),
            (incremental(newer.snapshot_id, 1, 1, at(4)), "is newer than it"),
        ];
        let s = store_with(&[&other_node, &newer, &older]).await;
        for (child, reason) in &children {
            let e = verify_row(&s.0, child.clone()).await.expect_err("the chain must be refused");
            assert!(is_broken(&e, child.snapshot_id) && e.to_string().contains(reason), "{e}");
        }
    }

    #[tokio::test]
    async fn a_chain_that_comes_back_on_itself_is_broken() {
        let id = Uuid::new_v4();
        let looped = sealed(id, meta(NODE, Content::Incremental, Some(id), 1), change(NODE, 1), at(0));
        let s = store_with(&[&looped]).await;
        let e = verify(&s.0, id).await.expect_err("a loop must be refused");
        assert!(is_broken(&e, id) && e.to_string().contains("comes back to"), "{e}");
    }
}
