//! The Job actor: one per claimed execution. It runs the handler with panics
//! contained, enforces `timeout_ms`, records the attempt through the StoreActor
//! (complete, fail, release) and owns cancellation of the running job. A store write
//! that fails is retried until it is answered: a result is never dropped.

mod messages;
mod runner;

pub use messages::{CancelRun, CheckTimeout, HandlerEnded, JobFinished, JobReports, Kill, ReleaseRun};

use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use runner::Ran;

use super::context::{ContextSink, RecordContext};
use super::probe::{Event, Probe, RunResult};
use super::store::{self, StoreHandle};
use crate::clock::{SharedClock, after};
use crate::handler::{ErasedHandler, JobContext, Outcome, Placement, RunLink};
use crate::job::{ExecutionStatus, unstorable};
use crate::store::{Applied, ClaimedJob, Completion, FailOutcome, Failure, ReleaseParams, StoreError, StoreResult};

/// Delay between attempts to write a settlement the store refused (database down).
const WRITE_RETRY: Duration = Duration::from_millis(500);

/// Everything a Job actor needs, handed over by its Worker.
pub struct JobActor {
    pub claim: ClaimedJob,
    pub worker_id: Uuid,
    pub handler: ErasedHandler,
    pub store: StoreHandle,
    pub clock: SharedClock,
    pub worker: JobReports,
    /// Cancelled when the worker incarnation that started this job dies.
    pub incarnation: CancellationToken,
    /// Extra delay before the handler starts (a worker in `slow` crash mode).
    pub delay: Duration,
    pub probe: Probe,
    /// Where this attempt's execution context goes when it is recorded; `None`: nowhere.
    contexts: Option<ContextSink>,
    /// Where the handler runs: its own thread, or this runtime.
    placement: Placement,
    state: State,
}

#[derive(Default)]
struct State {
    started_at: Option<DateTime<Utc>>,
    /// When the handler stopped running (by the injected clock).
    ended_at: Option<DateTime<Utc>>,
    deadline: Option<DateTime<Utc>>,
    run: Option<SpawnHandle>,
    /// Stops the handler's run on its thread (at its next `.await`).
    cancel: CancellationToken,
    /// Set once the run's fate is decided; later signals are ignored.
    settling: bool,
    /// The handler's checkpoints and vector for this run.
    link: Option<RunLink>,
}

