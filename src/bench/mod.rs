//! `aeon bench`: measures throughput, the plain-SQL ceiling of this machine, pickup
//! latency, recovery, actor overhead and memory, and writes `BENCHMARKS.md`.
//!
//! Every scenario runs on a scratch database of the backend `store.url` names (a
//! schema of its own on Postgres, a file of its own for SQLite; removed afterwards),
//! repeats `runs` times and reports the median with the spread: the machine is shared
//! and noisy. With `sqlite` set, the throughput and latency scenarios run on SQLite
//! too and are reported beside the others, marked `(sqlite)`. A benchmark reports; it
//! never fails on a timing.
//!
//! `cluster` (`src/bench/cluster.rs`) runs only when named: several nodes on one Postgres
//! scratch schema and the Redis of `redis.url`; it writes a section of its own into
//! the report, keeping the others.

mod cluster;
mod peers;
mod report;
mod scenarios;
mod scratch;
mod submit;

pub use report::{Measurement, Report};

use scratch::Scratch;

use crate::config::Config;
use crate::store::Backend;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub scenarios: Vec<String>,
    /// Jobs per throughput run (the `limit` scenario uses the same number).
    pub jobs: usize,
    pub runs: usize,
    /// Single jobs in the latency scenario.
    pub latency_jobs: usize,
    /// Also run throughput and latency on an embedded SQLite scratch file.
    pub sqlite: bool,
}

/// Every scenario, memory first: it reads the process's peak, which later scenarios raise.
pub const ALL: [&str; 7] = ["memory", "throughput", "limit", "latency", "submit", "recovery", "actors"];

/// Scenarios that run only when named: `cluster` needs a Redis (`redis.url`) and
/// Postgres, and writes a section of its own into the report (see [`Report::write`]);
/// `peers` runs other harnesses for minutes.
pub const ON_REQUEST: [&str; 2] = ["cluster", "peers"];

/// Runs the chosen scenarios; answers their measurements.
pub async fn run(config: &Config, options: &BenchOptions) -> anyhow::Result<Report> {
    let mut report = Report::new();
    let backend = Backend::of(&config.store.url).map_err(|e| anyhow::anyhow!("store.url: {e}"))?;
    for scenario in &options.scenarios {
        if scenario == "cluster" && backend == Backend::Sqlite {
            eprintln!("bench: cluster skipped: nodes share one database only on Postgres");
            continue;
        }
        if ["limit", "peers"].contains(&scenario.as_str()) && backend == Backend::Sqlite {
            eprintln!("bench: limit skipped: the plain-SQL ceiling is a Postgres loop (FOR UPDATE SKIP LOCKED)");
            continue;
        }
        eprintln!("bench: {scenario} ({} runs, {})", options.runs, backend.name());
        match scenario.as_str() {
            "throughput" => scenarios::throughput(config, options, &mut report).await?,
            "limit" => scenarios::limit(config, options, &mut report).await?,
            "latency" => scenarios::latency(config, options, &mut report).await?,
            "recovery" => scenarios::recovery(config, options, &mut report).await?,
            "actors" => scenarios::actors(options, &mut report).await?,
            "memory" => scenarios::memory(config, options, &mut report).await?,
            "submit" => submit::submit(config, options, &mut report).await?,
            "cluster" => cluster::cluster(config, options, &mut report).await?,
            "peers" => peers::peers(config, options, &mut report).await?,
            other => anyhow::bail!("unknown scenario {other:?}; one of {}, {}", ALL.join(", "), ON_REQUEST.join(", ")),
        }
    }
    if options.sqlite && backend != Backend::Sqlite {
        let mut embedded = config.clone();
        embedded.store.url = crate::config::StoreConfig::EMBEDDED_URL.into(); // a scratch file, whatever the path
        for scenario in options.scenarios.iter().filter(|s| ["throughput", "latency"].contains(&s.as_str())) {
            eprintln!("bench: {scenario} ({} runs, sqlite)", options.runs);
            let first = report.measurements.len();
            match scenario.as_str() {
                "throughput" => scenarios::throughput(&embedded, options, &mut report).await?,
                _ => scenarios::latency(&embedded, options, &mut report).await?,
            }
            report.mark_from(first, " (sqlite)");
        }
    }
    report.add_ratio();
    Ok(report)
}
