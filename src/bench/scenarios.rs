//! The bench scenarios. Each run gets a fresh scratch database and, where a node
//! runs, an actix System of its own on its own thread, so runs cannot disturb each
//! other.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::scratch::Watcher;
use super::{BenchOptions, Measurement, Report, Scratch};
use crate::actors::probe::{Event, Probe};
use crate::actors::worker::CrashMode;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::handler::{JobContext, Outcome, Registry};
use crate::job::JobRequest;
use crate::node::Node;

/// Runs `work` in an actix System on a thread of its own; every actor it started is
/// gone when it returns.
pub(super) async fn isolated<T, F>(work: impl FnOnce() -> F + Send + 'static) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    let handle = std::thread::spawn(move || actix::System::new().block_on(work()));
    tokio::task::spawn_blocking(move || handle.join().map_err(|_| anyhow::anyhow!("bench run panicked"))?).await?
}

async fn start_node(config: &Config, scratch: &Scratch, registry: Registry, probe: Probe) -> anyhow::Result<Node> {
    Node::start_with_store(config.clone(), scratch.store(config.retry), registry, Arc::new(SystemClock), probe).await
}

/// Waits until a separate connection sees all `n` jobs `COMPLETED`, polling for any
/// unfinished job; a full count confirms the end.
pub(super) async fn until_completed(watcher: &mut Watcher, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if !watcher.any_unfinished().await? {
            let done = watcher.completed().await?;
            anyhow::ensure!(done == n as i64, "{done} of {n} jobs completed; the rest failed");
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "jobs still unfinished after 10 minutes");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// N no-op jobs, submitted through the node in batches of 1,000 while its workers run;
/// timed until a separate connection sees all N `COMPLETED`.
pub async fn throughput(config: &Config, options: &BenchOptions, report: &mut Report) -> anyhow::Result<()> {
    let (mut e2e, mut enqueue) = (Vec::new(), Vec::new());
    for _ in 0..options.runs {
        let (total, enqueued) = throughput_once(config, options.jobs).await?;
        e2e.push(total);
        enqueue.push(enqueued);
    }
    let what = format!(
        "{} no-op jobs, batches of 1,000, {} workers x {} (+{} queued)",
        options.jobs, config.workers.count, config.workers.capacity, config.workers.prefetch
    );
    report.push(Measurement::new("throughput: enqueue jobs/s", "jobs/s", enqueue, &what));
    report.push(Measurement::new("throughput: end-to-end jobs/s", "jobs/s", e2e, &what));
    Ok(())
}

/// One throughput run on a fresh scratch database: end-to-end and enqueue rates, jobs/s.
pub async fn throughput_once(config: &Config, n: usize) -> anyhow::Result<(f64, f64)> {
    let config = config.clone();
    let (total, enqueued) = isolated(move || async move {
        let scratch = Scratch::new(&config, config.store.max_connections + 2).await?;
        let node = start_node(&config, &scratch, Registry::with_builtins(), Probe::none()).await?;
        let mut watcher = scratch.watcher().await?;
        let start = Instant::now();
        for first in (0..n).step_by(1_000) {
            let batch = (first..(first + 1_000).min(n)).map(|_| JobRequest::new("noop", json!({}))).collect();
            node.submit(batch).await?;
        }
        let enqueued = start.elapsed();
        until_completed(&mut watcher, n).await?;
        let total = start.elapsed();
        node.shutdown().await;
        scratch.remove().await?;
        Ok((total, enqueued))
    })
    .await?;
    Ok((n as f64 / total.as_secs_f64(), n as f64 / enqueued.as_secs_f64()))
}

/// The ceiling: claim 100 with `FOR UPDATE SKIP LOCKED`, complete them, on 8
/// connections, in plain SQL on the same schema.
pub async fn limit(config: &Config, options: &BenchOptions, report: &mut Report) -> anyhow::Result<()> {
    const CLIENTS: usize = 8;
    let mut rates = Vec::new();
    for _ in 0..options.runs {
        let scratch = Scratch::new(config, CLIENTS as u32 + 1).await?;
        let store = scratch.store(config.retry);
        let pool = scratch.pg_pool().ok_or_else(|| anyhow::anyhow!("the limit scenario runs on Postgres"))?.clone();
        for first in (0..options.jobs).step_by(1_000) {
            let batch: Vec<_> = (first..(first + 1_000).min(options.jobs))
                .map(|_| JobRequest::new("noop", json!({})).validate(&config.jobs).expect("valid"))
                .collect();
            store.enqueue(batch, chrono::Utc::now()).await?;
        }
        // Fresh statistics put the claim on the partial claim index: the best plain SQL
        // can do. (Aeon's claim forces that plan instead, since it cannot count on them.)
        sqlx::query("ANALYZE jobs").execute(&pool).await?;
        let start = Instant::now();
        let clients = (0..CLIENTS).map(|_| {
            let pool = pool.clone();
            async move {
                loop {
                    let ids: Vec<Uuid> = sqlx::query_scalar(
                        "UPDATE jobs SET status = 'RUNNING', attempts = attempts + 1, current_execution_id = gen_random_uuid()
                         WHERE job_id IN (SELECT job_id FROM jobs WHERE status = 'PENDING'
                                          ORDER BY priority DESC, created_at, job_id LIMIT 100 FOR UPDATE SKIP LOCKED)
                         RETURNING job_id",
                    )
                    .fetch_all(&pool)
                    .await?;
                    if ids.is_empty() {
                        return Ok::<_, sqlx::Error>(());
                    }
                    sqlx::query(
                        "UPDATE jobs SET status = 'COMPLETED', current_execution_id = NULL, completed_at = NOW()
                         WHERE job_id = ANY($1)",
                    )
                    .bind(&ids)
                    .execute(&pool)
                    .await?;
                }
            }
        });
        for client in futures::future::join_all(clients).await {
            client?;
        }
        rates.push(options.jobs as f64 / start.elapsed().as_secs_f64());
        scratch.remove().await?;
    }
    let what = format!("{} jobs, claim 100 + complete per round trip pair, {CLIENTS} connections", options.jobs);
    report.push(Measurement::new("limit: plain SQL jobs/s", "jobs/s", rates, &what));
    Ok(())
}

/// From a single job's enqueue commit to its handler's start, on an idle node.
pub async fn latency(config: &Config, options: &BenchOptions, report: &mut Report) -> anyhow::Result<()> {
    let (mut p50, mut p95, mut p99) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..options.runs {
        let (config, n) = (config.clone(), options.latency_jobs);
        let mut samples = isolated(move || async move {
            let scratch = Scratch::new(&config, config.store.max_connections).await?;
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Uuid, Instant)>();
            let mut registry = Registry::new();
            registry.register_fn("stamp", move |ctx: JobContext, _: serde_json::Value| {
                let _ = tx.send((ctx.job_id, Instant::now()));
                async { Outcome::Complete(serde_json::Value::Null) }
            })?;
            let node = start_node(&config, &scratch, registry, Probe::none()).await?;
            tokio::time::sleep(Duration::from_millis(200)).await; // idle: workers up, first claims done
            let mut samples = Vec::with_capacity(n);
            for _ in 0..n {
                let submitted = node.submit(vec![JobRequest::new("stamp", json!({}))]).await?;
                let committed = Instant::now();
                let (job_id, started) = rx.recv().await.ok_or_else(|| anyhow::anyhow!("handler gone"))?;
                anyhow::ensure!(job_id == submitted[0].job_id, "jobs overtook each other");
                samples.push(started.saturating_duration_since(committed).as_secs_f64() * 1e3);
            }
            node.shutdown().await;
            scratch.remove().await?;
            Ok(samples)
        })
        .await?;
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
        p50.push(at(0.50));
        p95.push(at(0.95));
        p99.push(at(0.99));
    }
    let what = format!("{} single jobs, enqueue commit to handler start, idle node", options.latency_jobs);
    report.push(Measurement::new("latency: p50", "ms", p50, &what));
    report.push(Measurement::new("latency: p95", "ms", p95, &what));
    report.push(Measurement::new("latency: p99", "ms", p99, &what));
    Ok(())
}

