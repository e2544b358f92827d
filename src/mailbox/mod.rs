//! The mailbox: how actor messages cross nodes.
//!
//! This module is the contract alone: the [`Mailbox`] trait, the [`Envelope`] every
//! message travels in, and what a receiver gets back ([`Delivery`]). Two backends sit
//! beside it: [`redis`] (Redis streams, one per node, read through a consumer group:
//! the cluster) and [`memory`] (in-process: a node without Redis, and tests). Both pass
//! one conformance suite (`tests/aeon/mailbox.rs`).
//!
//! Delivery is at least once: an entry stays pending until [`Mailbox::ack`], entries
//! a dead consumer left pending are taken over by [`Mailbox::reclaim`], and those whose
//! read a live consumer lost (it timed out, the process was paused) are delivered to it
//! again by [`Mailbox::redeliver`]. A
//! mailbox is never the truth about a job (Postgres is): it may lose everything, and
//! receivers treat every message as a hint or an idempotent command.
//!
//! Membership rides along: each node [`Mailbox::announce`]s itself under a key that
//! expires unless renewed, and [`Mailbox::members`] lists those alive.

pub mod envelope;
pub mod memory;
pub mod redis;

pub use envelope::{Body, ENVELOPE_VERSION, Envelope, OLDEST_ENVELOPE_VERSION, Rejected};
pub use memory::MemoryMailbox;
pub use redis::RedisMailbox;

use std::time::Duration;

use async_trait::async_trait;

/// Why a mailbox call did not happen.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MailboxError {
    /// The server could not be reached or failed the call; try again later.
    #[error("mailbox unavailable: {0}")]
    Unavailable(String),
    /// The server refused our credentials: a configuration error, not a fault.
    #[error("mailbox refused the credentials: {0}")]
    Auth(String),
    /// The server works, but refused the call for these nodes' mailboxes (a key of
    /// another type where the stream should be): those nodes cannot be reached, the
    /// others can. Not a reason to call the mailbox degraded.
    #[error("the mailbox of {} refused the call: {reason}", nodes.join(", "))]
    Refused { nodes: Vec<String>, reason: String },
}

pub type MailboxResult<T> = Result<T, MailboxError>;

/// An entry as read from a node's mailbox: its id (for [`Mailbox::ack`]) and its bytes,
/// not yet decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    pub id: String,
    pub data: Vec<u8>,
}

/// An entry decoded: the envelope, or why it was refused. A refused entry must still
/// be acknowledged (it never becomes readable).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub envelope: Result<Envelope, Rejected>,
}

impl From<RawEntry> for Delivery {
    fn from(entry: RawEntry) -> Self {
        Delivery { envelope: Envelope::decode(&entry.data), id: entry.id }
    }
}

/// Everything the cluster asks of a mailbox backend. `node` names a mailbox (one per
/// node); `consumer` names one reader of it (one per process, so that a restarted node
/// can reclaim what its previous process left pending).
#[async_trait]
pub trait Mailbox: Send + Sync + 'static {
    /// `redis` or `memory`.
    fn backend(&self) -> &'static str;

    /// Appends each entry to its node's mailbox, all in one round trip. Mailboxes are
    /// trimmed to about their maximum length: the oldest entries go first.
    async fn post(&self, entries: Vec<(String, Vec<u8>)>) -> MailboxResult<()>;

    /// Up to `count` entries of `node`'s mailbox that no consumer has read yet, waiting
    /// up to `block` for the first. Each stays pending for `consumer` until acked.
    async fn receive(&self, node: &str, consumer: &str, count: usize, block: Duration) -> MailboxResult<Vec<RawEntry>>;

    /// Acknowledges entries: they are handled (or refused) and never delivered again.
    async fn ack(&self, node: &str, ids: Vec<String>) -> MailboxResult<()>;

    /// Takes over up to `count` entries another consumer of `node`'s mailbox read but
    /// did not acknowledge within `min_idle` (it died), for `consumer`.
    async fn reclaim(
        &self,
        node: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> MailboxResult<Vec<RawEntry>>;

    /// Up to `count` entries of `node`'s mailbox that `consumer` itself read and has not
    /// acknowledged, delivered to it again: what a read whose answer was lost (it timed
    /// out; the process was paused while Redis answered) left pending, taken back at
    /// once rather than after [`Mailbox::reclaim`]'s idle time. The caller skips those
    /// it is still handling.
    async fn redeliver(&self, node: &str, consumer: &str, count: usize) -> MailboxResult<Vec<RawEntry>>;

    /// How many entries of `node`'s mailbox are read and not acknowledged.
    async fn pending(&self, node: &str) -> MailboxResult<u64>;

    /// Registers `node` as alive, with `info` (its address), for `ttl`.
    async fn announce(&self, node: &str, info: &str, ttl: Duration) -> MailboxResult<()>;

    /// Removes `node`'s registration (it stopped).
    async fn withdraw(&self, node: &str) -> MailboxResult<()>;

    /// The nodes whose registration has not expired, with their info, sorted.
    async fn members(&self) -> MailboxResult<Vec<(String, String)>>;

    /// Whether the backend answers.
    async fn ping(&self) -> MailboxResult<()>;
}

/// Encodes `envelope` for each of `nodes` and posts them in one call.
pub async fn send(mailbox: &dyn Mailbox, nodes: &[String], envelope: &Envelope) -> MailboxResult<()> {
    if nodes.is_empty() {
        return Ok(());
    }
    let data = envelope.encode();
    mailbox.post(nodes.iter().map(|n| (n.clone(), data.clone())).collect()).await
}

/// How long a blocking read may wait; a read that waits longer is taken for a dead
/// connection.
pub const MAX_BLOCK: Duration = Duration::from_secs(5);
