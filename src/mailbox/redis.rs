//! The Redis mailbox: one stream per node (`<prefix>:mailbox:<node>`), read through a
//! consumer group (`aeon`) with XREADGROUP, acknowledged with XACK after handling;
//! XAUTOCLAIM hands entries a dead consumer left pending to a live one; every XADD
//! trims its stream to about `max_len` entries (`MAXLEN ~`), so Redis memory stays
//! bounded. Membership keys (`<prefix>:node:<node>`) expire unless renewed.
//!
//! Connections are made on first use and dropped on any connection error, so that the
//! next call reconnects: Redis restarted, or down and back, needs nothing else. A
//! group that vanished (FLUSHALL, a restart without persistence) is created again
//! (`MKSTREAM`) by the next read.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamAutoClaimReply, StreamReadReply};
use redis::{AsyncConnectionConfig, Client, ErrorKind, RedisError, Value};
use tokio::sync::Mutex;

use super::{Mailbox, MailboxError, MailboxResult, RawEntry};

/// The consumer group every node's stream is read through.
const GROUP: &str = "aeon";
/// The stream field an entry's envelope is written under.
const FIELD: &str = "e";
/// How long a call may take before the connection is taken for dead.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// See the module docs.
pub struct RedisMailbox {
    client: Client,
    prefix: String,
    max_len: usize,
    /// For every call but the blocking read.
    shared: Mutex<Option<MultiplexedConnection>>,
    /// For the blocking read alone (it would hold up the calls queued behind it).
    reader: Mutex<Option<MultiplexedConnection>>,
}

impl RedisMailbox {
    /// A mailbox on the Redis at `url` (`redis://`, `rediss://` for TLS, with
    /// `user:password@` when it needs them). Connects lazily: see [`RedisMailbox::ping`]
    /// to check at once.
    pub fn open(url: &str, prefix: &str, max_len: usize) -> MailboxResult<Self> {
        let client = Client::open(url).map_err(|e| MailboxError::Unavailable(e.to_string()))?;
        Ok(Self {
            client,
            prefix: prefix.to_string(),
            max_len: max_len.max(1),
            shared: Mutex::new(None),
            reader: Mutex::new(None),
        })
    }

    fn stream(&self, node: &str) -> String {
        format!("{}:mailbox:{node}", self.prefix)
    }

    fn member(&self, node: &str) -> String {
        format!("{}:node:{node}", self.prefix)
    }

    async fn connect(&self, response: Duration) -> MailboxResult<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(response));
        self.client.get_multiplexed_async_connection_with_config(&config).await.map_err(error)
    }

    /// Runs `cmd` on the shared connection, connecting first if needed; drops the
    /// connection when the call failed for want of one.
    async fn call<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> MailboxResult<T> {
        let mut conn = {
            let mut slot = self.shared.lock().await;
            match slot.as_ref() {
                Some(conn) => conn.clone(),
                None => {
                    let conn = self.connect(CALL_TIMEOUT).await?;
                    *slot = Some(conn.clone());
                    conn
                }
            }
        };
        match cmd.query_async(&mut conn).await {
            Ok(v) => Ok(v),
            Err(e) => {
                if is_connection_error(&e) {
                    *self.shared.lock().await = None;
                }
                Err(error(e))
            }
        }
    }

    async fn pipe(&self, pipe: &redis::Pipeline) -> MailboxResult<()> {
        let mut conn = {
            let mut slot = self.shared.lock().await;
            match slot.as_ref() {
                Some(conn) => conn.clone(),
                None => {
                    let conn = self.connect(CALL_TIMEOUT).await?;
                    *slot = Some(conn.clone());
                    conn
                }
            }
        };
        match pipe.query_async::<()>(&mut conn).await {
            Ok(()) => Ok(()),
            Err(e) => {
                if is_connection_error(&e) {
                    *self.shared.lock().await = None;
                }
                Err(error(e))
            }
        }
    }

    async fn create_group(&self, stream: &str) -> MailboxResult<()> {
        let mut cmd = redis::cmd("XGROUP");
        cmd.arg("CREATE").arg(stream).arg(GROUP).arg("0").arg("MKSTREAM");
        match self.call::<()>(&cmd).await {
            Err(MailboxError::Unavailable(e)) if e.contains("BUSYGROUP") => Ok(()),
            other => other,
        }
    }
}

/// Whether the connection is unusable after `e` (rather than the command refused).
fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_unrecoverable_error()
}

fn error(e: RedisError) -> MailboxError {
    let auth = e.kind() == ErrorKind::AuthenticationFailed || matches!(e.code(), Some("WRONGPASS" | "NOAUTH"));
    if auth { MailboxError::Auth(e.to_string()) } else { MailboxError::Unavailable(e.to_string()) }
}

