//! Firing one fault of the plan, and what it leaves running: the end of a lock or an
//! outage, and a watch of the nodes' `/readyz` through a Redis or vector store outage
//! (which nodes reported the component degraded, and when they reported it back).
//! `qdrant_down` kills the harness's own Qdrant server when the scenario has one
//! (`cluster.qdrant`), else takes the embedded vector store's table away.
//! `worker_exit` asks for a worker's `exit` crash through another node, so the request
//! crosses the mailbox, and expects its answer (202) before the process ends.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinHandle;

use super::db::Db;
use super::node_id;
use super::procs::{Owned, Spawner, free_port, http, signal};
use super::{Event, FiredFault};
use crate::experiment::plan::PlannedFault;
use crate::experiment::scenario::FaultKind;

/// How long after an outage ends the nodes get to report the component healthy.
const HEALTHY_WITHIN: Duration = Duration::from_secs(30);
/// How often `/readyz` is read during a watch.
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// What fired faults leave running until the end of the run.
#[derive(Default)]
pub(super) struct Pending {
    /// Locks and outages, each ending by itself.
    ends: Vec<JoinHandle<()>>,
    /// (index of the fired fault, its watch).
    watches: Vec<(usize, JoinHandle<Watched>)>,
}

impl Pending {
    /// Waits for every end and watch, and writes what the watches saw into `fired`.
    pub(super) async fn finish(self, fired: &mut [FiredFault]) {
        for end in self.ends {
            let _ = end.await;
        }
        for (i, watch) in self.watches {
            if let Ok(w) = watch.await {
                fired[i].degraded_nodes = w.degraded.into_iter().collect();
                fired[i].healthy_again_ms = w.healthy_again_ms;
            }
        }
    }
}

/// What a watch saw.
#[derive(Debug, Default)]
pub(super) struct Watched {
    degraded: BTreeSet<usize>,
    healthy_again_ms: Option<i64>,
}

/// What firing a fault did.
pub(super) enum Done {
    /// It took effect: what it did.
    Fired(String),
    /// Its target was not there to hit (a node down or paused, a server already down):
    /// nothing happened, and why.
    Skipped(String),
}

/// One fault firing now.
pub(super) struct Fire<'a> {
    pub db: &'a Db,
    pub owned: &'a mut Owned,
    /// Starts a node process (`node_twin` starts a second one).
    pub spawner: &'a Spawner,
    /// The run's start.
    pub start: Instant,
    /// The fault's index among those fired.
    pub index: usize,
    /// The planned time, from which restarts and resumes are scheduled.
    pub at: u64,
}

