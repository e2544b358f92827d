//! `aeon experiment run`: the shipped scenarios in a short form hold their invariants
//! against real node processes, a broken setting makes the checks fail (and `--shrink`
//! reduces its schedule), a doctored result set fails every check, and the same seed
//! gives the same plan.
//!
//! The runs use the Postgres of `AEON_TEST_DATABASE_URL` when it is set, else SQLite
//! (one node; database faults that need Postgres are left out).

use std::path::{Path, PathBuf};

use aeon::experiment::check::{ExecutionRow, JobRow, Observed, run_checks};
use aeon::experiment::scenario::{BackendKind, FaultKind};
use aeon::experiment::{Plan, Report, RunOptions, Scenario, run_scenario};

/// The runs start real processes: one at a time, so their timings are not a race
/// for two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SHIPPED: [&str; 4] = ["worker-panics", "node-kill-fan-in", "db-connection-loss", "poison-job"];

fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments").join(format!("{name}.toml"))
}

fn postgres() -> Option<String> {
    std::env::var("AEON_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())
}

/// The scenario in seconds rather than minutes, on the backend the machine has.
fn short(mut s: Scenario) -> Scenario {
    s.settle_timeout_s = 60;
    let w = &mut s.workload;
    w.jobs = w.jobs.min(150);
    w.rate = w.rate.map(|_| 100.0);
    if let Some(f) = &mut w.fan_in {
        f.count = f.count.min(3);
        f.width = f.width.min(8);
    }
    if let Some(c) = &mut w.chains {
        c.count = c.count.min(3);
    }
    for f in &mut s.faults {
        f.count = f.count.map(|c| c.min(3));
        f.between_ms = f.between_ms.map(|_| [300, 1_500]);
        f.at_ms = f.at_ms.map(|t| t.min(1_000));
        f.duration_ms = f.duration_ms.map(|d| d.min(1_500));
        f.restart_after_ms = f.restart_after_ms.map(|d| d.min(1_500));
    }
    if postgres().is_none() {
        s.cluster.backend = BackendKind::Sqlite;
        s.cluster.nodes = 1;
        s.faults.retain(|f| f.kind != FaultKind::DbDisconnect);
        for f in &mut s.faults {
            f.node = f.node.map(|_| 0);
        }
    }
    s.validate().expect("the short form is valid");
    s
}

fn options(seed: u64, shrink: bool) -> (RunOptions, PathBuf) {
    let out = std::env::temp_dir().join(format!("aeon-exp-test-{}", uuid::Uuid::new_v4().simple()));
    let options = RunOptions {
        seed: Some(seed),
        out: Some(out.clone()),
        quiet: true,
        store: postgres(),
        shrink,
        aeon_bin: Some(PathBuf::from(env!("CARGO_BIN_EXE_aeon"))),
    };
    (options, out)
}

async fn run_short(name: &str, seed: u64) -> Report {
    let _serial = SERIAL.lock().await;
    let scenario = short(Scenario::load(&path(name)).expect("a shipped scenario parses"));
    let (options, out) = options(seed, false);
    let (report, written) = run_scenario(&scenario, &path(name), &options).await.expect("the experiment runs");
    assert_eq!(written, out);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("no_job_lost") && html.contains(&format!("--seed {seed}")));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["seed"], seed);
    assert!(report.passed, "{name}: {}\nnode logs in {}", report.summary(), out.display());
    assert_eq!(report.jobs_submitted, report.jobs_planned, "{name}: every planned job was submitted");
    assert!(
        report.faults.iter().all(|f| !f.outcome.starts_with("error")),
        "{name}: every fault fired: {:?}",
        report.faults
    );
    let _ = std::fs::remove_dir_all(out);
    report
}

#[actix_rt::test(system = "crate::common::TestSystem")]
async fn experiment_worker_panics_under_load_holds() {
    let report = run_short("worker-panics", 11).await;
    assert!(report.faults.iter().filter(|f| f.kind == FaultKind::WorkerPanic).count() >= 1);
}

