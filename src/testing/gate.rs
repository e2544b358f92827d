//! [`Gate`]: holds a handler's runs until the test lets them through, so a test can
//! act while a job is mid-run (crash its worker, kill its Job actor, cancel it).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, Semaphore};

/// A gate for handler runs. Clones share it: give one to the handler, keep one.
///
/// ```
/// use aeon::handler::{JobContext, Outcome, Registry};
/// use aeon::testing::{Gate, TestNode};
/// use serde_json::{Value, json};
///
/// # actix_rt::System::new().block_on(async {
/// let gate = Gate::new();
/// let mut registry = Registry::new();
/// let held = gate.clone();
/// registry.register_fn("held", move |_: JobContext, _: Value| {
///     let held = held.clone();
///     async move {
///         held.pass().await;
///         Outcome::Complete(json!("through"))
///     }
/// })?;
/// let mut node = TestNode::start(registry).await;
/// node.submit("held", json!({})).await;
/// gate.arrived(1).await; // the run waits at the gate: act on it here
/// gate.open(1);
/// assert_eq!(node.drain().await.succeeded(), 1);
/// node.shutdown().await;
/// # Ok::<(), aeon::job::ValidationError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Gate {
    permits: Arc<Semaphore>,
    arrivals: Arc<AtomicUsize>,
    arrived: Arc<Notify>,
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Gate {
        Gate { permits: Arc::new(Semaphore::new(0)), arrivals: Arc::default(), arrived: Arc::default() }
    }

    /// In a handler: waits until the gate lets this run through (one permit each).
    pub async fn pass(&self) {
        self.arrivals.fetch_add(1, Ordering::SeqCst);
        self.arrived.notify_waiters();
        self.permits.acquire().await.expect("the gate's semaphore is never closed").forget();
    }

    /// Lets `runs` more runs through.
    pub fn open(&self, runs: usize) {
        self.permits.add_permits(runs);
    }

    /// How many runs have reached the gate so far.
    pub fn arrivals(&self) -> usize {
        self.arrivals.load(Ordering::SeqCst)
    }

    /// Waits until `n` runs in all have reached the gate; panics after
    /// [`PATIENCE`](super::PATIENCE).
    pub async fn arrived(&self, n: usize) {
        let waited = tokio::time::timeout(super::PATIENCE, async {
            loop {
                let notified = self.arrived.notified();
                if self.arrivals() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await;
        assert!(waited.is_ok(), "{} of {n} runs reached the gate within {:?}", self.arrivals(), super::PATIENCE);
    }
}

impl Default for Gate {
    fn default() -> Gate {
        Gate::new()
    }
}
