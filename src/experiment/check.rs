//! The invariants an experiment checks, on what the database holds after the run
//! (jobs, executions, the dead-letter queue, dependencies, workers, and each node's
//! newest snapshot). Pure functions of an [`Observed`], so a test can feed them a
//! doctored one.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRow {
    pub job_id: String,
    pub status: String,
    pub attempts: i64,
    pub max_retries: i64,
    /// Milliseconds since the run started.
    pub completed_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRow {
    pub job_id: String,
    pub status: String,
    pub attempt: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    /// The worker that ran the attempt.
    #[serde(default)]
    pub worker_id: Option<String>,
}

/// A row of `workers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerRow {
    pub worker_id: String,
    pub node_id: String,
    pub failure_count: i64,
}

/// A node of the cluster and how the run left it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeEnd {
    pub node_id: String,
    /// Running (not killed for good) when the run settled.
    pub alive: bool,
    /// How its process ended, if it ended by itself (the harness neither killed it nor
    /// had it exit, or it exited again after the harness restarted it).
    #[serde(default)]
    pub exited: Option<String>,
}

/// A node's newest snapshot, as read back after the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotSeen {
    pub node_id: String,
    pub snapshot_id: String,
    /// FULL, INCREMENTAL or AUTO.
    pub snapshot_type: String,
    /// Milliseconds since the run started.
    pub taken_ms: i64,
    /// Taken by the harness after the run settled (nothing changed after it).
    pub after_settle: bool,
    /// Why it and its chain do not verify (`aeon snapshot verify`); `None` when they do.
    pub verify_error: Option<String>,
    /// Its workers: id and `failure_count`.
    pub workers: Vec<(String, i64)>,
    /// The jobs of the claims it recorded in flight.
    pub in_flight: Vec<String>,
    /// Jobs by status when it was taken.
    pub queue: BTreeMap<String, i64>,
}

/// Everything the checks read: the ids the run submitted and the database's rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub submitted: Vec<String>,
    pub jobs: Vec<JobRow>,
    pub executions: Vec<ExecutionRow>,
    /// Jobs in the dead-letter queue, not requeued.
    pub dead_letters: Vec<String>,
    /// (job, the job it depends on).
    pub dependencies: Vec<(String, String)>,
    #[serde(default)]
    pub workers: Vec<WorkerRow>,
    #[serde(default)]
    pub nodes: Vec<NodeEnd>,
    /// Each node's newest snapshot.
    #[serde(default)]
    pub snapshots: Vec<SnapshotSeen>,
    /// Workers in service (not `DEAD`, `FAILED` or `STOPPED`) per node, read while the
    /// nodes still ran.
    #[serde(default)]
    pub in_service: BTreeMap<String, i64>,
    /// How many workers each node runs (`cluster.workers`).
    #[serde(default)]
    pub workers_per_node: i64,
    /// Nodes whose row said `DRAINING` while the nodes still ran.
    #[serde(default)]
    pub draining: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    /// What docs/guarantees.md (or docs/dependencies.md) promises, quoted.
    pub guarantee: String,
    pub held: bool,
    pub detail: String,
    /// The first few offending jobs.
    pub examples: Vec<String>,
}

const FAILED: [&str; 3] = ["FAILED", "TIMED_OUT", "CRASHED"];
const TERMINAL: [&str; 3] = ["COMPLETED", "DEAD_LETTER", "CANCELLED"];
const MAX_EXAMPLES: usize = 10;

fn check(name: &str, guarantee: &str, offenders: Vec<String>, what: &str, total: usize) -> Check {
    let held = offenders.is_empty();
    let detail =
        if held { format!("held for all {total} jobs") } else { format!("{} of {total} jobs {what}", offenders.len()) };
    Check {
        name: name.into(),
        guarantee: guarantee.into(),
        held,
        detail,
        examples: offenders.into_iter().take(MAX_EXAMPLES).collect(),
    }
}

