//! The Pruner: keeps the tables bounded on a node that runs for months.
//!
//! Every `retention.every_s` a timer sends it [`Prune`] (tests send the same message,
//! on the manual clock). A tick deletes, in passes of at most `retention.batch` rows of
//! each kind, finished jobs older than `retention.finished_after_s` (their executions
//! go with them), dead-lettered jobs older than `retention.dead_letter_after_s`, and
//! health logs older than `retention.health_logs_after_s`, and the embedded vector
//! store's execution contexts older than `retention.contexts_after_s` — until a pass comes back
//! short or `MAX_PASSES` ran, so one tick never holds the writer for long. A kind
//! whose age is 0 is kept forever. On a shared Postgres only one node prunes at a
//! time (the store's lock); the others' passes come back `skipped`. What is deleted is
//! counted in `aeon_pruned_rows_total{kind}`.

use std::time::Duration;

use actix::prelude::*;

use super::probe::{Event, Probe};
use super::store::{self, StoreHandle};
use crate::clock::SharedClock;
pub use crate::config::RetentionConfig;
use crate::store::{PrunePolicy, Pruned};

/// Passes one tick runs at most: a backlog is worked off over several ticks.
const MAX_PASSES: u32 = 20;

/// Run one retention tick now. Answers what it deleted.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Pruned")]
pub struct Prune;

pub struct Pruner {
    config: RetentionConfig,
    store: StoreHandle,
    clock: SharedClock,
    probe: Probe,
    /// Whether ticks come from a timer (off in tests, which send [`Prune`]).
    timers: bool,
    /// A tick is running: a timer's tick meanwhile is skipped, not queued.
    busy: bool,
}

impl Pruner {
    pub fn new(config: RetentionConfig, store: StoreHandle, clock: SharedClock, probe: Probe, timers: bool) -> Self {
        Self { config, store, clock, probe, timers, busy: false }
    }

    /// The cutoffs as of now; `None` for a kind kept forever.
    fn policy(&self) -> PrunePolicy {
        let now = self.clock.now();
        let before = |age_s: u64| {
            (age_s > 0).then(|| now - chrono::Duration::seconds(i64::try_from(age_s).unwrap_or(i64::MAX / 1000)))
        };
        PrunePolicy {
            finished_before: before(self.config.finished_after_s),
            dead_letters_before: before(self.config.dead_letter_after_s),
            health_logs_before: before(self.config.health_logs_after_s),
            contexts_before: before(self.config.contexts_after_s),
            batch: self.config.batch.max(1),
        }
    }
}

impl Actor for Pruner {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let every = self.config.every_s;
        if self.timers && every > 0 {
            ctx.run_interval(Duration::from_secs(every), |act, ctx| {
                if !act.busy {
                    ctx.notify(Prune);
                }
            });
        }
    }
}

impl Handler<Prune> for Pruner {
    type Result = ResponseActFuture<Self, Pruned>;

    fn handle(&mut self, _: Prune, _: &mut Self::Context) -> Self::Result {
        self.busy = true;
        let (policy, store) = (self.policy(), self.store.clone());
        let tick = async move {
            let mut total = Pruned::default();
            for _ in 0..MAX_PASSES {
                let pass = match store.send(store::Prune(policy)).await {
                    Ok(Ok(pass)) => pass,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "retention pass failed; the next tick tries again");
                        break;
                    }
                    Err(_) => break, // the store actor is gone: the node is stopping
                };
                total.finished += pass.finished;
                total.dead_letters += pass.dead_letters;
                total.health_logs += pass.health_logs;
                total.contexts += pass.contexts;
                total.skipped |= pass.skipped;
                if pass.skipped || !pass.full(policy.batch) {
                    break;
                }
            }
            total
        };
        Box::pin(tick.into_actor(self).map(|total, act, _| {
            act.busy = false;
            crate::metrics::METRICS.rows_pruned(&total);
            if total.finished + total.dead_letters + total.health_logs + total.contexts > 0 {
                tracing::debug!(?total, "retention: old rows deleted");
            }
            act.probe.emit(Event::Pruned { pruned: total });
            total
        }))
    }
}
