//! The `aeon` command line: run a node, apply migrations, check the configuration,
//! and drive a node over its HTTP API.

use std::path::PathBuf;
use std::process::ExitCode;

use aeon::cli::{self, CliError, ClientOptions, DlqCommand, JobCommand, SnapshotCommand};
use aeon::config::{Config, LogFormat};
use aeon::handler::Registry;
use clap::{Parser, Subcommand};

/// A node allocates for every job (claims, messages, results); mimalloc's
/// thread-local free lists cost fewer cycles per job than the system allocator
/// (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "aeon", version, about = "A durable, actor-based job runtime")]
struct Cli {
    /// Configuration file (TOML); `./config.toml` is read when present.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(flatten)]
    client: ClientOptions,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a node and its HTTP API until SIGTERM or SIGINT, then drains it and exits 0.
    Node {
        /// Restore the workers' state from a snapshot before any job is claimed:
        /// `latest` (falling back to the newest snapshot that verifies, and saying so)
        /// or a snapshot id (which must verify).
        #[arg(long, value_name = "latest|ID")]
        restore: Option<String>,
    },
    /// Applies the database migrations of `store.url` (SQLite or Postgres).
    Migrate,
    /// Prints the effective configuration (secrets redacted) after validating it: TOML,
    /// or JSON with --json.
    Config,
    /// Submit, show, list and cancel jobs (talks to a node: --url, --token).
    #[command(subcommand)]
    Job(JobCommand),
    /// Lists the cluster's workers.
    Workers,
    /// Lists the cluster's nodes: id, address, status, workers, last seen.
    Nodes,
    /// Lists and requeues dead-lettered jobs.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Jobs by status, throughput, workers by status.
    Stats,
    /// Take, list, show, verify and restore state snapshots of the node's actors.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Crash-simulation experiments: a workload and a fault schedule against real node
    /// processes, and a report of which guarantees held (docs/experiments.md).
    #[command(subcommand)]
    Experiment(ExperimentCommand),
    /// Measures throughput, the plain-SQL ceiling, latency, recovery, actor overhead
    /// and memory on the backend of `store.url` (in scratch databases), and writes
    /// BENCHMARKS.md.
    Bench {
        /// Scenarios to run (repeatable): memory, throughput, limit, latency, recovery,
        /// actors, submit; and, only when named, cluster (needs redis.url; writes its own
        /// section of the report) and peers (Aeon, the concurrent plain-SQL ceiling and
        /// graphile-worker side by side, through the harnesses in $AEON_PEER_BENCH,
        /// default ../shared/bench). Default: all but cluster and peers.
        #[arg(long = "scenario")]
        scenarios: Vec<String>,
        /// Jobs per throughput and limit run.
        #[arg(long, default_value_t = 20_000)]
        jobs: usize,
        /// Runs per scenario; the report gives the median and the spread.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Single jobs per latency run.
        #[arg(long, default_value_t = 1_000)]
        latency_jobs: usize,
        /// Where to write the Markdown report; `-` for nowhere.
        #[arg(long, default_value = "BENCHMARKS.md")]
        report: String,
        /// With a Postgres store.url: also run throughput and latency on an embedded
        /// SQLite scratch file, reported side by side as `(sqlite)`.
        #[arg(long)]
        sqlite: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ExperimentCommand {
    /// Runs a scenario (TOML); exits 1 when an invariant failed, 2 when it could not run.
    Run {
        /// The scenario file, e.g. experiments/worker-panics.toml.
        scenario: PathBuf,
        /// The seed of the workload and the fault schedule; random (and printed) when absent.
        #[arg(long)]
        seed: Option<u64>,
        /// Where report.json, report.html, plan.json and the node logs go
        /// (default experiment-runs/NAME-SEED).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// No progress bar (drawn on a terminal only), a one-word verdict (for CI).
        #[arg(long)]
        quiet: bool,
        /// The Postgres server of a postgres scenario (a scratch schema is made on it).
        #[arg(long, value_name = "URL")]
        store: Option<String>,
        /// When an invariant fails, rerun with fewer faults to find a smallest failing schedule.
        #[arg(long)]
        shrink: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let client = cli.client.clone();
    let answer = match cli.command {
        Command::Job(command) => cli::job(client, command),
        Command::Workers => cli::workers(client),
        Command::Nodes => cli::nodes(client),
        Command::Dlq(command) => cli::dlq(client, command),
        Command::Stats => cli::stats(client),
        Command::Snapshot(command) => cli::snapshot(client, command),
        Command::Experiment(ExperimentCommand::Run { scenario, seed, out, quiet, store, shrink }) => {
            init_logging(LogFormat::Text);
            let options = aeon::experiment::RunOptions { seed, out, quiet, store, shrink, aeon_bin: None };
            return aeon::experiment::command(&scenario, &options);
        }
        command => return local(cli.config, command, cli.client.json),
    };
    init_logging(LogFormat::Text);
    match answer {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(CliError { code, message }) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

/// The commands that run here rather than talk to a node.
fn local(config_path: Option<PathBuf>, command: Command, json: bool) -> ExitCode {
    let config_path = config_path.or_else(|| {
        let local = PathBuf::from("config.toml");
        local.exists().then_some(local)
    });
    let config = match Config::load(config_path.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            init_logging(LogFormat::Text);
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log.format);
    match command {
        Command::Config => {
            if json {
                let shown = serde_json::to_string_pretty(&config.redacted()).expect("a config serializes");
                println!("{shown}");
            } else {
                print!("{}", config.to_redacted_toml());
            }
            ExitCode::SUCCESS
        }
        Command::Migrate => run(migrate(config)),
        Command::Bench { scenarios, jobs, runs, latency_jobs, report, sqlite } => {
            let scenarios =
                if scenarios.is_empty() { aeon::bench::ALL.iter().map(|s| s.to_string()).collect() } else { scenarios };
            let options = aeon::bench::BenchOptions {
                scenarios,
                jobs,
                runs: runs.max(1),
                latency_jobs: latency_jobs.max(1),
                sqlite,
            };
            run(async move {
                let results = aeon::bench::run(&config, &options).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&results)?);
                }
                if report != "-" {
                    let command = std::env::args().collect::<Vec<_>>().join(" ");
                    results.write(&report, &command)?;
                    eprintln!("bench: wrote {report}");
                }
                Ok(())
            })
        }
        Command::Node { restore } => {
            log_panics();
            let system = actix::System::new();
            let options = aeon::process::RunOptions { restore };
            let ran = system.block_on(aeon::process::run_with(
                config,
                Registry::with_builtins(),
                aeon::process::shutdown_signal(),
                options,
            ));
            // Drained: every result is written. Exit now, rather than let the runtime
            // wait to join the threads of abandoned handlers that never yield.
            let code = i32::from(ran.is_err());
            report(ran);
            std::process::exit(code)
        }
        _ => unreachable!("client commands are handled by the caller"),
    }
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    aeon::store::open(&config.store.url, 2, config.retry).await?;
    tracing::info!(store = %aeon::config::redact_url(&config.store.url), "migrations applied");
    Ok(())
}

/// Logs go to stderr, at the level of `RUST_LOG` (default `info`): text, coloured
/// only when stderr is a terminal (a file or a pipe gets no escape codes), or one JSON
/// object per line.
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Panics in handlers are contained and recorded as crashed attempts; log them as one
/// line through tracing rather than as a backtrace on stderr.
fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(%location, "panic: {message}");
    }));
}

fn run(work: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    report(runtime.block_on(work))
}

fn report(outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every flag and argument of every command says what it is for in `--help`: a
    /// default value or a list of possible values alone does not.
    #[test]
    fn every_flag_of_every_command_says_what_it_does() {
        fn undescribed(command: &clap::Command, path: &str, out: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if ["help", "version"].contains(&id) || arg.is_hide_set() {
                    continue;
                }
                if arg.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                    let name = match arg.get_long() {
                        Some(long) => format!("--{long}"),
                        None => format!("<{id}>"),
                    };
                    out.push(format!("{path} {name}"));
                }
            }
            for sub in command.get_subcommands() {
                undescribed(sub, &format!("{path} {}", sub.get_name()), out);
            }
        }
        let mut missing = Vec::new();
        undescribed(&Cli::command(), "aeon", &mut missing);
        assert!(missing.is_empty(), "flags without a description:\n  {}", missing.join("\n  "));
    }
}
