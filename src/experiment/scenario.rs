//! A scenario file (TOML): the cluster, the workload and the fault schedule.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// How long, after the last submission and fault, the jobs get to finish.
    #[serde(default = "default_settle")]
    pub settle_timeout_s: u64,
    pub cluster: ClusterSpec,
    pub workload: Workload,
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
}

fn default_settle() -> u64 {
    120
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Postgres,
    Sqlite,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    #[serde(default = "one")]
    pub nodes: usize,
    #[serde(default = "four")]
    pub workers: u32,
    #[serde(default = "ten")]
    pub capacity: u32,
    pub backend: BackendKind,
    /// The Postgres server the experiment's scratch schema is made on; default
    /// `--store`, else `AEON_EXPERIMENT_DATABASE_URL`, else `DATABASE_URL`.
    #[serde(default)]
    pub store_url: Option<String>,
    /// Start a `redis-server` of the experiment's own and give it to the nodes.
    #[serde(default)]
    pub redis: bool,
    /// Start a Qdrant server of the experiment's own (the binary at `AEON_QDRANT_BIN`,
    /// else `qdrant` on the `PATH`) on free ports with a scratch storage directory, and
    /// give it to the nodes; `qdrant_down` then kills that server. Without it the nodes
    /// keep their contexts in the embedded vector store.
    #[serde(default)]
    pub qdrant: bool,
    #[serde(default = "lease")]
    pub lease_ms: u64,
    /// The harness asks every live node for a snapshot (`POST /v1/snapshots`,
    /// INCREMENTAL on its last one, FULL when there is none) this often during the run,
    /// and for a FULL one after the run settled; 0: only the one after. The
    /// `snapshot_consistent` check compares each node's last snapshot with the end.
    #[serde(default = "snapshot_every")]
    pub snapshot_every_ms: u64,
    /// More `AEON__SECTION__KEY` settings for every node.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

fn one() -> usize {
    1
}
fn four() -> u32 {
    4
}
fn ten() -> u32 {
    10
}
fn lease() -> u64 {
    2_000
}
fn snapshot_every() -> u64 {
    1_000
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub jobs: usize,
    /// Jobs per second; all at once when absent.
    #[serde(default)]
    pub rate: Option<f64>,
    #[serde(default = "three")]
    pub max_retries: i32,
    pub mix: Vec<MixEntry>,
    /// Chains: each `length` jobs long, each job depending on the one before.
    #[serde(default)]
    pub chains: Option<Shape>,
    /// Fan-ins: `width` jobs and one `collect` job that depends on them all.
    #[serde(default)]
    pub fan_in: Option<FanIn>,
    /// Diamonds: one root job, `width` jobs that depend on it, and one `collect` job
    /// that depends on those.
    #[serde(default)]
    pub diamonds: Option<FanIn>,
}

/// The setting that points the nodes at a Qdrant (the harness sets it with `cluster.qdrant`).
const QDRANT_URL_KEY: &str = "AEON__QDRANT__URL";

/// The built-in job types whose payload is a fixed shape: padding would be refused.
pub const STRICT_PAYLOAD_TYPES: [&str; 5] = ["sleep", "block", "cpu", "fail", "panic"];

/// The largest `payload_bytes` a mix entry may ask for (the nodes take up to 1 MiB).
pub const MAX_PAYLOAD_BYTES: usize = 512 * 1024;

fn three() -> i32 {
    3
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixEntry {
    #[serde(rename = "type")]
    pub job_type: String,
    #[serde(default = "one_u32")]
    pub weight: u32,
    #[serde(default)]
    pub payload: Option<toml::Value>,
    #[serde(default)]
    pub max_retries: Option<i32>,
    /// `[min, max]`: each job of this entry gets a `pad` string of a length drawn from
    /// the seed in that range (only types that take any payload: `noop`, `echo`,
    /// `collect`).
    #[serde(default)]
    pub payload_bytes: Option<[usize; 2]>,
}

fn one_u32() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shape {
    pub count: usize,
    pub length: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FanIn {
    pub count: usize,
    pub width: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    WorkerPanic,
    WorkerHang,
    WorkerSlow,
    NodeKill,
    /// A worker told to crash with mode `exit` through another node (its mailbox):
    /// the node's process ends; with `restart_after_ms` it starts again from its
    /// newest snapshot (`--restore latest`), the same workers back.
    WorkerExit,
    NodePause,
    /// The node paused past the cluster's request timeout while a drain of it is asked
    /// through another node: the drain expires unread and must not be applied when
    /// the node wakes.
    LateDrain,
    NodeTwin,
    DbDisconnect,
    DbLock,
    RedisRestart,
    RedisFlush,
    QdrantDown,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::WorkerPanic => "worker_panic",
            FaultKind::WorkerHang => "worker_hang",
            FaultKind::WorkerSlow => "worker_slow",
            FaultKind::NodeKill => "node_kill",
            FaultKind::WorkerExit => "worker_exit",
            FaultKind::NodePause => "node_pause",
            FaultKind::LateDrain => "late_drain",
            FaultKind::NodeTwin => "node_twin",
            FaultKind::DbDisconnect => "db_disconnect",
            FaultKind::DbLock => "db_lock",
            FaultKind::RedisRestart => "redis_restart",
            FaultKind::RedisFlush => "redis_flush",
            FaultKind::QdrantDown => "qdrant_down",
        }
    }

    /// How long the fault lasts when the scenario does not say (0: an instant).
    pub fn default_duration_ms(self) -> u64 {
        match self {
            FaultKind::WorkerHang | FaultKind::WorkerSlow | FaultKind::NodePause | FaultKind::LateDrain => 3_000,
            FaultKind::DbLock | FaultKind::QdrantDown => 2_000,
            FaultKind::RedisRestart => 1_000,
            _ => 0,
        }
    }

    /// Whether the fault hits every node at once (a shared component) rather than one.
    pub fn is_cluster_wide(self) -> bool {
        matches!(self, FaultKind::DbLock | FaultKind::RedisRestart | FaultKind::RedisFlush | FaultKind::QdrantDown)
    }
}

/// One fault at `at_ms`, or `count` of them at times drawn from the seed in `between_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub kind: FaultKind,
    #[serde(default)]
    pub at_ms: Option<u64>,
    #[serde(default)]
    pub count: Option<usize>,
    #[serde(default)]
    pub between_ms: Option<[u64; 2]>,
    /// The node (index from 0); drawn from the seed when absent.
    #[serde(default)]
    pub node: Option<usize>,
    /// How long a hang, a slow worker, a pause, a lock, a Redis outage (from the kill to
    /// the restart) or a vector store outage (with `cluster.qdrant`: from the kill of the
    /// Qdrant server to its restart) lasts.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// node_kill, worker_exit: start the node again (same id, port and store) after
    /// this long.
    #[serde(default)]
    pub restart_after_ms: Option<u64>,
}