/// However the actor goes (a stop, or a panic that unwinds it), its handler's run is
/// told to stop.
impl Drop for State {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The error recorded when a handler's result cannot be stored (see [`unstorable`]).
pub(crate) fn unstorable_result(why: &str) -> String {
    format!("the result cannot be stored: it {why}")
}

/// The write that records how a run ended.
#[derive(Debug, Clone)]
enum Settlement {
    Complete(Completion),
    Fail(Failure, RunResult),
    Release { run_at: Option<DateTime<Utc>>, reason: String, result: RunResult },
}

impl JobActor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        claim: ClaimedJob,
        worker_id: Uuid,
        handler: ErasedHandler,
        store: StoreHandle,
        clock: SharedClock,
        worker: JobReports,
        incarnation: CancellationToken,
        delay: Duration,
        probe: Probe,
    ) -> Self {
        Self {
            claim,
            worker_id,
            handler,
            store,
            clock,
            worker,
            incarnation,
            delay,
            probe,
            contexts: None,
            placement: Placement::OwnThread,
            state: State::default(),
        }
    }

    /// Runs the handler where `placement` says (its own thread unless told otherwise).
    pub fn with_placement(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }

    /// Hands this attempt's execution context to `contexts` once it is recorded.
    pub fn with_contexts(mut self, contexts: Option<ContextSink>) -> Self {
        self.contexts = contexts;
        self
    }

    /// Sends this attempt's context to the ContextActor (fire and forget: the vector
    /// store never delays a run). The vector is the handler's own, or the
    /// feature-hashed embedding of its type, outcome and error.
    fn record_context(&mut self, outcome: ExecutionStatus, error: Option<String>) {
        let Some(sink) = &self.contexts else { return };
        let notes = self.state.link.as_ref().map(RunLink::take_notes).unwrap_or_default();
        let now = self.clock.now();
        let ended = self.state.ended_at.unwrap_or(now);
        let duration_ms = self.state.started_at.map(|s| (ended - s).num_milliseconds().max(0) as u64).unwrap_or(0);
        let outcome = outcome.as_str();
        let vector =
            notes.vector.unwrap_or_else(|| crate::vector::embed(&self.claim.job_type, outcome, error.as_deref()));
        let context = crate::vector::ExecutionContext {
            execution_id: self.claim.execution_id,
            job_id: self.claim.job_id,
            job_type: self.claim.job_type.clone(),
            attempt: self.claim.attempt,
            outcome: outcome.to_string(),
            error,
            duration_ms,
            worker_id: self.worker_id,
            node_id: sink.node_id.to_string(),
            checkpoint: notes.checkpoint,
            recorded_at: now,
        };
        sink.to.do_send(RecordContext(crate::vector::ContextPoint { context, vector }));
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.claim.timeout_ms.max(1) as u64)
    }

    /// Decides the run's fate once; abandons the handler if it is still running. The
    /// slot is free from here: the Worker may start another job while this one's
    /// result waits for its (batched) write.
    fn settle(&mut self, settlement: Settlement, ctx: &mut Context<Self>) {
        if self.state.settling {
            return;
        }
        self.state.settling = true;
        self.state.cancel.cancel();
        if let Some(run) = self.state.run.take() {
            ctx.cancel_future(run);
        }
        self.handler_ended();
        self.write(settlement, ctx);
    }

    fn handler_ended(&mut self) {
        self.state.ended_at = Some(self.clock.now());
        self.worker.ended.do_send(HandlerEnded { execution_id: self.claim.execution_id });
    }

    fn failure(&self, status: ExecutionStatus, error: String, permanent: bool) -> Failure {
        // The database refuses NUL in text: one such message would fail its whole batch.
        let error = if error.contains('\0') { error.replace('\0', "\\0") } else { error };
        Failure { claim: self.claim.claim_ref(), status, error, permanent }
    }

    fn outcome_settlement(&self, outcome: Outcome) -> Settlement {
        match outcome {
            Outcome::Complete(result) if let Some(why) = unstorable(&result) => {
                let error = unstorable_result(&why);
                Settlement::Fail(
                    self.failure(ExecutionStatus::Failed, error, true),
                    RunResult::Failed { permanent: true },
                )
            }
            Outcome::Complete(result) => Settlement::Complete(Completion { claim: self.claim.claim_ref(), result }),
            Outcome::Fail(error) => Settlement::Fail(
                self.failure(ExecutionStatus::Failed, error, false),
                RunResult::Failed { permanent: false },
            ),
            Outcome::FailPermanently(error) => Settlement::Fail(
                self.failure(ExecutionStatus::Failed, error, true),
                RunResult::Failed { permanent: true },
            ),
            Outcome::Snooze(delay) => Settlement::Release {
                run_at: Some(after(self.clock.now(), delay)),
                reason: format!("snoozed for {} ms", delay.as_millis()),
                result: RunResult::Snoozed,
            },
        }
    }

    /// Sends the settlement to the store, again and again if the store errs, then
    /// tells the worker and stops.
    fn write(&mut self, settlement: Settlement, ctx: &mut Context<Self>) {
        let store = self.store.clone();
        let request = settlement.clone();
        let claim = self.claim.claim_ref();
        // Answers whether the store took it: `false` when the claim was lost meanwhile.
        let sent: BoxFuture<'static, StoreResult<bool>> = Box::pin(async move {
            let delivered = |e: MailboxError| StoreError::Database(e.to_string().into());
            match request {
                Settlement::Complete(c) => {
                    store.send(store::Complete(c)).await.map_err(delivered)?.map(|a| a != Applied::Stale)
                }
                Settlement::Fail(f, _) => {
                    store.send(store::Fail(f)).await.map_err(delivered)?.map(|o| o != FailOutcome::Stale)
                }
                Settlement::Release { run_at, reason, .. } => store
                    .send(store::Release(ReleaseParams { claims: vec![claim], run_at, reason }))
                    .await
                    .map_err(delivered)?
                    .map(|applied| !applied.contains(&Applied::Stale)),
            }
        });
        ctx.spawn(sent.into_actor(self).map(move |written, act, ctx| match written {
            Ok(true) => {
                let (outcome, error) = settlement_outcome(&settlement);
                act.record_context(outcome, error);
                act.finish(settlement_result(&settlement), ctx)
            }
            Ok(false) => {
                // Whoever took the claim recorded the attempt (CRASHED, CANCELLED): this
                // run's outcome is recorded nowhere, its context included.
                tracing::info!(job_id = %act.claim.job_id, execution_id = %act.claim.execution_id,
                    "the store refused this run's result: its claim was lost meanwhile (fenced)");
                act.finish(RunResult::Fenced, ctx)
            }
            Err(e) => {
                tracing::warn!(job_id = %act.claim.job_id, error = %e, "recording the run failed; retrying");
                // Jittered, so the runs of a failed batch do not all retry together.
                let delay = WRITE_RETRY.mul_f64(0.5 + rand::random::<f64>());
                let wait = act.clock.sleep(delay);
                ctx.spawn(wait.into_actor(act).map(move |(), act, ctx| act.write(settlement, ctx)));
            }
        }));
    }

    fn finish(&mut self, result: RunResult, ctx: &mut Context<Self>) {
        let ended = self.state.ended_at.unwrap_or_else(|| self.clock.now());
        let latency_ms = self.state.started_at.map(|s| (ended - s).num_milliseconds().max(0) as u64).unwrap_or(0);
        crate::metrics::METRICS.run_settled(&result);
        crate::metrics::METRICS.history.record(&result, ended);
        crate::metrics::METRICS.run_latency.observe(Duration::from_millis(latency_ms));
        self.probe.emit(Event::JobSettled { job_id: self.claim.job_id });
        self.worker.finished.do_send(JobFinished {
            job_id: self.claim.job_id,
            execution_id: self.claim.execution_id,
            result,
            latency_ms,
        });
        ctx.stop();
    }
}