impl Fire<'_> {
    /// Fires `fault`; answers what it did or why it did nothing (recorded in the
    /// report), and names the worker a worker fault hit.
    pub(super) async fn fire(
        self,
        fault: &PlannedFault,
        events: &mut Vec<(u64, Event)>,
        pending: &mut Pending,
        worker_id: &mut Option<String>,
    ) -> anyhow::Result<Done> {
        let Fire { db, owned, spawner, start, index, at } = self;
        let live: Vec<(usize, u16)> = owned.nodes.iter().filter(|n| n.live()).map(|n| (n.index, n.port)).collect();
        let node = owned.nodes.get_mut(fault.node).ok_or_else(|| anyhow::anyhow!("no node {}", fault.node))?;
        let n = node.index;
        match fault.kind {
            FaultKind::WorkerPanic | FaultKind::WorkerHang | FaultKind::WorkerSlow => {
                if !node.live() {
                    return Ok(Done::Skipped(format!("node {n} is down or paused")));
                }
                let base = format!("http://127.0.0.1:{}", node.port);
                let mine = live_workers(&base, n).await?;
                let mode = match fault.kind {
                    FaultKind::WorkerPanic => json!({"mode": "panic"}),
                    FaultKind::WorkerHang => json!({"mode": "hang", "ms": fault.duration_ms}),
                    _ => json!({"mode": "slow", "ms": fault.duration_ms}),
                };
                // The seed's pick first; a row the node no longer runs (a worker of the
                // incarnation before a restart, not yet marked dead) answers 404: the next.
                let first = fault.worker_pick as usize % mine.len();
                let mut refused = Vec::new();
                for worker in mine[first..].iter().chain(&mine[..first]) {
                    let url = format!("{base}/v1/workers/{worker}/crash");
                    match http("POST", url, Some(mode.clone())).await? {
                        (202, _) => {
                            *worker_id = Some(worker.clone());
                            return Ok(Done::Fired(format!("worker {worker}")));
                        }
                        (404, _) => refused.push(worker.clone()),
                        (status, answer) => anyhow::bail!("crash refused: {status} {answer}"),
                    }
                }
                anyhow::bail!("node {n} runs none of the workers it lists: {refused:?}")
            }
            FaultKind::NodeKill => {
                let mut child = node.child.take().ok_or_else(|| anyhow::anyhow!("node {n} is already down"))?;
                if node.paused {
                    signal(&child, "-CONT");
                    node.paused = false;
                }
                child.kill()?;
                let _ = child.wait();
                if let Some(after) = fault.restart_after_ms {
                    events.push((at + after, Event::Restart(n)));
                    Ok(Done::Fired(format!("SIGKILL; restart after {after} ms")))
                } else {
                    Ok(Done::Fired("SIGKILL".into()))
                }
            }
            FaultKind::WorkerExit => {
                if !node.live() {
                    return Ok(Done::Skipped(format!("node {n} is down or paused")));
                }
                let Some(&(asker, asker_port)) = live.iter().find(|(i, _)| *i != n) else {
                    return Ok(Done::Skipped(format!("no other live node to ask node {n}'s worker through")));
                };
                let base = format!("http://127.0.0.1:{asker_port}");
                let workers = live_workers(&base, n).await?;
                let first = fault.worker_pick as usize % workers.len();
                for worker in workers[first..].iter().chain(&workers[..first]) {
                    let url = format!("{base}/v1/workers/{worker}/crash");
                    match http("POST", url, Some(json!({"mode": "exit"}))).await? {
                        (202, _) => {}
                        (404, _) => continue,
                        // The remote exit that never answered (issue 23, item 7) ends here.
                        (status, answer) => anyhow::bail!("exit asked through node {asker}: {status} {answer}"),
                    }
                    *worker_id = Some(worker.clone());
                    let mut child = node.child.take().ok_or_else(|| anyhow::anyhow!("node {n} is down"))?;
                    let asked = Instant::now();
                    let status = loop {
                        if let Some(status) = child.try_wait()? {
                            break status;
                        }
                        if asked.elapsed() > Duration::from_secs(10) {
                            let _ = child.kill();
                            let _ = child.wait();
                            anyhow::bail!("node {n} answered the exit (through node {asker}) but did not exit in 10 s");
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    };
                    let what =
                        format!("worker {worker}: answered 202 through node {asker}, the process exited ({status})");
                    return Ok(Done::Fired(match fault.restart_after_ms {
                        Some(after) => {
                            node.restore = true;
                            events.push((at + after, Event::Restart(n)));
                            format!("{what}; restart with --restore latest after {after} ms")
                        }
                        None => what,
                    }));
                }
                anyhow::bail!("node {n} runs none of the workers it lists")
            }
            FaultKind::NodePause => {
                let child = node.child.as_ref().ok_or_else(|| anyhow::anyhow!("node {n} is down"))?;
                anyhow::ensure!(!node.paused, "node {n} is already paused");
                anyhow::ensure!(signal(child, "-STOP"), "SIGSTOP failed");
                node.paused = true;
                events.push((at + fault.duration_ms, Event::Resume(n)));
                Ok(Done::Fired(format!("SIGSTOP for {} ms", fault.duration_ms)))
            }
            FaultKind::LateDrain => {
                let child = node.child.as_ref().ok_or_else(|| anyhow::anyhow!("node {n} is down"))?;
                anyhow::ensure!(!node.paused, "node {n} is already paused");
                let Some(&(_, via)) = live.iter().find(|(i, _)| *i != n) else {
                    return Ok(Done::Skipped("no other live node to ask the drain through".into()));
                };
                anyhow::ensure!(signal(child, "-STOP"), "SIGSTOP failed");
                node.paused = true;
                events.push((at + fault.duration_ms, Event::Resume(n)));
                // The asking node waits cluster.request_timeout_ms (shorter than the pause,
                // in the scenario) and answers 503: the request's deadline has passed.
                let url = format!("http://127.0.0.1:{via}/v1/nodes/{}/drain", node_id(n));
                let (status, answer) = http("POST", url, None).await?;
                anyhow::ensure!(status != 202, "the drain of a stopped node was answered: {answer}");
                // Whether the node, once awake, reports itself draining (it must not).
                let rest = fault.duration_ms.saturating_sub((start.elapsed().as_millis() as u64).saturating_sub(at));
                pending.watches.push((index, watch(vec![(n, node.port)], Component::Draining, start, rest)));
                Ok(Done::Fired(format!(
                    "SIGSTOP for {} ms; a drain asked through another node meanwhile answered {status}",
                    fault.duration_ms
                )))
            }
            FaultKind::NodeTwin => {
                if !node.live() {
                    return Ok(Done::Skipped(format!("node {n} is down or paused")));
                }
                twin(spawner, db, n).await.map(Done::Fired)
            }
            FaultKind::DbDisconnect => {
                let count = db.disconnect(n).await?;
                Ok(Done::Fired(format!("{count} connections terminated")))
            }
            FaultKind::DbLock => {
                pending.ends.push(db.lock(fault.duration_ms).await?);
                Ok(Done::Fired(format!("jobs locked for {} ms", fault.duration_ms)))
            }
            FaultKind::RedisRestart => {
                let redis = owned.redis.as_mut().ok_or_else(|| anyhow::anyhow!("the cluster has no Redis"))?;
                if redis.child.is_none() {
                    return Ok(Done::Skipped("redis-server is already down".into()));
                }
                redis.kill()?;
                events.push((at + fault.duration_ms, Event::RedisStart));
                pending.watches.push((index, watch(live, Component::Redis, start, fault.duration_ms)));
                Ok(Done::Fired(format!("redis-server SIGKILLed; started again, empty, after {} ms", fault.duration_ms)))
            }
            FaultKind::RedisFlush => {
                let redis = owned.redis.as_ref().ok_or_else(|| anyhow::anyhow!("the cluster has no Redis"))?;
                if redis.child.is_none() {
                    return Ok(Done::Skipped("redis-server is down (restarting)".into()));
                }
                redis.flush()?;
                pending.watches.push((index, watch(live, Component::Redis, start, 0)));
                Ok(Done::Fired("FLUSHALL: every stream, consumer group and membership key gone".into()))
            }
            FaultKind::QdrantDown => match owned.qdrant.as_mut() {
                Some(qdrant) => {
                    if qdrant.child.is_none() {
                        return Ok(Done::Skipped("qdrant is already down".into()));
                    }
                    qdrant.kill()?;
                    events.push((at + fault.duration_ms, Event::QdrantStart));
                    pending.watches.push((index, watch(live, Component::Vectors("qdrant"), start, fault.duration_ms)));
                    Ok(Done::Fired(format!(
                        "qdrant SIGKILLed; started again on its ports and storage after {} ms",
                        fault.duration_ms
                    )))
                }
                None => {
                    pending.ends.push(db.vectors_down(fault.duration_ms).await?);
                    pending
                        .watches
                        .push((index, watch(live, Component::Vectors("embedded"), start, fault.duration_ms)));
                    Ok(Done::Fired(format!(
                        "vector store (embedded: its table) unavailable for {} ms",
                        fault.duration_ms
                    )))
                }
            },
        }
    }
}