impl Scenario {
    /// Reads and checks a scenario file; errors name the file and the key.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let de = toml::Deserializer::parse(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        let scenario: Scenario = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            anyhow::anyhow!("at `{path}`: {}", e.into_inner().message().trim())
        })?;
        scenario.validate()?;
        Ok(scenario)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let bad = |key: &str, why: &str| Err(anyhow::anyhow!("at `{key}`: {why}"));
        if self.cluster.nodes == 0 {
            return bad("cluster.nodes", "must be at least 1");
        }
        if self.cluster.nodes > 1 && self.cluster.backend == BackendKind::Sqlite {
            return bad("cluster.nodes", "SQLite serves one node; use backend = \"postgres\" for several");
        }
        if self.cluster.workers == 0 || self.cluster.capacity == 0 {
            return bad("cluster.workers", "workers and capacity must be at least 1");
        }
        if self.cluster.qdrant && self.cluster.env.contains_key(QDRANT_URL_KEY) {
            return bad(
                "cluster.env",
                "cluster.qdrant gives the nodes the harness's own Qdrant: leave AEON__QDRANT__URL out",
            );
        }
        if self.workload.mix.is_empty() || self.workload.mix.iter().all(|m| m.weight == 0) {
            return bad("workload.mix", "needs at least one entry with a weight above 0");
        }
        if self.workload.rate.is_some_and(|r| r <= 0.0 || !r.is_finite()) {
            return bad("workload.rate", "must be a positive number of jobs per second");
        }
        if let Some(c) = &self.workload.chains
            && c.length < 2
        {
            return bad("workload.chains.length", "must be at least 2");
        }
        if let Some(f) = &self.workload.fan_in
            && f.width < 1
        {
            return bad("workload.fan_in.width", "must be at least 1");
        }
        if let Some(d) = &self.workload.diamonds
            && d.width < 1
        {
            return bad("workload.diamonds.width", "must be at least 1");
        }
        for (i, m) in self.workload.mix.iter().enumerate() {
            let Some([min, max]) = m.payload_bytes else { continue };
            let key = format!("workload.mix[{i}].payload_bytes");
            if min > max || max > MAX_PAYLOAD_BYTES {
                return bad(&key, &format!("must be [min, max] with min <= max <= {MAX_PAYLOAD_BYTES}"));
            }
            if STRICT_PAYLOAD_TYPES.contains(&m.job_type.as_str()) {
                return bad(
                    &key,
                    &format!("type {:?} refuses extra payload fields; pad noop, echo or collect", m.job_type),
                );
            }
            if m.payload.as_ref().is_some_and(|p| !p.is_table()) {
                return bad(&key, "needs a table payload (or none) to add `pad` to");
            }
        }
        for (i, f) in self.faults.iter().enumerate() {
            let key = |k: &str| format!("faults[{i}].{k}");
            match (f.at_ms, f.between_ms) {
                (Some(_), None) if f.count.is_none() => {}
                (None, Some([a, b])) if a <= b => {}
                (None, Some(_)) => return bad(&key("between_ms"), "must be [from, to] with from <= to"),
                _ => return bad(&key("at_ms"), "give either at_ms, or count and between_ms"),
            }
            if f.node.is_some_and(|n| n >= self.cluster.nodes) {
                return bad(&key("node"), "names a node the cluster does not have");
            }
            if matches!(f.kind, FaultKind::DbDisconnect) && self.cluster.backend != BackendKind::Postgres {
                return bad(&key("kind"), "db_disconnect needs backend = \"postgres\"");
            }
            if f.restart_after_ms.is_some() && !matches!(f.kind, FaultKind::NodeKill | FaultKind::WorkerExit) {
                return bad(&key("restart_after_ms"), "only node_kill and worker_exit restart a node");
            }
            if f.kind == FaultKind::WorkerExit && (!self.cluster.redis || self.cluster.nodes < 2) {
                return bad(
                    &key("kind"),
                    "worker_exit is asked through another node's mailbox: it needs cluster.redis = true and two nodes",
                );
            }
            if f.kind == FaultKind::LateDrain && (!self.cluster.redis || self.cluster.nodes < 2) {
                return bad(
                    &key("kind"),
                    "late_drain is asked through another node's mailbox: it needs cluster.redis = true and two nodes",
                );
            }
            if matches!(f.kind, FaultKind::RedisRestart | FaultKind::RedisFlush) && !self.cluster.redis {
                return bad(&key("kind"), "a Redis fault needs cluster.redis = true (the harness's own redis-server)");
            }
            if f.kind == FaultKind::QdrantDown && !self.cluster.qdrant && self.cluster.env.contains_key(QDRANT_URL_KEY)
            {
                return bad(
                    &key("kind"),
                    "qdrant_down cannot stop a Qdrant the harness did not start: use cluster.qdrant = true instead of AEON__QDRANT__URL",
                );
            }
            if f.node.is_some() && f.kind.is_cluster_wide() {
                return bad(&key("node"), "this fault hits the whole cluster; leave node out");
            }
        }
        Ok(())
    }
}

/// A TOML payload as JSON.
pub(crate) fn to_json(value: &Option<toml::Value>) -> Value {
    match value {
        None => Value::Object(Default::default()),
        Some(v) => serde_json::to_value(v).unwrap_or(Value::Null),
    }
}
