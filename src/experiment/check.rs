//! The invariants an experiment checks, on what the database holds after the run.
//! Pure functions of an [`Observed`], so a test can feed them a doctored one.

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
    out
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

/// Recovery of one fault fired at `at_ms`: how long until every job that was running
/// then has finished or started again (ms); `None` when nothing was running.
pub fn recovery_ms(o: &Observed, at_ms: i64) -> Option<i64> {
    let mut by_job: BTreeMap<&str, Vec<&ExecutionRow>> = BTreeMap::new();
    for e in &o.executions {
        by_job.entry(e.job_id.as_str()).or_default().push(e);
    }
    let mut worst: Option<i64> = None;
    for es in by_job.values() {
        let running_then =
            es.iter().any(|e| e.started_ms.is_some_and(|s| s <= at_ms) && e.finished_ms.is_none_or(|f| f > at_ms));
        if !running_then {
            continue;
        }
        // The first moment after the fault the job moved on: an execution ending, or a new one starting.
        let next = es
            .iter()
            .flat_map(|e| [e.finished_ms, e.started_ms.filter(|&s| s > at_ms)])
            .flatten()
            .filter(|&t| t > at_ms)
            .min();
        let took = next.map_or(i64::MAX, |t| t - at_ms);
        worst = Some(worst.map_or(took, |w| w.max(took)));
    }
    worst.filter(|&w| w != i64::MAX)
}

/// The value at `q` (0..=1) of sorted `values`.
pub fn percentile(values: &[i64], q: f64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    Some(v[i])
}
