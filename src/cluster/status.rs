//! What the cluster link reports: whether its mailbox works (`/readyz` says
//! `degraded: redis` while it does not) and its counters, read without a round trip.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug)]
pub struct LinkStatus {
    backend: &'static str,
    degraded: Mutex<Option<String>>,
    degradations: AtomicU64,
    pub(super) sent: AtomicU64,
    pub(super) received: AtomicU64,
    pub(super) rejected: AtomicU64,
    pub(super) rescued: AtomicU64,
}

impl LinkStatus {
    pub fn new(backend: &'static str) -> Self {
        Self {
            backend,
            degraded: Mutex::new(None),
            degradations: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            rescued: AtomicU64::new(0),
        }
    }

    /// `redis` or `memory`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Why the mailbox does not work, while it does not.
    pub fn degraded(&self) -> Option<String> {
        self.degraded.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A call failed: degraded (logged once, when it starts).
    pub fn failed(&self, why: &str) {
        let mut degraded = self.degraded.lock().unwrap_or_else(|p| p.into_inner());
        if degraded.is_none() {
            self.degradations.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(backend = self.backend, error = %why,
                "mailbox unavailable: degraded (wake-ups fall back to the poll, remote commands fail); reconnecting");
        }
        *degraded = Some(why.to_string());
    }

    /// A call worked: no longer degraded. Answers whether it was until now.
    pub fn ok(&self) -> bool {
        let was = self.degraded.lock().unwrap_or_else(|p| p.into_inner()).take().is_some();
        if was {
            tracing::info!(backend = self.backend, "mailbox reachable again");
        }
        was
    }

    /// Entries refused (malformed or of another version) so far.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// The counters and gauges in the OpenMetrics text format, without `# EOF`.
    pub fn encode(&self) -> String {
        let label = || [("backend", self.backend.to_string())];
        let mut registry = Registry::default();
        let degraded = Family::<[(&'static str, String); 1], Gauge>::default();
        degraded.get_or_create(&label()).set(i64::from(self.degraded().is_some()));
        registry.register("aeon_redis_degraded", "1 while the cluster mailbox (Redis) fails its calls", degraded);
        let counters = [
            ("aeon_mailbox_degraded", "Times the mailbox went from working to failing", &self.degradations),
            ("aeon_mailbox_sent", "Envelopes sent to other nodes", &self.sent),
            ("aeon_mailbox_received", "Envelopes received", &self.received),
            (
                "aeon_mailbox_rejected",
                "Entries refused: malformed or of another version (acknowledged)",
                &self.rejected,
            ),
            ("aeon_node_rescued_jobs", "Claims of dead nodes voided by this node", &self.rescued),
        ];
        for (name, help, v) in counters {
            let family = Family::<[(&'static str, String); 1], Counter>::default();
            family.get_or_create(&label()).inc_by(v.load(Ordering::Relaxed));
            registry.register(name, help, family);
        }
        let mut out = String::new();
        let written = encode_registry(&mut out, &registry);
        debug_assert!(written.is_ok(), "writing to a String does not fail");
        out
    }
}
