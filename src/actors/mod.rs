//! The actors of a node and the messages they exchange.
//!
//! ```text
//! Supervisor ──starts/restarts──▶ Worker × N ──one per claimed run──▶ Job
//!     │  ▲                           │  heartbeats, run metrics          │ complete / fail /
//!     │  └── verdicts (scores, dead) ┴──────────▶ HealthMonitor          │ release
//!     └──────────── claims ──────────────────────────┴──────────▶ StoreActor ◀┘
//! ```
//!
//! Each actor's messages live beside it. Tests start any actor alone, with stand-ins
//! for its neighbours (its outputs are `Recipient`s) and a [`probe`] to await events.

pub mod context;
pub mod health;
pub mod job;
pub mod probe;
pub mod pruner;
pub mod store;
pub mod supervisor;
pub mod worker;

/// Stop for good: the node is shutting down (`Node::shutdown`). Unlike a crash, the
/// Supervisor restarts nothing after it.
#[derive(Debug, Clone, Copy, actix::Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// `impl Handler<Shutdown>` for actors that only need to stop.
macro_rules! stops_on_shutdown {
    ($($actor:ty),+ $(,)?) => {$(
        impl actix::Handler<$crate::actors::Shutdown> for $actor {
            type Result = ();

            fn handle(&mut self, _: $crate::actors::Shutdown, ctx: &mut Self::Context) {
                actix::ActorContext::stop(ctx);
            }
        }
    )+};
}
pub(crate) use stops_on_shutdown;

stops_on_shutdown!(pruner::Pruner, context::ContextActor, store::StoreActor);
