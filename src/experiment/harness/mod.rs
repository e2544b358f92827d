//! Runs a plan against real `aeon node` processes the harness starts and owns: a
//! scratch database ([`db`]), the nodes, a Redis and a Qdrant server on free ports ([`procs`]),
//! the submissions, snapshots and faults ([`faults`]) on time, then the read-out of
//! what the database holds.
//!
//! Layout: `mod.rs` the timeline; `db.rs` the scratch database, its faults and the
//! read-out; `procs.rs` the processes and HTTP calls; `faults.rs` firing each fault
//! and watching the nodes through an outage.

mod db;
mod faults;
mod procs;
mod progress;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use db::Counter;
use db::Db;
use procs::{NodeProc, Owned, QdrantProc, RedisProc, Spawner, free_port, http, signal, take_snapshot, wait_ready};
use progress::Progress;

use super::check::{NodeEnd, Observed};
use super::plan::Plan;
use super::scenario::{FaultKind, Scenario};

/// The id the harness gives node `index`.
pub fn node_id(index: usize) -> String {
    format!("exp-node-{index}")
}

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

/// Whether a fault of the plan took effect when its time came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultState {
    /// It did what its kind says.
    Fired,
    /// Its target was not there to hit (a node down or paused, Redis or Qdrant
    /// already down): nothing happened. Counted, never as fired.
    Skipped,
    /// It could not be fired: the outcome says why.
    Failed,
}

/// A worker silent this long is dead, on the nodes the harness starts (unless the
/// scenario's `env` says otherwise).
pub const DEAD_AFTER_MS: u64 = 1_000;

/// A fault of the plan as it happened (or was skipped, or failed: see `state`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FiredFault {
    pub kind: FaultKind,
    pub node: usize,
    pub planned_ms: u64,
    /// When its time came (ms since the start), whether or not it took effect.
    pub fired_ms: i64,
    pub duration_ms: u64,
    pub state: FaultState,
    /// What it did; why it was skipped (`skipped: …`); why it failed (`error: …`).
    pub outcome: String,
    /// The worker a worker fault hit.
    #[serde(default)]
    pub worker_id: Option<String>,
    /// Redis and vector store faults: the nodes whose `/readyz` reported the component
    /// degraded during the outage.
    #[serde(default)]
    pub degraded_nodes: Vec<usize>,
    /// ... and when the last of them reported it healthy again (ms since the start).
    #[serde(default)]
    pub healthy_again_ms: Option<i64>,
    /// Filled in by the report (`recovery.rs`).
    #[serde(default)]
    pub recovery_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub observed: Observed,
    pub fired: Vec<FiredFault>,
    pub elapsed_ms: i64,
    pub settled: bool,
    pub submit_errors: Vec<String>,
    /// The vector store at the end; `None` when it could not be read.
    #[serde(default)]
    pub vectors: Option<VectorsSeen>,
}

/// The nodes' execution contexts at the end of the run, once every live node's queue
/// of them drained (or [`DRAIN_WITHIN`] passed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VectorsSeen {
    /// `qdrant` (the harness's own server) or `embedded`.
    pub backend: String,
    /// Contexts (points) the store holds.
    pub points: u64,
    /// Attempts that ended (`job_executions` rows with a finish): each one's job actor
    /// handed its context to its node (an attempt a rescue ended, of a node or worker
    /// that died, did not).
    pub executions: u64,
    /// From `/metrics` of the nodes alive at the end (a killed node's counters go with
    /// it), summed: failed vector store calls that were retried, contexts dropped from a
    /// full queue, contexts still queued.
    pub write_retries: u64,
    pub dropped: u64,
    pub queued: u64,
}

impl VectorsSeen {
    /// One line for the report.
    pub fn describe(&self) -> String {
        format!(
            "vector store ({}): {} contexts at the end, of {} attempts that ended; the nodes alive then retried {} failed calls, dropped {} contexts, still queue {}",
            self.backend, self.points, self.executions, self.write_retries, self.dropped, self.queued
        )
    }
}

/// How long after the run the nodes get to write the contexts they still queue.
const DRAIN_WITHIN: Duration = Duration::from_secs(30);

enum Event {
    /// Groups of the plan, and how many times their submission was tried.
    Submit(Vec<usize>, u32),
    Fault(usize),
    Restart(usize),
    Resume(usize),
    RedisStart,
    QdrantStart,
    Snapshot,
}

/// The largest request body the harness sends (the nodes take 4 MiB).
const MAX_BATCH_BYTES: usize = 2 * 1024 * 1024;

