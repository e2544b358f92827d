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
