//! Configuration: built-in defaults, then `config.toml`, then environment variables,
//! validated at load. A bad value fails fast with its key, its value and the reason.
//!
//! Environment overrides use `AEON__SECTION__KEY` (`AEON__API__BIND=127.0.0.1:9001`);
//! the conventional `DATABASE_URL`, `REDIS_URL` and `QDRANT_URL` are honoured too, below
//! the `AEON__` form. Every key is documented in the repository's `config.toml`.

mod cluster;
mod jobs;
mod load;
mod redact;
mod runtime;
mod snapshots;
mod validate;

pub use cluster::ClusterConfig;
pub use jobs::{BackoffPolicy, SubmitLimits};
pub use redact::{redact_url, scrub, url_secrets};
pub use runtime::{HealthConfig, RestartPolicy, RetentionConfig, StoreActorConfig};
pub use snapshots::SnapshotConfig;
pub use validate::split_host_port;

use serde::{Deserialize, Serialize};

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config key `{key}` = {value}: {reason}")]
pub struct ConfigError {
    pub key: String,
    /// The offending value, with secrets redacted.
    pub value: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, value: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { key: key.into(), value: value.into(), reason: reason.into() }
    }
}

/// The whole configuration of a node.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub node: NodeConfig,
    pub store: StoreConfig,
    pub jobs: SubmitLimits,
    pub retry: BackoffPolicy,
    pub batch: StoreActorConfig,
    pub workers: WorkersConfig,
    pub health: HealthConfig,
    pub restarts: RestartPolicy,
    pub redis: RedisConfig,
    pub cluster: ClusterConfig,
    pub qdrant: QdrantConfig,
    pub api: ApiConfig,
    pub experiments: ExperimentsConfig,
    pub log: LogConfig,
    pub retention: RetentionConfig,
    pub snapshots: SnapshotConfig,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_redacted_toml())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// This node's name in the cluster; empty: derived from the host name at start.
    pub id: String,
    /// On SIGTERM/SIGINT, how long running jobs may finish before they are released.
    pub drain_grace_ms: u64,
    /// Fallback poll for jobs that arrive without a wake-up, in milliseconds.
    pub poll_ms: u64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self { id: String::new(), drain_grace_ms: 30_000, poll_ms: 1_000 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://path/to/file.db` (the embedded default: one node, no server) or
    /// `postgres://user:password@host:port/database` (production, several nodes).
    pub url: String,
    /// Size of the connection pool (Postgres; SQLite has one writer).
    pub max_connections: u32,
}

impl StoreConfig {
    /// The store a node uses when nothing names one: a SQLite file beside it.
    pub const EMBEDDED_URL: &'static str = "sqlite://aeon-data/aeon.db";

    /// Whether this is the embedded default rather than a store someone chose.
    pub fn is_embedded_default(&self) -> bool {
        self.url == Self::EMBEDDED_URL
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { url: Self::EMBEDDED_URL.into(), max_connections: 10 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkersConfig {
    /// Worker actors per node.
    pub count: u32,
    /// Jobs one worker runs at the same time.
    pub capacity: u32,
    /// Jobs a worker holds claimed beyond `capacity`, queued to start the moment a
    /// slot frees: claims come in bigger batches and a slot never waits for a claim's
    /// round trip. Queued claims' leases are renewed; a drain gives them back.
    pub prefetch: u32,
    /// A worker queues only the jobs that would start within this many milliseconds,
    /// by the run times it has observed (at most `prefetch`): short jobs get the whole
    /// queue, jobs of seconds none, so they are not hoarded while another node has
    /// free slots. 0 turns this off: a worker always queues up to `prefetch`.
    pub prefetch_horizon_ms: u64,
    /// How long a queued job may wait for a slot before it goes back for any worker
    /// to take, in milliseconds.
    pub prefetch_wait_ms: u64,
    /// How long a claim holds without renewal, in milliseconds.
    pub lease_ms: u64,
    /// Finished runs per worker whose results may still be on their way to the
    /// database (batched) while the worker takes new jobs. A slot is free as soon as
    /// its handler returns; past this many unwritten results the worker gets no new
    /// jobs until some are written. Bounds memory, and the work a crash repeats.
    pub backlog: u32,
}

impl Default for WorkersConfig {
    fn default() -> Self {
        Self {
            count: 4,
            capacity: 10,
            prefetch: 200,
            prefetch_horizon_ms: 50,
            prefetch_wait_ms: 5_000,
            lease_ms: 30_000,
            backlog: 400,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://[user]:password@host:port/db` (`rediss://` for TLS); empty: single
    /// node, in-process mailboxes.
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QdrantConfig {
    /// `http://host:6334` (gRPC); empty: the embedded vector store, in the node's
    /// own database.
    pub url: String,
    /// Sent to Qdrant when set; never logged.
    pub api_key: String,
    /// The collection of execution contexts (created with its indexes if missing).
    pub collection: String,
    /// Every call to Qdrant gives up after this long, in milliseconds.
    pub timeout_ms: u64,
    /// Execution contexts held in memory while the vector store does not take them;
    /// beyond, the oldest are dropped (and counted).
    pub queue_capacity: usize,
    /// The first retry of a failed write waits this long; each further failure
    /// doubles it, up to `retry_max_ms` (milliseconds).
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
}

impl Default for QdrantConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            api_key: String::new(),
            collection: "aeon_execution_contexts".into(),
            timeout_ms: 5_000,
            queue_capacity: 10_000,
            retry_initial_ms: 500,
            retry_max_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address the HTTP API listens on.
    pub bind: String,
    /// When set, every `/v1` call needs `Authorization: Bearer <token>`; never logged.
    pub token: String,
    /// A read-only token: with it, `/v1` answers every GET and refuses every write with
    /// 403 (the dashboard then hides its buttons). Never logged.
    pub read_token: String,
    /// The largest request body accepted; a larger one is refused with 413.
    pub max_body_bytes: usize,
    /// Listen beyond this machine (a non-loopback `bind`) without a token. Refused
    /// unless set: anyone who can reach such a node may submit, cancel and requeue.
    pub allow_unauthenticated: bool,
    /// Names besides `localhost` and loopback IPs that `Host` may give when the node
    /// listens on loopback (`aeon.internal`, any port; `aeon.internal:8443`, that
    /// port): a reverse proxy's name it passes on. Others are refused (421) so that a
    /// name rebound to 127.0.0.1 (DNS rebinding) cannot reach the node.
    pub allowed_hosts: Vec<String>,
    /// Browser origins (`https://ops.example.com`) allowed to write although they are
    /// not the node's own (a proxy that rewrites `Host`, a dashboard elsewhere). Other
    /// cross-site writes are refused (403).
    pub allowed_origins: Vec<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            token: String::new(),
            read_token: String::new(),
            max_body_bytes: 4 * 1024 * 1024,
            allow_unauthenticated: false,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
        }
    }
}

/// How the node writes its log (to stderr). The level comes from `RUST_LOG`
/// (default `info`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
}

/// `text` for people (coloured only on a terminal), `json` for log shippers: one JSON
/// object per line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExperimentsConfig {
    /// Whether operators may crash workers on purpose (`POST /v1/workers/{id}/crash`).
    pub allow_crash: bool,
}