/// The submissions: groups due in the same 100 ms tick go in one batch, up to 1,000
/// groups and [`MAX_BATCH_BYTES`].
fn submissions(plan: &Plan) -> Vec<(u64, Event)> {
    let mut events = Vec::new();
    let mut tick: Option<(u64, Vec<usize>, usize)> = None;
    for (i, g) in plan.groups.iter().enumerate() {
        let at = g.at_ms / 100 * 100;
        let bytes: usize = g.jobs.iter().map(|j| j.payload.to_string().len() + 200).sum();
        match &mut tick {
            Some((t, groups, size)) if *t == at && groups.len() < 1_000 && *size + bytes <= MAX_BATCH_BYTES => {
                groups.push(i);
                *size += bytes;
            }
            _ => {
                if let Some((t, groups, _)) = tick.take() {
                    events.push((t, Event::Submit(groups, 0)));
                }
                tick = Some((at, vec![i], bytes));
            }
        }
    }
    if let Some((t, groups, _)) = tick {
        events.push((t, Event::Submit(groups, 0)));
    }
    events
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
            ("AEON__HEALTH__DEAD_AFTER_MS".into(), DEAD_AFTER_MS.to_string()),
            ("AEON__NODE__POLL_MS".into(), "50".into()),
            ("AEON__RETRY__BASE_MS".into(), "50".into()),
            ("AEON__RETRY__MAX_MS".into(), "500".into()),
            ("AEON__RESTARTS__MAX_RESTARTS".into(), "1000".into()),
            // The vector store's retries short enough to recover within a short run.
            ("AEON__QDRANT__RETRY_INITIAL_MS".into(), "100".into()),
            ("AEON__QDRANT__RETRY_MAX_MS".into(), "1000".into()),
        ];
        if c.redis {
            let port = free_port()?;
            owned.redis = Some(RedisProc { port, child: Some(RedisProc::start(port).await?) });
            env.push(("AEON__REDIS__URL".into(), format!("redis://127.0.0.1:{port}")));
        }
        if c.qdrant {
            let qdrant = QdrantProc::start(&self.out).await?;
            env.push(("AEON__QDRANT__URL".into(), qdrant.url()));
            owned.qdrant = Some(qdrant);
        }
        env.extend(c.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let spawner = Spawner { bin: self.aeon_bin.clone(), env, out: self.out.clone() };
        for index in 0..c.nodes {
            let port = free_port()?;
            let child = spawner.spawn(db, index, port, false)?;
            owned.nodes.push(NodeProc { index, port, child: Some(child), paused: false, restore: false });
        }
        for node in &mut owned.nodes {
            wait_ready(node, &self.out, Duration::from_secs(60)).await?;
        }

        // The timeline: submissions, faults, snapshots (restarts and resumes join it).
        let mut events = submissions(plan);
        events.extend(plan.faults.iter().enumerate().map(|(i, f)| (f.at_ms, Event::Fault(i))));
        let last = events.iter().map(|(at, _)| *at).max().unwrap_or(0)
            + plan.faults.iter().map(|f| f.duration_ms.max(f.restart_after_ms.unwrap_or(0))).max().unwrap_or(0);
        if c.snapshot_every_ms > 0 {
            let every = c.snapshot_every_ms;
            events.extend((1..=last / every).map(|k| (k * every, Event::Snapshot)));
        }

        let start = Instant::now();
        let start_utc = Utc::now();
        let since = || start.elapsed().as_millis() as i64;
        let progress = Progress::start(self.quiet, plan.jobs(), plan.faults.len(), db.counter());
        let mut submitted: Vec<String> = Vec::new();
        let mut submit_errors = Vec::new();
        let mut fired: Vec<FiredFault> = Vec::new();
        let mut pending = faults::Pending::default();
        let mut next_node = 0usize;
        let mut snapshots_taken: Vec<tokio::task::JoinHandle<anyhow::Result<String>>> = Vec::new();

        loop {
            events.sort_by_key(|(at, _)| *at);
            if events.is_empty() {
                break;
            }
            let (at, event) = events.remove(0);
            let due = start + Duration::from_millis(at);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
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
                        if !node.live() {
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
                            let later = since().max(at as i64) as u64 + 250;
                            events.push((later, Event::Submit(groups, tries + 1)));
                        }
                        Err(e) => submit_errors.push(format!("at {at} ms: {} jobs not submitted: {e}", jobs.len())),
                    }
                }
                Event::Fault(i) => {
                    let fault = &plan.faults[i];
                    let fired_ms = since();
                    let mut record = FiredFault {
                        kind: fault.kind,
                        node: fault.node,
                        planned_ms: fault.at_ms,
                        fired_ms,
                        duration_ms: fault.duration_ms,
                        state: FaultState::Failed,
                        outcome: String::new(),
                        worker_id: None,
                        degraded_nodes: Vec::new(),
                        healthy_again_ms: None,
                        recovery_ms: None,
                    };
                    let index = fired.len();
                    let fire = faults::Fire { db, owned: &mut owned, spawner: &spawner, start, index, at };
                    (record.state, record.outcome) =
                        match fire.fire(fault, &mut events, &mut pending, &mut record.worker_id).await {
                            Ok(faults::Done::Fired(text)) => (FaultState::Fired, text),
                            Ok(faults::Done::Skipped(why)) => (FaultState::Skipped, format!("skipped: {why}")),
                            Err(e) => (FaultState::Failed, format!("error: {e:#}")),
                        };
                    if record.state == FaultState::Fired {
                        progress.fault_fired();
                    }
                    fired.push(record);
                }
                Event::Restart(index) => {
                    let node = &mut owned.nodes[index];
                    node.child = Some(spawner.spawn(db, index, node.port, std::mem::take(&mut node.restore))?);
                    wait_ready(node, &self.out, Duration::from_secs(60)).await?;
                }
                Event::Resume(index) => {
                    let node = &mut owned.nodes[index];
                    if let Some(child) = &node.child {
                        signal(child, "-CONT");
                    }
                    node.paused = false;
                }
                Event::RedisStart => {
                    if let Some(redis) = &mut owned.redis {
                        redis.child = Some(RedisProc::start(redis.port).await?);
                    }
                }
                Event::QdrantStart => {
                    if let Some(qdrant) = &mut owned.qdrant {
                        qdrant.restart().await?;
                    }
                }
                Event::Snapshot => {
                    for node in owned.nodes.iter().filter(|n| n.live()) {
                        snapshots_taken.push(tokio::spawn(take_snapshot(node.port, false)));
                    }
                }
            }
        }

        // Let the jobs finish.
        let limit = Duration::from_secs(scenario.settle_timeout_s);
        let settle_start = Instant::now();
        let counter = db.counter();
        let mut settled = false;
        while settle_start.elapsed() < limit {
            if let Ok(Ok((0, _))) = tokio::time::timeout(Duration::from_secs(2), counter.unfinished_and_done()).await {
                settled = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        pending.finish(&mut fired).await;
        let mut vectors = match vectors_seen(scenario, &owned, db).await {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "the vector store was not read");
                None
            }
        };
        for taken in snapshots_taken {
            if let Ok(Err(e)) = taken.await {
                tracing::debug!(error = %e, "a snapshot during the run was not taken");
            }
        }
        // The last snapshot of every live node, once nothing moves.
        let mut after_settle = Vec::new();
        for node in owned.nodes.iter().filter(|n| n.live()) {
            match take_snapshot(node.port, true).await {
                Ok(id) => after_settle.push(id),
                Err(e) => tracing::warn!(node = node.index, error = %e, "the final snapshot was not taken"),
            }
        }
        let elapsed_ms = since();
        progress.finish();
        // A process that ended while the harness thought it running ended by itself.
        let nodes: Vec<NodeEnd> = owned
            .nodes
            .iter_mut()
            .map(|n| {
                let exited = n.child.as_mut().and_then(|c| c.try_wait().ok().flatten()).map(|s| s.to_string());
                NodeEnd { node_id: node_id(n.index), alive: n.child.is_some() && exited.is_none(), exited }
            })
            .collect();
        // Read while the nodes run: they are SIGKILLed below, which stops no worker.
        let in_service = db.in_service().await?;
        let draining = db.draining().await?;
        drop(owned); // every node stops before the read-out
        let mut observed = db.read(start_utc).await?;
        observed.in_service = in_service;
        observed.draining = draining;
        observed.workers_per_node = i64::from(scenario.cluster.workers);
        if let Some(v) = &mut vectors {
            v.executions = observed.executions.iter().filter(|e| e.finished_ms.is_some()).count() as u64;
        }
        let ids: Vec<String> = nodes.iter().map(|n| n.node_id.clone()).collect();
        observed.snapshots = db.snapshots(&ids, &after_settle, start_utc).await?;
        observed.nodes = nodes;
        observed.submitted = submitted;
        Ok(Outcome { observed, fired, elapsed_ms, settled, submit_errors, vectors })
    }
}

