//! # Testing your handlers
//!
//! The kit the crate's own tests use, for the people who write handlers: test a
//! handler alone, or with a node's real actors on a real store, with time that moves
//! only when the test says, and faults on demand.
//!
//! - [`perform_job`] / [`Perform`]: run one handler with a payload and, optionally,
//!   an attempt number, its dependencies' outcomes and an earlier checkpoint; get its
//!   [`Outcome`](crate::handler::Outcome). No store, no actor. A payload that does not
//!   fit the handler's type gives the error a node would record.
//! - [`TestNode`]: the Supervisor, Workers, a Job actor per run, the HealthMonitor
//!   and the StoreActor, on a fresh SQLite file (removed on drop) or a fresh Postgres
//!   schema ([`TestDatabase`]), with a [`ManualClock`](crate::clock::ManualClock) and
//!   the probe. Timers are off:
//!   - [`TestNode::submit`], then [`TestNode::drain`]: every ready job runs, with the
//!     retries and dependents that become ready meanwhile, until nothing is ready;
//!   - [`TestNode::advance`]: time moves, doing what the node's timers would (retries,
//!     snoozed and scheduled jobs come due, timeouts fire, hung workers are declared
//!     dead) without sleeping;
//!   - [`TestNode::pause`]: the node is stopped a while (SIGSTOP) and wakes, its
//!     HealthMonitor sweeping before its workers' heartbeats are heard;
//!   - [`TestNode::expect_event`]: await what an actor reports, with a timeout.
//! - Assertions whose failure shows what was there: [`TestNode::assert_enqueued`],
//!   [`TestNode::refute_enqueued`], [`TestNode::enqueued`],
//!   [`TestNode::assert_status`], [`TestNode::assert_attempts`],
//!   [`TestNode::executions`].
//! - Faults: [`TestNode::crash_worker_running`] (panic, hang),
//!   [`TestNode::kill_job`] (the Job actor dies mid-run), and [`FaultyStore`]: any
//!   store behind a wrapper that fails a chosen operation once, `n` times or always,
//!   for every call or for one job's. Recovery is the node's own, so the job is
//!   retried exactly as a node would retry it. A [`Gate`] holds a handler's runs
//!   until the test lets them through, so it can act while a job is mid-run.
//!
//! ```
//! use aeon::handler::{JobContext, Outcome, Registry};
//! use aeon::job::JobStatus;
//! use aeon::testing::TestNode;
//! use serde_json::json;
//! use std::time::Duration;
//!
//! # actix_rt::System::new().block_on(async {
//! let mut registry = Registry::new();
//! // Fails its first attempt, succeeds on the retry.
//! registry.register_fn("flaky", |ctx: JobContext, _: serde_json::Value| async move {
//!     if ctx.attempt == 1 { Outcome::Fail("not yet".into()) } else { Outcome::Complete(json!("done")) }
//! })?;
//! let mut node = TestNode::start(registry).await;
//! let job_id = node.submit("flaky", json!({})).await;
//!
//! node.drain().await;
//! node.assert_status(job_id, JobStatus::Pending).await; // its retry waits out the backoff
//! node.advance(Duration::from_secs(1)).await;           // 1 s: the kit's exact backoff
//! node.drain().await;
//! node.assert_status(job_id, JobStatus::Completed).await;
//! node.assert_attempts(job_id, 2).await;
//! node.shutdown().await; // stops the actors and closes the store: every test ends so
//! # Ok::<(), aeon::job::ValidationError>(())
//! # }).unwrap();
//! ```
//!
//! ## Fixtures
//!
//! Everything here is plain async code, so fixtures are small. With `rstest`:
//!
//! ```text
//! #[rstest::fixture]
//! fn registry() -> Registry { my_app::handlers() }
//!
//! #[rstest::rstest]
//! #[actix_rt::test]
//! async fn sends_the_welcome_mail(registry: Registry) {
//!     let mut node = TestNode::start(registry).await;
//!     // …
//!     node.shutdown().await;
//! }
//! ```
//!
//! An async fixture (`#[fixture] async fn node() -> TestNode`, used as
//! `#[future] node: TestNode` and `node.await`) works too. `tests/handler_testing.rs`
//! is an example test file to copy. The node's actors are actix actors: run tests
//! with `#[actix_rt::test]` (or inside an `actix_rt::System`), and end each with
//! [`TestNode::shutdown`], which stops the actors and closes the store, so the test's
//! System ends with no database connection in use. A test that fails before its
//! shutdown (or forgets it) still cannot abort the others: the node's [`Teardown`]
//! guard sees to that, and a forgotten shutdown fails the test saying so.

mod assertions;
mod db;
mod drive;
mod events;
mod faults;
mod faulty_store;
mod gate;
mod matcher;
mod node;
mod perform;
mod teardown;

pub use db::TestDatabase;
pub use drive::Drained;
pub use events::expect_event;
pub use faulty_store::{Fault, FaultyStore, Op, Times};
pub use gate::Gate;
pub use matcher::{AnyPayload, Exactly, PayloadMatcher, Where};
pub use node::{EXACT_BACKOFF, PATIENCE, TestNode, TestNodeBuilder};
pub use perform::{Perform, Performed, perform_job};
pub use teardown::Teardown;
