//! Membership and failover. Every `cluster.heartbeat_ms` a node renews its Redis key
//! (expiring after `cluster.node_dead_after_ms`) and its `nodes` row (which survives a
//! Redis flush), and reads who else is alive. One node at a time holds the rescue
//! lease (a `cluster_leases` row with a fencing token): its holder voids the claims of
//! every node silent past `node_dead_after_ms` at once, marking it and its workers
//! `DEAD`, and it alone sweeps expired job leases (the HealthMonitor's [`RescueGate`]). The lease lasts
//! three heartbeats (at most `node_dead_after_ms`): when its holder dies, another node
//! takes it within that.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix::Recipient;

use super::Cluster;
use crate::actors::health::RescueGate;
use crate::actors::store::{AcquireLease, DueAt, HeartbeatNode, ListNodes, RescueNode, StoreHandle};
use crate::clock::SharedClock;
use crate::store::{AcquireLeaseParams, FailOutcome, Fence, NodeRecord, NodeStatus, RESCUE_LEASE, RescueNodeParams};

/// What the membership loop needs of its node.
pub struct Membership {
    pub cluster: Cluster,
    pub store: StoreHandle,
    pub clock: SharedClock,
    pub gate: RescueGate,
    pub draining: Arc<AtomicBool>,
    /// Told when a rescued job will be retried.
    pub due: Recipient<DueAt>,
}

impl Membership {
    /// Runs until the cluster stops, then marks the node `STOPPED`.
    pub async fn run(self) {
        let every = Duration::from_millis(self.cluster.config().heartbeat_ms);
        let stop = self.cluster.stopped().clone();
        let started_at = self.clock.now();
        let mut beats = 0u32;
        loop {
            self.beat(started_at).await;
            beats += 1;
            if beats == 2 {
                // Every other node has now had a heartbeat to learn of this one; jobs
                // submitted before it did woke nobody here: look for them now.
                self.cluster.wake_locally();
            }
            tokio::select! {
                () = self.clock.sleep(every) => {}
                () = stop.cancelled() => break,
            }
        }
        self.leave(started_at).await;
    }

    fn record(&self, status: NodeStatus, started_at: chrono::DateTime<chrono::Utc>) -> NodeRecord {
        let now = self.clock.now();
        NodeRecord {
            node_id: self.cluster.node_id().to_string(),
            address: self.cluster.address(),
            status,
            started_at,
            last_seen: now,
            incarnation: self.cluster.incarnation().to_string(),
        }
    }

    async fn beat(&self, started_at: chrono::DateTime<chrono::Utc>) {
        let cluster = &self.cluster;
        let node_id = cluster.node_id().to_string();
        let dead_after = Duration::from_millis(cluster.config().node_dead_after_ms);
        let status = if self.draining.load(Ordering::Relaxed) { NodeStatus::Draining } else { NodeStatus::Active };

        let mailbox = cluster.mailbox();
        // The key holds the address and the envelope version this node reads.
        let info = super::member_info(&cluster.address());
        let announced = mailbox.announce(&node_id, &info, dead_after).await;
        match announced {
            Ok(()) => match mailbox.members().await {
                Ok(members) => cluster.set_members(members),
                Err(e) => cluster.status().failed(&e.to_string()),
            },
            Err(e) => cluster.status().failed(&e.to_string()),
        }

        match self.store.send(HeartbeatNode(self.record(status, started_at))).await {
            Ok(Ok(true)) | Err(_) => {}
            Ok(Ok(false)) => {
                tracing::error!(
                    node_id,
                    incarnation = cluster.incarnation(),
                    "another process has taken this node id over (this one was stopped or paused past \
                     cluster.node_dead_after_ms, or the id runs twice): its claims were voided; this process stops"
                );
                self.gate.set(false);
                cluster.mark_superseded();
                return;
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "writing this node's row failed; the next heartbeat writes again"),
        }

        // Three heartbeats: a dead holder's lease passes on quickly; a holder that
        // stalls that long loses it, and its fence stops it from acting on it.
        let term = dead_after.min(Duration::from_millis(cluster.config().heartbeat_ms) * 3);
        let lease = AcquireLeaseParams {
            name: RESCUE_LEASE.into(),
            holder: node_id.clone(),
            until: crate::clock::after(self.clock.now(), term),
        };
        let token = match self.store.send(AcquireLease(lease)).await {
            Ok(Ok(token)) => token,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not renew the rescue lease");
                None
            }
            Err(_) => None,
        };
        let holding = token.is_some();
        if holding != self.gate.is_open() {
            tracing::info!(node_id, holding, "rescue lease {}", if holding { "taken" } else { "held elsewhere" });
        }
        self.gate.set(holding);
        if let Some(token) = token {
            let fence = Fence { name: RESCUE_LEASE.into(), holder: node_id.clone(), token };
            self.rescue_dead(fence, dead_after).await;
        }
    }

    /// Voids the claims of every node silent past `dead_after`.
    async fn rescue_dead(&self, fence: Fence, dead_after: Duration) {
        let Ok(Ok(nodes)) = self.store.send(ListNodes).await else { return };
        let silent_since = self.clock.now() - chrono::Duration::from_std(dead_after).unwrap_or_default();
        for node in nodes {
            if node.node_id == fence.holder || node.status_at(silent_since) != NodeStatus::Dead {
                continue;
            }
            if !matches!(node.status, NodeStatus::Active | NodeStatus::Draining) {
                continue; // marked DEAD already
            }
            let rescue =
                RescueNode(RescueNodeParams { node_id: node.node_id.clone(), silent_since, fence: fence.clone() });
            match self.store.send(rescue).await {
                Ok(Ok(Some(rescued))) => {
                    tracing::warn!(
                        dead_node = %node.node_id,
                        last_seen = %node.last_seen,
                        jobs = rescued.len(),
                        "node silent past cluster.node_dead_after_ms: declared DEAD, its claims voided"
                    );
                    self.cluster.status().rescued.fetch_add(rescued.len() as u64, Ordering::Relaxed);
                    crate::metrics::METRICS.jobs_rescued(rescued.len() as u64);
                    let due = rescued
                        .iter()
                        .filter_map(|r| match r.outcome {
                            FailOutcome::Retrying { at } => Some(at),
                            // Back to PENDING at once: claimable now.
                            FailOutcome::GivenBack => Some(self.clock.now()),
                            _ => None,
                        })
                        .min();
                    if let Some(at) = due {
                        self.due.do_send(DueAt(at));
                    }
                }
                Ok(Ok(None)) => return, // the lease moved on: another node rescues now
                Ok(Err(e)) => {
                    tracing::warn!(dead_node = %node.node_id, error = %e, "voiding a dead node's claims failed")
                }
                Err(_) => return,
            }
        }
    }

    async fn leave(&self, started_at: chrono::DateTime<chrono::Utc>) {
        if self.cluster.is_superseded() {
            // The row, the Redis key and the mailbox are the new process's.
            self.cluster.mark_left();
            return;
        }
        let _ = self.store.send(HeartbeatNode(self.record(NodeStatus::Stopped, started_at))).await;
        let _ = self.cluster.mailbox().withdraw(self.cluster.node_id()).await;
        self.cluster.mark_left();
    }
}
