//! The `cluster` scenario (docs/cluster.md, "Measured"): several nodes on one scratch
//! Postgres schema and the Redis of `redis.url`.
//!
//! - **cross-node pickup**: a job submitted to node A, which has no handler for it,
//!   started by idle node B: from the submit's commit to B's handler start (only a
//!   wake-up through Redis explains a quick start: both poll every 30 s);
//! - **throughput**: the no-op load of the `throughput` scenario through one node, then
//!   through two nodes in the same process on the same database;
//! - **failover**: an `aeon node` process holding running jobs is SIGKILLed; from the
//!   kill to each job's start on the node that survives (p50 and max), with the fast
//!   cluster timings given in the note;
//! - **mailbox**: messages per second through one Redis stream, posted in pipelined
//!   batches while one consumer reads and acknowledges them in batches.
//!
//! Nodes of the bench have node ids of their own (`bench-<random>-a`), so a cluster
//! sharing the Redis sees them only as passing peers.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use super::scenarios::{isolated, until_completed};
use super::{BenchOptions, Measurement, Report, Scratch};
use crate::actors::probe::Probe;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::handler::{JobContext, Outcome, Registry};
use crate::job::JobRequest;
use crate::mailbox::{Body, Envelope, Mailbox, RedisMailbox};
use crate::node::Node;

/// Messages per batch in the mailbox measurement (one pipelined `XADD` round trip,
/// one `XREADGROUP`, one `XACK`).
const MAILBOX_BATCH: usize = 1_000;
/// Jobs the killed node holds in the failover measurement.
const STRANDED: usize = 20;

/// Runs every part of the scenario `options.runs` times.
pub async fn cluster(config: &Config, options: &BenchOptions, report: &mut Report) -> anyhow::Result<()> {
    anyhow::ensure!(!config.redis.url.is_empty(), "the cluster scenario needs a Redis: set redis.url (REDIS_URL)");
    pickup(config, options, report).await?;
    throughput(config, options, report).await?;
    failover(config, options, report).await?;
    mailbox(config, options, report).await
}

/// `config` for bench node `name` of run `run`: its own id, polling only every 30 s.
fn node_config(config: &Config, run: &str, name: &str) -> Config {
    let mut config = config.clone();
    config.node.id = format!("bench-{run}-{name}");
    config.node.poll_ms = 30_000;
    config
}

async fn start(config: &Config, scratch: &Scratch, registry: Registry) -> anyhow::Result<Node> {
    Node::start_with_store(config.clone(), scratch.store(config.retry), registry, Arc::new(SystemClock), Probe::none())
        .await
}

/// Waits until `node` knows `peer` (membership renews every `cluster.heartbeat_ms`).
async fn until_peer(node: &Node, peer: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !node.cluster.peers().iter().any(|p| p == peer) {
        anyhow::ensure!(Instant::now() < deadline, "node {} never saw {peer} in Redis", node.node_id);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// A registry whose only handler, `job_type`, reports each start on a channel.
fn stamping(job_type: &str) -> anyhow::Result<(Registry, tokio::sync::mpsc::UnboundedReceiver<(Uuid, Instant)>)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut registry = Registry::new();
    registry.register_fn(job_type, move |ctx: JobContext, _: serde_json::Value| {
        let _ = tx.send((ctx.job_id, Instant::now()));
        async { Outcome::Complete(serde_json::Value::Null) }
    })?;
    Ok((registry, rx))
}

/// The sample at quantile `q` of sorted `samples`.
fn quantile(samples: &[f64], q: f64) -> f64 {
    samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]
}

async fn pickup(config: &Config, options: &BenchOptions, report: &mut Report) -> anyhow::Result<()> {
    let (mut p50, mut p99) = (Vec::new(), Vec::new());
    for _ in 0..options.runs {
        let (config, n) = (config.clone(), options.latency_jobs);
        let mut samples = isolated(move || async move {
            let run = Uuid::new_v4().simple().to_string()[..8].to_string();
            let scratch = Scratch::new(&config, config.store.max_connections * 2).await?;
            let (registry, mut started) = stamping("stamp")?;
            let a = start(&node_config(&config, &run, "a"), &scratch, Registry::with_builtins()).await?;
            let b = start(&node_config(&config, &run, "b"), &scratch, registry).await?;
            until_peer(&a, &b.node_id).await?;
            let mut samples = Vec::with_capacity(n);
            for _ in 0..n {
                let submitted = a.submit(vec![JobRequest::new("stamp", json!({}))]).await?;
                let committed = Instant::now();
                let (job_id, at) = started.recv().await.ok_or_else(|| anyhow::anyhow!("handler gone"))?;
                anyhow::ensure!(job_id == submitted[0].job_id, "jobs overtook each other");
                samples.push(at.saturating_duration_since(committed).as_secs_f64() * 1e3);
            }
            futures::join!(a.shutdown(), b.shutdown());
            scratch.remove().await?;
            Ok(samples)
        })
        .await?;
        samples.sort_by(f64::total_cmp);
        p50.push(quantile(&samples, 0.50));
        p99.push(quantile(&samples, 0.99));
    }
    let what = format!(
        "{} single jobs submitted to node A (no handler for them), started by idle node B: commit to handler start",
        options.latency_jobs
    );
    report.push(Measurement::new("cluster: cross-node pickup p50", "ms", p50, &what));
    report.push(Measurement::new("cluster: cross-node pickup p99", "ms", p99, &what));
    Ok(())
}

