//! The rescue gate: whether this node's HealthMonitor sweeps expired job leases. The
//! cluster's membership loop opens it while this node holds the rescue lease, so that
//! one node of a cluster sweeps, not every one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether this node sweeps expired job leases: open while it holds the rescue lease
/// (and until it first learns otherwise), so that one node sweeps, not every one.
#[derive(Debug, Clone)]
pub struct RescueGate(Arc<AtomicBool>);

impl Default for RescueGate {
    fn default() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }
}

impl RescueGate {
    pub fn is_open(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self, open: bool) {
        self.0.store(open, Ordering::Relaxed);
    }
}
