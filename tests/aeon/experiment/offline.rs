//! The harness without processes: plans from seeds, scenario errors, the checks and
//! recovery times on doctored result sets, the report's counts, and the command's
//! exit code on a bad scenario.

use super::*;

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
    let err = |text: String| Scenario::parse(&text).unwrap_err().to_string();
    assert_eq!(
        err(base.replace("capacity = 10", "capacity = 10\ncapacty = 3")),
        "at `cluster.capacty`: unknown field `capacty`, expected one of `nodes`, `workers`, `capacity`, `backend`, \
         `store_url`, `redis`, `qdrant`, `lease_ms`, `snapshot_every_ms`, `env`"
    );
    assert_eq!(
        err(base.replace("kind = \"node_pause\"", "kind = \"node_nap\"")),
        "at `faults[1].kind`: unknown variant `node_nap`, expected one of `worker_panic`, `worker_hang`, \
         `worker_slow`, `node_kill`, `worker_exit`, `node_pause`, `late_drain`, `node_twin`, `db_disconnect`, \
         `db_lock`, `redis_restart`, `redis_flush`, `qdrant_down`"
    );
    assert_eq!(
        err(base.replace("kind = \"node_pause\"", "kind = \"worker_exit\"")),
        "at `faults[1].kind`: worker_exit is asked through another node's mailbox: it needs cluster.redis = true and \
         two nodes"
    );
    assert_eq!(
        err(base.replace("nodes = 1", "nodes = 2")),
        "at `cluster.nodes`: SQLite serves one node; use backend = \"postgres\" for several"
    );
    assert_eq!(
        err(base.replace("payload = { ms = 50 }", "payload = { ms = 50 }, payload_bytes = [1, 9]")),
        "at `workload.mix[1].payload_bytes`: type \"sleep\" refuses extra payload fields; pad noop, echo or collect"
    );
    assert_eq!(
        err(base.replace("kind = \"node_pause\"", "kind = \"redis_restart\"")),
        "at `faults[1].kind`: a Redis fault needs cluster.redis = true (the harness's own redis-server)"
    );
    // A Qdrant the harness did not start: it can neither be given with cluster.qdrant
    // nor be stopped by qdrant_down.
    let own_qdrant = "lease_ms = 2000\nenv = { AEON__QDRANT__URL = \"http://127.0.0.1:6334\" }";
    assert_eq!(
        err(base.replace("lease_ms = 2000", &format!("qdrant = true\n{own_qdrant}"))),
        "at `cluster.env`: cluster.qdrant gives the nodes the harness's own Qdrant: leave AEON__QDRANT__URL out"
    );
    let with_outage =
        base.replace("lease_ms = 2000", own_qdrant) + "\n[[faults]]\nkind = \"qdrant_down\"\nat_ms = 100\n";
    assert_eq!(
        err(with_outage.clone()),
        "at `faults[2].kind`: qdrant_down cannot stop a Qdrant the harness did not start: use cluster.qdrant = true \
         instead of AEON__QDRANT__URL"
    );
    assert!(Scenario::parse(&with_outage.replace(own_qdrant, "lease_ms = 2000\nqdrant = true")).is_ok());
}

fn job(id: &str, status: &str, attempts: i64, completed_ms: Option<i64>) -> JobRow {
    JobRow { job_id: id.into(), status: status.into(), attempts, max_retries: 1, completed_ms }
}

fn exec(id: &str, status: &str, attempt: i64, started: i64, finished: Option<i64>) -> ExecutionRow {
    ExecutionRow {
        job_id: id.into(),
        status: status.into(),
        attempt,
        started_ms: Some(started),
        finished_ms: finished,
        worker_id: Some("w1".into()),
    }
}