/// How the attempt's execution row records a settlement: its status and error.
fn settlement_outcome(settlement: &Settlement) -> (ExecutionStatus, Option<String>) {
    match settlement {
        Settlement::Complete(_) => (ExecutionStatus::Succeeded, None),
        Settlement::Fail(failure, _) => (failure.status, Some(failure.error.clone())),
        Settlement::Release { reason, .. } => (ExecutionStatus::Cancelled, Some(reason.clone())),
    }
}

fn settlement_result(settlement: &Settlement) -> RunResult {
    match settlement {
        Settlement::Complete(_) => RunResult::Succeeded,
        Settlement::Fail(_, result) | Settlement::Release { result, .. } => result.clone(),
    }
}

impl Actor for JobActor {
    type Context = Context<Self>;

    /// However the actor ends, the handler's run is told to stop.
    fn stopped(&mut self, _: &mut Self::Context) {
        self.state.cancel.cancel();
    }

    fn started(&mut self, ctx: &mut Self::Context) {
        let now = self.clock.now();
        self.state.started_at = Some(now);
        self.state.deadline = Some(after(now, self.timeout()));

        let handler = self.handler.clone();
        let link = RunLink::new(std::sync::Arc::new(self.store.clone()));
        self.state.link = Some(link.clone());
        let job = JobContext {
            job_id: self.claim.job_id,
            execution_id: self.claim.execution_id,
            job_type: self.claim.job_type.clone(),
            attempt: self.claim.attempt,
            max_retries: self.claim.max_retries,
            worker_id: self.worker_id,
            dependencies: self.claim.dependencies.clone(),
            link,
        };
        let payload = self.claim.payload.clone();
        let delay = self.delay;
        // The handler runs on a thread of its own, or inline if it never blocks (see
        // `runner`), and is called inside the run, so a panic while it builds its
        // future is contained too.
        let body = async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            handler(job, payload).await
        };
        let cancel = self.state.cancel.clone();
        let run: BoxFuture<'static, Ran<Outcome>> = match self.placement {
            Placement::OwnThread => Box::pin(runner::run_isolated(body, cancel)),
            Placement::Inline => Box::pin(runner::run_inline(body, cancel)),
        };
        let run = ctx.spawn(run.into_actor(self).map(|ran, act, ctx| {
            act.state.run = None;
            let settlement = match ran {
                Ran::Returned(outcome) => act.outcome_settlement(outcome),
                Ran::Panicked(panic) => {
                    let message = panic_message(panic.as_ref());
                    let failure = act.failure(ExecutionStatus::Crashed, format!("handler panicked: {message}"), false);
                    Settlement::Fail(failure, RunResult::Panicked)
                }
                Ran::Cancelled => return, // settled by whoever cancelled it
            };
            act.settle(settlement, ctx);
        }));
        self.state.run = Some(run);

        // Production deadline; tests move the injected clock and send CheckTimeout.
        ctx.run_later(self.timeout(), |_, ctx| ctx.notify(CheckTimeout));

        let died = self.incarnation.clone().cancelled_owned();
        ctx.spawn(died.into_actor(self).map(|(), act, ctx| {
            // The Supervisor voids a dead worker's claims itself: nothing to write.
            if !act.state.settling {
                act.state.settling = true;
                act.state.ended_at = Some(act.clock.now());
                act.record_context(ExecutionStatus::Crashed, Some("the worker running it died".into()));
                act.probe.emit(Event::JobFinished {
                    job_id: act.claim.job_id,
                    worker_id: act.worker_id,
                    result: RunResult::Abandoned,
                });
                ctx.stop();
            }
        }));
    }
}

