//! The side-by-side scenario (`aeon bench --scenario peers`): Aeon, the concurrent
//! plain-SQL ceiling and graphile-worker, alternating in one invocation, so that their
//! ratios come from the same minutes of the same machine.
//!
//! The peers are measured by the harnesses of the workplace's bench folder
//! (`$AEON_PEER_BENCH`, by default `../shared/bench`; see its README): `limit/limit.sh`
//! (producers insert 100 jobs per statement while consumers claim 100 with `FOR UPDATE
//! SKIP LOCKED`, 8 clients, `synchronous_commit = on`), `graphile-worker/run.sh` with
//! its documented batching preset (`TUNED=1`), and `aeon/run.py` for Aeon itself when
//! this executable is a release build inside a checkout (the harness runs
//! `CHECKOUT/target/release/aeon node` and submits over HTTP); otherwise Aeon runs
//! in-process as in the `throughput` scenario. A harness that is missing is skipped
//! with a message; the others still run.
//!
//! Beside the rates it reports the write-ahead log each queue writes per job (the
//! server's WAL position before and after each harness run, creating and dropping its
//! database included): unlike jobs per second on a shared or drifting machine, it
//! does not move with the load, so it shows whether a change writes less.

use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::{Connection, PgConnection};

use super::{BenchOptions, Measurement, Report};
use crate::config::Config;

/// Where the peer harnesses live unless `AEON_PEER_BENCH` says otherwise.
pub const DEFAULT_DIR: &str = "../shared/bench";

/// The server the harnesses use (their README: 127.0.0.1:5432, user postgres).
const HARNESS_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Runs each present harness `options.runs` times, alternating, and reports each
/// peer's rate and Aeon's ratio to each.
pub async fn peers(config: &Config, options: &BenchOptions, report: &mut Report) -> anyhow::Result<()> {
    let dir = PathBuf::from(std::env::var("AEON_PEER_BENCH").unwrap_or_else(|_| DEFAULT_DIR.into()));
    let ceiling = present(&dir.join("limit/limit.sh"));
    let graphile = present(&dir.join("graphile-worker/run.sh"));
    let aeon_harness = present(&dir.join("aeon/run.py")).zip(release_checkout());
    let (mut aeon, mut limit, mut peer) = (Vec::new(), Vec::new(), Vec::new());
    let (mut aeon_wal, mut peer_wal) = (Vec::new(), Vec::new());
    let mut wal = WalMeter::connect().await;
    for run in 1..=options.runs {
        eprintln!("bench:   peers round {run} of {}", options.runs);
        if let Some(script) = &ceiling {
            let mut command = Command::new("bash");
            command.arg(script);
            limit.push(jobs_per_s(command).await?);
        }
        let before = wal.position().await;
        aeon.push(match &aeon_harness {
            Some((script, checkout)) => {
                let mut command = Command::new("python3");
                command.arg(script).arg(checkout).arg(options.jobs.to_string());
                jobs_per_s(command).await?
            }
            None => super::scenarios::throughput_once(config, options.jobs).await?.0,
        });
        aeon_wal.extend(wal.per_job(before, options.jobs).await);
        if let Some(script) = &graphile {
            let mut command = Command::new("bash");
            command.arg(script).arg(options.jobs.to_string()).env("TUNED", "1");
            let before = wal.position().await;
            peer.push(jobs_per_s(command).await?);
            peer_wal.extend(wal.per_job(before, options.jobs).await);
        }
    }
    let how = if aeon_harness.is_some() { "aeon/run.py: the release binary, submits over HTTP" } else { "in-process" };
    let median = |name: &str, unit: &str, samples: Vec<f64>, note: String| {
        (!samples.is_empty()).then(|| Measurement::new(name, unit, samples, &note))
    };
    let aeon = median("peers: aeon jobs/s", "jobs/s", aeon, format!("{} no-op jobs, defaults ({how})", options.jobs));
    let limit = median(
        "peers: plain-SQL ceiling jobs/s",
        "jobs/s",
        limit,
        "limit/limit.sh: inserts of 100 while 8 clients claim 100 (SKIP LOCKED) and complete".into(),
    );
    let peer = median(
        "peers: graphile-worker jobs/s",
        "jobs/s",
        peer,
        format!("graphile-worker/run.sh {} with TUNED=1 (its batching preset)", options.jobs),
    );
    let mut ratios = Vec::new();
    for (other, name, target) in
        [(&peer, "aeon / graphile-worker", "goal: at least 1"), (&limit, "aeon / ceiling", "goal: 0.8")]
    {
        if let (Some(a), Some(o)) = (&aeon, other)
            && o.median > 0.0
        {
            let note = format!("median over median, same invocation ({target})");
            ratios.push(Measurement::new(&format!("peers: {name}"), "x", vec![a.median / o.median], &note));
        }
    }
    let wal_note = |who: &str| format!("{who}: write-ahead log per job, its database's creation and drop included");
    let aeon_wal = median("peers: aeon WAL bytes/job", "bytes", aeon_wal, wal_note("aeon"));
    let peer_wal = median("peers: graphile-worker WAL bytes/job", "bytes", peer_wal, wal_note("graphile-worker"));
    if let (Some(a), Some(o)) = (&aeon_wal, &peer_wal)
        && o.median > 0.0
    {
        let note = "median over median: how much more Aeon writes per job".to_string();
        ratios.push(Measurement::new("peers: aeon / graphile-worker WAL", "x", vec![a.median / o.median], &note));
    }
    for m in [aeon, limit, peer, aeon_wal, peer_wal].into_iter().flatten().chain(ratios) {
        report.push(m);
    }
    if ceiling.is_none() || graphile.is_none() {
        eprintln!("bench:   peers: harnesses missing under {} (set AEON_PEER_BENCH)", dir.display());
    }
    Ok(())
}

