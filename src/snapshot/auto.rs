//! AUTO snapshots: a timer sends [`AutoTick`]; a tick takes an AUTO snapshot when
//! `auto_interval_s` has passed on the node's (injected) clock since the last one (or
//! since the start), then deletes the AUTO snapshots of this node beyond the newest
//! `keep_last` — except those a kept snapshot's chain still needs. Tests send the tick
//! themselves and move a manual clock.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::SnapshotMeta;
use super::{SnapshotError, Snapshots, Subject};
use crate::actors::store::DeleteSnapshots;
use crate::config::SnapshotConfig;
use crate::store::{SnapshotFilter, SnapshotRow, SnapshotType};

/// The most snapshots of one node retention looks at in one pass.
const RETENTION_SCAN: u32 = 10_000;

/// Take an AUTO snapshot if one is due. Answers what was done (`None`: not due).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Option<AutoTaken>, SnapshotError>")]
pub struct AutoTick;

/// An AUTO snapshot taken, and how many old ones retention deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoTaken {
    pub snapshot: SnapshotRow,
    pub pruned: u64,
}

/// Takes AUTO snapshots of one node.
pub struct AutoSnapshots {
    node: Subject,
    config: SnapshotConfig,
    interval: chrono::Duration,
    /// When the last AUTO snapshot was due (the start, at first).
    last: DateTime<Utc>,
    /// Real-time period of the timer; `None` leaves ticking to whoever sends
    /// [`AutoTick`] (tests).
    tick_every: Option<Duration>,
}

impl AutoSnapshots {
    /// A scheduler for `node` with `config` (the node's `[snapshots]`, or a test's; an
    /// interval of 0 never takes one). With `tick_every`, a timer ticks that often.
    pub fn new(node: Subject, config: SnapshotConfig, tick_every: Option<Duration>) -> Self {
        let interval = chrono::Duration::seconds(config.auto_interval_s.min(i64::MAX as u64) as i64);
        let last = node.now();
        Self { node, config, interval, last, tick_every }
    }
}

impl Actor for AutoSnapshots {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(every) = self.tick_every {
            ctx.run_interval(every, |_, ctx| ctx.notify(AutoTick));
        }
    }
}

impl Handler<AutoTick> for AutoSnapshots {
    type Result = AtomicResponse<Self, Result<Option<AutoTaken>, SnapshotError>>;

    /// Atomic: ticks never overlap, however slow the store.
    fn handle(&mut self, _: AutoTick, _: &mut Self::Context) -> Self::Result {
        let now = self.node.now();
        if self.interval <= chrono::Duration::zero() || now - self.last < self.interval {
            return AtomicResponse::new(Box::pin(actix::fut::ready(Ok(None))));
        }
        self.last = now;
        let (node, config) = (self.node.clone(), self.config);
        let work = async move {
            let snapshot = Snapshots::new(node.clone()).take_auto(config.full_every).await?;
            let keep_last = config.keep_last;
            let pruned = match prune(&node, keep_last).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "deleting old AUTO snapshots failed; the next tick tries again");
                    0
                }
            };
            Ok(Some(AutoTaken { snapshot, pruned }))
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(|answer, _, _| {
            if let Err(e) = &answer {
                tracing::warn!(error = %e, "AUTO snapshot failed");
            }
            answer
        })))
    }
}

crate::actors::stops_on_shutdown!(AutoSnapshots);

/// Deletes this node's AUTO snapshots beyond the newest `keep_last`, keeping every
/// snapshot a remaining one's chain needs. Answers how many went.
pub async fn prune(node: &Subject, keep_last: u32) -> Result<u64, SnapshotError> {
    let filter = SnapshotFilter {
        snapshot_type: None,
        node_id: Some(node.node_id.clone()),
        before: None,
        limit: RETENTION_SCAN,
    };
    let all = node.reads().list_snapshots(filter).await?;
    let parents: HashMap<Uuid, Option<Uuid>> = all
        .iter()
        .map(|s| (s.snapshot_id, serde_json::from_str::<SnapshotMeta>(&s.metadata).ok().and_then(|m| m.parent_id)))
        .collect();
    let autos: Vec<Uuid> =
        all.iter().filter(|s| s.snapshot_type == SnapshotType::Auto).map(|s| s.snapshot_id).collect();
    let candidates: HashSet<Uuid> = autos.iter().skip(keep_last as usize).copied().collect();
    // Every ancestor of a snapshot that stays, stays.
    let mut needed = HashSet::new();
    for id in all.iter().map(|s| s.snapshot_id).filter(|id| !candidates.contains(id)) {
        let mut at = parents.get(&id).copied().flatten();
        while let Some(parent) = at {
            if !needed.insert(parent) {
                break;
            }
            at = parents.get(&parent).copied().flatten();
        }
    }
    let doomed: Vec<Uuid> = autos.into_iter().filter(|id| candidates.contains(id) && !needed.contains(id)).collect();
    if doomed.is_empty() {
        return Ok(0);
    }
    let deleted = node.actors.store.send(DeleteSnapshots(doomed)).await.map_err(|_| SnapshotError::Unavailable)??;
    tracing::info!(deleted, keep_last, "deleted old AUTO snapshots");
    Ok(deleted)
}
