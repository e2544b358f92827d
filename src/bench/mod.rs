//! `aeon bench`: measures throughput, the plain-SQL ceiling of this machine, pickup
//! latency, recovery, actor overhead and memory, and writes `BENCHMARKS.md`.
//!
//! Every scenario runs in a schema of its own (dropped afterwards) on `store.url`,
//! repeats `runs` times and reports the median with the spread: the machine is shared
//! and noisy. A benchmark reports; it never fails on a timing.

mod report;
mod scenarios;

pub use report::{Measurement, Report};

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use crate::config::Config;
use crate::store::postgres::MIGRATOR;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub scenarios: Vec<String>,
    /// Jobs per throughput run (the `limit` scenario uses the same number).
    pub jobs: usize,
    pub runs: usize,
    /// Single jobs in the latency scenario.
    pub latency_jobs: usize,
}

/// Every scenario, memory first: it reads the process's peak, which later scenarios raise.
pub const ALL: [&str; 6] = ["memory", "throughput", "limit", "latency", "recovery", "actors"];

/// Runs the chosen scenarios; answers their measurements.
pub async fn run(config: &Config, options: &BenchOptions) -> anyhow::Result<Report> {
    let mut report = Report::new();
    for scenario in &options.scenarios {
        eprintln!("bench: {scenario} ({} runs)", options.runs);
        match scenario.as_str() {
            "throughput" => scenarios::throughput(config, options, &mut report).await?,
            "limit" => scenarios::limit(config, options, &mut report).await?,
            "latency" => scenarios::latency(config, options, &mut report).await?,
            "recovery" => scenarios::recovery(config, options, &mut report).await?,
            "actors" => scenarios::actors(options, &mut report).await?,
            "memory" => scenarios::memory(config, options, &mut report).await?,
            other => anyhow::bail!("unknown scenario {other:?}; one of {}", ALL.join(", ")),
        }
    }
    report.add_ratio();
    Ok(report)
}

/// A fresh, migrated schema on `store.url`, dropped by [`Scratch::drop_schema`].
pub(crate) struct Scratch {
    pub pool: PgPool,
    pub url: String,
    schema: String,
    base: String,
}

impl Scratch {
    pub async fn new(config: &Config, connections: u32) -> anyhow::Result<Self> {
        let schema = format!("aeon_bench_{}", uuid::Uuid::new_v4().simple());
        let base = config.store.url.clone();
        let mut admin = PgConnection::connect(&base).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut admin).await?;
        admin.close().await?;
        let options: PgConnectOptions = base.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.options([("search_path", schema.as_str())]))
            .await?;
        MIGRATOR.run(&pool).await?;
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
        Ok(Self { pool, url, schema, base })
    }

    pub async fn drop_schema(self) -> anyhow::Result<()> {
        self.pool.close().await;
        let mut admin = PgConnection::connect(&self.base).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {} CASCADE", self.schema))).execute(&mut admin).await?;
        Ok(())
    }
}