/// Reads the harnesses' server's WAL position; without a connection it measures
/// nothing (and says so once).
struct WalMeter(Option<PgConnection>);

impl WalMeter {
    async fn connect() -> Self {
        match PgConnection::connect(HARNESS_SERVER).await {
            Ok(conn) => Self(Some(conn)),
            Err(e) => {
                eprintln!("bench:   peers: no WAL measure ({HARNESS_SERVER}: {e})");
                Self(None)
            }
        }
    }

    /// The server's WAL position, in bytes.
    async fn position(&mut self) -> Option<i64> {
        let conn = self.0.as_mut()?;
        sqlx::query_scalar("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::int8").fetch_one(conn).await.ok()
    }

    /// WAL bytes per job since `before`.
    async fn per_job(&mut self, before: Option<i64>, jobs: usize) -> Option<f64> {
        let after = self.position().await?;
        Some((after - before?) as f64 / jobs.max(1) as f64)
    }
}

fn present(path: &Path) -> Option<PathBuf> {
    path.is_file().then(|| path.to_path_buf())
}

/// The checkout this executable was built in, if it is `CHECKOUT/target/release/aeon`.
fn release_checkout() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let release = exe.parent()?;
    (release.file_name()? == "release" && release.parent()?.file_name()? == "target")
        .then(|| release.parent()?.parent().map(Path::to_path_buf))
        .flatten()
}

/// Runs a harness (for minutes: on a blocking thread, not the runtime's) and reads the
/// `jobs_per_s=` of the last line that has one.
async fn jobs_per_s(mut command: Command) -> anyhow::Result<f64> {
    let shown = format!("{command:?}");
    let out = tokio::task::spawn_blocking(move || command.stderr(std::process::Stdio::null()).output()).await??;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(out.status.success(), "{shown} failed ({}): {}", out.status, text.trim());
    text.lines()
        .rev()
        .find_map(|line| line.split_whitespace().find_map(|w| w.strip_prefix("jobs_per_s=")))
        .and_then(|rate| rate.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("{shown} printed no jobs_per_s=: {}", text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printf(text: &str) -> Command {
        let mut command = Command::new("printf");
        command.arg(text);
        command
    }

    #[tokio::test]
    async fn the_rate_is_read_from_the_last_line_that_has_one() {
        let two = printf("peer=x phase=enqueue jobs_per_s=9\\npeer=x jobs=5 jobs_per_s=1234.5\\ndone\\n");
        assert_eq!(jobs_per_s(two).await.unwrap(), 1234.5);
        let err = jobs_per_s(printf("nothing\\n")).await.unwrap_err().to_string();
        assert!(err.contains("printed no jobs_per_s="), "{err}");
        assert!(jobs_per_s(Command::new("false")).await.unwrap_err().to_string().contains("failed"));
    }
}
