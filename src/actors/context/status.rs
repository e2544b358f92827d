//! What the ContextActor reports: shared counters that `/readyz` and `/metrics` read
//! without a round trip through its mailbox.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;

/// The vector store's health as its ContextActor last saw it, and its counters.
#[derive(Debug)]
pub struct ContextStatus {
    backend: &'static str,
    queued: AtomicU64,
    written: AtomicU64,
    retries: AtomicU64,
    dropped: AtomicU64,
    degradations: AtomicU64,
    /// Why the last call failed, while calls fail.
    degraded: Mutex<Option<String>>,
}

/// A copy of the status at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ContextStats {
    /// `qdrant` or `embedded`.
    pub backend: &'static str,
    /// Why the vector store is not taking writes, while it is not.
    pub degraded: Option<String>,
    /// Contexts waiting to be written.
    pub queued: u64,
    pub written: u64,
    /// Failed calls (prepare or write) that were retried.
    pub retries: u64,
    /// Contexts dropped because the queue was full.
    pub dropped: u64,
    /// Times the store went from working to failing.
    pub degradations: u64,
}

impl ContextStatus {
    pub fn new(backend: &'static str) -> Self {
        Self {
            backend,
            queued: AtomicU64::new(0),
            written: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            degradations: AtomicU64::new(0),
            degraded: Mutex::new(None),
        }
    }

    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Why the store is degraded, if it is.
    pub fn degraded(&self) -> Option<String> {
        self.degraded.lock().expect("status lock").clone()
    }

    pub fn stats(&self) -> ContextStats {
        ContextStats {
            backend: self.backend,
            degraded: self.degraded(),
            queued: self.queued.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            degradations: self.degradations.load(Ordering::Relaxed),
        }
    }

    pub(super) fn set_queued(&self, n: usize) {
        self.queued.store(n as u64, Ordering::Relaxed);
    }

    /// Counts written contexts; answers the total.
    pub(super) fn written(&self, n: u64) -> u64 {
        self.written.fetch_add(n, Ordering::Relaxed) + n
    }

    /// Counts dropped contexts; answers the total.
    pub(super) fn dropped(&self, n: u64) -> u64 {
        self.dropped.fetch_add(n, Ordering::Relaxed) + n
    }

    /// Records a failed call: answers the retries so far and whether the store was
    /// healthy until now.
    pub(super) fn failed(&self, reason: &str) -> (u64, bool) {
        let retries = self.retries.fetch_add(1, Ordering::Relaxed) + 1;
        let mut degraded = self.degraded.lock().expect("status lock");
        let newly = degraded.is_none();
        if newly {
            self.degradations.fetch_add(1, Ordering::Relaxed);
        }
        *degraded = Some(reason.to_string());
        (retries, newly)
    }

    /// Clears the degradation; answers whether there was one.
    pub(super) fn recovered(&self) -> bool {
        self.degraded.lock().expect("status lock").take().is_some()
    }

    /// The counters and gauges in the OpenMetrics text format, without the closing
    /// `# EOF` (the caller adds them to its own exposition).
    pub fn encode(&self) -> String {
        let s = self.stats();
        let label = || [("backend", s.backend.to_string())];
        let mut registry = Registry::default();
        let gauges = [
            ("aeon_vector_store_degraded", "1 while the vector store fails its calls", i64::from(s.degraded.is_some())),
            ("aeon_vector_queue_depth", "Execution contexts waiting to be written", s.queued as i64),
        ];
        for (name, help, v) in gauges {
            let family = Family::<[(&'static str, String); 1], Gauge>::default();
            family.get_or_create(&label()).set(v);
            registry.register(name, help, family);
        }
        let counters = [
            ("aeon_vector_degraded", "Times the vector store went from working to failing", s.degradations),
            ("aeon_vector_write_retries", "Vector store calls that failed and were retried", s.retries),
            ("aeon_vector_dropped", "Execution contexts dropped because the queue was full", s.dropped),
            ("aeon_vector_written", "Execution contexts written to the vector store", s.written),
        ];
        for (name, help, v) in counters {
            let family = Family::<[(&'static str, String); 1], Counter>::default();
            family.get_or_create(&label()).inc_by(v);
            registry.register(name, help, family);
        }
        let mut out = String::new();
        let written = encode_registry(&mut out, &registry);
        debug_assert!(written.is_ok(), "writing to a String does not fail");
        out
    }
}
