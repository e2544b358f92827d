//! Process-wide counters and histograms, rendered in the Prometheus text format at
//! `GET /metrics`. One node runs per process, so process-wide is node-wide.
//! Gauges that the database knows better (queue depth, worker health) are read at
//! scrape time instead of being kept here.

use std::fmt::Write;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::actors::probe::RunResult;

/// The metrics of this process.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

/// A latency histogram with fixed buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// Run outcomes, in the order they are rendered.
const OUTCOMES: [&str; 8] =
    ["succeeded", "failed", "failed_permanently", "timed_out", "panicked", "snoozed", "released", "cancelled"];

#[derive(Debug, Default)]
pub struct Metrics {
    outcomes: [AtomicU64; OUTCOMES.len()],
    pub claim_latency: Histogram,
    pub run_latency: Histogram,
    pub restarts: AtomicU64,
    pub rescued: AtomicU64,
}

impl Metrics {
    /// Counts a settled run.
    pub fn run_settled(&self, result: &RunResult) {
        let index = match result {
            RunResult::Succeeded => 0,
            RunResult::Failed { permanent: false } => 1,
            RunResult::Failed { permanent: true } => 2,
            RunResult::TimedOut => 3,
            RunResult::Panicked => 4,
            RunResult::Snoozed => 5,
            RunResult::Released => 6,
            RunResult::Cancelled => 7,
            RunResult::Abandoned => return,
        };
        self.outcomes[index].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters and histograms, in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP aeon_jobs_total Runs settled on this node, by outcome.\n# TYPE aeon_jobs_total counter"
        );
        for (name, n) in OUTCOMES.iter().zip(&self.outcomes) {
            let _ = writeln!(out, "aeon_jobs_total{{outcome=\"{name}\"}} {}", n.load(Ordering::Relaxed));
        }
        self.claim_latency.render("aeon_claim_duration_seconds", "Time to claim a batch of jobs.", out);
        self.run_latency.render("aeon_run_duration_seconds", "Time from handler start to the settled result.", out);
        let counters = [
            ("aeon_worker_restarts_total", "Workers restarted after dying.", &self.restarts),
            ("aeon_rescued_jobs_total", "Claims voided after a worker died or a lease expired.", &self.rescued),
        ];
        for (name, help, n) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", n.load(Ordering::Relaxed));
        }
    }
}