#[actix_rt::test(system = "crate::common::TestSystem")]
async fn experiment_node_kill_during_fan_in_holds() {
    let report = run_short("node-kill-fan-in", 12).await;
    assert!(report.faults.iter().any(|f| f.kind == FaultKind::NodeKill));
    assert!(report.checks.iter().any(|c| c.name == "dependencies_respected" && c.held));
}

#[actix_rt::test(system = "crate::common::TestSystem")]
async fn experiment_db_connection_loss_holds() {
    let report = run_short("db-connection-loss", 13).await;
    assert!(report.faults.iter().any(|f| f.kind == FaultKind::DbLock));
}

#[actix_rt::test(system = "crate::common::TestSystem")]
async fn experiment_poison_job_holds() {
    let report = run_short("poison-job", 14).await;
    assert!(report.by_status.get("DEAD_LETTER").copied().unwrap_or(0) > 0, "the poison jobs are dead-lettered");
    assert!(report.by_status.get("COMPLETED").copied().unwrap_or(0) > 0, "the rest completes");
}

/// Rescue switched off in effect (leases and node death far beyond the run) and a
/// node killed for good: its jobs stay RUNNING, so "no job lost" and "nothing left
/// running" fail, and shrinking drops the table locks that do not matter (and keeps
/// the kill: without it the run passes).
#[actix_rt::test(system = "crate::common::TestSystem")]
async fn experiment_a_broken_setting_fails_the_checks_and_shrinks() {
    let text = format!(
        r#"
name = "broken: no rescue"
settle_timeout_s = 8
[cluster]
nodes = {nodes}
workers = 2
capacity = 4
backend = "{backend}"
lease_ms = 600000
env = {{ AEON__CLUSTER__NODE_DEAD_AFTER_MS = "600000", AEON__HEALTH__DEAD_AFTER_MS = "500000", AEON__WORKERS__PREFETCH = "0" }}
[workload]
jobs = {jobs}
max_retries = 1
mix = [{{ type = "sleep", payload = {{ ms = 1500 }} }}]
[[faults]]
kind = "db_lock"
at_ms = 200
duration_ms = 200
[[faults]]
kind = "db_lock"
at_ms = 500
duration_ms = 200
[[faults]]
kind = "node_kill"
at_ms = 1000
node = 0
"#,
        nodes = if postgres().is_some() { 2 } else { 1 },
        backend = if postgres().is_some() { "postgres" } else { "sqlite" },
        jobs = if postgres().is_some() { 16 } else { 8 },
    );
    let scenario = Scenario::parse(&text).expect("parses");
    let _serial = SERIAL.lock().await;
    let (options, out) = options(5, true);
    let (report, _) = run_scenario(&scenario, Path::new("broken.toml"), &options).await.expect("the experiment runs");
    assert!(!report.passed, "{}", report.summary());
    let failed: Vec<&str> = report.checks.iter().filter(|c| !c.held).map(|c| c.name.as_str()).collect();
    assert!(failed.contains(&"no_job_lost"), "{failed:?}");
    assert!(failed.contains(&"nothing_left_running"), "{failed:?}");
    let shrunk = report.shrunk.as_ref().expect("--shrink reports a schedule");
    assert_eq!(shrunk.len(), 1, "{shrunk:?}");
    assert_eq!(shrunk[0].kind, FaultKind::NodeKill);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("FAILED") && html.contains("Shrunk schedule"));
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn experiment_same_seed_same_plan() {
    for name in SHIPPED {
        let scenario = Scenario::load(&path(name)).unwrap();
        let a = Plan::new(&scenario, 42);
        assert_eq!(a, Plan::new(&scenario, 42), "{name}: same seed, same plan");
        assert_eq!(a.jobs(), Plan::new(&scenario, 42).jobs());
        let b = Plan::new(&scenario, 43);
        assert_ne!(a, b, "{name}: another seed, another plan");
        assert!(a.jobs() >= scenario.workload.jobs);
    }
    let scenario = Scenario::load(&path("worker-panics")).unwrap();
    let times = |seed| Plan::new(&scenario, seed).faults.iter().map(|f| f.at_ms).collect::<Vec<_>>();
    assert_eq!(times(1), times(1));
    assert_ne!(times(1), times(2), "random fault times come from the seed");
}

