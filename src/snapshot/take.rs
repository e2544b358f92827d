//! Taking a snapshot: FULL (the whole state), INCREMENTAL (the change since this
//! node's latest snapshot, which must verify) or AUTO (FULL content every
//! `full_every` AUTO snapshots, INCREMENTAL on the previous AUTO between).

use serde_json::Value;
use uuid::Uuid;

use super::canonical::checksum;
use super::capture::{capture, config_fingerprint};
use super::delta::diff;
use super::model::{Content, NodeState, SCHEMA_VERSION, SnapshotMeta};
use super::verify::{Verified, verify_row};
use super::{SnapshotError, Snapshots};
use crate::actors::store::InsertSnapshot;
use crate::store::{SnapshotFilter, SnapshotRow, SnapshotType};

impl Snapshots {
    /// Takes a snapshot of `snapshot_type` now and writes it. Answers the row written.
    pub async fn take(&self, snapshot_type: SnapshotType) -> Result<SnapshotRow, SnapshotError> {
        let node_id = self.node.node_id.clone();
        let parent = match snapshot_type {
            SnapshotType::Full => None,
            SnapshotType::Incremental => {
                let latest = self.node.reads().latest_snapshot(Some(node_id.clone())).await?;
                let Some(latest) = latest else {
                    return Err(SnapshotError::NoParent { node_id, why: String::new() });
                };
                let id = latest.snapshot_id;
                let verified = verify_row(self.node.reads(), latest).await.map_err(|e| SnapshotError::NoParent {
                    node_id: node_id.clone(),
                    why: format!(" (the latest, {id}, does not verify: {e})"),
                })?;
                Some(verified)
            }
            SnapshotType::Auto => return self.take_auto(self.node.config().snapshots.full_every).await,
        };
        let state = capture(&self.node).await?;
        self.write(snapshot_type, state, parent.as_ref()).await
    }

    /// Takes an AUTO snapshot: FULL content when no earlier AUTO snapshot of this node
    /// verifies or `full_every` have passed since the last FULL one, else INCREMENTAL
    /// on the latest AUTO one.
    pub async fn take_auto(&self, full_every: u32) -> Result<SnapshotRow, SnapshotError> {
        let parent = self.auto_parent(full_every).await?;
        let state = capture(&self.node).await?;
        self.write(SnapshotType::Auto, state, parent.as_ref()).await
    }

    /// The parent of the next AUTO snapshot: the latest AUTO of this node, unless the
    /// next is due to be FULL (every `full_every`) or the latest does not verify.
    async fn auto_parent(&self, full_every: u32) -> Result<Option<Verified>, SnapshotError> {
        let full_every = full_every.max(1);
        let filter = SnapshotFilter {
            snapshot_type: Some(SnapshotType::Auto),
            node_id: Some(self.node.node_id.clone()),
            before: None,
            limit: 1,
        };
        let Some(latest) = self.node.reads().list_snapshots(filter).await?.into_iter().next() else { return Ok(None) };
        match super::verify::verify(self.node.reads(), latest.snapshot_id).await {
            Ok(v) if v.meta.depth + 1 < full_every => Ok(Some(v)),
            Ok(_) => Ok(None),
            Err(e) if e.is_invalid_snapshot() => {
                tracing::warn!(error = %e, "the latest AUTO snapshot does not verify: the next one is FULL");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Writes `state` as a snapshot: whole, or as its change from `parent`.
    async fn write(
        &self,
        snapshot_type: SnapshotType,
        state: NodeState,
        parent: Option<&Verified>,
    ) -> Result<SnapshotRow, SnapshotError> {
        let (content, state_data, parent_id, depth) = match parent {
            None => (Content::Full, to_value(&state), None, 0),
            Some(p) => {
                (Content::Incremental, to_value(&diff(&p.state, &state)), Some(p.row.snapshot_id), p.meta.depth + 1)
            }
        };
        let mut meta = SnapshotMeta {
            schema_version: SCHEMA_VERSION,
            node_id: state.node_id.clone(),
            config_fingerprint: config_fingerprint(self.node.config()),
            content,
            parent_id,
            depth,
            checksum: String::new(),
        };
        meta.checksum = checksum(snapshot_type, &to_value(&meta), &state_data);
        let row = SnapshotRow {
            snapshot_id: Uuid::now_v7(),
            snapshot_type,
            state_data: state_data.to_string(),
            metadata: to_value(&meta).to_string(),
            created_at: state.taken_at,
        };
        self.node.actors.store.send(InsertSnapshot(row.clone())).await.map_err(|_| SnapshotError::Unavailable)??;
        tracing::info!(
            snapshot_id = %row.snapshot_id,
            snapshot_type = %snapshot_type,
            content = content.as_str(),
            parent = ?parent_id,
            "snapshot taken"
        );
        Ok(row)
    }
}

fn to_value<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("snapshot types serialize")
}