/// Every invariant, in the report's order.
pub fn run_checks(o: &Observed) -> Vec<Check> {
    let jobs: BTreeMap<&str, &JobRow> = o.jobs.iter().map(|j| (j.job_id.as_str(), j)).collect();
    let mut by_job: BTreeMap<&str, Vec<&ExecutionRow>> = BTreeMap::new();
    for e in &o.executions {
        by_job.entry(e.job_id.as_str()).or_default().push(e);
    }
    let total = o.submitted.len();
    let mut out = Vec::new();

    let lost: Vec<String> = o
        .submitted
        .iter()
        .filter_map(|id| match jobs.get(id.as_str()) {
            None => Some(format!("{id}: missing")),
            Some(j) if !matches!(j.status.as_str(), "COMPLETED" | "DEAD_LETTER" | "CANCELLED") => {
                Some(format!("{id}: {}", j.status))
            }
            _ => None,
        })
        .collect();
    out.push(check(
        "no_job_lost",
        "A job that has been accepted (`enqueue` committed) runs until it is completed, dead-lettered or cancelled.",
        lost,
        "did not end COMPLETED, DEAD_LETTER or CANCELLED",
        total,
    ));

    let twice: Vec<String> = o
        .jobs
        .iter()
        .filter_map(|j| {
            let succeeded =
                by_job.get(j.job_id.as_str()).map_or(0, |es| es.iter().filter(|e| e.status == "SUCCEEDED").count());
            let wrong = if j.status == "COMPLETED" { succeeded != 1 } else { succeeded > 0 };
            wrong.then(|| format!("{}: {} with {succeeded} SUCCEEDED executions", j.job_id, j.status))
        })
        .collect();
    out.push(check(
        "completed_once",
        "A job's completion is recorded once: the completing write must present the claim's `execution_id` (the fencing token) [...] The database also refuses a second `SUCCEEDED` execution for a job.",
        twice,
        "do not have exactly one SUCCEEDED execution per completion",
        total,
    ));

    let over: Vec<String> = o
        .jobs
        .iter()
        .filter_map(|j| {
            let counted =
                by_job.get(j.job_id.as_str()).map_or(0, |es| es.iter().filter(|e| e.status != "CANCELLED").count());
            (j.attempts > j.max_retries + 1 || counted as i64 > j.max_retries + 1).then(|| {
                format!("{}: attempts {} ({counted} executions), max_retries {}", j.job_id, j.attempts, j.max_retries)
            })
        })
        .collect();
    out.push(check(
        "attempts_bounded",
        "A job that keeps crashing its node is still bounded: each rescue counts as an attempt, so after `max_retries + 1` it is dead-lettered, never stuck.",
        over,
        "ran more than max_retries + 1 attempts",
        total,
    ));

    let dead: BTreeSet<&str> = o.jobs.iter().filter(|j| j.status == "DEAD_LETTER").map(|j| j.job_id.as_str()).collect();
    let letters: BTreeSet<&str> = o.dead_letters.iter().map(String::as_str).collect();
    let exhausted: BTreeSet<&str> = o
        .jobs
        .iter()
        .filter(|j| {
            let failed = by_job
                .get(j.job_id.as_str())
                .map_or(0, |es| es.iter().filter(|e| FAILED.contains(&e.status.as_str())).count());
            failed as i64 > j.max_retries
        })
        .map(|j| j.job_id.as_str())
        .collect();
    let mut dlq_wrong: Vec<String> = Vec::new();
    for id in dead.symmetric_difference(&letters) {
        dlq_wrong.push(format!("{id}: dead-lettered {} / in the queue {}", dead.contains(id), letters.contains(id)));
    }
    for id in dead.symmetric_difference(&exhausted) {
        dlq_wrong.push(format!(
            "{id}: dead-lettered {} / exhausted its attempts {}",
            dead.contains(id),
            exhausted.contains(id)
        ));
    }
    out.push(check(
        "dlq_equals_exhausted",
        "the job is retried or dead-lettered like any failure [...] after `max_retries + 1` it is dead-lettered.",
        dlq_wrong,
        "differ between the dead-letter queue, DEAD_LETTER and the jobs that exhausted their attempts",
        total,
    ));

    // An attempt's `started_at` is the `now` its claim statement carried, read by the
    // claiming node just before the statement ran; a dependency's `completed_at` is the
    // `now` of its completion batch. A claim sent just before the completion commits and
    // run just after it (it can only see the dependent once the commit released it)
    // carries a `now` slightly earlier than the completion's, on another node's clock.
    // Within this slack the order of the timestamps proves nothing either way.
    const CLAIM_SLACK_MS: i64 = 1_000;
    let early: Vec<String> = o
        .dependencies
        .iter()
        .filter_map(|(job, on)| {
            let done = jobs.get(on.as_str()).and_then(|d| d.completed_ms);
            let first_start = by_job.get(job.as_str())?.iter().filter_map(|e| e.started_ms).min()?;
            match done {
                Some(done) if first_start + CLAIM_SLACK_MS >= done => None,
                Some(done) => Some(format!("{job}: started {} ms before {on} finished", done - first_start)),
                None => Some(format!("{job}: started though {on} never finished")),
            }
        })
        .collect();
    out.push(check(
        "dependencies_respected",
        "A job may wait for other jobs. Together they form a directed acyclic graph — a workflow — that Aeon runs in dependency order. (docs/dependencies.md)",
        early,
        "started before a dependency finished",
        total,
    ));

    let mut running: Vec<String> =
        o.jobs.iter().filter(|j| j.status == "RUNNING").map(|j| format!("{}: job RUNNING", j.job_id)).collect();
    running.extend(
        o.executions
            .iter()
            .filter(|e| e.status == "RUNNING")
            .map(|e| format!("{}: execution {} RUNNING", e.job_id, e.attempt)),
    );
    out.push(check(
        "nothing_left_running",
        "the job's row stays `RUNNING` only until its **lease** expires [...] Then `rescue_expired` records the attempt `CRASHED` and the job is retried or dead-lettered like any failure.",
        running,
        "were left RUNNING after the run",
        total,
    ));
    out.push(snapshot_consistent(o));
    out.push(one_process_per_node(o));

    let exits: Vec<String> =
        o.nodes.iter().filter_map(|n| Some(format!("{}: {}", n.node_id, n.exited.as_ref()?))).collect();
    let nodes = o.nodes.len();
    out.push(Check {
        name: "no_unplanned_exit".into(),
        guarantee: "A node's process ends only when told to. A remote `exit` crash is answered and acknowledged before its process ends, so the node's next process is not handed it again. (docs/cluster.md)".into(),
        held: exits.is_empty(),
        detail: if exits.is_empty() {
            format!("held for all {nodes} nodes")
        } else {
            format!("{} of {nodes} nodes ended by themselves", exits.len())
        },
        examples: exits.into_iter().take(MAX_EXAMPLES).collect(),
    });
    out
}

