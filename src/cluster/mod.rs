//! The cluster: what makes several nodes on one Postgres one runtime (`docs/cluster.md`).
//!
//! Each node reads its own [mailbox](crate::mailbox) (a Redis stream with a consumer
//! group; in-process without Redis) and sends envelopes to the others':
//!
//! - **wake-ups**: a submit, a requeue, dependents released, a retry coming due on one
//!   node wake the idle others at once rather than at their next poll ([`Cluster::wake_peers`]);
//! - **requests** to a named actor of another node, answered with a reply
//!   ([`Cluster::ask`], served by [`Cluster::serve`]; [`requests`]): cancel a running
//!   job where it runs, crash a worker, drain a node. Each carries a deadline, which
//!   the receiver honours as its actor says ([`Late`]);
//! - **membership** ([`membership`]): an expiring Redis key and a `nodes` row per node;
//!   one node at a time holds the rescue lease and voids the claims of dead nodes.
//!
//! Postgres stays the only truth: a lost message costs at most a poll interval, a
//! request that gets no answer falls back to what the store alone can do.
//!
//! ```no_run
//! # async fn example(node: aeon::node::Node) -> Result<(), aeon::cluster::AskError> {
//! use std::time::Duration;
//! // On every node: an actor named "greeter" answers requests.
//! node.cluster.serve("greeter", |name: String| async move { Ok::<_, String>(format!("hello, {name}")) });
//! // On any node: ask the greeter of node "b", waiting at most a second.
//! let reply: String = node.cluster.ask("b", "greeter", &"ada", Duration::from_secs(1)).await?;
//! # Ok(()) }
//! ```

pub mod identity;
mod link;
pub mod membership;
mod receive;
mod refusals;
pub mod requests;
mod status;

pub use crate::config::ClusterConfig;
pub use link::ClusterLink;
pub use refusals::{REFUSAL_LOG_INTERVAL, Refusal};
pub use requests::{Asked, Late, envelope_version, member_info};
pub use status::LinkStatus;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::mailbox::{Body, Envelope, Mailbox, MailboxError, MemoryMailbox, RedisMailbox};

/// Why [`Cluster::ask`] got no answer.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    /// The request could not be sent (Redis down).
    #[error("node {node} cannot be reached: {error}")]
    Unreachable { node: String, error: MailboxError },
    /// No answer in time (the node is dead, or Redis lost the message).
    #[error("node {node} did not answer within {} ms", timeout.as_millis())]
    Timeout { node: String, timeout: Duration },
    /// The node answered with an error (no such actor, or the actor's own).
    #[error("node {node} refused: {reason}")]
    Refused { node: String, reason: String },
    /// The answer was not of the expected type.
    #[error("node {node} answered something unexpected: {reason}")]
    Malformed { node: String, reason: String },
}

struct Inner {
    node_id: String,
    /// This process's id among the node's processes ([`identity`]).
    incarnation: String,
    /// This process's reader of the node's mailbox (a restarted node is a new consumer
    /// and reclaims what the old one left pending).
    consumer: String,
    mailbox: Arc<dyn Mailbox>,
    config: ClusterConfig,
    status: LinkStatus,
    /// The other live nodes, as membership last saw them.
    peers: Mutex<Vec<String>>,
    /// The envelope version each member reads, as its membership key says.
    reads: Mutex<HashMap<String, u32>>,
    /// Nodes whose mailbox refused what was sent them (its key of another type),
    /// warned of once until a send to them works again.
    refusing: Mutex<HashSet<String>>,
    refusals: refusals::RefusalLog,
    replies: Mutex<HashMap<Uuid, oneshot::Sender<Result<Value, String>>>>,
    actors: Mutex<HashMap<String, requests::Served>>,
    local_wake: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
    /// A wake-up to the peers is on its way; `wake_again`: another was asked meanwhile.
    waking: AtomicBool,
    wake_again: AtomicBool,
    address: Mutex<String>,
    stop: CancellationToken,
    /// Cancelled once the node's row says `STOPPED`.
    left: CancellationToken,
    /// Cancelled when another process has taken this node id over.
    superseded: CancellationToken,
}

/// A node's side of the cluster; cheap to clone. See the module docs.
#[derive(Clone)]
pub struct Cluster(Arc<Inner>);

impl Cluster {
    pub fn new(node_id: &str, mailbox: Arc<dyn Mailbox>, config: ClusterConfig) -> Cluster {
        let status = LinkStatus::new(mailbox.backend());
        let incarnation = Uuid::new_v4().simple().to_string();
        let consumer = format!("{node_id}:{incarnation}");
        Cluster(Arc::new(Inner {
            node_id: node_id.to_string(),
            incarnation,
            consumer,
            mailbox,
            config,
            status,
            peers: Mutex::default(),
            reads: Mutex::default(),
            refusing: Mutex::default(),
            refusals: refusals::RefusalLog::default(),
            replies: Mutex::default(),
            actors: Mutex::default(),
            local_wake: Mutex::default(),
            waking: AtomicBool::new(false),
            wake_again: AtomicBool::new(false),
            address: Mutex::default(),
            stop: CancellationToken::new(),
            left: CancellationToken::new(),
            superseded: CancellationToken::new(),
        }))
    }

