//! The gauges `GET /metrics` shows that the store and the Supervisor know better than
//! a counter could: jobs by status, this node's workers, and pending jobs whose type no
//! live worker handles. They are read into a [`GaugeCache`] off the request path — a
//! task refreshes it every [`REFRESH_EVERY`], each read bounded by [`READ_TIMEOUT`] —
//! so a scrape never waits on the database: when the database is stuck, `/metrics`
//! answers at once with the last values and `aeon_gauges_age_seconds` says how old
//! they are.
//!
//! Counting jobs by status reads every job the tables keep: a few milliseconds on a
//! young database, a tenth of a second with a million finished jobs. So the refresh
//! waits [`READS_PER_BUSY`] times as long as its last read took (at least
//! [`REFRESH_EVERY`], at most [`REFRESH_AT_MOST_EVERY`]): the gauges never take more
//! than about 2% of one database core, however large the tables grow.

use std::sync::{RwLock, Weak};
use std::time::{Duration, Instant};

use actix::{Addr, WeakAddr};
use chrono::{DateTime, Utc};
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::actors::supervisor::{GetSlots, SlotInfo, Supervisor};
use crate::job::JobStatus;
use crate::metrics::{Label, METRICS};
use crate::store::{Store, StoreResult, WorkerRecord, WorkerStatus};

/// How often the node refreshes its gauges.
pub const REFRESH_EVERY: Duration = Duration::from_secs(2);

/// The longest one refresh waits for the store or the Supervisor.
pub const READ_TIMEOUT: Duration = Duration::from_secs(1);

/// The gauges' share of the database's time, inverted: a refresh whose reads took
/// `t` is followed by a pause of `t × READS_PER_BUSY` (2%).
pub const READS_PER_BUSY: u32 = 50;

/// The longest pause between refreshes, however slow the last one was.
pub const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(30);

/// The pause before the next refresh, when the last one's reads took `took`.
pub fn next_refresh_after(took: Duration) -> Duration {
    took.saturating_mul(READS_PER_BUSY).clamp(REFRESH_EVERY, REFRESH_AT_MOST_EVERY)
}

/// What the gauges showed at their last successful reads.
#[derive(Debug, Clone, Default)]
pub struct GaugeSnapshot {
    /// Jobs by status, cluster-wide; `None` until the store first answers.
    pub queue_depth: Option<Vec<(JobStatus, i64)>>,
    /// This node's workers, as its Supervisor sees them.
    pub workers: Vec<SlotInfo>,
    /// Pending jobs by type, for the types no live worker of the cluster handles.
    pub unhandled: Vec<(String, i64)>,
    /// When the store last answered.
    pub read_at: Option<Instant>,
}

/// The node's cached gauges: written by the refresh, read by every scrape.
#[derive(Debug, Default)]
pub struct GaugeCache {
    snapshot: RwLock<GaugeSnapshot>,
}