/// No node alive at the end has more workers in service than one process runs: a node
/// restarted under its id (`node_kill` with `restart_after_ms`) took over from its
/// previous process, whose workers are `DEAD`, and a second process of a node
/// (`node_twin`) never started any.
pub fn one_process_per_node(o: &Observed) -> Check {
    let offenders: Vec<String> = o
        .nodes
        .iter()
        .filter(|n| n.alive)
        .filter_map(|n| {
            let count = o.in_service.get(&n.node_id).copied().unwrap_or(0);
            (count > o.workers_per_node)
                .then(|| format!("{}: {count} workers in service, one process runs {}", n.node_id, o.workers_per_node))
        })
        .collect();
    let nodes = o.nodes.iter().filter(|n| n.alive).count();
    let held = offenders.is_empty();
    Check {
        name: "one_process_per_node".into(),
        guarantee: "A node id names one process at a time. [...] Taking the id over [...] the previous incarnation's workers not stopped become `DEAD`, and each claim they held is voided. (docs/cluster.md)".into(),
        held,
        detail: if held {
            format!("held for all {nodes} nodes alive at the end")
        } else {
            format!("{} of {nodes} nodes alive at the end", offenders.len())
        },
        examples: offenders.into_iter().take(MAX_EXAMPLES).collect(),
    }
}

/// A node stopped (SIGSTOP) for longer than `health.dead_after_ms` but for less than
/// `cluster.node_dead_after_ms`, with no other fault aimed at it, kills none of its own
/// workers when it wakes: they never missed a heartbeat, its clock only jumped. Their
/// `failure_count` stays 0, so no claim of theirs was voided (and no job without
/// retries dead-lettered) by their own node. `paused`: those nodes' ids.
pub fn paused_nodes_kept_their_workers(o: &Observed, paused: &BTreeSet<String>) -> Check {
    let workers: Vec<&WorkerRow> = o.workers.iter().filter(|w| paused.contains(&w.node_id)).collect();
    let offenders: Vec<String> = workers
        .iter()
        .filter(|w| w.failure_count > 0)
        .map(|w| format!("{}: worker {} has failure_count {}", w.node_id, w.worker_id, w.failure_count))
        .collect();
    let (held, total) = (offenders.is_empty(), workers.len());
    let detail = if held {
        format!("held for all {total} workers of the paused nodes")
    } else {
        format!("{} of {total} workers of the paused nodes died", offenders.len())
    };
    Check {
        name: "pause_kept_workers".into(),
        guarantee: "A node that was stopped (SIGSTOP, a paused VM) for longer than `health.dead_after_ms` does not declare its own workers dead for that time when it wakes, so it voids none of their claims and dead-letters none of their jobs.".into(),
        held,
        detail,
        examples: offenders.into_iter().take(MAX_EXAMPLES).collect(),
    }
}