/// From a worker's panic to its job running again on another worker.
pub async fn recovery(config: &Config, options: &BenchOptions, report: &mut Report) -> anyhow::Result<()> {
    let mut samples = Vec::new();
    for _ in 0..options.runs {
        let config =
            Config { workers: crate::config::WorkersConfig { count: 2, ..config.workers.clone() }, ..config.clone() };
        let elapsed = isolated(move || async move {
            let scratch = Scratch::new(&config, config.store.max_connections).await?;
            let (probe, mut events) = Probe::channel();
            let node = start_node(&config, &scratch, Registry::with_builtins(), probe).await?;
            let job = node.submit(vec![JobRequest::new("sleep", json!({"ms": 600_000}))]).await?[0].job_id;
            let holder = loop {
                match events.recv().await {
                    Some(Event::JobStarted { job_id, worker_id, .. }) if job_id == job => break worker_id,
                    Some(_) => {}
                    None => anyhow::bail!("probe closed"),
                }
            };
            let crashed = Instant::now();
            anyhow::ensure!(node.crash(holder, CrashMode::Panic).await, "the worker was gone before its crash");
            loop {
                match events.recv().await {
                    Some(Event::JobStarted { job_id, .. }) if job_id == job => break,
                    Some(_) => {}
                    None => anyhow::bail!("probe closed"),
                }
            }
            let elapsed = crashed.elapsed();
            let _ = node.slots().await;
            scratch.remove().await?;
            Ok(elapsed)
        })
        .await?;
        samples.push(elapsed.as_secs_f64() * 1e3);
    }
    let what = "worker panic to the job running again (claims voided, worker restarted, job retried after its backoff)";
    report.push(Measurement::new(
        "recovery: worker panic",
        "ms",
        samples,
        &format!("{what}; retry.base_ms = {}", config.retry.base_ms),
    ));
    Ok(())
}

