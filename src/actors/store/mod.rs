//! The StoreActor: the actors' one way to the database, and every write's. The API's,
//! the dashboard's and snapshots' reads go beside it, through the read-only, watched
//! [`StoreReads`]; the node's start (taking its node id, choosing a snapshot) and its
//! gauges call the store directly (see [`crate::store`]).
//!
//! Other actors send it typed messages ([`messages`]) through a [`StoreHandle`]; the
//! actor owns an `Arc<dyn Store>`, so any backend (Postgres, SQLite, a test's
//! fault-injecting wrapper) can stand behind the same handle. Completions, failures and health logs are
//! batched: those arriving within `batch.window_ms` (or until `batch.max_size` have gathered)
//! go out as one statement, and each sender gets its own item's answer. Single submits
//! share commits without a window: those arriving while one is written go together in
//! the next write ([`group`]). Every other request runs at once, concurrently with the
//! rest, bounded by the connection pool.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures::future::{BoxFuture, join_all};

mod batch;
mod checkpoints;
mod group;
mod messages;
mod reads;
mod vectors;
mod watch;

pub use crate::config::StoreActorConfig;
pub use messages::*;
pub use reads::StoreReads;
pub use vectors::EmbeddedVectorStore;
pub use watch::{CallGuard, StoreWatch};

use crate::clock::SharedClock;
use crate::store::{Applied, Completion, FailOutcome, Failure, HealthLog, Store, StoreError, StoreResult};
use batch::Batch;

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
    /// Single submits, written in groups: see [`group`].
    pub(super) submits: group::GroupCommit,
    /// Told when settling released dependents, so they run without waiting for a poll.
    pub(super) ready: Option<Recipient<JobsReady>>,
    /// Told when a failed attempt will be retried, so that a timer wakes the node then.
    pub(super) due: Option<Recipient<DueAt>>,
    /// Every call's start, end and outcome, for readiness.
    pub(super) watch: StoreWatch,
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
        let watch = StoreWatch::new(clock.clone());
        let submits = group::GroupCommit::new(store.clone(), clock.clone(), watch.clone(), config.max_size);
        Self {
            store,
            config,
            completions: Batch::default(),
            failures: Batch::default(),
            health_logs: Batch::default(),
            submits,
            ready: None,
            due: None,
            watch,
            clock,
        }
    }

    /// The watch this actor records its calls in (take it before starting the actor).
    pub fn watch(&self) -> StoreWatch {
        self.watch.clone()
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
                let watch = self.watch.clone();
                Box::pin(async move {
                    let answers = batch_or_each(&watch, items, |items| {
                        let store = store.clone();
                        Box::pin(async move { store.complete(items, now).await.map(|c| (c.applied, c.released)) })
                    })
                    .await;
                    announce(&ready, answers.released);
                    waiters.answer_each(answers.each);
                }) as BoxFuture<'static, ()>
            },
            {
                let (items, waiters) = self.failures.take();
                let (store, ready, due) = (self.store.clone(), self.ready.clone(), self.due.clone());
                let watch = self.watch.clone();
                Box::pin(async move {
                    let answers = batch_or_each(&watch, items, |items| {
                        let store = store.clone();
                        Box::pin(async move { store.fail(items, now).await.map(|f| (f.outcomes, f.released)) })
                    })
                    .await;
                    announce(&ready, answers.released);
                    let retry_at = answers.each.iter().filter_map(|a| match a {
                        Ok(crate::store::FailOutcome::Retrying { at }) => Some(*at),
                        _ => None,
                    });
                    if let (Some(at), Some(due)) = (retry_at.min(), &due) {
                        due.do_send(DueAt(at));
                    }
                    waiters.answer_each(answers.each);
                })
            },
            {
                let (items, waiters) = self.health_logs.take();
                let (store, watch) = (self.store.clone(), self.watch.clone());
                Box::pin(async move {
                    if !items.is_empty() {
                        let n = items.len();
                        let call = watch.start();
                        let written = store.write_health_logs(items).await;
                        call.finish(&written);
                        waiters.answer(written.map(|()| vec![(); n]));
                    }
                })
            },
        ];
        Box::pin(async move {
            join_all(flushes).await;
        })
    }
}

/// The answers of a batched write, one per item, and the dependents it released.
struct Answers<R> {
    each: Vec<StoreResult<R>>,
    released: u64,
}

/// Writes `items` as one batch; if the batch fails and holds more than one item, writes
/// each item alone, so that one item the database refuses for good (a value it cannot
/// store, say) fails only itself and not every job that shared its batch.
async fn batch_or_each<T: Clone, R>(
    watch: &StoreWatch,
    items: Vec<T>,
    write: impl Fn(Vec<T>) -> BoxFuture<'static, StoreResult<(Vec<R>, u64)>>,
) -> Answers<R> {
    if items.is_empty() {
        return Answers { each: Vec::new(), released: 0 };
    }
    let n = items.len();
    let call = watch.start();
    let whole = write(items.clone()).await;
    call.finish(&whole);
    match whole {
        Ok((answers, released)) if answers.len() == n => {
            return Answers { each: answers.into_iter().map(Ok).collect(), released };
        }
        Ok((answers, _)) => {
            let error =
                || StoreError::Corrupt(format!("the store answered {} items for a batch of {n}", answers.len()));
            return Answers { each: (0..n).map(|_| Err(error())).collect(), released: 0 };
        }
        Err(e) if n == 1 => return Answers { each: vec![Err(e)], released: 0 },
        // A refused submit (an unknown dependency) is the submitter's mistake, not the store's.
        Err(e @ StoreError::Invalid(_)) => {
            tracing::debug!(error = %e, items = n, "a batched write was refused; writing its items one by one")
        }
        Err(e) => tracing::warn!(error = %e, items = n, "a batched write failed; writing its items one by one"),
    }
    let mut answers = Answers { each: Vec::with_capacity(n), released: 0 };
    for item in items {
        let call = watch.start();
        let alone = write(vec![item]).await;
        call.finish(&alone);
        answers.each.push(match alone {
            Ok((mut one, released)) if one.len() == 1 => {
                answers.released += released;
                Ok(one.remove(0))
            }
            Ok(_) => Err(StoreError::Corrupt("the store answered a batch of one wrongly".into())),
            Err(e) => Err(e),
        });
    }
    answers
}

impl Actor for StoreActor {
    type Context = Context<Self>;

    /// Nothing buffered is dropped: a stopping StoreActor writes what it holds.
    fn stopping(&mut self, _ctx: &mut Self::Context) -> Running {
        actix::spawn(self.flush_all());
        Running::Stop
    }
}
