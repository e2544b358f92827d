//! State snapshots: what a node's actors hold that the tables do not, written to
//! `state_snapshots` so that a node can be rebuilt after a disaster.
//!
//! - [`model`]: what a snapshot holds — per worker its settings, health score and its
//!   inputs, restart counters and intensity window, slots and prefetch queue; the
//!   Supervisor's restart history; queue statistics; the in-flight claims — and the
//!   metadata every row carries (schema version, node id, config fingerprint,
//!   content checksum, parent link).
//! - [`canonical`]: canonical JSON, the SHA-256 checksum and the config fingerprint.
//! - [`delta`]: INCREMENTAL content, the change since a parent.
//! - [`capture`]: asking the actors for their state.
//! - [`take`]: FULL, INCREMENTAL and AUTO snapshots, written through the StoreActor.
//! - [`verify`]: checksum, schema version, shape and chain, before any restore.
//! - [`restore`]: bringing workers' counters and health back on a running node; jobs
//!   are never touched, the in-flight list is only compared with the job rows.
//! - [`auto`]: AUTO snapshots on a timer, and their retention.
//! - `aeon node --restore latest|ID` is a start recipe of the node's:
//!   [`crate::node::restored`].
//!
//! Snapshot rows are written and deleted through the StoreActor (`InsertSnapshot`,
//! `DeleteSnapshots`) and read through [`Node::reads`](crate::node::Node::reads), the
//! node's read-only, watched `&dyn Reads`; only `--restore` reads the store itself,
//! before the node exists.
//!
//! `docs/snapshots.md` says what a snapshot holds and how a restore is verified.

pub mod auto;
pub mod canonical;
pub mod capture;
pub mod delta;
mod error;
pub mod model;
pub mod restore;
mod take;
pub mod verify;

pub use crate::config::SnapshotConfig;
pub use auto::{AutoSnapshots, AutoTaken, AutoTick};
pub use error::SnapshotError;
pub use model::{Content, NodeState, SCHEMA_VERSION, SnapshotMeta};
pub use restore::{InFlightCheck, RestoreReport};
pub use verify::Verified;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::actors::store::StoreReads;
use crate::actors::supervisor::NodeActors;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::store::{Reads, SnapshotFilter, SnapshotRow, SnapshotSummary};

/// The node a snapshot is of: what taking, pruning and restoring one need of it (its
/// actors, which make every write, its store's watched reads, its configuration and
/// clock). A node gives it with `Node::snapshot_subject`; this module needs nothing else of
/// the node.
#[derive(Clone)]
pub struct Subject {
    pub node_id: String,
    pub actors: NodeActors,
    /// The node's reads (`Node::reads`): read-only, watched apart from the actors.
    pub reads: StoreReads,
    pub config: Arc<Config>,
    pub clock: SharedClock,
}

impl Subject {
    pub fn reads(&self) -> &dyn Reads {
        &self.reads
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// A node's snapshots: take, list, read, verify, restore.
#[derive(Clone)]
pub struct Snapshots {
    node: Subject,
}

impl Snapshots {
    pub fn new(node: Subject) -> Self {
        Self { node }
    }

    /// The node these snapshots are of.
    pub fn subject(&self) -> &Subject {
        &self.node
    }

    /// Snapshots without their state, newest first.
    pub async fn list(&self, filter: SnapshotFilter) -> Result<Vec<SnapshotSummary>, SnapshotError> {
        Ok(self.node.reads().list_snapshots(filter).await?)
    }

    /// One snapshot, whole.
    pub async fn get(&self, snapshot_id: Uuid) -> Result<SnapshotRow, SnapshotError> {
        self.node.reads().get_snapshot(snapshot_id).await?.ok_or(SnapshotError::NotFound(snapshot_id))
    }

    /// Verifies a snapshot and its chain (see [`verify`]); changes nothing.
    pub async fn verify(&self, snapshot_id: Uuid) -> Result<Verified, SnapshotError> {
        verify::verify(self.node.reads(), snapshot_id).await
    }
}
