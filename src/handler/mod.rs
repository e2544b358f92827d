//! Job handlers: the code a job type runs, registered by type name.
//!
//! A handler is a [`JobHandler`] (a trait with a typed payload) or a plain async
//! function given to [`Registry::register_fn`]. It returns an [`Outcome`]. The payload
//! is decoded before the handler runs: a payload that does not fit its type fails the
//! job permanently with a message naming the problem, and never reaches the handler.
//!
//! ```
//! use aeon::handler::{JobContext, Outcome, Registry};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Greet { name: String }
//!
//! let mut registry = Registry::new();
//! registry
//!     .register_fn("greet", |_ctx: JobContext, p: Greet| async move {
//!         Outcome::Complete(serde_json::json!({ "greeting": format!("hello, {}", p.name) }))
//!     })
//!     .unwrap();
//! assert!(registry.get("greet").is_some());
//! ```

pub mod builtin;
mod checkpoint;

pub use checkpoint::{CheckpointError, CheckpointStore, RunLink};

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use crate::job::{ValidationError, validate_job_type};

/// What a handler asks the runtime to do with its job.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Done; the value is stored as the job's result.
    Complete(Value),
    /// Failed; retried with backoff while retries remain.
    Fail(String),
    /// Failed for good: dead-lettered at once, whatever the retries left.
    FailPermanently(String),
    /// Not now: back to the queue, to run again after the delay. The attempt does
    /// not count against `max_retries`.
    Snooze(Duration),
}

/// What a handler knows about the run it is part of.
#[derive(Debug, Clone, PartialEq)]
pub struct JobContext {
    pub job_id: Uuid,
    pub execution_id: Uuid,
    pub job_type: String,
    /// 1 for the first attempt.
    pub attempt: i32,
    pub max_retries: i32,
    pub worker_id: Uuid,
    /// How each job this one depends on ended, with its result (fan-in). Under the
    /// `continue` policy a dependency may be `DEAD_LETTER` or `CANCELLED`.
    pub dependencies: Vec<crate::store::DependencyOutcome>,
    /// Where [`JobContext::checkpoint`] saves, and what the run leaves for its
    /// execution context.
    pub link: RunLink,
}

/// A handler with a typed payload.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    type Payload: DeserializeOwned + Send + 'static;

    async fn run(&self, ctx: JobContext, payload: Self::Payload) -> Outcome;
}

/// A handler with its payload type erased, as the registry stores it.
pub type ErasedHandler = Arc<dyn Fn(JobContext, Value) -> BoxFuture<'static, Outcome> + Send + Sync>;

/// Where a handler's runs execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// On a thread of its own, away from the actors (the default): a handler that
    /// blocks without yielding costs its own slot and nothing else.
    #[default]
    OwnThread,
    /// On the node's async runtime, beside the actors: no hand-off to another thread
    /// and back for each run, which is most of what a short job costs the node. Only
    /// for handlers that never block (every wait an `.await`): one that blocks stalls
    /// the node's actors while it does. Timeouts, cancellation and contained panics
    /// work the same.
    Inline,
}

/// Handlers by job type.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, (ErasedHandler, Placement)>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("job_types", &self.job_types()).finish()
    }
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry holding the built-in handlers (see [`builtin`]).
    pub fn with_builtins() -> Self {
        let mut registry = Self::new();
        builtin::register_all(&mut registry);
        registry
    }

    /// Registers `handler` for `job_type`, replacing any earlier one.
    pub fn register<H: JobHandler>(&mut self, job_type: &str, handler: H) -> Result<&mut Self, ValidationError> {
        let handler = Arc::new(handler);
        self.insert(
            job_type,
            move |ctx, payload: H::Payload| {
                let handler = handler.clone();
                async move { handler.run(ctx, payload).await }
            },
            Placement::OwnThread,
        )
    }

    /// Registers an async function for `job_type`, replacing any earlier one.
    pub fn register_fn<P, F, Fut>(&mut self, job_type: &str, f: F) -> Result<&mut Self, ValidationError>
    where
        P: DeserializeOwned + Send + 'static,
        F: Fn(JobContext, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        self.insert(job_type, f, Placement::OwnThread)
    }

    /// Registers an async function that never blocks, to run [`Placement::Inline`]:
    /// on the node's runtime, without a thread hand-off per run. Use it for handlers
    /// whose every wait is an `.await` (async clients, timers); anything that may block
    /// the thread (blocking I/O, long computations, `std::thread::sleep`) belongs in
    /// [`Registry::register_fn`].
    pub fn register_inline_fn<P, F, Fut>(&mut self, job_type: &str, f: F) -> Result<&mut Self, ValidationError>
    where
        P: DeserializeOwned + Send + 'static,
        F: Fn(JobContext, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        self.insert(job_type, f, Placement::Inline)
    }

    fn insert<P, F, Fut>(&mut self, job_type: &str, f: F, placement: Placement) -> Result<&mut Self, ValidationError>
    where
        P: DeserializeOwned + Send + 'static,
        F: Fn(JobContext, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        validate_job_type(job_type)?;
        let erased: ErasedHandler = Arc::new(move |ctx, payload| match decode_payload::<P>(payload) {
            Ok(typed) => Box::pin(f(ctx, typed)),
            Err(reason) => {
                let message = format!("payload does not fit job type {:?}: {reason}", ctx.job_type);
                Box::pin(async move { Outcome::FailPermanently(message) })
            }
        });
        self.handlers.insert(job_type.to_string(), (erased, placement));
        Ok(self)
    }

    pub fn get(&self, job_type: &str) -> Option<ErasedHandler> {
        self.handlers.get(job_type).map(|(handler, _)| handler.clone())
    }

    /// Where runs of `job_type` execute ([`Placement::OwnThread`] for an unknown type).
    pub fn placement(&self, job_type: &str) -> Placement {
        self.handlers.get(job_type).map(|(_, placement)| *placement).unwrap_or_default()
    }

    /// The registered job types, sorted: a node claims only these.
    pub fn job_types(&self) -> Vec<String> {
        let mut types: Vec<String> = self.handlers.keys().cloned().collect();
        types.sort();
        types
    }
}

/// Decodes a payload into a handler's type; the reason names the field that does not
/// fit (`payload.ms: invalid type: ...`), as the node records it.
pub fn decode_payload<P: DeserializeOwned>(payload: Value) -> Result<P, String> {
    serde_path_to_error::deserialize(payload).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "payload".to_string() } else { format!("payload.{path}") };
        format!("{field}: {}", e.into_inner())
    })
}
