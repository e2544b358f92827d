//! Stand-ins and probes for actor-level tests.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use aeon::actors::probe::Event;
use aeon::handler::{JobContext, Outcome, Registry};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};

/// How long a test waits for an event before it fails. A guard, not a delay: tests
/// continue the moment the event arrives.
pub const PATIENCE: Duration = aeon::testing::PATIENCE;

/// A stand-in neighbour that records every message of type `M` it receives.
pub struct Recorder<M: Message<Result = ()> + Send + 'static>(mpsc::UnboundedSender<M>);

impl<M: Message<Result = ()> + Send + 'static> Actor for Recorder<M> {
    type Context = Context<Self>;
}

impl<M: Message<Result = ()> + Send + 'static> Handler<M> for Recorder<M> {
    type Result = ();
    fn handle(&mut self, msg: M, _: &mut Self::Context) {
        let _ = self.0.send(msg);
    }
}

/// A recorder's address as the recipient an actor sends to, and what it recorded.
pub fn recorder<M: Message<Result = ()> + Send + 'static>() -> (Recipient<M>, mpsc::UnboundedReceiver<M>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Recorder(tx).start().recipient(), rx)
}

/// Waits for the first event matching `wanted`, returning it; fails after [`PATIENCE`]
/// (the testing kit's [`aeon::testing::expect_event`]).
pub async fn expect_event(
    events: &mut mpsc::UnboundedReceiver<Event>,
    what: &str,
    wanted: impl Fn(&Event) -> bool,
) -> Event {
    aeon::testing::expect_event(events, PATIENCE, what, wanted).await
}

/// Waits for the next message a recorder got.
pub async fn expect_message<M>(messages: &mut mpsc::UnboundedReceiver<M>, what: &str) -> M {
    match tokio::time::timeout(PATIENCE, messages.recv()).await {
        Ok(Some(m)) => m,
        _ => panic!("no {what} within {PATIENCE:?}"),
    }
}

/// A handler whose runs wait until the test opens the gate, one permit per run. Each
/// run reports its arrival at the gate, and how it left: passed, or dropped while
/// waiting (its handler was stopped).
pub struct Gate {
    permits: Arc<Semaphore>,
    ends: mpsc::UnboundedReceiver<GateEvent>,
}

/// What a `gate` run did, with its payload.
#[derive(Debug, Clone, PartialEq)]
pub enum GateEvent {
    /// It reached the gate and waits there.
    Arrived(Value),
    Passed(Value),
    /// The run's future was dropped before it passed: the handler was stopped.
    Dropped(Value),
}

impl Gate {
    pub fn open(&self, runs: usize) {
        self.permits.add_permits(runs);
    }

    /// Waits for the next thing a run does; fails after [`PATIENCE`].
    pub async fn next(&mut self) -> GateEvent {
        expect_message(&mut self.ends, "a gate run's next step").await
    }
}

/// Reports a run dropped before it passed.
struct DropReport(Option<(mpsc::UnboundedSender<GateEvent>, Value)>);

impl Drop for DropReport {
    fn drop(&mut self) {
        if let Some((tx, payload)) = self.0.take() {
            let _ = tx.send(GateEvent::Dropped(payload));
        }
    }
}

/// Workers a `sick` job crashes on.
#[derive(Clone, Default)]
pub struct Sickness(Arc<std::sync::Mutex<std::collections::HashSet<uuid::Uuid>>>);

impl Sickness {
    pub fn set(&self, worker_id: uuid::Uuid, sick: bool) {
        let mut sick_workers = self.0.lock().unwrap();
        if sick {
            sick_workers.insert(worker_id)
        } else {
            sick_workers.remove(&worker_id)
        };
    }
}

/// The built-in handlers plus `gate` (waits for a permit, then completes with its
/// payload).
pub fn registry_with_gate() -> (Registry, Gate) {
    let (registry, gate, _) = registry_with_gate_and_sickness();
    (registry, gate)
}

/// [`registry_with_gate`], plus `sick`: panics on the workers the [`Sickness`] names
/// (a crash, which counts against a worker's health; a handler's own failure does
/// not), completes on the others.
pub fn registry_with_gate_and_sickness() -> (Registry, Gate, Sickness) {
    let permits = Arc::new(Semaphore::new(0));
    let (ends_tx, ends) = mpsc::unbounded_channel();
    let sickness = Sickness::default();
    let mut registry = Registry::with_builtins();
    let sick_workers = sickness.clone();
    registry
        .register_fn("sick", move |ctx: JobContext, _: Value| {
            let sick = sick_workers.0.lock().unwrap().contains(&ctx.worker_id);
            async move {
                if sick {
                    panic!("this worker is sick");
                }
                Outcome::Complete(json!("well"))
            }
        })
        .unwrap();
    let gate = permits.clone();
    registry
        .register_fn("gate", move |_: JobContext, payload: Value| {
            let (gate, ends) = (gate.clone(), ends_tx.clone());
            async move {
                let _ = ends.send(GateEvent::Arrived(payload.clone()));
                let mut report = DropReport(Some((ends.clone(), payload.clone())));
                gate.acquire().await.expect("gate open").forget();
                report.0 = None;
                let _ = ends.send(GateEvent::Passed(payload.clone()));
                Outcome::Complete(json!({ "passed": payload }))
            }
        })
        .unwrap();
    (registry, Gate { permits, ends }, sickness)
}
