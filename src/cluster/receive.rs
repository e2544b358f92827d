//! The mailbox reader: reads this node's mailbox, hands each envelope to whom it is
//! for, acknowledges it. A refused entry (malformed, another version) is logged,
//! counted and acknowledged: it never blocks the mailbox. Entries a previous process
//! of this node read and never acknowledged are reclaimed after
//! `cluster.reclaim_idle_ms`. While the mailbox fails, the node is degraded and
//! retries with backoff.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Cluster;
use crate::mailbox::{Body, Delivery, Envelope, RawEntry};

/// How long one read waits for an entry.
const READ_BLOCK: Duration = Duration::from_secs(1);
/// Entries read at once.
const READ_COUNT: usize = 256;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

pub(super) async fn run(cluster: Cluster) {
    let mut backoff = BACKOFF_MIN;
    let reclaim_idle = Duration::from_millis(cluster.config().reclaim_idle_ms);
    let mut last_reclaim: Option<Instant> = None;
    let stop = cluster.stopped().clone();
    while !stop.is_cancelled() {
        let mailbox = cluster.mailbox().clone();
        let node = cluster.node_id().to_string();
        if last_reclaim.is_none_or(|at| at.elapsed() >= reclaim_idle / 2) {
            match mailbox.reclaim(&node, cluster.consumer(), reclaim_idle, READ_COUNT).await {
                Ok(entries) => {
                    last_reclaim = Some(Instant::now());
                    if !entries.is_empty() {
                        tracing::info!(
                            count = entries.len(),
                            "reclaimed mailbox entries a previous reader left pending"
                        );
                    }
                    handle(&cluster, entries).await;
                }
                Err(e) => cluster.status().failed(&e.to_string()),
            }
        }
        let read = tokio::select! {
            read = mailbox.receive(&node, cluster.consumer(), READ_COUNT, READ_BLOCK) => read,
            () = stop.cancelled() => break,
        };
        match read {
            Ok(entries) => {
                if cluster.status().ok() {
                    // Wake-ups sent meanwhile were lost: look for work now.
                    cluster.wake_locally();
                }
                backoff = BACKOFF_MIN;
                handle(&cluster, entries).await;
            }
            Err(e) => {
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
async fn handle(cluster: &Cluster, entries: Vec<RawEntry>) {
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
                tracing::warn!(entry = %delivery.id, reason = %rejected, "mailbox entry refused and acknowledged");
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
                Body::Request { actor, message } => {
                    let (cluster, id, from, request_id) = (cluster.clone(), delivery.id, envelope.from, envelope.id);
                    // Answered on its own task: a drain may take its grace period.
                    actix_rt::spawn(async move {
                        let node = cluster.node_id().to_string();
                        if !cluster.knows(&from).await {
                            // A reply goes to the stream `from` names: only a member's.
                            cluster.status().rejected.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(entry = %id, %from, "a request from no known node refused and acknowledged");
                            if let Err(e) = cluster.mailbox().ack(&node, vec![id]).await {
                                tracing::warn!(error = %e, "could not acknowledge a refused request");
                            }
                            return;
                        }
                        let answer = match cluster.served(&actor) {
                            Some(served) => served(message).await,
                            None => Err(format!("no actor named {actor:?} on node {}", cluster.node_id())),
                        };
                        let reply = Envelope::new(cluster.node_id(), Body::Reply { request_id, answer });
                        match crate::mailbox::send(&**cluster.mailbox(), &[from], &reply).await {
                            Ok(()) => {
                                cluster.status().sent.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => tracing::warn!(error = %e, "could not send a reply"),
                        }
                        if let Err(e) = cluster.mailbox().ack(&node, vec![id]).await {
                            tracing::warn!(error = %e, "could not acknowledge a request (it will be reclaimed)");
                        }
                    });
                }
            },
        }
    }
    if let Err(e) = cluster.mailbox().ack(&node, done).await {
        cluster.status().failed(&e.to_string());
    }
}