/// The text of a panic payload.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

impl Handler<CheckTimeout> for JobActor {
    type Result = ();

    fn handle(&mut self, _: CheckTimeout, ctx: &mut Self::Context) {
        let now = self.clock.now();
        match self.state.deadline {
            Some(deadline) if now >= deadline && !self.state.settling => {
                let error = format!("timed out after {} ms", self.claim.timeout_ms);
                let failure = self.failure(ExecutionStatus::TimedOut, error, false);
                self.settle(Settlement::Fail(failure, RunResult::TimedOut), ctx);
            }
            Some(deadline) if !self.state.settling => {
                // Woken early (the clock runs slower than the timer): look again later.
                let left = (deadline - now).to_std().unwrap_or_default();
                ctx.run_later(left.max(Duration::from_millis(1)), |_, ctx| ctx.notify(CheckTimeout));
            }
            _ => {}
        }
    }
}

impl Handler<Kill> for JobActor {
    type Result = ();

    fn handle(&mut self, _: Kill, _: &mut Self::Context) {
        panic!("the Job actor of job {} was killed on purpose", self.claim.job_id);
    }
}

impl Handler<ReleaseRun> for JobActor {
    type Result = ();

    fn handle(&mut self, msg: ReleaseRun, ctx: &mut Self::Context) {
        let settlement = Settlement::Release { run_at: None, reason: msg.reason, result: RunResult::Released };
        self.settle(settlement, ctx);
    }
}

impl Handler<CancelRun> for JobActor {
    type Result = ResponseActFuture<Self, StoreResult<crate::job::Job>>;

    fn handle(&mut self, _: CancelRun, ctx: &mut Self::Context) -> Self::Result {
        self.state.settling = true;
        self.state.cancel.cancel();
        if let Some(run) = self.state.run.take() {
            ctx.cancel_future(run);
        }
        let store = self.store.clone();
        let job_id = self.claim.job_id;
        Box::pin(
            async move { store.send(store::Cancel(job_id)).await.unwrap_or(Err(StoreError::Unavailable)) }
                .into_actor(self)
                .map(|cancelled, act, ctx| {
                    act.record_context(ExecutionStatus::Cancelled, Some("cancelled".into()));
                    act.finish(RunResult::Cancelled, ctx);
                    cancelled
                }),
        )
    }
}