async fn throughput(config: &Config, options: &BenchOptions, report: &mut Report) -> anyhow::Result<()> {
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for _ in 0..options.runs {
        for nodes in [1, 2] {
            let (config, n) = (config.clone(), options.jobs);
            let rate = isolated(move || async move {
                let run = Uuid::new_v4().simple().to_string()[..8].to_string();
                let scratch = Scratch::new(&config, config.store.max_connections * 2 + 2).await?;
                let mut running: Vec<Node> = Vec::new();
                for i in 0..nodes {
                    let config = node_config(&config, &run, &i.to_string());
                    running.push(start(&config, &scratch, Registry::with_builtins()).await?);
                }
                if nodes == 2 {
                    until_peer(&running[0], &running[1].node_id).await?;
                }
                let mut watcher = scratch.watcher().await?;
                let begun = Instant::now();
                for first in (0..n).step_by(1_000) {
                    let batch = (first..(first + 1_000).min(n)).map(|_| JobRequest::new("noop", json!({}))).collect();
                    running[0].submit(batch).await?;
                }
                until_completed(&mut watcher, n).await?;
                let rate = n as f64 / begun.elapsed().as_secs_f64();
                futures::future::join_all(running.iter().map(|node| node.shutdown())).await;
                scratch.remove().await?;
                Ok(rate)
            })
            .await?;
            if nodes == 1 { one.push(rate) } else { two.push(rate) }
        }
    }
    let what = |nodes: &str| {
        format!(
            "{} no-op jobs submitted to one node in batches of 1,000, run by {nodes} ({} workers x {} each), one process",
            options.jobs, config.workers.count, config.workers.capacity
        )
    };
    let ratio: Vec<f64> = one.iter().zip(&two).map(|(a, b)| b / a).collect();
    report.push(Measurement::new("cluster: 1 node jobs/s", "jobs/s", one, &what("one node")));
    report.push(Measurement::new("cluster: 2 nodes jobs/s", "jobs/s", two, &what("two nodes")));
    report.push(Measurement::new("cluster: 2 nodes / 1 node", "x", ratio, "two nodes' throughput over one's, per run"));
    Ok(())
}

/// An `aeon node` process of the bench, SIGKILLed when dropped.
struct NodeProcess(Child);

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The fast cluster timings of the failover measurement, as settings.
const FAST: &[(&str, &str)] = &[
    ("AEON__CLUSTER__HEARTBEAT_MS", "100"),
    ("AEON__CLUSTER__NODE_DEAD_AFTER_MS", "1500"),
    ("AEON__RETRY__BASE_MS", "10"),
];

