//! Runs a plan against real `aeon node` processes the harness starts and owns: a
//! scratch database, free ports, the submissions and the faults on time, then the
//! read-out of what the database holds.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Connection, PgConnection};

use super::check::{ExecutionRow, JobRow, Observed};
use super::plan::{Plan, PlannedFault};
use super::scenario::{BackendKind, FaultKind, Scenario};
use crate::store::Store;

/// Where and how a run happens.
#[derive(Debug, Clone)]
pub struct Harness {
    /// The `aeon` binary the nodes run.
    pub aeon_bin: PathBuf,
    /// The Postgres server for a postgres scenario (overrides the scenario's).
    pub store_url: Option<String>,
    /// Where node logs go.
    pub out: PathBuf,
    pub quiet: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FiredFault {
    pub kind: FaultKind,
    pub node: usize,
    pub planned_ms: u64,
    pub fired_ms: i64,
    pub duration_ms: u64,
    pub outcome: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub observed: Observed,
    pub fired: Vec<FiredFault>,
    pub elapsed_ms: i64,
    pub settled: bool,
    pub submit_errors: Vec<String>,
}

enum Db {
    Postgres { pool: PgPool, admin_url: String, schema: String, node_url: String },
    Sqlite { dir: PathBuf, url: String, pool: SqlitePool },
}

impl Db {
    async fn create(scenario: &Scenario, harness: &Harness) -> anyhow::Result<Db> {
        match scenario.cluster.backend {
            BackendKind::Postgres => {
                let base = harness
                    .store_url
                    .clone()
                    .or_else(|| scenario.cluster.store_url.clone())
                    .or_else(|| std::env::var("AEON_EXPERIMENT_DATABASE_URL").ok())
                    .or_else(|| std::env::var("DATABASE_URL").ok())
                    .filter(|u| u.starts_with("postgres"))
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "a postgres scenario needs a server: --store URL, cluster.store_url, AEON_EXPERIMENT_DATABASE_URL or DATABASE_URL"
                        )
                    })?;
                let schema = format!("aeon_exp_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::connect(&base).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut admin).await?;
                admin.close().await?;
                let options: PgConnectOptions = base.parse()?;
                let pool = PgPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options.options([("search_path", schema.as_str())]))
                    .await?;
                crate::store::postgres::MIGRATOR.run(&pool).await?;
                let separator = if base.contains('?') { '&' } else { '?' };
                let node_url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
                Ok(Db::Postgres { pool, admin_url: base, schema, node_url })
            }
            BackendKind::Sqlite => {
                let dir = std::env::temp_dir().join(format!("aeon-exp-{}", uuid::Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir)?;
                let url = format!("sqlite://{}", dir.join("aeon.db").display());
                {
                    let store = crate::store::sqlite::SqliteStore::connect(&url, Default::default()).await?;
                    store.migrate().await?;
                } // the single-node lock goes with the store
                let options = SqliteConnectOptions::new().filename(dir.join("aeon.db")).read_only(true);
                let pool = SqlitePoolOptions::new().max_connections(2).connect_with(options).await?;
                Ok(Db::Sqlite { dir, url, pool })
            }
        }
    }

    /// The store URL node `index` uses (on Postgres, named so its connections can be found).
    fn node_url(&self, index: usize) -> String {
        match self {
            Db::Postgres { node_url, schema, .. } => format!("{node_url}&application_name={}", app_name(schema, index)),
            Db::Sqlite { url, .. } => url.clone(),
        }
    }

    async fn unfinished_and_done(&self) -> anyhow::Result<(i64, i64)> {
        const SQL: &str = "SELECT
            (SELECT COUNT(*) FROM jobs WHERE status IN ('WAITING', 'PENDING', 'RUNNING')),
            (SELECT COUNT(*) FROM jobs WHERE status IN ('COMPLETED', 'DEAD_LETTER', 'CANCELLED'))";
        Ok(match self {
            Db::Postgres { pool, .. } => sqlx::query_as(SQL).fetch_one(pool).await?,
            Db::Sqlite { pool, .. } => sqlx::query_as(SQL).fetch_one(pool).await?,
        })
    }

    async fn read(&self, start: DateTime<Utc>) -> anyhow::Result<Observed> {
        let t = |col: &str| match self {
            Db::Postgres { .. } => format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"),
            Db::Sqlite { .. } => col.to_string(),
        };
        let jobs_sql = format!(
            "SELECT CAST(job_id AS TEXT), status, CAST(attempts AS BIGINT), CAST(max_retries AS BIGINT), {} FROM jobs",
            t("completed_at")
        );
        let exec_sql = format!(
            "SELECT CAST(job_id AS TEXT), execution_status, CAST(attempt AS BIGINT), {}, {} FROM job_executions",
            t("started_at"),
            t("finished_at")
        );
        const DLQ: &str = "SELECT CAST(job_id AS TEXT) FROM dead_letter_queue WHERE NOT requeued";
        const DEPS: &str = "SELECT CAST(job_id AS TEXT), CAST(depends_on_job_id AS TEXT) FROM job_dependencies";
        type J = (String, String, i64, i64, Option<String>);
        type E = (String, String, i64, Option<String>, Option<String>);
        type Rows = (Vec<J>, Vec<E>, Vec<String>, Vec<(String, String)>);
        let (jobs, execs, dlq, deps): Rows = match self {
            Db::Postgres { pool, .. } => (
                sqlx::query_as(sqlx::AssertSqlSafe(jobs_sql)).fetch_all(pool).await?,
                sqlx::query_as(sqlx::AssertSqlSafe(exec_sql)).fetch_all(pool).await?,
                sqlx::query_scalar(DLQ).fetch_all(pool).await?,
                sqlx::query_as(DEPS).fetch_all(pool).await?,
            ),
            Db::Sqlite { pool, .. } => (
                sqlx::query_as(sqlx::AssertSqlSafe(jobs_sql)).fetch_all(pool).await?,
                sqlx::query_as(sqlx::AssertSqlSafe(exec_sql)).fetch_all(pool).await?,
                sqlx::query_scalar(DLQ).fetch_all(pool).await?,
                sqlx::query_as(DEPS).fetch_all(pool).await?,
            ),
        };
        let ms = |t: Option<String>| {
            t.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| (t.with_timezone(&Utc) - start).num_milliseconds())
        };
        Ok(Observed {
            submitted: Vec::new(),
            jobs: jobs
                .into_iter()
                .map(|(job_id, status, attempts, max_retries, done)| JobRow {
                    job_id,
                    status,
                    attempts,
                    max_retries,
                    completed_ms: ms(done),
                })
                .collect(),
            executions: execs
                .into_iter()
                .map(|(job_id, status, attempt, s, f)| ExecutionRow {
                    job_id,
                    status,
                    attempt,
                    started_ms: ms(s),
                    finished_ms: ms(f),
                })
                .collect(),
            dead_letters: dlq,
            dependencies: deps,
        })
    }

    /// Terminates node `index`'s database connections; answers how many.
    async fn disconnect(&self, index: usize) -> anyhow::Result<i64> {
        match self {
            Db::Postgres { pool, schema, .. } => {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) t",
                )
                .bind(app_name(schema, index))
                .fetch_one(pool)
                .await?;
                Ok(n)
            }
            Db::Sqlite { .. } => anyhow::bail!("db_disconnect needs Postgres"),
        }
    }

    /// Holds a lock on `jobs` for `ms` from a connection of the harness's own.
    async fn lock(&self, ms: u64) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let wait = Duration::from_millis(ms);
        Ok(match self {
            Db::Postgres { pool, .. } => {
                let mut conn = pool.acquire().await?.detach();
                sqlx::raw_sql("BEGIN; LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE").execute(&mut conn).await?;
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut conn).await;
                })
            }
            Db::Sqlite { dir, .. } => {
                let options = SqliteConnectOptions::new().filename(dir.join("aeon.db"));
                let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
                sqlx::raw_sql("BEGIN EXCLUSIVE").execute(&mut conn).await?;
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut conn).await;
                })
            }
        })
    }

    async fn remove(self) {
        match self {
            Db::Postgres { pool, admin_url, schema, .. } => {
                pool.close().await;
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = sqlx::raw_sql("SET client_min_messages = warning").execute(&mut admin).await;
                    let drop_it = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(drop_it)).execute(&mut admin).await;
                }
            }
            Db::Sqlite { dir, pool, .. } => {
                pool.close().await;
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

fn app_name(schema: &str, index: usize) -> String {
    format!("{}-n{index}", &schema[..schema.len().min(40)])
}

/// A node process, killed (after a SIGCONT) when dropped.
struct NodeProc {
    index: usize,
    port: u16,
    child: Option<Child>,
    paused: bool,
}

/// Every process the harness started; all killed when this goes, whatever happened.
#[derive(Default)]
struct Owned {
    nodes: Vec<NodeProc>,
    redis: Option<Child>,
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
        if let Some(redis) = &mut self.redis {
            let _ = redis.kill();
            let _ = redis.wait();
        }
    }
}