impl GaugeCache {
    /// The gauges as last read.
    pub fn snapshot(&self) -> GaugeSnapshot {
        self.snapshot.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads every gauge once, each read bounded by [`READ_TIMEOUT`]. A read that
    /// fails or times out keeps the previous value (its age tells).
    pub async fn refresh(&self, store: &dyn Store, supervisor: &Addr<Supervisor>, live_since: DateTime<Utc>) {
        let slots = tokio::time::timeout(READ_TIMEOUT, supervisor.send(GetSlots));
        if let Ok(Ok(slots)) = slots.await {
            self.update(|s| s.workers = slots);
        }
        let reads = async { futures::join!(store.count_by_status(), unhandled_types(store, live_since)) };
        match tokio::time::timeout(READ_TIMEOUT, reads).await {
            Ok((Ok(depth), Ok(unhandled))) => self.update(|s| {
                s.queue_depth = Some(depth);
                s.unhandled = unhandled;
                s.read_at = Some(Instant::now());
            }),
            Ok((Err(e), _) | (_, Err(e))) => tracing::debug!(error = %e, "metrics: reading the gauges failed"),
            Err(_) => tracing::debug!("metrics: the store did not answer within {READ_TIMEOUT:?}"),
        }
    }

    fn update(&self, change: impl FnOnce(&mut GaugeSnapshot)) {
        change(&mut self.snapshot.write().unwrap_or_else(|e| e.into_inner()));
    }
}

/// Refreshes `cache` every [`REFRESH_EVERY`] or, when the reads grow slow, as
/// [`next_refresh_after`] says, until the node is gone: the task holds
/// only weak references, so it never keeps a stopped node's store (or its SQLite lock)
/// alive. `live_for` is how recent a worker's heartbeat must be for it to count as live.
pub fn spawn_refresher(
    cache: Weak<GaugeCache>,
    store: Weak<dyn Store>,
    supervisor: WeakAddr<Supervisor>,
    live_for: chrono::TimeDelta,
    clock: crate::clock::SharedClock,
) {
    actix_rt::spawn(async move {
        let mut pause = Duration::ZERO;
        loop {
            tokio::time::sleep(pause).await;
            let (Some(cache), Some(store), Some(supervisor)) = (cache.upgrade(), store.upgrade(), supervisor.upgrade())
            else {
                return;
            };
            if !supervisor.connected() {
                return;
            }
            let started = Instant::now();
            cache.refresh(&*store, &supervisor, clock.now() - live_for).await;
            pause = next_refresh_after(started.elapsed());
        }
    });
}

/// `PENDING` jobs by type, for each type that no live worker of the cluster handles.
pub async fn unhandled_types(store: &dyn Store, live_since: DateTime<Utc>) -> StoreResult<Vec<(String, i64)>> {
    let (pending, workers) = futures::join!(store.pending_by_type(), store.list_workers());
    Ok(unhandled(pending?, &workers?, live_since))
}

/// Those of `pending` (jobs by type) whose type no live worker among `workers`
/// handles: a worker's row lists its node's types in `metadata.job_types`. Live:
/// starting, active or unhealthy, and heartbeating since `live_since`.
pub fn unhandled(
    pending: Vec<(String, i64)>,
    workers: &[WorkerRecord],
    live_since: DateTime<Utc>,
) -> Vec<(String, i64)> {
    let handled: std::collections::HashSet<&str> =
        workers.iter().filter(|w| is_live(w, live_since)).flat_map(handled_types).collect();
    pending.into_iter().filter(|(job_type, n)| *n > 0 && !handled.contains(job_type.as_str())).collect()
}

fn is_live(worker: &WorkerRecord, live_since: DateTime<Utc>) -> bool {
    matches!(worker.status, WorkerStatus::Starting | WorkerStatus::Active | WorkerStatus::Unhealthy)
        && worker.last_heartbeat.is_none_or(|at| at >= live_since)
}

fn handled_types(worker: &WorkerRecord) -> impl Iterator<Item = &str> {
    worker.metadata["job_types"].as_array().into_iter().flatten().filter_map(|t| t.as_str())
}

/// How recent a heartbeat must be for a worker to count as live: twice the time after
/// which a silent worker is declared dead.
pub fn live_window(health: &crate::actors::health::HealthConfig) -> chrono::TimeDelta {
    chrono::TimeDelta::milliseconds(2 * health.dead_after_ms as i64)
}

/// Every metric of this process and of the node whose cached `gauges` are given, in
/// the OpenMetrics text format ([`crate::metrics::CONTENT_TYPE`]). Reads memory only.
pub fn render(gauges: &GaugeSnapshot) -> String {
    let mut node = Registry::default();
    if let Some(depth) = &gauges.queue_depth {
        let family = Family::<Label, Gauge>::default();
        for status in JobStatus::ALL {
            let n = depth.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n);
            family.get_or_create(&[("status", status.as_str().to_string())]).set(n);
        }
        node.register("aeon_queue_depth", "Jobs by status, cluster-wide", family);
    }
    if let Some(read_at) = gauges.read_at {
        let age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        age.set(read_at.elapsed().as_secs_f64());
        node.register(
            "aeon_gauges_age_seconds",
            "Seconds since the store last answered the gauge reads (queue depth, unhandled types)",
            age,
        );
    }
    let unhandled = Family::<Label, Gauge>::default();
    for (job_type, n) in &gauges.unhandled {
        unhandled.get_or_create(&[("type", job_type.clone())]).set(*n);
    }
    node.register("aeon_unhandled_pending_jobs", "Pending jobs of types that no live worker handles", unhandled);
    let health = Family::<[(&'static str, String); 2], Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let load = Family::<Label, Gauge>::default();
    for w in &gauges.workers {
        let id = w.worker_id.to_string();
        health.get_or_create(&[("worker_id", id.clone()), ("status", w.status.as_str().to_string())]).set(w.score);
        load.get_or_create(&[("worker_id", id)]).set(i64::from(w.load));
    }
    node.register("aeon_worker_health", "Health score of this node's workers", health);
    node.register("aeon_worker_load", "Jobs held by this node's workers", load);

    let mut out = String::new();
    let written = encode_registry(&mut out, &METRICS.registry)
        .and_then(|()| encode_registry(&mut out, &node))
        .and_then(|()| encode_eof(&mut out));
    debug_assert!(written.is_ok(), "writing to a String does not fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_reads_space_the_refreshes_out_so_they_stay_a_small_share() {
        assert_eq!(next_refresh_after(Duration::from_millis(3)), REFRESH_EVERY, "quick reads: the base rate");
        assert_eq!(next_refresh_after(Duration::from_millis(100)), Duration::from_secs(5), "100 ms read: 2%");
        assert_eq!(next_refresh_after(READ_TIMEOUT), REFRESH_AT_MOST_EVERY, "never slower than the cap");
    }
}