async fn failover(config: &Config, options: &BenchOptions, report: &mut Report) -> anyhow::Result<()> {
    let (mut p50, mut max) = (Vec::new(), Vec::new());
    for _ in 0..options.runs {
        let config = config.clone();
        let mut samples = isolated(move || async move {
            let run = Uuid::new_v4().simple().to_string()[..8].to_string();
            let scratch = Scratch::new(&config, config.store.max_connections + 2).await?;
            let url = scratch.url().ok_or_else(|| anyhow::anyhow!("the cluster scenario runs on Postgres"))?;
            let jobs: Vec<_> = (0..STRANDED)
                .map(|_| {
                    let mut job = JobRequest::new("sleep", json!({"ms": 600_000}));
                    job.max_retries = Some(3);
                    job.validate(&config.jobs)
                })
                .collect::<Result<_, _>>()?;
            scratch.store(config.retry).enqueue(jobs, chrono::Utc::now()).await?;
            // The node to kill: every job started at once (no prefetch), none queued.
            let doomed_id = format!("bench-{run}-doomed");
            let mut command = Command::new(std::env::current_exe()?);
            command
                .arg("node")
                .env("DATABASE_URL", url)
                .env("REDIS_URL", &config.redis.url)
                .env("AEON__NODE__ID", &doomed_id)
                .env("AEON__API__BIND", "127.0.0.1:0")
                .env("AEON__WORKERS__COUNT", "2")
                .env("AEON__WORKERS__CAPACITY", (STRANDED / 2).to_string())
                .env("AEON__WORKERS__PREFETCH", "0")
                .env("RUST_LOG", "error")
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            for (k, v) in FAST {
                command.env(k, v);
            }
            let mut doomed = NodeProcess(command.spawn()?);
            let mut watcher = scratch.watcher().await?;
            let deadline = Instant::now() + Duration::from_secs(60);
            while watcher.running().await? < STRANDED as i64 {
                anyhow::ensure!(Instant::now() < deadline, "the node to kill never held every job");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // The survivor runs `sleep` as a stamp, with the same timings.
            let mut survivor_config = node_config(&config, &run, "survivor");
            survivor_config.cluster.heartbeat_ms = 100;
            survivor_config.cluster.node_dead_after_ms = 1_500;
            survivor_config.retry.base_ms = 10;
            let (registry, mut started) = stamping("sleep")?;
            let survivor = start(&survivor_config, &scratch, registry).await?;
            until_peer(&survivor, &doomed_id).await?;
            doomed.0.kill()?;
            let killed = Instant::now();
            doomed.0.wait()?;
            let mut samples = Vec::with_capacity(STRANDED);
            while samples.len() < STRANDED {
                let wait = tokio::time::timeout(Duration::from_secs(60), started.recv());
                let (_, at) = wait.await?.ok_or_else(|| anyhow::anyhow!("handler gone"))?;
                samples.push(at.saturating_duration_since(killed).as_secs_f64() * 1e3);
            }
            survivor.shutdown().await;
            scratch.remove().await?;
            Ok(samples)
        })
        .await?;
        samples.sort_by(f64::total_cmp);
        p50.push(quantile(&samples, 0.50));
        max.push(samples[samples.len() - 1]);
    }
    let what = format!(
        "SIGKILL of a node running {STRANDED} jobs to each one's start on the other node; \
         cluster.heartbeat_ms = 100, node_dead_after_ms = 1500, retry.base_ms = 10"
    );
    report.push(Measurement::new("cluster: failover p50", "ms", p50, &what));
    report.push(Measurement::new("cluster: failover max", "ms", max, &what));
    Ok(())
}

async fn mailbox(config: &Config, options: &BenchOptions, report: &mut Report) -> anyhow::Result<()> {
    let n = options.jobs.max(MAILBOX_BATCH);
    let mut rates = Vec::new();
    for _ in 0..options.runs {
        let prefix = format!("aeon-bench-{}", Uuid::new_v4().simple());
        let redis = RedisMailbox::open(&config.redis.url, &prefix, n)?;
        redis.ping().await?;
        // The group exists before the first post: a read creates it.
        redis.receive("bench", "reader", 1, Duration::from_millis(1)).await?;
        let data = Envelope::new("bench", Body::Wake {}).encode();
        let begun = Instant::now();
        let send = async {
            for first in (0..n).step_by(MAILBOX_BATCH) {
                let batch = (first..(first + MAILBOX_BATCH).min(n)).map(|_| ("bench".to_string(), data.clone()));
                redis.post(batch.collect()).await?;
            }
            Ok::<_, anyhow::Error>(())
        };
        let read = async {
            let mut got = 0;
            while got < n {
                let entries = redis.receive("bench", "reader", MAILBOX_BATCH, Duration::from_millis(100)).await?;
                got += entries.len();
                redis.ack("bench", entries.into_iter().map(|e| e.id).collect()).await?;
            }
            Ok::<_, anyhow::Error>(())
        };
        let (sent, read) = futures::join!(send, read);
        sent?;
        read?;
        rates.push(n as f64 / begun.elapsed().as_secs_f64());
        remove_keys(&config.redis.url, &prefix).await?;
    }
    let what = format!(
        "{n} wake-up envelopes through one Redis stream: XADD pipelined {MAILBOX_BATCH} a round trip, \
         read and acknowledged {MAILBOX_BATCH} at a time, concurrently (goal: 100,000/s)"
    );
    report.push(Measurement::new("cluster: mailbox messages/s", "msgs/s", rates, &what));
    Ok(())
}

/// Deletes the bench's stream.
async fn remove_keys(url: &str, prefix: &str) -> anyhow::Result<()> {
    let mut connection = redis::Client::open(url)?.get_multiplexed_async_connection().await?;
    redis::cmd("DEL").arg(format!("{prefix}:mailbox:bench")).query_async::<()>(&mut connection).await?;
    Ok(())
}
