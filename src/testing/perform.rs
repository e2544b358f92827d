//! One handler run alone: no node, no store, no actor. [`perform_job`] for the plain
//! case; [`Perform`] to give the run an attempt number, its dependencies' outcomes or
//! the checkpoint an earlier attempt left.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use uuid::Uuid;

use crate::handler::{JobContext, Outcome, Registry, RunLink};
use crate::job::{JobRequest, SubmitLimits, unstorable};
use crate::store::{Checkpoint, DependencyOutcome};

/// Runs the handler `registry` has for `job_type` once, with `payload`, as a first
/// attempt, and answers its [`Outcome`].
///
/// The payload goes the way a node's does: validated as a submission (a payload a node
/// would refuse at submit panics here, with the node's error), then decoded into the
/// handler's type. A payload that does not decode is the node's
/// `FailPermanently("payload does not fit job type …")`, and the handler never runs.
///
/// ```
/// use aeon::handler::{JobContext, Outcome, Registry};
/// use aeon::testing::perform_job;
/// use serde_json::json;
///
/// # actix_rt::System::new().block_on(async {
/// let mut registry = Registry::new();
/// registry.register_fn("double", |_: JobContext, n: i64| async move { Outcome::Complete(json!(n * 2)) })?;
///
/// assert_eq!(perform_job(&registry, "double", json!(21)).await, Outcome::Complete(json!(42)));
/// let refused = perform_job(&registry, "double", json!("21")).await;
/// assert!(matches!(&refused, Outcome::FailPermanently(why) if why.contains("does not fit job type \"double\"")));
/// # Ok::<(), aeon::job::ValidationError>(())
/// # }).unwrap();
/// ```
pub async fn perform_job(registry: &Registry, job_type: &str, payload: Value) -> Outcome {
    Perform::new(registry, job_type, payload).run().await.outcome
}

/// One run of a handler, set up as a node would set it up; [`Perform::run`] runs it.
///
/// ```
/// use aeon::handler::{JobContext, Outcome, Registry};
/// use aeon::testing::Perform;
/// use serde_json::json;
///
/// # actix_rt::System::new().block_on(async {
/// let mut registry = Registry::new();
/// // Counts to the payload, saving progress; a retry resumes where the last attempt stopped.
/// registry.register_fn("count", |ctx: JobContext, to: u32| async move {
///     let from = ctx.resume_from::<u32>().await.unwrap().unwrap_or(0);
///     for i in from..to {
///         ctx.checkpoint(i + 1).await.unwrap();
///     }
///     Outcome::Complete(json!({ "from": from, "attempt": ctx.attempt }))
/// })?;
///
/// let retry = Perform::new(&registry, "count", json!(10)).attempt(2).checkpoint(json!(7)).run().await;
/// assert_eq!(retry.outcome, Outcome::Complete(json!({ "from": 7, "attempt": 2 })));
/// assert_eq!(retry.checkpoint, Some(json!(10)), "the run's last save");
/// # Ok::<(), aeon::job::ValidationError>(())
/// # }).unwrap();
/// ```
pub struct Perform {
    handler: crate::handler::ErasedHandler,
    job_type: String,
    payload: Value,
    attempt: i32,
    max_retries: i32,
    dependencies: Vec<DependencyOutcome>,
    checkpoint: Option<Value>,
}

/// What one [`Perform::run`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Performed {
    /// What the handler answered, as the node would record it.
    pub outcome: Outcome,
    /// The job's latest checkpoint after the run: this run's last save, else the one
    /// it started with.
    pub checkpoint: Option<Value>,
    /// The context the handler was given.
    pub context: JobContext,
}

impl Perform {
    /// A first attempt of `job_type` with `payload`. Panics, listing the registered
    /// types, when `registry` has no handler for it.
    pub fn new(registry: &Registry, job_type: &str, payload: Value) -> Self {
        let Some(handler) = registry.get(job_type) else {
            panic!("no handler registered for job type {job_type:?}; registered: {:?}", registry.job_types());
        };
        let max_retries = SubmitLimits::default().default_max_retries;
        Self {
            handler,
            job_type: job_type.to_string(),
            payload,
            attempt: 1,
            max_retries,
            dependencies: Vec::new(),
            checkpoint: None,
        }
    }

    /// The attempt this run is (1 for the first; a retry after `n` failures is `n + 1`).
    pub fn attempt(mut self, attempt: i32) -> Self {
        self.attempt = attempt;
        self
    }

    /// The job's `max_retries` as the handler sees it.
    pub fn max_retries(mut self, max_retries: i32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Adds a dependency's outcome, as a fan-in job receives it.
    pub fn dependency(mut self, outcome: DependencyOutcome) -> Self {
        self.dependencies.push(outcome);
        self
    }

    /// Adds a dependency that completed with `result`.
    pub fn completed_dependency(self, result: Value) -> Self {
        let job_id = Uuid::now_v7();
        self.dependency(DependencyOutcome { job_id, status: "COMPLETED".into(), result: Some(result) })
    }

    /// The checkpoint an earlier attempt saved: what `ctx.last_checkpoint()` and
    /// `ctx.resume_from()` read.
    pub fn checkpoint(mut self, data: Value) -> Self {
        self.checkpoint = Some(data);
        self
    }

    /// Runs the handler to its end. A panic in the handler (which a node contains and
    /// records as a `CRASHED` attempt) fails the calling test with the handler's panic.
    pub async fn run(self) -> Performed {
        let request = JobRequest::new(self.job_type.clone(), self.payload.clone());
        let job = match request.validate(&SubmitLimits::default()) {
            Ok(job) => job,
            Err(e) => panic!("a node would refuse this payload at submit: {e}"),
        };
        let execution_id = Uuid::new_v4();
        let earlier = self.checkpoint.map(|data| Checkpoint {
            job_id: job.job_id,
            execution_id: Uuid::new_v4(),
            attempt: self.attempt - 1,
            data,
            saved_at: chrono::Utc::now(),
        });
        let memory = Arc::new(Mutex::new(earlier));
        let context = JobContext {
            job_id: job.job_id,
            execution_id,
            job_type: self.job_type,
            attempt: self.attempt,
            max_retries: self.max_retries,
            worker_id: Uuid::nil(),
            dependencies: self.dependencies,
            link: RunLink::in_memory(memory.clone()),
        };
        let outcome = (self.handler)(context.clone(), job.payload).await;
        // As the Job actor records it: a result the store cannot keep fails for good.
        let outcome = match outcome {
            Outcome::Complete(result) if let Some(why) = unstorable(&result) => {
                Outcome::FailPermanently(crate::actors::job::unstorable_result(&why))
            }
            other => other,
        };
        let checkpoint = memory.lock().expect("checkpoint memory").as_ref().map(|c| c.data.clone());
        Performed { outcome, checkpoint, context }
    }
}
