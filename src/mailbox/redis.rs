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
//!
//! Aeon owns two kinds of keys under its prefix: the streams and the membership keys.
//! A stream key found holding another type (`WRONGTYPE`: someone `SET` it) is deleted
//! and created again by its node's next read, with an ERROR naming what it held; a
//! sender to it gets [`MailboxError::Refused`] for that node alone. A membership key of
//! another type is overwritten by its node's next `SET`, and read as absent meanwhile
//! (`MGET` answers nil for it).

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

    /// The shared connection, connecting first if needed.
    async fn shared(&self) -> MailboxResult<MultiplexedConnection> {
        let mut slot = self.shared.lock().await;
        match slot.as_ref() {
            Some(conn) => Ok(conn.clone()),
            None => {
                let conn = self.connect(CALL_TIMEOUT).await?;
                *slot = Some(conn.clone());
                Ok(conn)
            }
        }
    }

    /// Runs `cmd` on the shared connection, connecting first if needed; drops the
    /// connection when the call failed for want of one.
    async fn call<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> MailboxResult<T> {
        let mut conn = self.shared().await?;
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

    /// Runs `pipe` (without `.ignore()`d commands), answering each command's outcome.
    async fn pipe(&self, pipe: &redis::Pipeline) -> MailboxResult<Vec<redis::RedisResult<Value>>> {
        let mut conn = self.shared().await?;
        match pipe.query_async(&mut conn).await {
            Ok(results) => Ok(results),
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

    /// `node`'s stream key holds another type: deletes it (unless it became a stream
    /// meanwhile) and creates the stream and its group again, saying so.
    async fn recreate(&self, stream: &str) -> MailboxResult<()> {
        let found: String = self.call(redis::cmd("TYPE").arg(stream)).await?;
        if found != "stream" {
            self.call::<()>(redis::cmd("DEL").arg(stream)).await?;
            tracing::error!(
                key = stream,
                found = %found,
                "this node's mailbox key held a {found}, not a stream: deleted and created again (stream and group \
                 {GROUP}); what it held is lost"
            );
        }
        self.create_group(stream).await
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

/// The key holds another type than the command needs (someone wrote over a stream).
fn wrong_type(e: &MailboxError) -> bool {
    matches!(e, MailboxError::Unavailable(m) if m.contains("WRONGTYPE"))
}

/// The entries of an `XREADGROUP` answer. An entry deleted since it was delivered (a
/// consumer's history names it with no fields) comes as its id alone.
fn read_reply(reply: Value) -> Vec<(String, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let Value::Array(streams) = reply else { return out };
    for stream in streams {
        let Value::Array(mut pair) = stream else { continue };
        let Some(Value::Array(entries)) = pair.pop() else { continue };
        for entry in entries {
            let Value::Array(mut parts) = entry else { continue };
            if parts.is_empty() {
                continue;
            }
            let fields = if parts.len() > 1 { parts.pop() } else { None };
            let id = match parts.pop() {
                Some(Value::BulkString(id)) => String::from_utf8_lossy(&id).into_owned(),
                Some(Value::SimpleString(id)) => id,
                _ => continue,
            };
            let data = match fields {
                Some(Value::Array(fields)) => {
                    let mut data = Vec::new();
                    for kv in fields.chunks(2) {
                        if let [Value::BulkString(k), v] = kv
                            && k == FIELD.as_bytes()
                        {
                            data = match v {
                                Value::BulkString(bytes) => bytes.clone(),
                                Value::SimpleString(s) => s.clone().into_bytes(),
                                _ => Vec::new(),
                            };
                        }
                    }
                    Some(data)
                }
                _ => None,
            };
            out.push((id, data));
        }
    }
    out
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
        pipe.ignore_errors();
        let nodes: Vec<String> = entries.iter().map(|(node, _)| node.clone()).collect();
        for (node, data) in entries {
            pipe.cmd("XADD")
                .arg(self.stream(&node))
                .arg("MAXLEN")
                .arg("~")
                .arg(self.max_len)
                .arg("*")
                .arg(FIELD)
                .arg(data);
        }
        // Each XADD answers on its own: one node's stream of another type refuses that
        // node's entry, and the others are posted.
        let mut refused = Vec::new();
        let mut why = None;
        for (node, result) in nodes.into_iter().zip(self.pipe(&pipe).await?) {
            if let Err(e) = result {
                if e.code() != Some("WRONGTYPE") {
                    return Err(error(e));
                }
                why.get_or_insert_with(|| e.to_string());
                refused.push(node);
            }
        }
        match why {
            None => Ok(()),
            Some(reason) => {
                refused.dedup();
                Err(MailboxError::Refused { nodes: refused, reason })
            }
        }
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
                    if wrong_type(&e) && !created {
                        // Our key, written over with another type: ours again.
                        self.recreate(&stream).await?;
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
            // The group is gone (or the key is not a stream), and its pending entries with it.
            Err(e) if no_group(&e) || wrong_type(&e) => Ok(()),
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
            Err(e) if no_group(&e) || wrong_type(&e) => Ok(Vec::new()), // the next read creates them
            Err(e) => Err(e),
        }
    }

    async fn redeliver(&self, node: &str, consumer: &str, count: usize) -> MailboxResult<Vec<RawEntry>> {
        let stream = self.stream(node);
        // `0` rather than `>`: this consumer's own pending entries, not new ones.
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(GROUP).arg(consumer).arg("COUNT").arg(count.max(1)).arg("STREAMS").arg(&stream).arg("0");
        let reply = match self.call::<Value>(&cmd).await {
            Ok(reply) => reply,
            Err(e) if no_group(&e) || wrong_type(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let (mut entries, mut gone) = (Vec::new(), Vec::new());
        for (id, data) in read_reply(reply) {
            match data {
                Some(data) => entries.push(RawEntry { id, data }),
                None => gone.push(id), // trimmed away since: nothing left to deliver
            }
        }
        self.ack(node, gone).await?;
        Ok(entries)
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
            Err(e) if no_group(&e) || wrong_type(&e) => Ok(0),
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
