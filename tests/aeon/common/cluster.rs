//! `aeon node` processes of one cluster: the test's database, a Redis, a free port
//! each, and a client for their APIs.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::TestDb;

pub struct NodeProcess {
    pub id: String,
    pub port: u16,
    pub child: Child,
    log: std::path::PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Timings for a test: heartbeats every 100 ms, dead after 1.5 s, a poll so slow that
/// only a wake-up explains a quick pickup.
pub const FAST: &[(&str, &str)] = &[
    ("AEON__WORKERS__COUNT", "2"),
    ("AEON__WORKERS__CAPACITY", "4"),
    ("AEON__WORKERS__LEASE_MS", "60000"),
    ("AEON__HEALTH__HEARTBEAT_MS", "100"),
    ("AEON__HEALTH__SWEEP_MS", "100"),
    ("AEON__HEALTH__DEAD_AFTER_MS", "1000"),
    ("AEON__NODE__POLL_MS", "30000"),
    ("AEON__RETRY__BASE_MS", "10"),
    ("AEON__CLUSTER__HEARTBEAT_MS", "100"),
    ("AEON__CLUSTER__NODE_DEAD_AFTER_MS", "1500"),
    ("AEON__EXPERIMENTS__ALLOW_CRASH", "true"),
];

impl NodeProcess {
    /// Starts node `id` on `db` with Redis at `redis_url` ("" for none), `extra`
    /// settings over [`FAST`], and waits until its API answers.
    pub async fn start(db: &TestDb, redis_url: &str, id: &str, extra: &[(&str, &str)]) -> NodeProcess {
        Self::start_with(db, redis_url, id, extra, &[]).await
    }

    /// As [`NodeProcess::start`], with `args` after `node` (`--restore latest`).
    pub async fn start_with(
        db: &TestDb,
        redis_url: &str,
        id: &str,
        extra: &[(&str, &str)],
        args: &[&str],
    ) -> NodeProcess {
        let node = Self::spawn_with_args(db, redis_url, id, extra, args);
        let start = Instant::now();
        loop {
            if node.try_get("/livez").await.is_some() {
                return node;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "node {id} did not start:\n{}", node.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the process without waiting for it, `args` after `aeon node`
    /// (`--restore latest`).
    pub fn spawn_with_args(
        db: &TestDb,
        redis_url: &str,
        id: &str,
        extra: &[(&str, &str)],
        args: &[&str],
    ) -> NodeProcess {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("aeon-cluster-{id}-{port}.log"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_aeon"));
        command
            .args(["--config", concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml"), "node"])
            .args(args)
            .env("DATABASE_URL", db.url())
            .env("REDIS_URL", redis_url)
            .env("AEON__NODE__ID", id)
            .env("AEON__API__BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", std::env::var("AEON_TEST_NODE_LOG").unwrap_or("warn".into()))
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
        for (k, v) in FAST.iter().chain(extra) {
            command.env(k, v);
        }
        let child = command.spawn().expect("start aeon node");
        NodeProcess { id: id.to_string(), port, child, log }
    }

    /// What the node wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn try_get(&self, path: &str) -> Option<(u16, Value)> {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(10)))
                .build()
                .into();
            let mut response = agent.get(&url).call().ok()?;
            let status = response.status().as_u16();
            let text = response.body_mut().read_to_string().unwrap_or_default();
            Some((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
        })
        .await
        .unwrap()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.try_get(path).await.unwrap_or_else(|| panic!("node {} does not answer GET {path}", self.id))
    }

    pub async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let body = body.to_string();
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into();
            let mut response =
                agent.post(&url).header("Content-Type", "application/json").send(body).expect("the API answers");
            let status = response.status().as_u16();
            let text = response.body_mut().read_to_string().unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
        })
        .await
        .unwrap()
    }

    /// SIGKILL: no drain, no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and waits for the exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "node {} did not exit", self.id);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
        if std::env::var_os("AEON_TEST_KEEP_LOGS").is_some() {
            eprintln!("node {} logged to {}", self.id, self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// Polls `check` every 20 ms until it answers `Some`, or fails naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
