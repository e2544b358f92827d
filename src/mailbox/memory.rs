//! The in-process mailbox: a node without Redis, and actor-level tests. The same
//! semantics as the Redis streams (pending until acked, reclaim after `min_idle`, a
//! consumer's own pending entries delivered again, trimming to a maximum length,
//! expiring registrations) within one process; clones
//! share their mailboxes, so several nodes of one test can talk through one.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{Mailbox, MailboxResult, RawEntry};

#[derive(Default)]
struct Stream {
    entries: BTreeMap<u64, Vec<u8>>,
    next: u64,
    /// The last entry delivered to any consumer (the group's cursor).
    delivered: u64,
    /// Delivered, not acknowledged: by whom, since when.
    pending: BTreeMap<u64, (String, Instant)>,
}

#[derive(Default)]
struct State {
    streams: HashMap<String, Stream>,
    members: HashMap<String, (String, Instant)>,
}

/// See the module docs.
#[derive(Clone)]
pub struct MemoryMailbox {
    state: Arc<Mutex<State>>,
    posted: Arc<Notify>,
    max_len: usize,
}

impl Default for MemoryMailbox {
    fn default() -> Self {
        Self::new(10_000)
    }
}

impl MemoryMailbox {
    /// Mailboxes of at most about `max_len` entries.
    pub fn new(max_len: usize) -> Self {
        Self { state: Arc::default(), posted: Arc::new(Notify::new()), max_len: max_len.max(1) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_new(&self, node: &str, consumer: &str, count: usize) -> Vec<RawEntry> {
        let mut state = self.lock();
        let stream = state.streams.entry(node.to_string()).or_default();
        let from = stream.delivered + 1;
        let taken: Vec<(u64, Vec<u8>)> =
            stream.entries.range(from..).take(count).map(|(&seq, data)| (seq, data.clone())).collect();
        let now = Instant::now();
        for (seq, _) in &taken {
            stream.delivered = *seq;
            stream.pending.insert(*seq, (consumer.to_string(), now));
        }
        taken.into_iter().map(|(seq, data)| RawEntry { id: id_of(seq), data }).collect()
    }
}

fn id_of(seq: u64) -> String {
    format!("{seq}-0")
}

fn seq_of(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

#[async_trait]
impl Mailbox for MemoryMailbox {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn post(&self, entries: Vec<(String, Vec<u8>)>) -> MailboxResult<()> {
        {
            let mut state = self.lock();
            for (node, data) in entries {
                let stream = state.streams.entry(node).or_default();
                stream.next += 1;
                let seq = stream.next;
                stream.entries.insert(seq, data);
                while stream.entries.len() > self.max_len {
                    if let Some((oldest, _)) = stream.entries.pop_first() {
                        stream.pending.remove(&oldest);
                    }
                }
            }
        }
        self.posted.notify_waiters();
        Ok(())
    }

    async fn receive(&self, node: &str, consumer: &str, count: usize, block: Duration) -> MailboxResult<Vec<RawEntry>> {
        let deadline = tokio::time::Instant::now() + block.min(super::MAX_BLOCK);
        loop {
            let posted = self.posted.notified();
            let taken = self.take_new(node, consumer, count);
            if !taken.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(taken);
            }
            let _ = tokio::time::timeout_at(deadline, posted).await;
        }
    }

    async fn ack(&self, node: &str, ids: Vec<String>) -> MailboxResult<()> {
        let mut state = self.lock();
        if let Some(stream) = state.streams.get_mut(node) {
            for seq in ids.iter().filter_map(|id| seq_of(id)) {
                stream.pending.remove(&seq);
            }
        }
        Ok(())
    }

    async fn reclaim(
        &self,
        node: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> MailboxResult<Vec<RawEntry>> {
        let mut state = self.lock();
        let Some(stream) = state.streams.get_mut(node) else { return Ok(Vec::new()) };
        let now = Instant::now();
        let idle: Vec<u64> = stream
            .pending
            .iter()
            .filter(|(_, (_, since))| now.duration_since(*since) >= min_idle)
            .map(|(&seq, _)| seq)
            .take(count)
            .collect();
        let mut taken = Vec::new();
        for seq in idle {
            match stream.entries.get(&seq) {
                Some(data) => {
                    stream.pending.insert(seq, (consumer.to_string(), now));
                    taken.push(RawEntry { id: id_of(seq), data: data.clone() });
                }
                // Trimmed away meanwhile: nothing left to deliver.
                None => {
                    stream.pending.remove(&seq);
                }
            }
        }
        Ok(taken)
    }

    async fn redeliver(&self, node: &str, consumer: &str, count: usize) -> MailboxResult<Vec<RawEntry>> {
        let mut state = self.lock();
        let Some(stream) = state.streams.get_mut(node) else { return Ok(Vec::new()) };
        let now = Instant::now();
        let own: Vec<u64> =
            stream.pending.iter().filter(|(_, (by, _))| by == consumer).map(|(&seq, _)| seq).take(count).collect();
        let mut again = Vec::new();
        for seq in own {
            match stream.entries.get(&seq) {
                Some(data) => {
                    stream.pending.insert(seq, (consumer.to_string(), now));
                    again.push(RawEntry { id: id_of(seq), data: data.clone() });
                }
                None => {
                    stream.pending.remove(&seq);
                }
            }
        }
        Ok(again)
    }

    async fn pending(&self, node: &str) -> MailboxResult<u64> {
        Ok(self.lock().streams.get(node).map_or(0, |s| s.pending.len() as u64))
    }

    async fn announce(&self, node: &str, info: &str, ttl: Duration) -> MailboxResult<()> {
        self.lock().members.insert(node.to_string(), (info.to_string(), Instant::now() + ttl));
        Ok(())
    }

    async fn withdraw(&self, node: &str) -> MailboxResult<()> {
        self.lock().members.remove(node);
        Ok(())
    }

    async fn members(&self) -> MailboxResult<Vec<(String, String)>> {
        let now = Instant::now();
        let mut state = self.lock();
        state.members.retain(|_, (_, until)| *until > now);
        let mut members: Vec<_> = state.members.iter().map(|(n, (info, _))| (n.clone(), info.clone())).collect();
        members.sort();
        Ok(members)
    }

    async fn ping(&self) -> MailboxResult<()> {
        Ok(())
    }
}
