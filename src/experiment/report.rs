//! The report of a run: JSON, and one self-contained HTML page with inline SVG.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::check::{
    Check, Observed, SnapshotSeen, attempts_histogram, duplicate_executions, late_drains_refused,
    paused_nodes_kept_their_workers, percentile, run_checks,
};
use super::harness::{FiredFault, Outcome, VectorsSeen};
use super::plan::Plan;
use super::recovery::{fired, recovery_ms};
use super::scenario::{FaultKind, Scenario};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recovery {
    pub kind: String,
    /// Faults of this kind in the plan.
    pub faults: usize,
    /// ... of which took effect (not skipped, not failed).
    pub fired: usize,
    /// Faults of this kind with a recovery time (see `recovery.rs`: one with nothing
    /// to recover from, or that did not fire, has none).
    pub measured: usize,
    pub p50_ms: Option<i64>,
    pub p99_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub reproduce: String,
    pub passed: bool,
    pub settled: bool,
    pub jobs_planned: usize,
    pub jobs_submitted: usize,
    pub submit_errors: Vec<String>,
    pub elapsed_ms: i64,
    pub by_status: BTreeMap<String, usize>,
    pub checks: Vec<Check>,
    pub faults: Vec<FiredFault>,
    pub recovery: Vec<Recovery>,
    pub duplicate_executions: usize,
    pub throughput_per_s: f64,
    /// Jobs finished in each second of the run.
    pub throughput: Vec<usize>,
    pub attempts_histogram: BTreeMap<i64, usize>,
    /// Each node's newest snapshot, as the `snapshot_consistent` check read it.
    #[serde(default)]
    pub snapshots: Vec<SnapshotSeen>,
    /// The execution contexts at the end: the vector store's points and the nodes'
    /// counters (`None` when they could not be read).
    #[serde(default)]
    pub vectors: Option<VectorsSeen>,
    /// Set by `--shrink`: the smallest fault schedule found that still fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shrunk: Option<Vec<FiredFault>>,
}

/// The nodes a `node_pause` stopped for longer than `health.dead_after_ms` but for less
/// than `cluster.node_dead_after_ms` (the harness's and the scenario's settings), that
/// no worker fault, kill or twin hit: none of their workers should die (see
/// [`paused_nodes_kept_their_workers`]).
pub fn paused_alone(scenario: &Scenario, fired: &[FiredFault]) -> BTreeSet<String> {
    let setting =
        |key: &str, default: u64| scenario.cluster.env.get(key).and_then(|v| v.parse().ok()).unwrap_or(default);
    let dead_after = setting("AEON__HEALTH__DEAD_AFTER_MS", super::harness::DEAD_AFTER_MS);
    let node_dead_after =
        setting("AEON__CLUSTER__NODE_DEAD_AFTER_MS", crate::config::Config::default().cluster.node_dead_after_ms);
    let took = |f: &&FiredFault| super::recovery::fired(f);
    let hit: BTreeSet<usize> = fired
        .iter()
        .filter(took)
        .filter(|f| {
            matches!(f.kind, FaultKind::WorkerPanic | FaultKind::WorkerHang | FaultKind::NodeKill | FaultKind::NodeTwin)
        })
        .map(|f| f.node)
        .collect();
    fired
        .iter()
        .filter(took)
        .filter(|f| f.kind == FaultKind::NodePause && f.duration_ms > dead_after && f.duration_ms < node_dead_after)
        .filter(|f| !hit.contains(&f.node))
        .map(|f| super::harness::node_id(f.node))
        .collect()
}