/// Waits until no live node queues contexts (or [`DRAIN_WITHIN`]), then reads their
/// vector store counters and counts the store's points.
async fn vectors_seen(scenario: &Scenario, owned: &Owned, db: &Db) -> anyhow::Result<VectorsSeen> {
    let live: Vec<u16> = owned.nodes.iter().filter(|n| n.live()).map(|n| n.port).collect();
    let drain_start = Instant::now();
    let mut seen = loop {
        let mut seen = VectorsSeen::default();
        for &port in &live {
            let (_, text) = http("GET", format!("http://127.0.0.1:{port}/metrics"), None).await?;
            let text = text.as_str().unwrap_or_default();
            seen.write_retries += metric(text, "aeon_vector_write_retries_total");
            seen.dropped += metric(text, "aeon_vector_dropped_total");
            seen.queued += metric(text, "aeon_vector_queue_depth");
        }
        if seen.queued == 0 || drain_start.elapsed() > DRAIN_WITHIN {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    match &owned.qdrant {
        Some(qdrant) => {
            let collection = scenario
                .cluster
                .env
                .get("AEON__QDRANT__COLLECTION")
                .cloned()
                .unwrap_or_else(|| crate::config::QdrantConfig::default().collection);
            seen.backend = "qdrant".into();
            seen.points = qdrant.count(&collection).await?;
        }
        None => {
            seen.backend = "embedded".into();
            seen.points = db.vector_points().await?;
        }
    }
    Ok(seen)
}

/// A counter or gauge of `/metrics` text, summed over its series.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' ')))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// The default place of a run's report.
pub fn default_out(scenario_path: &Path, seed: u64) -> PathBuf {
    let stem = scenario_path.file_stem().and_then(|s| s.to_str()).unwrap_or("experiment");
    PathBuf::from("experiment-runs").join(format!("{stem}-{seed}"))
}
