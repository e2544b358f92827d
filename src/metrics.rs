//! `GET /metrics`, in the OpenMetrics text format, written by the Prometheus project's
//! `prometheus-client` crate.
//!
//! Two kinds of metrics:
//! - process-wide counters and histograms ([`METRICS`]), counted where things happen
//!   (one node runs per process, so process-wide is node-wide);
//! - gauges that the store and the Supervisor know better (queue depth, worker health
//!   and load): read into the node's `GaugeCache` (`crate::gauges`) off the request path,
//!   so a scrape never waits on the database (`gauges::render`).

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::job::RunResult;

/// The metrics of this process.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

/// Run outcomes; every one is shown from the start, zeros included.
const OUTCOMES: [&str; 8] =
    ["succeeded", "failed", "failed_permanently", "timed_out", "panicked", "snoozed", "released", "cancelled"];

/// What retention deletes, as `aeon_pruned_rows_total{kind}` names it.
const PRUNED_KINDS: [&str; 4] = ["finished", "dead_letters", "health_logs", "contexts"];

/// A label set of one label.
pub(crate) type Label = [(&'static str, String); 1];

/// A latency histogram (seconds) with fixed buckets.
#[derive(Debug, Clone)]
pub struct Latency(Histogram);

impl Latency {
    fn new() -> Self {
        Self(Histogram::new(BUCKETS))
    }

    pub fn observe(&self, d: Duration) {
        self.0.observe(d.as_secs_f64());
    }
}

pub struct Metrics {
    outcomes: Family<Label, Counter>,
    pub claim_latency: Latency,
    pub run_latency: Latency,
    restarts: Counter,
    rescued: Counter,
    pruned: Family<Label, Counter>,
    slow_reads: Family<Label, Counter>,
    /// Runs settled per minute over the last hour (the dashboard's charts).
    pub history: History,
    /// The process-wide metrics above, as `gauges::render` encodes them.
    pub(crate) registry: Registry,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// How many minutes [`History`] keeps.
pub const HISTORY_MINUTES: usize = 60;

/// Runs settled on this node per minute, for the last [`HISTORY_MINUTES`] minutes: a
/// ring of counters, one slot per minute, reused as minutes pass. Keeping the counts
/// here costs one uncontended lock per settled run; asking the database instead would
/// mean counting an hour of rows (millions at full speed) every few seconds.
#[derive(Debug)]
pub struct History {
    slots: std::sync::Mutex<[MinuteCounts; HISTORY_MINUTES]>,
}

impl Default for History {
    fn default() -> Self {
        Self { slots: std::sync::Mutex::new([MinuteCounts::default(); HISTORY_MINUTES]) }
    }
}

/// One minute's settled runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MinuteCounts {
    /// Minutes since the Unix epoch.
    pub minute: i64,
    pub succeeded: u64,
    /// Failed attempts: errors, timeouts and panics (retried or dead-lettered).
    pub failed: u64,
}

impl History {
    /// Counts a settled run at `at` (by the node's clock).
    pub fn record(&self, result: &RunResult, at: chrono::DateTime<chrono::Utc>) {
        let (succeeded, failed) = match result {
            RunResult::Succeeded => (1, 0),
            RunResult::Failed { .. } | RunResult::TimedOut | RunResult::Panicked => (0, 1),
            _ => return,
        };
        let minute = at.timestamp().div_euclid(60);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut slots[minute.rem_euclid(HISTORY_MINUTES as i64) as usize];
        if slot.minute != minute {
            *slot = MinuteCounts { minute, succeeded: 0, failed: 0 };
        }
        slot.succeeded += succeeded;
        slot.failed += failed;
    }

    /// The last [`HISTORY_MINUTES`] minutes up to the one `now` falls in, oldest first,
    /// zeros where nothing settled.
    pub fn last_hour(&self, now: chrono::DateTime<chrono::Utc>) -> Vec<MinuteCounts> {
        let current = now.timestamp().div_euclid(60);
        let slots = *self.slots.lock().unwrap_or_else(|e| e.into_inner());
        (current - HISTORY_MINUTES as i64 + 1..=current)
            .map(|minute| {
                let slot = slots[minute.rem_euclid(HISTORY_MINUTES as i64) as usize];
                if slot.minute == minute { slot } else { MinuteCounts { minute, ..Default::default() } }
            })
            .collect()
    }
}

impl Metrics {
    fn new() -> Self {
        let outcomes = Family::<Label, Counter>::default();
        for outcome in OUTCOMES {
            let _ = outcomes.get_or_create(&[("outcome", outcome.to_string())]);
        }
        let (claim_latency, run_latency) = (Latency::new(), Latency::new());
        let (restarts, rescued) = (Counter::default(), Counter::default());
        let pruned = Family::<Label, Counter>::default();
        for kind in PRUNED_KINDS {
            let _ = pruned.get_or_create(&[("kind", kind.to_string())]); // shown from the start, zeros included
        }
        let mut registry = Registry::default();
        // Counters are registered without `_total`: the encoder appends it.
        registry.register("aeon_jobs", "Runs settled on this node, by outcome", outcomes.clone());
        registry.register("aeon_claim_duration_seconds", "Time to claim a batch of jobs", claim_latency.0.clone());
        registry.register(
            "aeon_run_duration_seconds",
            "Time from handler start to the settled result",
            run_latency.0.clone(),
        );
        registry.register("aeon_worker_restarts", "Workers restarted after dying", restarts.clone());
        registry.register("aeon_rescued_jobs", "Claims voided after a worker died or a lease expired", rescued.clone());
        registry.register("aeon_pruned_rows", "Rows deleted by retention, by kind", pruned.clone());
        let slow_reads = Family::<Label, Counter>::default();
        registry.register(
            "aeon_slow_store_reads",
            "Reads of the API, the dashboard and snapshots that took health.store_read_slow_ms or longer, by operation",
            slow_reads.clone(),
        );
        Self {
            outcomes,
            claim_latency,
            run_latency,
            restarts,
            rescued,
            pruned,
            slow_reads,
            history: History::default(),
            registry,
        }
    }

    /// Counts a settled run.
    pub fn run_settled(&self, result: &RunResult) {
        let outcome = match result {
            RunResult::Succeeded => "succeeded",
            RunResult::Failed { permanent: false } => "failed",
            RunResult::Failed { permanent: true } => "failed_permanently",
            RunResult::TimedOut => "timed_out",
            RunResult::Panicked => "panicked",
            RunResult::Snoozed => "snoozed",
            RunResult::Released => "released",
            RunResult::Cancelled => "cancelled",
            // A result the store refused: the job's fate was decided elsewhere.
            RunResult::Fenced => "fenced",
            RunResult::Abandoned => return,
        };
        self.outcomes.get_or_create(&[("outcome", outcome.to_string())]).inc();
    }

    /// Counts a worker restarted after dying.
    pub fn worker_restarted(&self) {
        self.restarts.inc();
    }

    /// Counts the rows a retention tick deleted.
    pub fn rows_pruned(&self, pruned: &crate::store::Pruned) {
        let counts = [pruned.finished, pruned.dead_letters, pruned.health_logs, pruned.contexts];
        for (kind, n) in PRUNED_KINDS.into_iter().zip(counts) {
            self.pruned.get_or_create(&[("kind", kind.to_string())]).inc_by(n);
        }
    }

    /// Counts claims voided after a worker died or a lease expired.
    pub fn jobs_rescued(&self, n: u64) {
        self.rescued.inc_by(n);
    }

    /// Counts a read of the API, the dashboard or snapshots that took
    /// `health.store_read_slow_ms` or longer (see [`crate::actors::store::StoreReads`]).
    pub fn slow_store_read(&self, op: &'static str) {
        self.slow_reads.get_or_create(&[("op", op.to_string())]).inc();
    }

    /// How many reads of `op` were slow, in this process.
    pub fn slow_store_reads(&self, op: &'static str) -> u64 {
        self.slow_reads.get_or_create(&[("op", op.to_string())]).get()
    }
}
