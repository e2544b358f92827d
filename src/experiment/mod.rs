//! `aeon experiment run`: crash-simulation experiments (`docs/experiments.md`).
//!
//! A [`scenario::Scenario`] (TOML) names a cluster, a workload and a fault schedule; a
//! seed turns it into a [`plan::Plan`] (the same seed, the same plan); the
//! [`harness::Harness`] runs the plan against real `aeon node` processes it owns; the
//! [`check`]s read what the database holds afterwards (and each node's newest
//! snapshot), [`recovery`] measures how long each fault took to get over, and the
//! [`report::Report`] says which guarantees held, as JSON and as one HTML page.
//! [`progress`] shows the run going on a terminal.

pub mod check;
pub mod harness;
pub mod plan;
pub mod recovery;
pub mod report;
pub mod scenario;

use std::path::{Path, PathBuf};

pub use harness::Harness;
pub use plan::Plan;
pub use report::Report;
pub use scenario::Scenario;

/// What `aeon experiment run` was given.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub seed: Option<u64>,
    pub out: Option<PathBuf>,
    pub quiet: bool,
    pub store: Option<String>,
    pub shrink: bool,
    /// The node binary; default the running executable.
    pub aeon_bin: Option<PathBuf>,
}

/// The command that reproduces a run.
pub fn reproduce_command(path: &Path, seed: u64, options: &RunOptions) -> String {
    let mut cmd = format!("aeon experiment run {} --seed {seed}", path.display());
    if let Some(store) = &options.store {
        cmd.push_str(&format!(" --store {}", crate::config::redact_url(store)));
    }
    cmd
}

/// Runs the scenario at `path`, writes `report.json` and `report.html` into the out
/// folder, and answers the report (`passed` false when an invariant failed).
pub async fn run_file(path: &Path, options: &RunOptions) -> anyhow::Result<(Report, PathBuf)> {
    let scenario = Scenario::load(path)?;
    run_scenario(&scenario, path, options).await
}

pub async fn run_scenario(scenario: &Scenario, path: &Path, options: &RunOptions) -> anyhow::Result<(Report, PathBuf)> {
    let seed = options.seed.unwrap_or_else(rand::random);
    let reproduce = reproduce_command(path, seed, options);
    // The seed and the command first, whatever happens next (on stderr when quiet:
    // stdout then carries the verdict alone).
    if options.quiet {
        eprintln!("reproduce: {reproduce}");
    } else {
        println!("experiment {:?}: seed {seed}", scenario.name);
        println!("reproduce: {reproduce}");
    }
    let out = options.out.clone().unwrap_or_else(|| harness::default_out(path, seed));
    let harness = Harness {
        aeon_bin: match &options.aeon_bin {
            Some(bin) => bin.clone(),
            None => std::env::current_exe()?,
        },
        store_url: options.store.clone(),
        out: out.clone(),
        quiet: options.quiet,
    };
    let plan = Plan::new(scenario, seed);
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("plan.json"), serde_json::to_string_pretty(&plan)?)?;
    let outcome = harness.run(scenario, &plan).await?;
    let mut report = Report::new(scenario, &plan, &outcome, reproduce);
    if !report.passed && options.shrink && !plan.faults.is_empty() {
        report.shrunk = Some(shrink(scenario, &plan, &harness, &report).await?);
    }
    std::fs::write(out.join("report.json"), serde_json::to_string_pretty(&report)?)?;
    std::fs::write(out.join("report.html"), report.html())?;
    Ok((report, out))
}

/// Drops faults one at a time while the run still fails a check that failed first:
/// a schedule from which no single fault can be removed (1-minimal). An empty answer
/// means the run fails without any fault.
async fn shrink(
    scenario: &Scenario,
    plan: &Plan,
    harness: &Harness,
    first: &Report,
) -> anyhow::Result<Vec<harness::FiredFault>> {
    let failed: Vec<String> = first.checks.iter().filter(|c| !c.held).map(|c| c.name.clone()).collect();
    let mut keep: Vec<usize> = (0..plan.faults.len()).collect();
    let mut last = first.faults.clone();
    let mut i = 0;
    while i < keep.len() {
        let mut candidate = keep.clone();
        candidate.remove(i);
        let trial = plan.with_faults(&candidate);
        if !harness.quiet {
            eprintln!("shrink: trying {} of {} faults", candidate.len(), plan.faults.len());
        }
        let outcome = harness.run(scenario, &trial).await?;
        let report = Report::new(scenario, &trial, &outcome, String::new());
        if report.checks.iter().any(|c| !c.held && failed.contains(&c.name)) {
            keep = candidate;
            last = report.faults;
        } else {
            i += 1;
        }
    }
    Ok(last)
}

/// `aeon experiment run`: 0 when every invariant held, 1 when one failed, 2 when the
/// experiment could not run.
pub fn command(path: &Path, options: &RunOptions) -> std::process::ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run_file(path, options)) {
        Ok((report, out)) => {
            // Quiet: the verdict alone, for a script (the report is in `--out`).
            if options.quiet {
                println!("{}", if report.passed { "PASSED" } else { "FAILED" });
            } else {
                println!("{}", report.summary());
                println!("report: {}", out.join("report.html").display());
            }
            if report.passed { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(1) }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
