//! The mailbox reader: reads this node's mailbox, hands each envelope to whom it is
//! for, acknowledges it. A refused entry (malformed, another version) is logged (at
//! most a line or two per kind and interval: [`super::refusals`]), counted and
//! acknowledged: it never blocks the mailbox. While the mailbox fails, the node is
//! degraded and retries with backoff.
//!
//! Entries stay pending until acknowledged, and two kinds are taken back:
//!
//! - those a previous process of this node read and never acknowledged, after
//!   `cluster.reclaim_idle_ms` (it may still be alive, only slow);
//! - those this process read and lost: a read that failed or came back late (its
//!   answer may have been dropped on a timeout, the process paused while Redis
//!   answered) is followed at once by this consumer's own pending entries, and so is
//!   every reclaim round. Those still being handled are skipped.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Cluster;
use super::refusals::Refusal;
use crate::mailbox::{Body, Delivery, RawEntry, Rejected};

/// How long one read waits for an entry.
const READ_BLOCK: Duration = Duration::from_secs(1);
/// A read that comes back this much later than its block was not waiting on Redis
/// alone: the process was paused or starved, and the answer may have been lost.
const READ_LATE: Duration = Duration::from_secs(1);
/// Entries read at once.
const READ_COUNT: usize = 256;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The entries this process is handling (requests answered on tasks of their own), so
/// that a redelivery of its own pending entries does not start them twice.
type InFlight = Arc<Mutex<HashSet<String>>>;

pub(super) async fn run(cluster: Cluster) {
    let mut backoff = BACKOFF_MIN;
    let reclaim_idle = Duration::from_millis(cluster.config().reclaim_idle_ms);
    let mut last_reclaim: Option<Instant> = None;
    // Whether this consumer may have lost entries it read.
    let mut lost = false;
    let in_flight = InFlight::default();
    let stop = cluster.stopped().clone();
    while !stop.is_cancelled() {
        let mailbox = cluster.mailbox().clone();
        let node = cluster.node_id().to_string();
        cluster.refusals().flush();
        if last_reclaim.is_none_or(|at| at.elapsed() >= reclaim_idle / 2) {
            match mailbox.reclaim(&node, cluster.consumer(), reclaim_idle, READ_COUNT).await {
                Ok(entries) => {
                    // Every round also looks for what this process itself lost.
                    lost |= last_reclaim.is_some();
                    last_reclaim = Some(Instant::now());
                    if !entries.is_empty() {
                        tracing::info!(
                            count = entries.len(),
                            "reclaimed mailbox entries a previous reader left pending"
                        );
                    }
                    handle(&cluster, &in_flight, entries).await;
                }
                Err(e) => cluster.status().failed(&e.to_string()),
            }
        }
        if lost {
            match mailbox.redeliver(&node, cluster.consumer(), READ_COUNT).await {
                Ok(entries) => {
                    lost = false;
                    let entries: Vec<RawEntry> = {
                        let handling = in_flight.lock().unwrap_or_else(|p| p.into_inner());
                        entries.into_iter().filter(|e| !handling.contains(&e.id)).collect()
                    };
                    if !entries.is_empty() {
                        tracing::warn!(
                            count = entries.len(),
                            "mailbox entries this process read and lost (a read failed or came back late) handled now"
                        );
                    }
                    handle(&cluster, &in_flight, entries).await;
                }
                Err(e) => cluster.status().failed(&e.to_string()),
            }
        }
        let started = Instant::now();
        let read = tokio::select! {
            read = mailbox.receive(&node, cluster.consumer(), READ_COUNT, READ_BLOCK) => read,
            () = stop.cancelled() => break,
        };
        let took = started.elapsed();
        if took > READ_BLOCK + READ_LATE {
            // Its answer came (or timed out) late: what else Redis delivered meanwhile
            // may be lost with a dropped answer. Look at once, not after reclaim_idle_ms.
            tracing::info!(
                took_ms = took.as_millis() as u64,
                "a mailbox read came back late (the process was paused or starved)"
            );
            lost = true;
        }
        match read {
            Ok(entries) => {
                if cluster.status().ok() {
                    // Wake-ups sent meanwhile were lost: look for work now.
                    cluster.wake_locally();
                }
                backoff = BACKOFF_MIN;
                handle(&cluster, &in_flight, entries).await;
            }
            Err(e) => {
                lost = true;
                cluster.status().failed(&e.to_string());
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = stop.cancelled() => break,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Handles entries in order; acknowledges each once handled (a request once its
/// actor answered, so a node that dies meanwhile leaves it to be reclaimed).
async fn handle(cluster: &Cluster, in_flight: &InFlight, entries: Vec<RawEntry>) {
    if entries.is_empty() {
        return;
    }
    let node = cluster.node_id().to_string();
    let mut done = Vec::with_capacity(entries.len());
    let mut woken = false;
    for entry in entries {
        let delivery = Delivery::from(entry);
        cluster.status().received.fetch_add(1, Ordering::Relaxed);
        match delivery.envelope {
            Err(rejected) => {
                cluster.status().rejected.fetch_add(1, Ordering::Relaxed);
                let kind = match rejected {
                    Rejected::Version(_) => Refusal::Version,
                    Rejected::Malformed(_) => Refusal::Malformed,
                };
                cluster.refusals().refused(kind, &delivery.id, None, &rejected.to_string());
                done.push(delivery.id);
            }
            Ok(envelope) => match envelope.body {
                Body::Wake {} => {
                    if !woken {
                        cluster.wake_locally();
                        woken = true;
                    }
                    done.push(delivery.id);
                }
                Body::Reply { request_id, answer } => {
                    cluster.deliver_reply(request_id, answer);
                    done.push(delivery.id);
                }
                request @ Body::Request { .. } => {
                    let (cluster, id, from, request_id) = (cluster.clone(), delivery.id, envelope.from, envelope.id);
                    in_flight.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone());
                    let in_flight = in_flight.clone();
                    // Answered on its own task: a drain may take its grace period.
                    actix_rt::spawn(async move {
                        cluster.answer(id.clone(), from, request_id, request).await;
                        in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                    });
                }
            },
        }
    }
    if let Err(e) = cluster.mailbox().ack(&node, done).await {
        cluster.status().failed(&e.to_string());
    }
}