#[test]
fn experiment_scenario_errors_name_the_key() {
    let base = std::fs::read_to_string(path("poison-job")).unwrap();
    let err = Scenario::parse(&base.replace("capacity = 10", "capacity = 10\ncapacty = 3")).unwrap_err().to_string();
    assert!(err.contains("cluster") && err.contains("capacty"), "{err}");
    let err = Scenario::parse(&base.replace("kind = \"node_pause\"", "kind = \"node_nap\"")).unwrap_err().to_string();
    assert!(err.contains("faults[1].kind") || err.contains("faults.1.kind") || err.contains("kind"), "{err}");
    let err = Scenario::parse(&base.replace("nodes = 1", "nodes = 2")).unwrap_err().to_string();
    assert!(err.contains("cluster.nodes") && err.contains("SQLite"), "{err}");
}

fn job(id: &str, status: &str, attempts: i64, completed_ms: Option<i64>) -> JobRow {
    JobRow { job_id: id.into(), status: status.into(), attempts, max_retries: 1, completed_ms }
}

fn exec(id: &str, status: &str, attempt: i64, started: i64, finished: Option<i64>) -> ExecutionRow {
    ExecutionRow { job_id: id.into(), status: status.into(), attempt, started_ms: Some(started), finished_ms: finished }
}

#[test]
fn experiment_checks_fail_on_a_doctored_result_set() {
    let good = Observed {
        submitted: vec!["a".into(), "b".into(), "c".into()],
        jobs: vec![
            job("a", "COMPLETED", 1, Some(5_000)),
            job("b", "DEAD_LETTER", 2, None),
            job("c", "COMPLETED", 1, Some(5_300)),
        ],
        executions: vec![
            exec("a", "SUCCEEDED", 1, 10, Some(5_000)),
            exec("b", "FAILED", 1, 10, Some(20)),
            exec("b", "CRASHED", 2, 30, Some(40)),
            exec("c", "SUCCEEDED", 1, 5_150, Some(5_300)),
        ],
        dead_letters: vec!["b".into()],
        dependencies: vec![("c".into(), "a".into())],
    };
    assert!(run_checks(&good).iter().all(|c| c.held), "{:?}", run_checks(&good));

    let failing = |o: &Observed| run_checks(o).into_iter().filter(|c| !c.held).map(|c| c.name).collect::<Vec<_>>();
    let mut lost = good.clone();
    lost.submitted.push("d".into());
    lost.jobs.push(job("d", "PENDING", 0, None));
    assert_eq!(failing(&lost), ["no_job_lost"]);

    let mut twice = good.clone();
    twice.executions.push(exec("a", "SUCCEEDED", 2, 50, Some(120)));
    twice.jobs[0].attempts = 2;
    assert_eq!(failing(&twice), ["completed_once"]);

    let mut over = good.clone();
    over.jobs[0].attempts = 3;
    assert_eq!(failing(&over), ["attempts_bounded"]);

    let mut dlq = good.clone();
    dlq.dead_letters.clear();
    assert_eq!(failing(&dlq), ["dlq_equals_exhausted"]);

    let mut early = good.clone();
    early.executions[3].started_ms = Some(50); // seconds before `a` finished: past any clock slack
    assert_eq!(failing(&early), ["dependencies_respected"]);

    let mut running = good.clone();
    running.submitted.push("e".into());
    running.jobs.push(job("e", "RUNNING", 1, None));
    running.executions.push(exec("e", "RUNNING", 1, 500, None));
    assert_eq!(failing(&running), ["no_job_lost", "nothing_left_running"]);
}

#[test]
fn experiment_command_exits_2_on_a_bad_scenario_naming_the_key() {
    let file = std::env::temp_dir().join(format!("aeon-exp-bad-{}.toml", uuid::Uuid::new_v4().simple()));
    let base = std::fs::read_to_string(path("poison-job")).unwrap();
    std::fs::write(&file, base.replace("lease_ms = 2000", "lease_ms = 2000\nleas_ms = 1")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aeon"))
        .args(["experiment", "run", file.to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("leas_ms") && stderr.contains("cluster"), "{stderr}");
}
