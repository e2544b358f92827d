//! The `submit` scenario: single submits through `POST /v1/jobs` (no-op jobs, which
//! the node runs meanwhile), from one client and from 16 at once, each answered once
//! its job is durable; and beside them the plain-SQL ceiling for the same work:
//! single-row INSERTs into `jobs`, each its own durable commit (`synchronous_commit =
//! on`), from one connection and from 16, on the same Postgres in the same run.
//! Concurrent single submits share commits (group commit in the StoreActor), so 16
//! clients should reach a good part of 16 inserting connections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::scenarios::isolated;
use super::{BenchOptions, Measurement, Report, Scratch};
use crate::actors::probe::Probe;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::handler::Registry;
use crate::node::Node;

/// Concurrent clients (and inserting connections) in the many-clients half.
const CLIENTS: usize = 16;

/// The body of each submit.
const BODY: &str = r#"{"type":"noop","payload":{}}"#;

/// A single-row insert, as a submit of one no-op job writes it.
const INSERT: &str = "INSERT INTO jobs (job_id, job_type, payload, status, priority, max_retries, timeout_ms,
                                       scheduled_at, created_at, updated_at)
                      VALUES (gen_random_uuid(), 'noop', '{}', 'PENDING', 0, 3, 300000, NOW(), NOW(), NOW())";

/// Runs the scenario `options.runs` times: Aeon, then the ceiling, alternating.
pub async fn submit(config: &Config, options: &BenchOptions, report: &mut Report) -> anyhow::Result<()> {
    // Enough requests for a steady rate, few enough for a quick run.
    let (alone, together) = (options.jobs.clamp(1, 2_000), options.jobs.clamp(CLIENTS, 16_000));
    let (mut one, mut many, mut insert_one, mut insert_many) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..options.runs {
        let node_config = config.clone();
        let (a, b) = isolated(move || async move {
            let config = node_config;
            let scratch = Scratch::new(&config, config.store.max_connections + 2).await?;
            let store = scratch.store(config.retry);
            let node =
                Node::start_with_store(config, store, Registry::with_builtins(), Arc::new(SystemClock), Probe::none())
                    .await?;
            let (server, addrs) = crate::api::serve(node.clone(), "127.0.0.1:0")?;
            let server_handle = server.handle();
            actix_rt::spawn(server);
            let url = format!("http://{}/v1/jobs", addrs[0]);
            tokio::time::sleep(Duration::from_millis(200)).await; // idle: workers up, first claims done
            let one = post_from(url.clone(), 1, alone).await?;
            let many = post_from(url, CLIENTS, together).await?;
            server_handle.stop(true).await;
            node.shutdown().await;
            scratch.remove().await?;
            Ok((one, many))
        })
        .await?;
        one.push(a);
        many.push(b);
        let scratch = Scratch::new(config, CLIENTS as u32 + 1).await?;
        if let Some(pool) = scratch.pg_pool() {
            insert_one.push(insert_from(pool, 1, alone).await?);
            insert_many.push(insert_from(pool, CLIENTS, together).await?);
        }
        scratch.remove().await?;
    }
    let note =
        |clients: usize, n: usize| format!("{n} no-op jobs, one POST /v1/jobs each, {clients} client(s), idle node");
    let ceiling = |clients: usize, n: usize| format!("{n} single-row INSERTs into jobs, {clients} connection(s)");
    let median_many = Measurement::new("", "", many.clone(), "").median;
    report.push(Measurement::new("submit: 1 client jobs/s", "jobs/s", one, &note(1, alone)));
    report.push(Measurement::new("submit: 16 clients jobs/s", "jobs/s", many, &note(CLIENTS, together)));
    if !insert_many.is_empty() {
        let median_insert = Measurement::new("", "", insert_many.clone(), "").median;
        report.push(Measurement::new("submit: insert 1 connection/s", "rows/s", insert_one, &ceiling(1, alone)));
        report.push(Measurement::new("submit: insert 16 connections/s", "rows/s", insert_many, &ceiling(16, together)));
        report.push(Measurement::new(
            "submit / insert ratio (16)",
            "x",
            vec![median_many / median_insert],
            "median submits/s from 16 clients over median single-row inserts/s from 16 connections (target: 0.5)",
        ));
    }
    Ok(())
}

/// `n` submits from `clients` blocking HTTP clients at once (keep-alive); answers
/// submits per second.
async fn post_from(url: String, clients: usize, n: usize) -> anyhow::Result<f64> {
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        std::thread::scope(|scope| {
            let posting: Vec<_> = (0..clients)
                .map(|c| {
                    let url = &url;
                    scope.spawn(move || -> anyhow::Result<()> {
                        let agent: ureq::Agent =
                            ureq::Agent::config_builder().http_status_as_error(false).build().into();
                        for _ in 0..share(n, clients, c) {
                            let mut answer = agent.post(url).header("Content-Type", "application/json").send(BODY)?;
                            let status = answer.status().as_u16();
                            let text = answer.body_mut().read_to_string()?; // read, so the connection is reused
                            anyhow::ensure!(status == 201, "POST /v1/jobs answered {status}: {text}");
                        }
                        Ok(())
                    })
                })
                .collect();
            posting.into_iter().try_for_each(|p| p.join().map_err(|_| anyhow::anyhow!("a client panicked"))?)
        })?;
        Ok(n as f64 / start.elapsed().as_secs_f64())
    })
    .await?
}

/// `n` single-row inserts from `clients` connections at once; answers rows per second.
async fn insert_from(pool: &sqlx::PgPool, clients: usize, n: usize) -> anyhow::Result<f64> {
    let start = Instant::now();
    let inserting = (0..clients).map(|c| {
        let pool = pool.clone();
        async move {
            let mut conn = pool.acquire().await?;
            for _ in 0..share(n, clients, c) {
                sqlx::query(INSERT).execute(&mut *conn).await?;
            }
            Ok::<_, sqlx::Error>(())
        }
    });
    futures::future::try_join_all(inserting).await?;
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Client `c`'s share of `n` requests among `clients`.
fn share(n: usize, clients: usize, c: usize) -> usize {
    n / clients + usize::from(c < n % clients)
}