/// A snapshot of `exp-node-0` that agrees with the `good` result set below.
fn snapshot(after_settle: bool) -> SnapshotSeen {
    SnapshotSeen {
        node_id: "exp-node-0".into(),
        snapshot_id: "s1".into(),
        snapshot_type: "FULL".into(),
        taken_ms: 6_000,
        after_settle,
        verify_error: None,
        workers: vec![("w1".into(), 1)],
        in_flight: if after_settle { vec![] } else { vec!["c".into()] },
        queue: [("COMPLETED".to_string(), 2), ("DEAD_LETTER".to_string(), 1)].into(),
    }
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
        workers: vec![WorkerRow { worker_id: "w1".into(), node_id: "exp-node-0".into(), failure_count: 1 }],
        nodes: vec![NodeEnd { node_id: "exp-node-0".into(), alive: true, exited: None }],
        snapshots: vec![snapshot(true)],
        in_service: [("exp-node-0".to_string(), 2)].into(),
        workers_per_node: 2,
        draining: Vec::new(),
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

    let mut exited = good.clone();
    exited.nodes[0].exited = Some("signal: 6 (SIGABRT) (core dumped)".into());
    assert_eq!(failing(&exited), ["no_unplanned_exit"]);

    // Each node's last snapshot against the end.
    let mut mid_run = good.clone();
    mid_run.snapshots = vec![snapshot(false)];
    assert!(failing(&mid_run).is_empty(), "a snapshot before the end may count fewer jobs");
    let mut stuck = mid_run.clone();
    stuck.jobs[2].status = "PENDING".into(); // the job the snapshot held in flight
    stuck.jobs[2].completed_ms = None;
    assert!(failing(&stuck).contains(&"snapshot_consistent".to_string()));
    let mut corrupt = good.clone();
    corrupt.snapshots[0].verify_error = Some("checksum mismatch".into());
    assert_eq!(failing(&corrupt), ["snapshot_consistent"]);
    let mut none = good.clone();
    none.snapshots.clear();
    assert_eq!(failing(&none), ["snapshot_consistent"], "a node alive at the end has a snapshot");
    none.nodes[0].alive = false;
    assert!(failing(&none).is_empty(), "a node killed for good may have none");
    let mut ahead = good.clone();
    ahead.snapshots[0].queue.insert("COMPLETED".into(), 3);
    assert_eq!(failing(&ahead), ["snapshot_consistent"]);
    let mut elsewhere = good.clone();
    elsewhere.workers[0].node_id = "exp-node-1".into();
    assert_eq!(failing(&elsewhere), ["snapshot_consistent"], "a worker of the snapshot is another node's");

    // A node restarted under its id whose previous process's workers are still in service.
    let mut ghosts = good.clone();
    ghosts.in_service.insert("exp-node-0".into(), 4);
    assert_eq!(failing(&ghosts), ["one_process_per_node"]);
    ghosts.nodes[0].alive = false;
    assert!(failing(&ghosts).is_empty(), "a node killed for good is the rescuer's to mark dead");
}

fn fault(kind: FaultKind, fired_ms: i64, duration_ms: u64) -> FiredFault {
    FiredFault {
        kind,
        node: 0,
        planned_ms: fired_ms as u64,
        fired_ms,
        duration_ms,
        state: FaultState::Fired,
        outcome: "fired".into(),
        worker_id: Some("w1".into()),
        degraded_nodes: vec![],
        healthy_again_ms: None,
        recovery_ms: None,
    }
}

/// A pause past `health.dead_after_ms` and short of `cluster.node_dead_after_ms`, on a
/// node no worker fault or kill hit, is checked: none of its workers died.
#[test]
fn experiment_a_paused_node_must_keep_its_workers() {
    let scenario = Scenario::parse(&std::fs::read_to_string(path("paused-node")).unwrap()).unwrap();
    let pause = |node, duration_ms| {
        let mut f = fault(FaultKind::NodePause, 100, duration_ms);
        (f.node, f.worker_id) = (node, None);
        f
    };
    let nodes = |fired: &[FiredFault]| paused_alone(&scenario, fired).into_iter().collect::<Vec<_>>();
    assert_eq!(nodes(&[pause(0, 3_000), pause(1, 1_000), pause(2, 10_000)]), ["exp-node-0"], "1 s < pause < 10 s");
    let mut panic = fault(FaultKind::WorkerPanic, 200, 0);
    panic.node = 0;
    assert!(nodes(&[pause(0, 3_000), panic.clone()]).is_empty(), "a worker fault accounts for a death");
    panic.state = FaultState::Skipped;
    assert_eq!(nodes(&[pause(0, 3_000), panic]), ["exp-node-0"], "unless it did not fire");

    let worker = |node: &str, failure_count| WorkerRow { worker_id: "w".into(), node_id: node.into(), failure_count };
    let paused = ["exp-node-0".to_string()].into();
    let o = Observed { workers: vec![worker("exp-node-0", 0), worker("exp-node-1", 2)], ..Observed::default() };
    assert!(paused_nodes_kept_their_workers(&o, &paused).held, "another node's deaths are not its");
    let o = Observed { workers: vec![worker("exp-node-0", 1)], ..Observed::default() };
    let check = paused_nodes_kept_their_workers(&o, &paused);
    assert_eq!((check.held, check.examples), (false, vec!["exp-node-0: worker w has failure_count 1".to_string()]));
}