impl Report {
    pub fn new(scenario: &Scenario, plan: &Plan, outcome: &Outcome, reproduce: String) -> Report {
        let o: &Observed = &outcome.observed;
        let mut checks = run_checks(o);
        let paused = paused_alone(scenario, &outcome.fired);
        if !paused.is_empty() {
            checks.push(paused_nodes_kept_their_workers(o, &paused));
        }
        let late: Vec<&FiredFault> =
            outcome.fired.iter().filter(|f| f.kind == FaultKind::LateDrain && fired(f)).collect();
        if !late.is_empty() {
            let nodes = late.iter().map(|f| super::harness::node_id(f.node)).collect();
            let seen = late.iter().flat_map(|f| &f.degraded_nodes).map(|&n| super::harness::node_id(n)).collect();
            checks.push(late_drains_refused(o, &nodes, &seen));
        }
        if !outcome.submit_errors.is_empty() {
            checks.push(Check {
                name: "workload_submitted".into(),
                guarantee: "(harness) every planned job was accepted by a node".into(),
                held: false,
                detail: format!("{} submissions failed", outcome.submit_errors.len()),
                examples: outcome.submit_errors.iter().take(10).cloned().collect(),
            });
        }
        let passed = checks.iter().all(|c| c.held);
        let mut by_status = BTreeMap::new();
        for j in &o.jobs {
            *by_status.entry(j.status.clone()).or_default() += 1;
        }
        let mut per_kind: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        // Per kind: (planned, took effect).
        let mut counted: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        let mut faults = outcome.fired.clone();
        for f in &mut faults {
            let count = counted.entry(f.kind.name()).or_default();
            count.0 += 1;
            count.1 += usize::from(fired(f));
            f.recovery_ms = recovery_ms(o, f);
            if let Some(r) = f.recovery_ms {
                per_kind.entry(f.kind.name()).or_default().push(r);
            }
        }
        let recovery = counted
            .iter()
            .map(|(kind, &(faults, fired))| {
                let values = per_kind.get(kind).cloned().unwrap_or_default();
                Recovery {
                    kind: kind.to_string(),
                    faults,
                    fired,
                    measured: values.len(),
                    p50_ms: percentile(&values, 0.5),
                    p99_ms: percentile(&values, 0.99),
                }
            })
            .collect();
        let seconds = (outcome.elapsed_ms.max(1) as usize).div_ceil(1_000);
        let mut throughput = vec![0usize; seconds.max(1)];
        let mut finished = 0usize;
        for j in &o.jobs {
            if let Some(ms) = j.completed_ms.filter(|&ms| ms >= 0) {
                let s = (ms as usize / 1_000).min(throughput.len() - 1);
                throughput[s] += 1;
                finished += 1;
            }
        }
        Report {
            scenario: scenario.name.clone(),
            seed: plan.seed,
            reproduce,
            passed,
            settled: outcome.settled,
            jobs_planned: plan.jobs(),
            jobs_submitted: o.submitted.len(),
            submit_errors: outcome.submit_errors.clone(),
            elapsed_ms: outcome.elapsed_ms,
            by_status,
            checks,
            faults,
            recovery,
            duplicate_executions: duplicate_executions(o),
            throughput_per_s: finished as f64 / (outcome.elapsed_ms.max(1) as f64 / 1_000.0),
            throughput,
            attempts_histogram: attempts_histogram(o),
            snapshots: o.snapshots.clone(),
            vectors: outcome.vectors.clone(),
            shrunk: None,
        }
    }

    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for c in &self.checks {
            let _ = writeln!(s, "  [{}] {}: {}", if c.held { "held" } else { "FAILED" }, c.name, c.detail);
            for e in c.examples.iter().take(3) {
                let _ = writeln!(s, "         {e}");
            }
        }
        for r in &self.recovery {
            let _ = writeln!(
                s,
                "  recovery {}: {} faults ({} fired, {} measured), p50 {}, p99 {}",
                r.kind,
                r.faults,
                r.fired,
                r.measured,
                ms_or_dash(r.p50_ms),
                ms_or_dash(r.p99_ms)
            );
        }
        let _ = writeln!(
            s,
            "  {} jobs in {:.1} s ({:.1} jobs/s), {} duplicate executions; {:?}",
            self.jobs_submitted,
            self.elapsed_ms as f64 / 1_000.0,
            self.throughput_per_s,
            self.duplicate_executions,
            self.by_status
        );
        if let Some(v) = &self.vectors {
            let _ = writeln!(s, "  {}", v.describe());
        }
        let _ = write!(
            s,
            "{}",
            if self.passed { "PASSED: every invariant held" } else { "FAILED: an invariant did not hold" }
        );
        s
    }

    /// One self-contained page: no script, no external file.
    pub fn html(&self) -> String {
        let mut h = String::new();
        let verdict = if self.passed { "PASSED" } else { "FAILED" };
        let _ = write!(
            h,
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Aeon experiment: {title} ({verdict})</title>
<style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}
.held,.passed{{color:#1a7f37;font-weight:bold}}.failed{{color:#cf222e;font-weight:bold}}code{{background:#f4f4f4;padding:2px 4px}}
blockquote{{margin:0;color:#555;font-size:90%}}</style></head><body>
<h1>Aeon experiment: {title}</h1>
<p class=\"{class}\">{verdict}</p>
<p>Seed <code>{seed}</code>. Reproduce: <code>{cmd}</code></p>
<p>{jobs} jobs submitted of {planned} planned, in {secs:.1} s ({tput:.1} jobs/s); {dups} duplicate executions (CRASHED attempts run again: allowed under at-least-once); settled: {settled}.</p>",
            title = esc(&self.scenario),
            class = verdict.to_lowercase(),
            seed = self.seed,
            cmd = esc(&self.reproduce),
            jobs = self.jobs_submitted,
            planned = self.jobs_planned,
            secs = self.elapsed_ms as f64 / 1_000.0,
            tput = self.throughput_per_s,
            dups = self.duplicate_executions,
            settled = self.settled,
        );
        h.push_str("<h2>Guarantees checked</h2><table><tr><th>check</th><th>guarantee (docs/guarantees.md)</th><th>result</th></tr>");
        for c in &self.checks {
            let (class, word) = if c.held { ("held", "held") } else { ("failed", "FAILED") };
            let examples: String = c.examples.iter().map(|e| format!("<br><code>{}</code>", esc(e))).collect();
            let _ = write!(
                h,
                "<tr><td>{}</td><td><blockquote>{}</blockquote></td><td><span class=\"{class}\">{word}</span>: {}{examples}</td></tr>",
                esc(&c.name),
                esc(&c.guarantee),
                esc(&c.detail)
            );
        }
        h.push_str("</table><h2>Jobs by status</h2><table>");
        for (s, n) in &self.by_status {
            let _ = write!(h, "<tr><td>{}</td><td>{n}</td></tr>", esc(s));
        }
        h.push_str("</table><h2>Throughput over time</h2><p>Jobs finished per second; red lines are faults.</p>");
        h.push_str(&self.throughput_svg());
        h.push_str("<h2>Recovery per fault kind</h2><p>From the fault until the cluster was back to work: the attempts running on what it hit had ended or run again, an attempt started or ended after the fault's window, and the nodes that reported Redis or the vector store degraded reported it healthy again (whichever came last). <em>fired</em>: the faults of the kind that took effect (not skipped, not failed); <em>measured</em>: those that had something to recover from.</p><table><tr><th>fault</th><th>count</th><th>fired</th><th>measured</th><th>p50</th><th>p99</th></tr>");
        for r in &self.recovery {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.kind),
                r.faults,
                r.fired,
                r.measured,
                ms_or_dash(r.p50_ms),
                ms_or_dash(r.p99_ms)
            );
        }
        h.push_str("</table><h2>Attempts per job</h2>");
        h.push_str(&self.attempts_svg());
        h.push_str(
            "<h2>Faults</h2><table><tr><th>at</th><th>fault</th><th>node</th><th>outcome</th><th>recovery</th></tr>",
        );
        for f in &self.faults {
            let node = if f.kind.is_cluster_wide() { "all".to_string() } else { f.node.to_string() };
            let mut outcome = esc(&f.outcome);
            if !f.degraded_nodes.is_empty() {
                let _ = write!(outcome, "; degraded on nodes {:?}", f.degraded_nodes);
                if let Some(t) = f.healthy_again_ms {
                    let _ = write!(outcome, ", healthy again at {t} ms");
                }
            }
            let _ = write!(
                h,
                "<tr><td>{} ms</td><td>{}</td><td>{node}</td><td>{outcome}</td><td>{}</td></tr>",
                f.fired_ms,
                f.kind.name(),
                ms_or_dash(f.recovery_ms),
            );
        }
        h.push_str("</table>");
        if let Some(v) = &self.vectors {
            let _ = write!(h, "<h2>Execution contexts</h2><p>{}</p>", esc(&v.describe()));
        }
        h.push_str("<h2>Snapshots</h2><p>Each node's newest snapshot, against the end of the run (check <code>snapshot_consistent</code>).</p><table><tr><th>node</th><th>snapshot</th><th>taken</th><th>verifies</th><th>workers</th><th>in flight</th></tr>");
        for s in &self.snapshots {
            let _ = write!(
                h,
                "<tr><td>{}</td><td><code>{}</code> {}</td><td>{} ms{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&s.node_id),
                esc(&s.snapshot_id),
                esc(&s.snapshot_type),
                s.taken_ms,
                if s.after_settle { ", after the settle" } else { "" },
                s.verify_error
                    .as_deref()
                    .map_or("yes".into(), |e| format!("<span class=\"failed\">no</span>: {}", esc(e))),
                s.workers.len(),
                s.in_flight.len()
            );
        }
        h.push_str("</table>");
        if let Some(shrunk) = &self.shrunk {
            h.push_str("<h2>Shrunk schedule</h2><p>A smallest fault schedule found that still fails:</p><ul>");
            for f in shrunk {
                let _ = write!(h, "<li>{} at {} ms on node {}</li>", f.kind.name(), f.planned_ms, f.node);
            }
            h.push_str("</ul>");
        }
        h.push_str("</body></html>\n");
        h
    }

    fn throughput_svg(&self) -> String {
        let (w, hgt, pad) = (900.0, 240.0, 40.0);
        let n = self.throughput.len().max(1) as f64;
        let max = self.throughput.iter().copied().max().unwrap_or(0).max(1) as f64;
        let x = |s: f64| pad + s / n * (w - 2.0 * pad);
        let y = |v: f64| hgt - pad - v / max * (hgt - 2.0 * pad);
        let points: Vec<String> = self
            .throughput
            .iter()
            .enumerate()
            .map(|(i, &v)| format!("{:.1},{:.1}", x(i as f64 + 0.5), y(v as f64)))
            .collect();
        let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{hgt}\" role=\"img\">");
        let _ = write!(
            s,
            "<line x1=\"{pad}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#888\"/><line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{b}\" stroke=\"#888\"/>",
            b = hgt - pad,
            r = w - pad
        );
        let _ = write!(s, "<text x=\"4\" y=\"{pad}\" font-size=\"11\">{max}/s</text>");
        let _ = write!(s, "<text x=\"{}\" y=\"{}\" font-size=\"11\">{n} s</text>", w - pad - 20.0, hgt - pad + 15.0);
        // Only the faults that took effect: a skipped one changed nothing.
        for (i, f) in self.faults.iter().filter(|f| fired(f)).enumerate() {
            let fx = x(f.fired_ms as f64 / 1_000.0);
            // Labels on three rows, so faults close together stay readable.
            let label_y = pad - 4.0 - (i % 3) as f64 * 11.0;
            let _ = write!(
                s,
                "<line x1=\"{fx:.1}\" y1=\"{pad}\" x2=\"{fx:.1}\" y2=\"{}\" stroke=\"#cf222e\" stroke-dasharray=\"4 2\"><title>{} at {} ms</title></line>",
                hgt - pad,
                f.kind.name(),
                f.fired_ms
            );
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{label_y}\" font-size=\"9\" fill=\"#cf222e\">{}</text>",
                fx + 2.0,
                f.kind.name()
            );
        }
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"#0969da\" stroke-width=\"2\" points=\"{}\"/></svg>",
            points.join(" ")
        );
        s
    }

    fn attempts_svg(&self) -> String {
        let (bar, hgt, pad) = (60.0, 200.0, 30.0);
        let max = self.attempts_histogram.values().copied().max().unwrap_or(0).max(1) as f64;
        let w = pad * 2.0 + bar * self.attempts_histogram.len().max(1) as f64;
        let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{hgt}\" role=\"img\">");
        for (i, (attempts, &count)) in self.attempts_histogram.iter().enumerate() {
            let bh = count as f64 / max * (hgt - 2.0 * pad);
            let bx = pad + i as f64 * bar;
            let _ = write!(
                s,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#8250df\"><title>{count} jobs with {attempts} attempts</title></rect>",
                bx + 5.0,
                hgt - pad - bh,
                bar - 10.0
            );
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\">{attempts}</text>",
                bx + bar / 2.0 - 3.0,
                hgt - pad + 14.0
            );
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{count}</text>",
                bx + 8.0,
                hgt - pad - bh - 3.0
            );
        }
        s.push_str("</svg>");
        s
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn ms_or_dash(v: Option<i64>) -> String {
    v.map_or("-".into(), |v| format!("{v} ms"))
}
