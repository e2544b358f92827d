//! The processes a run owns — the nodes, the Redis server and the Qdrant server — and
//! the HTTP calls the harness makes to them. Every process is killed when [`Owned`]
//! goes, whatever happened (a paused node is continued first), and Qdrant's storage
//! directory removed.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::db::Db;
use super::node_id;

/// A node process.
pub(super) struct NodeProc {
    pub index: usize,
    pub port: u16,
    pub child: Option<Child>,
    pub paused: bool,
    /// Its next start restores its newest snapshot (`--restore latest`).
    pub restore: bool,
}

impl NodeProc {
    /// Running and not paused: it answers HTTP.
    pub fn live(&self) -> bool {
        self.child.is_some() && !self.paused
    }
}

/// The experiment's own `redis-server`, without persistence: a restart comes back empty.
pub(super) struct RedisProc {
    pub port: u16,
    pub child: Option<Child>,
}

impl RedisProc {
    /// Starts a server on `port` and waits until it accepts connections.
    pub async fn start(port: u16) -> anyhow::Result<Child> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("start redis-server (is it installed?): {e}"))?;
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            anyhow::ensure!(start.elapsed() < Duration::from_secs(10), "redis-server did not start on port {port}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(child)
    }

    /// SIGKILL, and wait until it is gone.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        let mut child = self.child.take().ok_or_else(|| anyhow::anyhow!("redis-server is already down"))?;
        child.kill()?;
        let _ = child.wait();
        Ok(())
    }

    /// `FLUSHALL` over a plain connection: every stream, group and key gone at once.
    pub fn flush(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_some(), "redis-server is down");
        let mut conn = TcpStream::connect(("127.0.0.1", self.port))?;
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        conn.write_all(b"*1\r\n$8\r\nFLUSHALL\r\n")?;
        let mut answer = [0u8; 16];
        let n = conn.read(&mut answer)?;
        let answer = String::from_utf8_lossy(&answer[..n]);
        anyhow::ensure!(answer.starts_with("+OK"), "FLUSHALL answered {answer:?}");
        Ok(())
    }
}

/// The experiment's own Qdrant server (`cluster.qdrant`): two free ports (HTTP, gRPC)
/// and a scratch storage directory, both kept across a kill and restart, so the
/// collection and its points survive an outage as they do on a real server. The
/// directory goes with the value.
pub(super) struct QdrantProc {
    bin: PathBuf,
    pub http_port: u16,
    pub grpc_port: u16,
    dir: PathBuf,
    log: PathBuf,
    pub child: Option<Child>,
}