#[test]
fn experiment_recovery_is_measured_from_the_fault_until_work_resumes() {
    let mut o = Observed {
        jobs: vec![job("a", "COMPLETED", 2, Some(900)), job("b", "COMPLETED", 1, Some(1_500))],
        executions: vec![
            exec("a", "CRASHED", 1, 50, Some(700)),
            exec("a", "SUCCEEDED", 2, 700, Some(900)),
            exec("b", "SUCCEEDED", 1, 1_400, Some(1_500)),
        ],
        workers: vec![WorkerRow { worker_id: "w1".into(), node_id: "exp-node-0".into(), failure_count: 1 }],
        ..Observed::default()
    };
    // A panic of the worker running `a` at 100 ms: `a` ran again at 700 ms.
    assert_eq!(recovery_ms(&o, &fault(FaultKind::WorkerPanic, 100, 0)), Some(600));
    // A lock from 1,000 ms for 300: nothing ran then; the next claim came at 1,400 ms.
    assert_eq!(recovery_ms(&o, &fault(FaultKind::DbLock, 1_000, 300)), Some(400));
    // A Redis outage the nodes reported until 2,100 ms: recovered when they said so.
    let mut redis = fault(FaultKind::RedisRestart, 1_000, 300);
    redis.healthy_again_ms = Some(2_100);
    assert_eq!(recovery_ms(&o, &redis), Some(1_100));
    // After the last job, with nothing running and no outage reported: nothing to measure.
    assert_eq!(recovery_ms(&o, &fault(FaultKind::WorkerPanic, 2_000, 0)), None);
    // A fault on another node's worker does not wait for `a`.
    let mut elsewhere = fault(FaultKind::NodeKill, 100, 0);
    elsewhere.node = 1;
    assert_eq!(recovery_ms(&o, &elsewhere), Some(600), "only the next attempt anywhere after it");
    // A skipped fault has none, nor one that failed to fire.
    let mut skipped = fault(FaultKind::WorkerPanic, 100, 0);
    skipped.state = FaultState::Skipped;
    assert_eq!(recovery_ms(&o, &skipped), None);
    skipped.state = FaultState::Failed;
    assert_eq!(recovery_ms(&o, &skipped), None);
    o.jobs.clear();
    assert_eq!(recovery_ms(&o, &fault(FaultKind::WorkerPanic, 100, 0)), Some(600));

    // p50 and p99 by nearest rank.
    assert_eq!(percentile(&[], 0.5), None);
    assert_eq!(percentile(&[5_003, 4_000], 0.5), Some(4_000));
    assert_eq!(percentile(&[5_003, 4_000], 0.99), Some(5_003));
    let hundred: Vec<i64> = (1..=100).rev().collect();
    assert_eq!((percentile(&hundred, 0.5), percentile(&hundred, 0.99)), (Some(50), Some(99)));
}

/// The report keeps a fault that was skipped (or failed) apart from one that fired: the
/// count per kind says how many fired, it has no recovery, and the throughput chart
/// draws only those that fired.
#[test]
fn experiment_report_does_not_count_a_skipped_fault_as_fired() {
    let scenario = Scenario::parse(&std::fs::read_to_string(path("poison-job")).unwrap()).unwrap();
    let plan = Plan::new(&scenario, 1);
    let observed = Observed {
        jobs: vec![job("a", "COMPLETED", 2, Some(900))],
        executions: vec![exec("a", "CRASHED", 1, 50, Some(700)), exec("a", "SUCCEEDED", 2, 700, Some(900))],
        workers: vec![WorkerRow { worker_id: "w1".into(), node_id: "exp-node-0".into(), failure_count: 1 }],
        ..Observed::default()
    };
    let mut skipped = fault(FaultKind::WorkerPanic, 300, 0);
    skipped.state = FaultState::Skipped;
    skipped.outcome = "skipped: node 0 is down or paused".into();
    let mut failed = fault(FaultKind::NodeKill, 400, 0);
    failed.state = FaultState::Failed;
    failed.outcome = "error: node 0 is already down".into();
    let outcome = Outcome {
        observed,
        fired: vec![fault(FaultKind::WorkerPanic, 100, 0), skipped, failed],
        elapsed_ms: 1_000,
        settled: true,
        submit_errors: vec![],
        vectors: None,
    };
    let report = Report::new(&scenario, &plan, &outcome, String::new());
    let counts: Vec<(&str, usize, usize, usize)> =
        report.recovery.iter().map(|r| (r.kind.as_str(), r.faults, r.fired, r.measured)).collect();
    assert_eq!(counts, [("node_kill", 1, 0, 0), ("worker_panic", 2, 1, 1)]);
    assert_eq!(report.faults.iter().map(|f| f.recovery_ms).collect::<Vec<_>>(), [Some(600), None, None]);
    assert!(report.summary().contains("recovery worker_panic: 2 faults (1 fired, 1 measured)"), "{}", report.summary());
    let html = report.html();
    assert_eq!(html.matches("stroke-dasharray").count(), 1, "one red line: the fault that fired");
}