struct Echo;
impl Actor for Echo {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "u64")]
struct Ping(u64);

impl Handler<Ping> for Echo {
    type Result = u64;
    fn handle(&mut self, msg: Ping, _: &mut Self::Context) -> u64 {
        msg.0
    }
}

/// Request-reply round trips, and fire-and-forget sends, between two local actors.
pub async fn actors(options: &BenchOptions, report: &mut Report) -> anyhow::Result<()> {
    const ROUND_TRIPS: u64 = 200_000;
    let (mut awaited, mut fire) = (Vec::new(), Vec::new());
    for _ in 0..options.runs {
        let (a, f) = isolated(|| async {
            let echo = Echo.start();
            let start = Instant::now();
            for i in 0..ROUND_TRIPS {
                echo.send(Ping(i)).await?;
            }
            let awaited = ROUND_TRIPS as f64 / start.elapsed().as_secs_f64();
            let start = Instant::now();
            for i in 0..ROUND_TRIPS * 5 {
                echo.do_send(Ping(i));
            }
            echo.send(Ping(0)).await?; // behind every one of them
            Ok((awaited, (ROUND_TRIPS * 5) as f64 / start.elapsed().as_secs_f64()))
        })
        .await?;
        awaited.push(a);
        fire.push(f);
    }
    report.push(Measurement::new(
        "actors: awaited round trips/s",
        "msgs/s",
        awaited,
        "send().await between two actors on one arbiter",
    ));
    report.push(Measurement::new(
        "actors: fire-and-forget sends/s",
        "msgs/s",
        fire,
        "do_send, then one awaited send behind them",
    ));
    Ok(())
}

/// Resident memory of an idle node, and the peak while it runs the throughput load.
pub async fn memory(config: &Config, options: &BenchOptions, report: &mut Report) -> anyhow::Result<()> {
    let (config, n) = (config.clone(), options.jobs);
    let (idle, peak) = isolated(move || async move {
        let scratch = Scratch::new(&config, config.store.max_connections + 2).await?;
        let node = start_node(&config, &scratch, Registry::with_builtins(), Probe::none()).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let idle = rss_kib("VmRSS");
        let mut watcher = scratch.watcher().await?;
        for first in (0..n).step_by(1_000) {
            let batch = (first..(first + 1_000).min(n)).map(|_| JobRequest::new("noop", json!({}))).collect();
            node.submit(batch).await?;
        }
        until_completed(&mut watcher, n).await?;
        let peak = rss_kib("VmHWM");
        node.shutdown().await;
        scratch.remove().await?;
        Ok((idle, peak))
    })
    .await?;
    report.push(Measurement::new(
        "memory: idle node RSS",
        "MiB",
        vec![idle / 1024.0],
        "after start, no jobs (the bench process)",
    ));
    report.push(Measurement::new(
        "memory: peak RSS",
        "MiB",
        vec![peak / 1024.0],
        &format!("process peak through {n} jobs"),
    ));
    Ok(())
}

/// A `/proc/self/status` field, in KiB.
fn rss_kib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0.0)
}