impl QdrantProc {
    /// The server binary: `AEON_QDRANT_BIN` (relative to the current directory), else
    /// `qdrant` on the `PATH`.
    pub fn binary() -> anyhow::Result<PathBuf> {
        const HOW: &str = "cluster.qdrant needs a Qdrant server: set AEON_QDRANT_BIN or put `qdrant` on the PATH";
        if let Some(bin) = std::env::var_os("AEON_QDRANT_BIN").filter(|b| !b.is_empty()) {
            return std::fs::canonicalize(&bin)
                .map_err(|e| anyhow::anyhow!("{HOW}: AEON_QDRANT_BIN={}: {e}", Path::new(&bin).display()));
        }
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|dir| dir.join("qdrant"))
            .find(|bin| bin.is_file())
            .ok_or_else(|| anyhow::anyhow!("{HOW}"))
    }

    /// Starts a server on free ports, its log in `out/qdrant.log`, and waits until it
    /// is ready.
    pub async fn start(out: &Path) -> anyhow::Result<QdrantProc> {
        let dir = std::env::temp_dir().join(format!("aeon-exp-qdrant-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let mut qdrant = QdrantProc {
            bin: Self::binary()?,
            http_port: free_port()?,
            grpc_port: free_port()?,
            dir,
            log: out.join("qdrant.log"),
            child: None,
        };
        qdrant.restart().await?;
        Ok(qdrant)
    }

    /// The URL the nodes are given (gRPC).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// Starts the server (again) on its ports and storage, and waits until `/readyz`
    /// answers (it fails at once if the server exits).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "qdrant is already running");
        let log = File::options().create(true).append(true).open(&self.log)?;
        let mut child = Command::new(&self.bin)
            .arg("--disable-telemetry")
            .current_dir(&self.dir) // it writes beside its storage
            .env("QDRANT__SERVICE__HOST", "127.0.0.1")
            .env("QDRANT__SERVICE__HTTP_PORT", self.http_port.to_string())
            .env("QDRANT__SERVICE__GRPC_PORT", self.grpc_port.to_string())
            .env("QDRANT__STORAGE__STORAGE_PATH", self.dir.join("storage"))
            .env("QDRANT__STORAGE__SNAPSHOTS_PATH", self.dir.join("snapshots"))
            .env("QDRANT__TELEMETRY_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| anyhow::anyhow!("start {}: {e}", self.bin.display()))?;
        let start = Instant::now();
        let ready = format!("http://127.0.0.1:{}/readyz", self.http_port);
        loop {
            if let Ok((200, _)) = http("GET", ready.clone(), None).await {
                self.child = Some(child);
                return Ok(());
            }
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || start.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                let why = exited.map_or("not ready after 30 s".to_string(), |s| format!("exited ({s})"));
                anyhow::bail!(
                    "qdrant on ports {}/{} {why}; see {}",
                    self.http_port,
                    self.grpc_port,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, and wait until it is gone: a crash, its storage kept.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        let mut child = self.child.take().ok_or_else(|| anyhow::anyhow!("qdrant is already down"))?;
        child.kill()?;
        let _ = child.wait();
        Ok(())
    }

    /// How many points `collection` holds (exact count, over HTTP).
    pub async fn count(&self, collection: &str) -> anyhow::Result<u64> {
        let url = format!("http://127.0.0.1:{}/collections/{collection}/points/count", self.http_port);
        match http("POST", url, Some(json!({"exact": true}))).await? {
            (200, v) => v["result"]["count"].as_u64().ok_or_else(|| anyhow::anyhow!("no count in {v}")),
            (status, v) => anyhow::bail!("qdrant count refused: {status} {v}"),
        }
    }
}

impl Drop for QdrantProc {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every process the harness started.
#[derive(Default)]
pub(super) struct Owned {
    pub nodes: Vec<NodeProc>,
    pub redis: Option<RedisProc>,
    /// Killed, and its directory removed, by its own `Drop` (after the nodes).
    pub qdrant: Option<QdrantProc>,
}

impl Drop for Owned {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(child) = &mut node.child {
                if node.paused {
                    signal(child, "-CONT");
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if let Some(child) = self.redis.as_mut().and_then(|r| r.child.as_mut()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub(super) fn signal(child: &Child, sig: &str) -> bool {
    Command::new("kill").args([sig, &child.id().to_string()]).status().is_ok_and(|s| s.success())
}

pub(super) fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts node processes of the `aeon` binary with the run's settings.
pub(super) struct Spawner {
    pub bin: PathBuf,
    pub env: Vec<(String, String)>,
    pub out: PathBuf,
}

impl Spawner {
    /// Starts node `index`; `restore`: from its newest snapshot (`--restore latest`).
    pub fn spawn(&self, db: &Db, index: usize, port: u16, restore: bool) -> anyhow::Result<Child> {
        self.spawn_logged(db, index, port, restore, &self.out.join(format!("node-{index}.log")))
    }

    /// A second process of node `index` (same id and store), logging to [`Spawner::twin_log`].
    pub fn spawn_twin(&self, db: &Db, index: usize, port: u16) -> anyhow::Result<Child> {
        self.spawn_logged(db, index, port, false, &self.twin_log(index))
    }

    pub fn twin_log(&self, index: usize) -> PathBuf {
        self.out.join(format!("node-{index}-twin.log"))
    }

    fn spawn_logged(
        &self,
        db: &Db,
        index: usize,
        port: u16,
        restore: bool,
        log: &std::path::Path,
    ) -> anyhow::Result<Child> {
        let dir = self.out.join(format!("node-{index}"));
        std::fs::create_dir_all(&dir)?;
        let log = File::options().create(true).append(true).open(log)?;
        let mut command = Command::new(&self.bin);
        // The scenario alone says how the nodes run: no setting of the harness's own
        // environment reaches them (a QDRANT_URL there would move their contexts).
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("AEON__") || ["REDIS_URL", "QDRANT_URL"].contains(&name.as_ref()) {
                command.env_remove(name.as_ref());
            }
        }
        command.arg("node");
        if restore {
            command.args(["--restore", "latest"]);
        }
        command
            .current_dir(&dir) // no stray ./config.toml
            .env("DATABASE_URL", db.node_url(index))
            .env("AEON__NODE__ID", node_id(index))
            .env("AEON__API__BIND", format!("127.0.0.1:{port}"))
            .env("AEON__EXPERIMENTS__ALLOW_CRASH", "true")
            .env("RUST_LOG", std::env::var("AEON_EXPERIMENT_NODE_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        for (k, v) in &self.env {
            command.env(k, v);
        }
        command.spawn().map_err(|e| anyhow::anyhow!("start {}: {e}", self.bin.display()))
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// One HTTP call, off the async thread.
pub(super) async fn http(method: &'static str, url: String, body: Option<Value>) -> anyhow::Result<(u16, Value)> {
    tokio::task::spawn_blocking(move || {
        let agent = agent();
        let sent = match body {
            None if method == "GET" => agent.get(&url).call(),
            body => {
                agent.post(&url).header("Content-Type", "application/json").send(body.unwrap_or(json!({})).to_string())
            }
        };
        let mut response = sent.map_err(|e| anyhow::anyhow!("{method} {url}: {e}"))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    })
    .await?
}

/// Asks the node on `port` for a snapshot: INCREMENTAL on its last one, FULL when it
/// has none that verifies (or `full`). Answers the snapshot's id.
pub(super) async fn take_snapshot(port: u16, full: bool) -> anyhow::Result<String> {
    let url = format!("http://127.0.0.1:{port}/v1/snapshots");
    if !full && let (201, v) = http("POST", url.clone(), Some(json!({"type": "INCREMENTAL"}))).await? {
        return snapshot_id(&v);
    }
    match http("POST", url, Some(json!({"type": "FULL"}))).await? {
        (201, v) => snapshot_id(&v),
        (status, v) => anyhow::bail!("snapshot refused: {status} {v}"),
    }
}

fn snapshot_id(v: &Value) -> anyhow::Result<String> {
    v["snapshot_id"].as_str().map(String::from).ok_or_else(|| anyhow::anyhow!("no snapshot_id in {v}"))
}

/// Waits for a node's `/readyz`; fails at once, with its log's end, if it exits.
pub(super) async fn wait_ready(node: &mut NodeProc, out: &Path, limit: Duration) -> anyhow::Result<()> {
    let (port, index) = (node.port, node.index);
    let start = Instant::now();
    loop {
        if let Ok((200, _)) = http("GET", format!("http://127.0.0.1:{port}/readyz"), None).await {
            return Ok(());
        }
        let exited = node.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
        if exited.is_some() || start.elapsed() > limit {
            let log = std::fs::read_to_string(out.join(format!("node-{index}.log"))).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
            let why = exited.map_or(format!("not ready after {limit:?}"), |s| format!("exited ({s})"));
            anyhow::bail!("node {index} on port {port} {why}:\n{}", tail.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