fn no_group(e: &MailboxError) -> bool {
    matches!(e, MailboxError::Unavailable(m) if m.contains("NOGROUP"))
}

fn entry(id: redis::streams::StreamId) -> RawEntry {
    let data = match id.map.get(FIELD) {
        Some(Value::BulkString(bytes)) => bytes.clone(),
        Some(Value::SimpleString(s)) => s.clone().into_bytes(),
        _ => Vec::new(), // refused as malformed when decoded
    };
    RawEntry { id: id.id, data }
}

#[async_trait]
impl Mailbox for RedisMailbox {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn post(&self, entries: Vec<(String, Vec<u8>)>) -> MailboxResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (node, data) in entries {
            pipe.cmd("XADD")
                .arg(self.stream(&node))
                .arg("MAXLEN")
                .arg("~")
                .arg(self.max_len)
                .arg("*")
                .arg(FIELD)
                .arg(data)
                .ignore();
        }
        self.pipe(&pipe).await
    }

    async fn receive(&self, node: &str, consumer: &str, count: usize, block: Duration) -> MailboxResult<Vec<RawEntry>> {
        let stream = self.stream(node);
        let block = block.min(super::MAX_BLOCK);
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(GROUP).arg(consumer).arg("COUNT").arg(count.max(1));
        cmd.arg("BLOCK").arg(block.as_millis().max(1) as u64).arg("STREAMS").arg(&stream).arg(">");
        let mut created = false;
        loop {
            let mut slot = self.reader.lock().await;
            let mut conn = match slot.as_ref() {
                Some(conn) => conn.clone(),
                None => {
                    let conn = self.connect(block + CALL_TIMEOUT).await?;
                    *slot = Some(conn.clone());
                    conn
                }
            };
            let answer: Result<Option<StreamReadReply>, RedisError> = cmd.query_async(&mut conn).await;
            match answer {
                Ok(reply) => {
                    let ids = reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids);
                    return Ok(ids.map(entry).collect());
                }
                Err(e) => {
                    if is_connection_error(&e) {
                        *slot = None;
                    }
                    drop(slot);
                    let e = error(e);
                    if no_group(&e) && !created {
                        // First read, or the group vanished (FLUSHALL): create it again.
                        self.create_group(&stream).await?;
                        created = true;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    async fn ack(&self, node: &str, ids: Vec<String>) -> MailboxResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("XACK");
        cmd.arg(self.stream(node)).arg(GROUP).arg(ids);
        match self.call::<i64>(&cmd).await {
            Err(e) if no_group(&e) => Ok(()), // the group is gone, and its pending entries with it
            other => other.map(drop),
        }
    }

    async fn reclaim(
        &self,
        node: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> MailboxResult<Vec<RawEntry>> {
        let mut cmd = redis::cmd("XAUTOCLAIM");
        cmd.arg(self.stream(node)).arg(GROUP).arg(consumer).arg(min_idle.as_millis() as u64).arg("0-0");
        cmd.arg("COUNT").arg(count.max(1));
        match self.call::<StreamAutoClaimReply>(&cmd).await {
            Ok(reply) => Ok(reply.claimed.into_iter().map(entry).collect()),
            Err(e) if no_group(&e) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    async fn pending(&self, node: &str) -> MailboxResult<u64> {
        let mut cmd = redis::cmd("XPENDING");
        cmd.arg(self.stream(node)).arg(GROUP);
        match self.call::<Value>(&cmd).await {
            Ok(Value::Array(items)) => Ok(match items.first() {
                Some(Value::Int(n)) => *n as u64,
                _ => 0,
            }),
            Ok(_) => Ok(0),
            Err(e) if no_group(&e) => Ok(0),
            Err(e) => Err(e),
        }
    }

    async fn announce(&self, node: &str, info: &str, ttl: Duration) -> MailboxResult<()> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.member(node)).arg(info).arg("PX").arg(ttl.as_millis().max(1) as u64);
        self.call::<()>(&cmd).await
    }

    async fn withdraw(&self, node: &str) -> MailboxResult<()> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.member(node));
        self.call::<()>(&cmd).await
    }

    async fn members(&self) -> MailboxResult<Vec<(String, String)>> {
        let pattern = format!("{}:node:*", self.prefix);
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1_000);
            let (next, batch): (u64, Vec<String>) = self.call(&cmd).await?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        cmd.arg(&keys);
        let values: Vec<Option<String>> = self.call(&cmd).await?;
        let strip = format!("{}:node:", self.prefix);
        Ok(keys.iter().zip(values).filter_map(|(k, v)| Some((k.strip_prefix(&strip)?.to_string(), v?))).collect())
    }

    async fn ping(&self) -> MailboxResult<()> {
        self.call::<String>(&redis::cmd("PING")).await.map(drop)
    }
}
