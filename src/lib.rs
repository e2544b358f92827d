//! # Aeon
//!
//! A durable, actor-based job runtime. A node is a long-running process in which
//! supervised actix actors claim jobs from a durable store, run them, watch each
//! other's health and recover from crashes without losing a job.
//!
//! ## Layout
//!
//! One job's route through these modules, hop by hop: `docs/architecture.md`.
//!
//! - [`config`]: defaults, `config.toml`, `AEON__SECTION__KEY` overrides, validation.
//! - [`job`]: job and execution states, submissions and their validation.
//! - [`retry`]: exponential backoff with jitter.
//! - [`clock`]: the injected clock every timing decision reads; [`pause`]: when this
//!   process was paused (a wait that spans a pause is not blamed on what it waited for).
//! - [`handler`]: the handler API ([`handler::JobHandler`], [`handler::Registry`]) and
//!   the built-in handlers.
//! - [`actors`]: Supervisor, Worker, Job, HealthMonitor, the StoreActor, the
//!   ContextActor (execution contexts to the vector store) and the Pruner (retention),
//!   each beside its messages, and the [`actors::probe`] tests await.
//! - [`mailbox`]: the [`mailbox::Mailbox`] contract (typed, versioned envelopes between
//!   nodes) and its backends, Redis streams and in-process.
//! - [`cluster`]: a node's side of the cluster: wake-ups, due timers, requests to named
//!   actors of other nodes, membership and failover (`docs/cluster.md`).
//! - [`node`]: a node wired together: submit, read, cancel, drain.
//! - [`process`]: a node and its HTTP API run until shutdown (`aeon node`).
//! - [`api`]: the HTTP API (actix-web) and its OpenAPI document.
//! - [`ui`]: the dashboard at `/ui`, static files embedded in the binary that use
//!   only the HTTP API (`docs/dashboard.md`).
//! - [`cli`]: `aeon job|workers|dlq|stats|snapshot`, a client of that API.
//! - [`snapshot`]: state snapshots (FULL, INCREMENTAL, AUTO) of a node's actors:
//!   taking, verifying (checksum, schema version, chain) and restoring them
//!   (`docs/snapshots.md`).
//! - [`metrics`]: `GET /metrics` (the `prometheus-client` crate): process-wide counters
//!   and histograms, and the node's [`gauges`], cached off the request path.
//! - [`gauges`]: the gauges `/metrics` shows that need the store (queue depth,
//!   unhandled types, worker health), refreshed off the request path.
//! - [`bench`] (feature `bench`, on by default): `aeon bench`, the scenarios behind
//!   `BENCHMARKS.md`.
//! - [`experiment`] (feature `experiment`, on by default): `aeon experiment run`,
//!   crash-simulation experiments against real node processes, and their invariant
//!   reports (`docs/experiments.md`).
//! - [`store`]: the [`store::Store`] contract alone, split by concern (`Queue`,
//!   `Reads`, `Operator`, `Membership`, `Snapshots`, `Contexts`), and its backends, each
//!   in its own folder with one file per part: [`store::sqlite`] (the embedded default) and [`store::postgres`]
//!   (production, several nodes). The [`actors::store::StoreActor`] owns one, batches,
//!   and makes every write; the API's and snapshots' reads go beside it through the
//!   read-only, watched [`actors::store::StoreReads`] (`Node::reads`).
//!
//! - [`testing`] (feature `testing`): the testing kit for handler authors (and the
//!   crate's own tests): run one handler alone, a [`testing::TestNode`] of real actors with a manual clock,
//!   assertions, and faults on demand ([`testing::FaultyStore`]).
//! - [`vector`]: the [`vector::VectorStore`] contract for execution contexts, the
//!   Qdrant backend ([`vector::qdrant`]) and the feature-hashed [`vector::embedding`];
//!   the embedded backend is the StoreActor's ([`actors::store::EmbeddedVectorStore`]),
//!   and the [`actors::context::ContextActor`] owns one or the other.
//!
//! ## Layers
//!
//! Each module uses only modules of its own layer or of layers below it, and no import
//! cycle joins more than an actor and its own child (the Supervisor and its Workers).
//! `tests/aeon/layers.rs` reads this list and every `crate::` path of `src/`, and fails
//! on an import that runs upward or a longer cycle. Lowest first:
//!
//! 1. [`config`]: every config section, defaults and validation; uses nothing of Aeon.
//! 2. [`clock`], [`pause`], [`retry`], [`job`]: values and the timing they are judged by.
//! 3. [`vector`], [`mailbox`]: the vector store and mailbox contracts and their outside
//!    backends (Qdrant, Redis).
//! 4. [`store`]: the store contract and its SQL backends.
//! 5. [`metrics`], [`handler`]: process-wide counters; the handler author's API (which
//!    reaches the store through a port, [`handler::CheckpointStore`]).
//! 6. [`actors`]: the actors and their messages.
//! 7. [`cluster`], [`gauges`], [`snapshot`]: what runs beside the actors — the cluster
//!    link and membership, the cached gauges, snapshots of a node's actors.
//! 8. [`node`]: a node wired together, and its start recipes.
//! 9. [`ui`], [`testing`]: the dashboard's files; the testing kit.
//! 10. [`api`]: the HTTP API.
//! 11. [`process`]: `aeon node`, a node and its API until shutdown.
//! 12. [`bench`], [`experiment`], [`cli`]: the tools of the `aeon` binary.
//!
//! `migrations/sqlite/` and `migrations/postgres/` hold the two schemas (the same
//! tables, columns and CHECK values); `docs/` states the semantics (job state
//! machine, delivery guarantees).

pub mod actors;
pub mod api;
#[cfg(feature = "bench")]
pub mod bench;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
#[cfg(feature = "experiment")]
pub mod experiment;
pub mod gauges;
pub mod handler;
pub mod job;
pub mod mailbox;
pub mod metrics;
pub mod node;
pub mod pause;
pub mod process;
pub mod retry;
pub mod snapshot;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod ui;
pub mod vector;