    /// The mailbox `redis.url` names (in-process when empty). Connects lazily.
    pub fn mailbox_for(redis_url: &str, config: &ClusterConfig) -> Arc<dyn Mailbox> {
        if redis_url.is_empty() {
            return Arc::new(MemoryMailbox::new(config.mailbox_max_len));
        }
        match RedisMailbox::open(redis_url, "aeon", config.mailbox_max_len) {
            Ok(redis) => Arc::new(redis),
            // Validated at load; should it still not parse, run alone rather than fail.
            Err(e) => {
                tracing::error!(error = %e, "redis.url cannot be used: in-process mailboxes");
                Arc::new(MemoryMailbox::new(config.mailbox_max_len))
            }
        }
    }

    /// Checks at start that the Redis of `redis.url` accepts our credentials: a wrong
    /// password is a configuration error. Redis not answering is not: the node starts
    /// degraded and reconnects by itself.
    pub async fn check_redis(redis_url: &str, config: &ClusterConfig) -> anyhow::Result<()> {
        if redis_url.is_empty() {
            return Ok(());
        }
        let shown = crate::config::redact_url(redis_url);
        let mailbox = Self::mailbox_for(redis_url, config);
        match tokio::time::timeout(Duration::from_secs(5), mailbox.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(MailboxError::Auth(e))) => {
                let e = e.replace(redis_url, &shown);
                anyhow::bail!(
                    "config key `redis.url` = {shown}: Redis refused the credentials ({e}); check the user and password"
                )
            }
            Ok(Err(e)) => {
                tracing::warn!(redis = %shown, error = %e, "Redis does not answer: starting degraded (working on the store alone), reconnecting in the background");
                Ok(())
            }
            Err(_) => {
                tracing::warn!(redis = %shown, "Redis did not answer within 5 s: starting degraded, reconnecting in the background");
                Ok(())
            }
        }
    }

    pub fn node_id(&self) -> &str {
        &self.0.node_id
    }

    /// This process's incarnation of the node ([`identity`]).
    pub fn incarnation(&self) -> &str {
        &self.0.incarnation
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.0.config
    }

    /// The mailbox's health and counters.
    pub fn status(&self) -> &LinkStatus {
        &self.0.status
    }

    pub fn mailbox(&self) -> &Arc<dyn Mailbox> {
        &self.0.mailbox
    }

    /// Where this node's API listens, as membership announces it.
    pub fn set_address(&self, address: String) {
        *self.0.address.lock().unwrap_or_else(|p| p.into_inner()) = address;
    }

    pub fn address(&self) -> String {
        self.0.address.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The other live nodes, as membership last saw them.
    pub fn peers(&self) -> Vec<String> {
        self.0.peers.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The live members as the mailbox lists them (`(node, info)`, this one among them):
    /// the peers, and the envelope version each reads.
    pub(crate) fn set_members(&self, members: Vec<(String, String)>) {
        let reads = members.iter().map(|(n, info)| (n.clone(), envelope_version(info))).collect();
        *self.0.reads.lock().unwrap_or_else(|p| p.into_inner()) = reads;
        let peers = members.into_iter().map(|(n, _)| n).filter(|n| *n != self.0.node_id).collect();
        *self.0.peers.lock().unwrap_or_else(|p| p.into_inner()) = peers;
    }

    /// A send failed: the mailbox is degraded, unless only some nodes' mailboxes
    /// refused it (their keys hold another type): that is theirs, said once per node,
    /// and the mailbox works.
    pub(crate) fn send_failed(&self, error: &MailboxError) {
        let MailboxError::Refused { nodes, reason } = error else {
            self.0.status.failed(&error.to_string());
            return;
        };
        let mut refusing = self.0.refusing.lock().unwrap_or_else(|p| p.into_inner());
        for node in nodes {
            if refusing.insert(node.clone()) {
                tracing::warn!(peer = %node, %reason,
                    "node {node}'s mailbox key holds something else than a stream: nothing reaches it until {node} \
                     reads it again, which creates it afresh; if {node} is gone, delete the key (redis-cli DEL \
                     aeon:mailbox:{node})");
            }
        }
    }

    /// Sends to `nodes` worked: those of them whose mailbox refused earlier work again.
    pub(crate) fn sent_to(&self, nodes: &[String]) {
        let mut refusing = self.0.refusing.lock().unwrap_or_else(|p| p.into_inner());
        if !refusing.is_empty() {
            for node in nodes {
                if refusing.remove(node) {
                    tracing::info!(peer = %node, "node {node}'s mailbox takes entries again");
                }
            }
        }
    }

    /// The log of refused mailbox entries (rate-limited).
    pub(crate) fn refusals(&self) -> &refusals::RefusalLog {
        &self.0.refusals
    }

    /// Whether `node` is a member of the cluster: a peer as last read, or (it may have
    /// joined since) one the mailbox's membership names now.
    pub(crate) async fn knows(&self, node: &str) -> bool {
        if node == self.node_id() || self.peers().iter().any(|p| p == node) {
            return true;
        }
        match self.0.mailbox.members().await {
            Ok(members) => members.iter().any(|(member, _)| member == node),
            Err(_) => false,
        }
    }

    /// What a wake-up from another node does here (tell the Supervisor).
    pub fn on_wake(&self, wake: impl Fn() + Send + Sync + 'static) {
        *self.0.local_wake.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(wake));
    }

    pub(crate) fn wake_locally(&self) {
        let wake = self.0.local_wake.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(wake) = wake {
            wake();
        }
    }

    /// Tells every other live node that jobs may be ready. Coalesced: while one
    /// wake-up is on its way, those asked meanwhile become one more after it.
    pub fn wake_peers(&self) {
        if self.0.waking.swap(true, Ordering::AcqRel) {
            self.0.wake_again.store(true, Ordering::Release);
            return;
        }
        let cluster = self.clone();
        actix_rt::spawn(async move {
            loop {
                cluster.0.wake_again.store(false, Ordering::Release);
                let peers = cluster.peers();
                if !peers.is_empty() {
                    let envelope = Envelope::new(&cluster.0.node_id, Body::Wake {});
                    match crate::mailbox::send(&*cluster.0.mailbox, &peers, &envelope).await {
                        Ok(()) => {
                            cluster.0.status.sent.fetch_add(peers.len() as u64, Ordering::Relaxed);
                            cluster.sent_to(&peers);
                        }
                        Err(e) => cluster.send_failed(&e),
                    }
                }
                if cluster.0.wake_again.load(Ordering::Acquire) {
                    continue;
                }
                cluster.0.waking.store(false, Ordering::Release);
                // One asked between the look and the release is ours to send, unless
                // a new sender took over already.
                if !cluster.0.wake_again.load(Ordering::Acquire) || cluster.0.waking.swap(true, Ordering::AcqRel) {
                    break;
                }
            }
        });
    }

    /// Starts reading this node's mailbox (until [`Cluster::stop`]). Must run inside an
    /// actix System.
    pub fn start(&self) {
        actix_rt::spawn(receive::run(self.clone()));
    }

    /// Stops the mailbox reader and the membership loop.
    pub fn stop(&self) {
        self.0.stop.cancel();
    }

    /// Resolves once the node has left (its row says `STOPPED`).
    pub async fn left(&self) {
        self.0.left.cancelled().await
    }

    pub(crate) fn mark_left(&self) {
        self.0.left.cancel();
    }

    /// Resolves if another process takes this node id over (this one was stopped or
    /// paused past `cluster.node_dead_after_ms`, or started twice): its heartbeats write
    /// nothing any more and its claims were voided; the process should stop.
    pub async fn superseded(&self) {
        self.0.superseded.cancelled().await
    }

    pub fn is_superseded(&self) -> bool {
        self.0.superseded.is_cancelled()
    }

    /// Stops the mailbox reader and the membership loop for good: the node id is
    /// another process's now.
    pub(crate) fn mark_superseded(&self) {
        self.0.superseded.cancel();
        self.0.stop.cancel();
    }

    pub(crate) fn stopped(&self) -> &CancellationToken {
        &self.0.stop
    }

    pub(crate) fn consumer(&self) -> &str {
        &self.0.consumer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits until no wake-up is on its way, then reads what node `b` got.
    async fn wake_ups_for_b(cluster: &Cluster, mailbox: &MemoryMailbox) -> usize {
        while cluster.0.waking.load(Ordering::Acquire) {
            tokio::task::yield_now().await;
        }
        mailbox.receive("b", "reader", 1_000, Duration::ZERO).await.expect("the memory mailbox answers").len()
    }

    /// A burst asked before the sender runs is one post: the send that follows covers
    /// them all. (One asked while a post is on its way makes one more after it; the
    /// in-process mailbox posts without waiting, so that case is not shown here.)
    #[actix_rt::test]
    async fn a_burst_of_wake_ups_costs_one_post_and_a_later_one_its_own() {
        let mailbox = Arc::new(MemoryMailbox::new(1_000));
        let cluster = Cluster::new("a", mailbox.clone(), ClusterConfig::default());
        cluster.set_members(vec![("a".into(), member_info("")), ("b".into(), member_info(""))]);
        for _ in 0..100 {
            cluster.wake_peers();
        }
        assert_eq!(wake_ups_for_b(&cluster, &mailbox).await, 1, "a hundred asked, one sent");
        cluster.wake_peers();
        assert_eq!(wake_ups_for_b(&cluster, &mailbox).await, 1, "a wake-up after the burst is not lost");
    }
}