/// Every node's final state against its newest snapshot: the snapshot and its chain
/// verify; every claim it recorded in flight ended `COMPLETED`, `DEAD_LETTER` or
/// `CANCELLED` (a claim held at the snapshot is not lost after it); its job counts are
/// not ahead of the end (terminal counts only grow; a snapshot taken after the run
/// settled counts exactly what the end holds); and none of its workers has a `workers`
/// row of another node. Restart counters are not compared: a node that wakes from a
/// pause counts its workers' deaths after a snapshot taken the moment it woke, and
/// rows are written in batches, so neither side is reliably ahead. A node alive at
/// the end without any snapshot fails; a node killed for good without one has
/// nothing to compare.
pub fn snapshot_consistent(o: &Observed) -> Check {
    let mut end: BTreeMap<&str, i64> = BTreeMap::new();
    for j in &o.jobs {
        *end.entry(j.status.as_str()).or_default() += 1;
    }
    let statuses: BTreeMap<&str, &str> = o.jobs.iter().map(|j| (j.job_id.as_str(), j.status.as_str())).collect();
    let workers: BTreeMap<&str, &WorkerRow> = o.workers.iter().map(|w| (w.worker_id.as_str(), w)).collect();
    let mut offenders = Vec::new();
    for node in &o.nodes {
        let n = node.node_id.as_str();
        let Some(s) = o.snapshots.iter().find(|s| s.node_id == n) else {
            if node.alive {
                offenders.push(format!("{n}: alive at the end but has no snapshot"));
            }
            continue;
        };
        let id = &s.snapshot_id;
        if let Some(why) = &s.verify_error {
            offenders.push(format!("{n}: snapshot {id} does not verify: {why}"));
            continue;
        }
        for job in &s.in_flight {
            let now = statuses.get(job.as_str()).copied().unwrap_or("MISSING");
            if !TERMINAL.contains(&now) {
                offenders.push(format!("{n}: snapshot {id} held {job} in flight; it ended {now}"));
            }
        }
        let snap_total: i64 = s.queue.values().sum();
        let end_total: i64 = end.values().sum();
        if snap_total > end_total {
            offenders.push(format!("{n}: snapshot {id} counts {snap_total} jobs, the end {end_total}"));
        }
        for status in TERMINAL {
            let (then, now) = (s.queue.get(status).copied().unwrap_or(0), end.get(status).copied().unwrap_or(0));
            if then > now || (s.after_settle && then != now) {
                offenders.push(format!("{n}: snapshot {id} counts {then} {status} jobs, the end {now}"));
            }
        }
        for (worker, _) in &s.workers {
            if let Some(row) = workers.get(worker.as_str())
                && row.node_id != n
            {
                offenders.push(format!("{n}: snapshot {id} has worker {worker}, whose row is of {}", row.node_id));
            }
        }
    }
    let nodes = o.nodes.len();
    let with = o.nodes.iter().filter(|n| o.snapshots.iter().any(|s| s.node_id == n.node_id)).count();
    let held = offenders.is_empty();
    Check {
        name: "snapshot_consistent".into(),
        guarantee: "Nothing is restored from a snapshot until it and every snapshot of its chain pass [...] A restore never touches jobs. The job rows are the truth for claims. (docs/snapshots.md)".into(),
        held,
        detail: if held {
            format!("held for all {nodes} nodes ({with} with a snapshot)")
        } else {
            format!("{} inconsistencies over {nodes} nodes", offenders.len())
        },
        examples: offenders.into_iter().take(MAX_EXAMPLES).collect(),
    }
}

/// Attempts per job: how many jobs ran 1, 2, ... times.
pub fn attempts_histogram(o: &Observed) -> BTreeMap<i64, usize> {
    let mut h = BTreeMap::new();
    for j in &o.jobs {
        *h.entry(j.attempts).or_default() += 1;
    }
    h
}

/// Executions beyond the first of jobs that were interrupted (CRASHED attempts):
/// allowed under at-least-once, counted.
pub fn duplicate_executions(o: &Observed) -> usize {
    o.executions.iter().filter(|e| e.status == "CRASHED").count()
}

/// The value at `q` (0..=1) of `values`, by nearest rank (p50 of two values is the
/// smaller, p99 of fewer than a hundred is the largest).
pub fn percentile(values: &[i64], q: f64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    // Nearest rank: the smallest value with at least `q` of them at or below it.
    let rank = (q * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// No node a `late_drain` hit drained: the drain asked while it was stopped expired
/// unread (its asker had answered 503), and a node must not act on a request its asker
/// gave up on. `late`: those nodes' ids; `seen_draining`: those a watch of their
/// `/readyz` saw draining after they woke.
pub fn late_drains_refused(o: &Observed, late: &BTreeSet<String>, seen_draining: &BTreeSet<String>) -> Check {
    let offenders: Vec<String> = late
        .iter()
        .filter(|n| o.draining.contains(n) || seen_draining.contains(*n))
        .map(|n| format!("{n}: drained after its asker gave up on the drain"))
        .collect();
    let held = offenders.is_empty();
    Check {
        name: "late_drain_refused".into(),
        guarantee: "A request carries the deadline its asker waits until; a drain read after it is refused, not applied. (docs/cluster.md, request deadlines)".into(),
        held,
        detail: if held {
            format!("held for all {} nodes a late drain was asked of", late.len())
        } else {
            format!("{} of {} nodes drained late", offenders.len(), late.len())
        },
        examples: offenders,
    }
}