fn signal(child: &Child, sig: &str) -> bool {
    Command::new("kill").args([sig, &child.id().to_string()]).status().is_ok_and(|s| s.success())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

struct Spawner {
    bin: PathBuf,
    env: Vec<(String, String)>,
    out: PathBuf,
}

impl Spawner {
    fn spawn(&self, db: &Db, index: usize, port: u16) -> anyhow::Result<Child> {
        let dir = self.out.join(format!("node-{index}"));
        std::fs::create_dir_all(&dir)?;
        let log = File::options().create(true).append(true).open(self.out.join(format!("node-{index}.log")))?;
        let mut command = Command::new(&self.bin);
        command
            .arg("node")
            .current_dir(&dir) // no stray ./config.toml
            .env("DATABASE_URL", db.node_url(index))
            .env("AEON__NODE__ID", format!("exp-node-{index}"))
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
async fn http(method: &'static str, url: String, body: Option<Value>) -> anyhow::Result<(u16, Value)> {
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

/// Waits for a node's `/readyz`; fails at once, with its log's end, if it exits.
async fn wait_ready(node: &mut NodeProc, out: &Path, limit: Duration) -> anyhow::Result<()> {
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

enum Event {
    /// Groups of the plan, and how many times their submission was tried.
    Submit(Vec<usize>, u32),
    Fault(usize),
    Restart(usize),
    Resume(usize),
}

impl Harness {
    /// Runs `plan`; the database is removed and every process killed afterwards.
    pub async fn run(&self, scenario: &Scenario, plan: &Plan) -> anyhow::Result<Outcome> {
        std::fs::create_dir_all(&self.out)?;
        let db = Db::create(scenario, self).await?;
        let outcome = self.run_on(&db, scenario, plan).await;
        db.remove().await;
        outcome
    }

    async fn run_on(&self, db: &Db, scenario: &Scenario, plan: &Plan) -> anyhow::Result<Outcome> {
        let c = &scenario.cluster;
        let mut owned = Owned::default();
        let mut env: Vec<(String, String)> = vec![
            ("AEON__WORKERS__COUNT".into(), c.workers.to_string()),
            ("AEON__WORKERS__CAPACITY".into(), c.capacity.to_string()),
            ("AEON__WORKERS__LEASE_MS".into(), c.lease_ms.to_string()),
            ("AEON__HEALTH__HEARTBEAT_MS".into(), "100".into()),
            ("AEON__HEALTH__SWEEP_MS".into(), "100".into()),
            ("AEON__HEALTH__DEAD_AFTER_MS".into(), "1000".into()),
            ("AEON__NODE__POLL_MS".into(), "50".into()),
            ("AEON__RETRY__BASE_MS".into(), "50".into()),
            ("AEON__RETRY__MAX_MS".into(), "500".into()),
            ("AEON__RESTARTS__MAX_RESTARTS".into(), "1000".into()),
        ];
        if c.redis {
            let port = free_port()?;
            let redis = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| anyhow::anyhow!("start redis-server: {e}"))?;
            owned.redis = Some(redis);
            let start = Instant::now();
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                anyhow::ensure!(start.elapsed() < Duration::from_secs(10), "redis-server did not start");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            env.push(("AEON__REDIS__URL".into(), format!("redis://127.0.0.1:{port}")));
        }
        env.extend(c.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let spawner = Spawner { bin: self.aeon_bin.clone(), env, out: self.out.clone() };
        for index in 0..c.nodes {
            let port = free_port()?;
            let child = spawner.spawn(db, index, port)?;
            owned.nodes.push(NodeProc { index, port, child: Some(child), paused: false });
        }
        for node in &mut owned.nodes {
            wait_ready(node, &self.out, Duration::from_secs(60)).await?;
        }

        // The timeline: submissions each 100 ms tick, faults, restarts and resumes.
        let mut events: Vec<(u64, Event)> = Vec::new();
        let mut tick: Option<(u64, Vec<usize>)> = None;
        for (i, g) in plan.groups.iter().enumerate() {
            let at = g.at_ms / 100 * 100;
            match &mut tick {
                Some((t, groups)) if *t == at && groups.len() < 1_000 => groups.push(i),
                _ => {
                    if let Some((t, groups)) = tick.take() {
                        events.push((t, Event::Submit(groups, 0)));
                    }
                    tick = Some((at, vec![i]));
                }
            }
        }
        if let Some((t, groups)) = tick {
            events.push((t, Event::Submit(groups, 0)));
        }
        events.extend(plan.faults.iter().enumerate().map(|(i, f)| (f.at_ms, Event::Fault(i))));

        let start = Instant::now();
        let start_utc = Utc::now();
        let since = |_: ()| start.elapsed().as_millis() as i64;
        let mut submitted: Vec<String> = Vec::new();
        let mut submit_errors = Vec::new();
        let mut fired: Vec<FiredFault> = Vec::new();
        let mut locks = Vec::new();
        let mut next_node = 0usize;
        let mut last_progress = Instant::now();
        let total = plan.jobs();

        loop {
            events.sort_by_key(|(at, _)| *at);
            if events.is_empty() {
                break;
            }
            let (at, event) = events.remove(0);
            let due = start + Duration::from_millis(at);
            while Instant::now() < due {
                tokio::time::sleep((due - Instant::now()).min(Duration::from_millis(250))).await;
                self.progress(db, total, fired.len(), plan.faults.len(), start, &mut last_progress).await;
            }
            match event {
                Event::Submit(groups, tries) => {
                    let jobs: Vec<Value> = groups
                        .iter()
                        .flat_map(|&g| plan.groups[g].jobs.iter())
                        .map(|j| {
                            let mut v = json!({"type": j.job_type, "payload": j.payload, "max_retries": j.max_retries, "ref": j.reference});
                            if !j.depends_on.is_empty() {
                                v["depends_on"] = json!(j.depends_on);
                            }
                            v
                        })
                        .collect();
                    let body = json!({ "jobs": jobs });
                    let mut answer = Err(anyhow::anyhow!("no live node to submit to"));
                    for _ in 0..owned.nodes.len() * 2 {
                        let node = &owned.nodes[next_node % owned.nodes.len()];
                        next_node += 1;
                        if node.child.is_none() || node.paused {
                            continue;
                        }
                        let url = format!("http://127.0.0.1:{}/v1/jobs/batch", node.port);
                        match http("POST", url, Some(body.clone())).await {
                            Ok((201, v)) => {
                                answer = Ok(v);
                                break;
                            }
                            Ok((status, v)) => answer = Err(anyhow::anyhow!("{status}: {v}")),
                            Err(e) => answer = Err(e),
                        }
                    }
                    match answer {
                        Ok(v) => submitted.extend(
                            v["job_ids"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|id| id.as_str().map(String::from)),
                        ),
                        // No node answered (killed, paused, restarting): try again shortly,
                        // for up to a minute.
                        Err(_) if tries < 240 => {
                            let later = since(()).max(at as i64) as u64 + 250;
                            events.push((later, Event::Submit(groups, tries + 1)));
                        }
                        Err(e) => submit_errors.push(format!("at {at} ms: {} jobs not submitted: {e}", jobs.len())),
                    }
                }
                Event::Fault(i) => {
                    let fault = &plan.faults[i];
                    let fired_ms = since(());
                    let outcome = match self.fire(db, &mut owned, fault, &mut events, &mut locks, at).await {
                        Ok(text) => text,
                        Err(e) => format!("error: {e:#}"),
                    };
                    fired.push(FiredFault {
                        kind: fault.kind,
                        node: fault.node,
                        planned_ms: fault.at_ms,
                        fired_ms,
                        duration_ms: fault.duration_ms,
                        outcome,
                    });
                }
                Event::Restart(index) => {
                    let node = &mut owned.nodes[index];
                    node.child = Some(spawner.spawn(db, index, node.port)?);
                    wait_ready(node, &self.out, Duration::from_secs(60)).await?;
                }
                Event::Resume(index) => {
                    let node = &mut owned.nodes[index];
                    if let Some(child) = &node.child {
                        signal(child, "-CONT");
                    }
                    node.paused = false;
                }
            }
        }

        // Let the jobs finish.
        let limit = Duration::from_secs(scenario.settle_timeout_s);
        let settle_start = Instant::now();
        let mut settled = false;
        while settle_start.elapsed() < limit {
            if let Ok(Ok((0, _))) = tokio::time::timeout(Duration::from_secs(2), db.unfinished_and_done()).await {
                settled = true;
                break;
            }
            self.progress(db, total, fired.len(), plan.faults.len(), start, &mut last_progress).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for lock in locks {
            let _ = lock.await;
        }
        let elapsed_ms = since(());
        if !self.quiet {
            eprintln!();
        }
        drop(owned); // every node stops before the read-out
        let mut observed = db.read(start_utc).await?;
        observed.submitted = submitted;
        Ok(Outcome { observed, fired, elapsed_ms, settled, submit_errors })
    }

    async fn progress(&self, db: &Db, total: usize, fired: usize, faults: usize, start: Instant, last: &mut Instant) {
        if self.quiet || last.elapsed() < Duration::from_secs(1) {
            return;
        }
        *last = Instant::now();
        let done = match tokio::time::timeout(Duration::from_millis(300), db.unfinished_and_done()).await {
            Ok(Ok((_, done))) => done.to_string(),
            _ => "?".into(),
        };
        eprint!(
            "\r  {done}/{total} jobs done, {fired}/{faults} faults fired, {:.0} s    ",
            start.elapsed().as_secs_f64()
        );
    }

    async fn fire(
        &self,
        db: &Db,
        owned: &mut Owned,
        fault: &PlannedFault,
        events: &mut Vec<(u64, Event)>,
        locks: &mut Vec<tokio::task::JoinHandle<()>>,
        at: u64,
    ) -> anyhow::Result<String> {
        let node = owned.nodes.get_mut(fault.node).ok_or_else(|| anyhow::anyhow!("no node {}", fault.node))?;
        let index = node.index;
        match fault.kind {
            FaultKind::WorkerPanic | FaultKind::WorkerHang | FaultKind::WorkerSlow => {
                if node.child.is_none() || node.paused {
                    return Ok(format!("skipped: node {index} is down or paused"));
                }
                let base = format!("http://127.0.0.1:{}", node.port);
                let (_, workers) = http("GET", format!("{base}/v1/workers"), None).await?;
                let list = workers.as_array().or_else(|| workers["workers"].as_array()).cloned().unwrap_or_default();
                let mine: Vec<String> = list
                    .iter()
                    .filter(|w| w["node_id"] == json!(format!("exp-node-{index}")) && w["status"] != json!("DEAD"))
                    .filter_map(|w| w["worker_id"].as_str().map(String::from))
                    .collect();
                anyhow::ensure!(!mine.is_empty(), "node {index} lists no live worker");
                let worker = &mine[fault.worker_pick as usize % mine.len()];
                let mode = match fault.kind {
                    FaultKind::WorkerPanic => json!({"mode": "panic"}),
                    FaultKind::WorkerHang => json!({"mode": "hang", "ms": fault.duration_ms}),
                    _ => json!({"mode": "slow", "ms": fault.duration_ms}),
                };
                let (status, answer) = http("POST", format!("{base}/v1/workers/{worker}/crash"), Some(mode)).await?;
                anyhow::ensure!(status == 202, "crash refused: {status} {answer}");
                Ok(format!("worker {worker}"))
            }
            FaultKind::NodeKill => {
                let mut child = node.child.take().ok_or_else(|| anyhow::anyhow!("node {index} is already down"))?;
                if node.paused {
                    signal(&child, "-CONT");
                    node.paused = false;
                }
                child.kill()?;
                let _ = child.wait();
                if let Some(after) = fault.restart_after_ms {
                    events.push((at + after, Event::Restart(index)));
                    Ok(format!("SIGKILL; restart after {after} ms"))
                } else {
                    Ok("SIGKILL".into())
                }
            }
            FaultKind::NodePause => {
                let child = node.child.as_ref().ok_or_else(|| anyhow::anyhow!("node {index} is down"))?;
                anyhow::ensure!(!node.paused, "node {index} is already paused");
                anyhow::ensure!(signal(child, "-STOP"), "SIGSTOP failed");
                node.paused = true;
                events.push((at + fault.duration_ms, Event::Resume(index)));
                Ok(format!("SIGSTOP for {} ms", fault.duration_ms))
            }
            FaultKind::DbDisconnect => {
                let n = db.disconnect(index).await?;
                Ok(format!("{n} connections terminated"))
            }
            FaultKind::DbLock => {
                locks.push(db.lock(fault.duration_ms).await?);
                Ok(format!("jobs locked for {} ms", fault.duration_ms))
            }
        }
    }
}

/// The default place of a run's report.
pub fn default_out(scenario_path: &Path, seed: u64) -> PathBuf {
    let stem = scenario_path.file_stem().and_then(|s| s.to_str()).unwrap_or("experiment");
    PathBuf::from("experiment-runs").join(format!("{stem}-{seed}"))
}
