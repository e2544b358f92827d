//! One process per node id (docs/cluster.md, "One process per node id").
//!
//! Each process that runs a node is an *incarnation* of it, with an id of its own. At
//! start, before any worker of it exists, the process takes the node id in the store
//! ([`take`]): at once when the id is free (no row, `STOPPED`, `DEAD`, or silent past
//! `cluster.node_dead_after_ms`), and otherwise only once it has watched the previous
//! incarnation's heartbeat stand still for three heartbeat periods. A heartbeat that
//! moves meanwhile means another live process runs this node id: this one refuses to
//! start. Taking the id voids what the previous incarnation left behind at once (its
//! workers `DEAD`, their claims retried or given back) instead of when its leases run
//! out, and fences it: its heartbeats write nothing from then on, and a process that
//! finds itself fenced stops ([`crate::cluster::Cluster::superseded`]).
//!
//! The store answers before the node's actors exist, so this code calls it directly.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::ClusterConfig;
use crate::clock::SharedClock;
use crate::store::{NodeRecord, NodeStatus, Rescued, Store, StoreError, TakeNodeParams};

/// Why this process may not run as its node id.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Another live process runs this node id.
    #[error(
        "node.id {node_id:?} is in use by another live process (incarnation {incarnation}, address {address:?}, \
         status {status}): its heartbeat moved while this process watched it for {watched_ms} ms. Stop that \
         process first, or give this one another node.id (a process that died frees its id after \
         {watched_ms} ms without a heartbeat)"
    )]
    InUse { node_id: String, incarnation: String, address: String, status: &'static str, watched_ms: u64 },
    /// The row kept moving under this process's feet.
    #[error("node.id {node_id:?}: its row changed {rounds} times while this process tried to take it; try again")]
    Contended { node_id: String, rounds: u32 },
    #[error("taking node.id {node_id:?} failed: {error}")]
    Store { node_id: String, error: StoreError },
}

/// Takes node id `node_id` for `incarnation` (see the module docs); answers what the
/// previous incarnation's claims became.
pub async fn take(
    store: &dyn Store,
    node_id: &str,
    incarnation: &str,
    config: &ClusterConfig,
    clock: &SharedClock,
) -> Result<Vec<Rescued>, IdentityError> {
    let failed = |error| IdentityError::Store { node_id: node_id.to_string(), error };
    let watch_for = watch_period(config);
    const ROUNDS: u32 = 5;
    for _ in 0..ROUNDS {
        let mut seen = read(store, node_id).await.map_err(failed)?;
        if let Some(row) = seen.as_ref().filter(|row| !store.exclusive() && looks_alive(row, clock.now(), config)) {
            tracing::info!(
                node_id,
                previous = %row.incarnation,
                last_seen = %row.last_seen,
                watch_ms = watch_for.as_millis() as u64,
                "this node id was alive moments ago: watching its heartbeat before taking it over"
            );
            match watch(store, row, watch_for, config).await.map_err(failed)? {
                Watched::StoodStill => {}
                Watched::Moved(now) if looks_alive(&now, clock.now(), config) => {
                    return Err(IdentityError::InUse {
                        node_id: node_id.to_string(),
                        incarnation: display(&now.incarnation),
                        address: now.address,
                        status: now.status.as_str(),
                        watched_ms: watch_for.as_millis() as u64,
                    });
                }
                Watched::Moved(now) => seen = Some(now),
            }
        }
        let now = clock.now();
        let record = NodeRecord {
            node_id: node_id.to_string(),
            address: String::new(),
            status: NodeStatus::Active,
            started_at: now,
            last_seen: now,
            incarnation: incarnation.to_string(),
        };
        let previous = seen.as_ref().map(|row| display(&row.incarnation));
        if let Some(rescued) = store.take_node(TakeNodeParams { node: record, seen }, now).await.map_err(failed)? {
            if !rescued.is_empty() {
                tracing::warn!(
                    node_id,
                    previous = previous.as_deref().unwrap_or("-"),
                    jobs = rescued.len(),
                    "the previous process of this node ended without stopping: its claims are voided now"
                );
                crate::metrics::METRICS.jobs_rescued(rescued.len() as u64);
            }
            tracing::info!(node_id, incarnation, "node id taken");
            return Ok(rescued);
        }
    }
    Err(IdentityError::Contended { node_id: node_id.to_string(), rounds: ROUNDS })
}

/// Three heartbeats: a live process beats at least once in them, as for the rescue
/// lease (see [`super::membership`]).
pub fn watch_period(config: &ClusterConfig) -> Duration {
    Duration::from_millis(config.heartbeat_ms.saturating_mul(3)).min(Duration::from_millis(config.node_dead_after_ms))
}

fn looks_alive(row: &NodeRecord, now: DateTime<Utc>, config: &ClusterConfig) -> bool {
    let silent_since = now - chrono::Duration::milliseconds(config.node_dead_after_ms as i64);
    matches!(row.status_at(silent_since), NodeStatus::Active | NodeStatus::Draining)
}

enum Watched {
    StoodStill,
    Moved(NodeRecord),
}

/// Reads the row again and again for `period`, by the wall clock: the other process
/// beats by its own time, not by whatever clock this node is given.
async fn watch(
    store: &dyn Store,
    row: &NodeRecord,
    period: Duration,
    config: &ClusterConfig,
) -> Result<Watched, StoreError> {
    let step = Duration::from_millis((config.heartbeat_ms / 4).max(20));
    let end = tokio::time::Instant::now() + period;
    while tokio::time::Instant::now() < end {
        tokio::time::sleep(step).await;
        match read(store, &row.node_id).await? {
            Some(now)
                if now.incarnation == row.incarnation && now.last_seen == row.last_seen && now.status == row.status => {
            }
            Some(now) => return Ok(Watched::Moved(now)),
            // Deleted by hand meanwhile: free.
            None => return Ok(Watched::StoodStill),
        }
    }
    Ok(Watched::StoodStill)
}

async fn read(store: &dyn Store, node_id: &str) -> Result<Option<NodeRecord>, StoreError> {
    Ok(store.list_nodes().await?.into_iter().find(|n| n.node_id == node_id))
}

fn display(incarnation: &str) -> String {
    if incarnation.is_empty() { "(before incarnations)".into() } else { incarnation.to_string() }
}