/// The workers of node `n` not marked dead, as the node at `base` lists them.
async fn live_workers(base: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let (_, workers) = http("GET", format!("{base}/v1/workers"), None).await?;
    let list = workers.as_array().or_else(|| workers["workers"].as_array()).cloned().unwrap_or_default();
    let mine: Vec<String> = list
        .iter()
        .filter(|w| w["node_id"] == json!(node_id(n)) && w["status"] != json!("DEAD"))
        .filter_map(|w| w["worker_id"].as_str().map(String::from))
        .collect();
    anyhow::ensure!(!mine.is_empty(), "node {n} lists no live worker");
    Ok(mine)
}

/// The optional component an outage takes away, as `/readyz` names it in `degraded`.
#[derive(Clone, Copy)]
enum Component {
    Redis,
    /// The vector store the nodes run: `qdrant` or `embedded`.
    Vectors(&'static str),
    /// Not a component: the node reporting itself draining (a late drain applied).
    Draining,
}

impl Component {
    /// Whether a `/readyz` answer names this component (or the node draining).
    fn named_in(self, readyz: &serde_json::Value) -> bool {
        let name = match self {
            Component::Redis => "redis",
            Component::Vectors(backend) => backend,
            Component::Draining => return readyz["reason"].as_str().is_some_and(|r| r.contains("draining")),
        };
        readyz["degraded"].as_array().into_iter().flatten().any(|d| d == name)
    }

