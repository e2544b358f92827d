//! A node with its HTTP API on a free port, on the test's own database, and a client.

use std::net::SocketAddr;
use std::sync::Arc;

use aeon::actors::probe::{Event, Probe};
use aeon::clock::SystemClock;
use aeon::config::Config;
use aeon::handler::Registry;
use aeon::node::Node;
use aeon::store::Store;
use aeon::testing::Teardown;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

use super::{Backend, TestDb};

pub struct ApiNode {
    pub db: TestDb,
    pub node: Node,
    pub addr: SocketAddr,
    pub events: UnboundedReceiver<Event>,
    server: actix_web::dev::ServerHandle,
    /// Fails the test, without aborting the others, if it ends before [`ApiNode::stop`].
    teardown: Teardown,
}

impl ApiNode {
    /// A node on a fresh SQLite database (the API is the same on every backend), its
    /// config adjusted by `tweak`, its API on port 0.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_with(tweak, Registry::with_builtins()).await
    }

    /// [`ApiNode::start`] with the handlers of `registry`.
    pub async fn start_with(tweak: impl FnOnce(&mut Config), registry: Registry) -> Self {
        Self::start_on_with(TestDb::new(Backend::Sqlite).await, tweak, registry).await
    }

    /// A node on `db` with the built-in handlers.
    pub async fn start_on(db: TestDb, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_on_with(db, tweak, Registry::with_builtins()).await
    }

    async fn start_on_with(db: TestDb, tweak: impl FnOnce(&mut Config), registry: Registry) -> Self {
        Self::start_wrapped(db, tweak, registry, |store| store).await
    }

    /// A node on `db` whose store is `wrap`ped first (a `FaultyStore`'s wrapper).
    pub async fn start_wrapped(
        db: TestDb,
        tweak: impl FnOnce(&mut Config),
        registry: Registry,
        wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store>,
    ) -> Self {
        let mut config = Config::default();
        config.workers.count = 2;
        config.health.heartbeat_ms = 50;
        config.health.sweep_ms = 100;
        config.health.dead_after_ms = 1_000;
        config.node.poll_ms = 50;
        config.retry.base_ms = 10;
        tweak(&mut config);
        let store = wrap(db.store(config.retry).shared());
        let (probe, events) = Probe::channel();
        let node =
            Node::start_with_store(config, store, registry, Arc::new(SystemClock), probe).await.expect("node starts");
        let (server, addrs) = aeon::api::serve(node.clone(), "127.0.0.1:0").expect("bind");
        let handle = server.handle();
        actix_rt::spawn(server);
        Self { db, node, addr: addrs[0], events, server: handle, teardown: Teardown::arm() }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Calls the API without blocking the actors' thread. Answers (status, JSON body,
    /// or the text as a JSON string when it is not JSON).
    pub async fn call(&self, method: &str, path: &str, body: Option<String>, token: Option<&str>) -> (u16, Value) {
        let url = format!("{}{path}", self.url());
        let auth = token.map(|t| format!("Bearer {t}"));
        let method = method.to_string();
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            let sent = if method == "GET" {
                let mut r = agent.get(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            } else {
                let mut r = agent.post(&url).header("Content-Type", "application/json");
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.send(body.unwrap_or_default())
            };
            let mut response = sent.expect("the API answers");
            let status = response.status().as_u16();
            let text = response.body_mut().with_config().limit(64 * 1024 * 1024).read_to_string().unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
        })
        .await
        .expect("client thread")
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None, None).await
    }

    pub async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        self.call("POST", path, Some(body.to_string()), None).await
    }

    /// Polls a job until it is finished (the node runs in real time).
    pub async fn until_finished(&self, job_id: &str) -> Value {
        let start = std::time::Instant::now();
        loop {
            let (_, job) = self.get(&format!("/v1/jobs/{job_id}")).await;
            if ["COMPLETED", "DEAD_LETTER", "CANCELLED"].contains(&job["status"].as_str().unwrap_or("")) {
                return job;
            }
            assert!(start.elapsed() < super::actors::PATIENCE, "job {job_id} unfinished: {job}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The test's last step: stops the API, then shuts the node down at once (no drain
    /// grace: a run still going is released) and closes the test database's pools.
    pub async fn stop(self) {
        self.server.stop(false).await;
        self.node.shutdown_within(std::time::Duration::ZERO).await;
        self.teardown.disarm();
    }
}
