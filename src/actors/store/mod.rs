//! The StoreActor: the only code of a node that talks to the database.
//!
//! Other actors send it typed messages ([`messages`]) through a [`StoreHandle`]; the
//! actor owns an `Arc<dyn Store>`, so any backend (Postgres, SQLite, a test's
//! fault-injecting wrapper) can stand behind the same handle. Completions, failures and health logs are
//! batched: those arriving within `batch_window` (or until `max_batch` have gathered)
//! go out as one statement, and each sender gets its own item's answer. Every other
//! request runs at once, concurrently with the rest, bounded by the connection pool.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures::future::{BoxFuture, join_all};

mod batch;
mod messages;

pub use messages::*;

use crate::clock::SharedClock;
use crate::store::{Applied, Completion, FailOutcome, Failure, HealthLog, Store};
use batch::Batch;

/// How the StoreActor batches (the `[batch]` config section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreActorConfig {
    /// How long a batch waits for company after its first item, in milliseconds.
    pub window_ms: u64,
    /// A batch this large goes out at once, without waiting for its window.
    pub max_size: usize,
}

impl Default for StoreActorConfig {
    fn default() -> Self {
        Self { window_ms: 2, max_size: 500 }
    }
}

/// How actors reach the store: the address of the node's StoreActor, whatever backend
/// it owns.
pub type StoreHandle = Addr<StoreActor>;

/// Owns the store; see the module docs.
pub struct StoreActor {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: SharedClock,
    pub(super) config: StoreActorConfig,
    pub(super) completions: Batch<Completion, Applied>,
    pub(super) failures: Batch<Failure, FailOutcome>,
    pub(super) health_logs: Batch<HealthLog, ()>,
    /// Told when settling released dependents, so they run without waiting for a poll.
    pub(super) ready: Option<Recipient<JobsReady>>,
}

fn announce(ready: &Option<Recipient<JobsReady>>, released: u64) {
    if released > 0
        && let Some(ready) = ready
    {
        ready.do_send(JobsReady);
    }
}

impl StoreActor {
    pub fn new(store: Arc<dyn Store>, clock: SharedClock, config: StoreActorConfig) -> Self {
        Self {
            store,
            clock,
            config,
            completions: Batch::default(),
            failures: Batch::default(),
            health_logs: Batch::default(),
            ready: None,
        }
    }

    pub(super) fn window(&self) -> Duration {
        Duration::from_millis(self.config.window_ms)
    }

    /// Sends every buffered item now; the returned future ends when they are written.
    pub(super) fn flush_all(&mut self) -> BoxFuture<'static, ()> {
        let now = self.clock.now();
        let flushes = [
            {
                let (items, waiters) = self.completions.take();
                let (store, ready) = (self.store.clone(), self.ready.clone());
                Box::pin(async move {
                    if !items.is_empty() {
                        let completed = store.complete(items, now).await;
                        announce(&ready, completed.as_ref().map_or(0, |c| c.released));
                        waiters.answer(completed.map(|c| c.applied));
                    }
                }) as BoxFuture<'static, ()>
            },
            {
                let (items, waiters) = self.failures.take();
                let (store, ready) = (self.store.clone(), self.ready.clone());
                Box::pin(async move {
                    if !items.is_empty() {
                        let failed = store.fail(items, now).await;
                        announce(&ready, failed.as_ref().map_or(0, |f| f.released));
                        waiters.answer(failed.map(|f| f.outcomes));
                    }
                })
            },
            {
                let (items, waiters) = self.health_logs.take();
                let store = self.store.clone();
                Box::pin(async move {
                    if !items.is_empty() {
                        let n = items.len();
                        waiters.answer(store.write_health_logs(items).await.map(|()| vec![(); n]));
                    }
                })
            },
        ];
        Box::pin(async move {
            join_all(flushes).await;
        })
    }
}

impl Actor for StoreActor {
    type Context = Context<Self>;

    /// Nothing buffered is dropped: a stopping StoreActor writes what it holds.
    fn stopping(&mut self, _ctx: &mut Self::Context) -> Running {
        actix::spawn(self.flush_all());
        Running::Stop
    }
}
