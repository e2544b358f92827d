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
use crate::store::{SnapshotRow, Store};

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
pub async fn verify(store: &dyn Store, snapshot_id: Uuid) -> Result<Verified, SnapshotError> {
    let head = store.get_snapshot(snapshot_id).await?.ok_or(SnapshotError::NotFound(snapshot_id))?;
    verify_row(store, head).await
}

/// [`verify`] of a row already read.
pub async fn verify_row(store: &dyn Store, head: SnapshotRow) -> Result<Verified, SnapshotError> {
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