    /// How long after the window a watch waits for a node to notice, when none has:
    /// a late request is handled within about a second of the node waking (its lost
    /// read delivered again), so five seconds of quiet mean it was refused.
    fn quiet_after(self) -> Duration {
        match self {
            Component::Draining => Duration::from_secs(5),
            _ => Duration::from_secs(2),
        }
    }
}

/// Reads the `/readyz` of the nodes (index, port) until the outage of `outage_ms`
/// is over and every node that reported `component` degraded reports it healthy
/// again (or [`HEALTHY_WITHIN`] passed).
fn watch(nodes: Vec<(usize, u16)>, component: Component, start: Instant, outage_ms: u64) -> JoinHandle<Watched> {
    let fired = Instant::now();
    let outage_end = fired + Duration::from_millis(outage_ms);
    tokio::spawn(async move {
        let mut seen = Watched::default();
        let mut degraded_now: BTreeSet<usize> = BTreeSet::new();
        loop {
            for &(index, port) in &nodes {
                if let Ok((_, v)) = http("GET", format!("http://127.0.0.1:{port}/readyz"), None).await {
                    if component.named_in(&v) {
                        seen.degraded.insert(index);
                        degraded_now.insert(index);
                    } else {
                        degraded_now.remove(&index);
                    }
                }
            }
            let now = Instant::now();
            if now >= outage_end && degraded_now.is_empty() {
                if !seen.degraded.is_empty() {
                    seen.healthy_again_ms = Some(now.duration_since(start).as_millis() as i64);
                }
                // Nobody noticed a short outage: give them a moment more to notice.
                if !seen.degraded.is_empty() || now >= outage_end + component.quiet_after() {
                    return seen;
                }
            }
            if now >= outage_end + HEALTHY_WITHIN {
                return seen;
            }
            tokio::time::sleep(WATCH_EVERY).await;
        }
    })
}

/// How long a second process of a node gets to refuse to start: it watches the first
/// one's heartbeat for three of them (docs/cluster.md), then exits.
const TWIN_REFUSES_WITHIN: Duration = Duration::from_secs(30);

/// Starts a second process with node `n`'s id and store on a port of its own, and
/// answers how it refused; an error if it ran (it is then killed).
async fn twin(spawner: &Spawner, db: &Db, n: usize) -> anyhow::Result<String> {
    let mut child = spawner.spawn_twin(db, n, free_port()?)?;
    let begun = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if begun.elapsed() > TWIN_REFUSES_WITHIN {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("a second process of node {n} ran for {} s", TWIN_REFUSES_WITHIN.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = std::fs::read_to_string(spawner.twin_log(n)).unwrap_or_default();
    // `aeon node` ends with `error: …` naming why.
    let why = log.lines().rev().find(|l| l.starts_with("error:")).unwrap_or("(no error printed)");
    anyhow::ensure!(!status.success(), "a second process of node {n} exited successfully: {why}");
    Ok(format!("refused after {} ms ({status}): {}", begun.elapsed().as_millis(), why.trim()))
}