#[test]
fn experiment_plan_has_every_shape_payload_sizes_and_an_arrival_rate() {
    let text = r#"
name = "shapes"
[cluster]
backend = "sqlite"
[workload]
jobs = 40
rate = 20
mix = [{ type = "echo", payload = { k = 1 }, payload_bytes = [100, 300] }, { type = "noop" }]
chains = { count = 2, length = 3 }
fan_in = { count = 2, width = 4 }
diamonds = { count = 2, width = 3 }
"#;
    let scenario = Scenario::parse(text).unwrap();
    let plan = Plan::new(&scenario, 7);
    let jobs: Vec<_> = plan.groups.iter().flat_map(|g| g.jobs.iter()).collect();
    assert!(jobs.len() >= 40);
    let by_ref: std::collections::HashMap<&str, _> = jobs.iter().map(|j| (j.reference.as_str(), *j)).collect();
    // Diamonds: a sink on `width` middles, each on one root shared by all.
    let sinks: Vec<_> = jobs.iter().filter(|j| j.reference.starts_with("diamond")).collect();
    assert_eq!(sinks.len(), 2);
    for sink in sinks {
        assert_eq!(sink.depends_on.len(), 3);
        let roots: std::collections::BTreeSet<&String> =
            sink.depends_on.iter().flat_map(|m| by_ref[m.as_str()].depends_on.iter()).collect();
        assert_eq!(roots.len(), 1, "the middles share one root");
    }
    assert_eq!(jobs.iter().filter(|j| j.reference.starts_with("collect")).count(), 2, "two fan-ins");
    assert!(jobs.iter().any(|j| j.depends_on.len() == 1 && by_ref[j.depends_on[0].as_str()].depends_on.len() == 1));
    for j in jobs.iter().filter(|j| j.job_type == "echo") {
        let pad = j.payload["pad"].as_str().expect("padded").len();
        assert!((100..=300).contains(&pad), "{pad}");
        assert_eq!(j.payload["k"], 1);
    }
    assert!(plan.groups.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    assert!(plan.groups.last().unwrap().at_ms > 1_000, "40 jobs at 20/s arrive over two seconds");
    let all_at_once = Scenario::parse(&text.replace("rate = 20\n", "")).unwrap();
    assert!(Plan::new(&all_at_once, 7).groups.iter().all(|g| g.at_ms == 0));
}

/// `--quiet` prints the verdict alone, as docs/experiments.md says (a script reads one
/// word; the report is in `--out`). A small poison-job run, through the binary.
#[actix_rt::test]
async fn a_quiet_run_prints_the_verdict_alone() {
    let _serial = SERIAL.lock().await;
    let dir = std::env::temp_dir().join(format!("aeon-exp-quiet-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(path("poison-job")).unwrap();
    let pause = text.find("[[faults]]\nkind = \"node_pause\"").expect("the scenario pauses its node");
    let head = &text[..pause];
    assert!(head.contains("jobs = 400") && head.contains("rate = 100"), "the scenario's workload changed: {head}");
    let small = head.replace("jobs = 400", "jobs = 40").replace("rate = 100", "rate = 40");
    let file = dir.join("small.toml");
    std::fs::write(&file, small).unwrap();
    let run = dir.join("run");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_aeon"))
            .args(["experiment", "run", file.to_str().unwrap(), "--quiet", "--seed", "1", "--out"])
            .arg(run)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "PASSED\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("reproduce: ") && stderr.contains("--seed 1"), "the reproduce line, on stderr: {stderr}");
    assert!(dir.join("run/report.html").exists(), "the report is written all the same");
    let _ = std::fs::remove_dir_all(&dir);
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
