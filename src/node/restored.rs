//! `aeon node --restore latest|ID`: the snapshot is chosen and verified before the
//! node starts, and the Supervisor starts its workers from it (their ids, restart
//! counters and health) before any job is claimed. With `latest`, a snapshot that
//! does not verify is skipped — with a warning naming it and why — for the newest
//! one that does; with an id, one that does not verify stops the start.

use std::sync::Arc;

use serde::Serialize;
use uuid::Uuid;

use super::Node;
use crate::actors::probe::Probe;
use crate::actors::supervisor::WorkerRestore;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::handler::Registry;
use crate::snapshot::capture::config_fingerprint;
use crate::snapshot::restore::{RestoreReport, log, report, seed};
use crate::snapshot::verify::{Verified, verify};
use crate::store::{Reads, SnapshotFilter, Store};

/// How many of the newest snapshots `latest` tries before it gives up.
pub const LATEST_CANDIDATES: u32 = 100;

/// What `--restore` did at start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StartRestore {
    /// `None`: no snapshot verified; the node started fresh.
    pub restored: Option<RestoreReport>,
    /// Newer snapshots passed over because they do not verify, newest first.
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub snapshot_id: Uuid,
    pub error: String,
}

/// Chooses the snapshot `which` names (`latest`, or an id), starts a node over `store`
/// from it, and reports. `latest` means the newest snapshot of this `node.id` when one
/// is configured, else the newest of any node (a derived id changes at every start).
pub async fn start_restored(
    config: Config,
    store: Arc<dyn Store>,
    registry: Registry,
    clock: SharedClock,
    probe: Probe,
    which: &str,
) -> anyhow::Result<(Node, StartRestore)> {
    let (chosen, skipped) = choose(&*store, &config, which).await?;
    let fingerprint = config_fingerprint(&config);
    let workers = config.workers.count as usize;
    let Some(verified) = chosen else {
        tracing::warn!(skipped = skipped.len(), "--restore {which}: no snapshot verifies; the workers start fresh");
        let node = Node::start_with_store(config, store, registry, clock, probe).await?;
        return Ok((node, StartRestore { restored: None, skipped }));
    };
    if !skipped.is_empty() {
        tracing::warn!(
            snapshot_id = %verified.row.snapshot_id,
            skipped = skipped.len(),
            "--restore latest: fell back to the newest snapshot that verifies"
        );
    }
    let seed = seed(&verified.state);
    let outcome = seed
        .workers
        .iter()
        .enumerate()
        .map(|(n, w)| WorkerRestore {
            snapshot_worker_id: w.worker_id,
            worker_id: (n < workers).then_some(w.worker_id),
            note: if n < workers {
                "restored".into()
            } else {
                "not restored: this node has fewer workers than the snapshot".into()
            },
        })
        .collect();
    let node = Node::start_with_store_seeded(config, store.clone(), registry, clock, probe, Some(seed)).await?;
    let report = report(node.reads(), &verified, fingerprint, outcome).await?;
    log(&report);
    Ok((node, StartRestore { restored: Some(report), skipped }))
}

async fn choose(store: &dyn Reads, config: &Config, which: &str) -> anyhow::Result<(Option<Verified>, Vec<Skipped>)> {
    if which != "latest" {
        let id = Uuid::try_parse(which)
            .map_err(|_| anyhow::anyhow!("--restore takes `latest` or a snapshot id, not {which:?}"))?;
        let verified = verify(store, id).await.map_err(|e| anyhow::anyhow!("--restore {id}: {e}; nothing restored"))?;
        return Ok((Some(verified), Vec::new()));
    }
    let node_id = (!config.node.id.is_empty()).then(|| config.node.id.clone());
    let filter = SnapshotFilter { node_id, ..SnapshotFilter::newest(LATEST_CANDIDATES) };
    let mut skipped = Vec::new();
    for candidate in store.list_snapshots(filter).await? {
        match verify(store, candidate.snapshot_id).await {
            Ok(verified) => return Ok((Some(verified), skipped)),
            Err(e) if e.is_invalid_snapshot() => {
                tracing::warn!(
                    snapshot_id = %candidate.snapshot_id,
                    error = %e,
                    "--restore latest: snapshot does not verify; falling back to an older one"
                );
                skipped.push(Skipped { snapshot_id: candidate.snapshot_id, error: e.to_string() });
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok((None, skipped))
}
