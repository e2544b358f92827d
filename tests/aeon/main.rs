//! Aeon's integration tests: one binary (it links once), one module per concern.
//!
//! The store and actor tests form one conformance suite: each is written once and
//! runs on SQLite (`name::sqlite`, always) and on Postgres (`name::postgres`, when
//! `AEON_TEST_DATABASE_URL` names a database: each test then works in a schema of its
//! own there). Without it the Postgres cases are listed as ignored, with the command
//! that runs them. See `common::backend`.

mod common;

mod actors;
mod api;
mod api_contract;

mod bad_input;
mod batching;
mod bench;
mod bulk;
mod cli;
mod cluster;
mod concurrency;
mod config;
mod contexts;
mod cross_site;
mod dashboard;
mod dependencies;
mod due;
mod embedded;
mod experiment;
mod group_commit;
mod idempotency;
mod incarnations;
mod isolation;
mod kit;
mod layers;
mod lifecycle;
mod mailbox;
mod membership;
mod node;
mod readiness;
mod requests;
mod retention;
mod retries;
mod schema;
mod semantics;
mod snapshots;
mod sqlite_schema;
mod store_errors;
mod unstarted;
mod vectors;
mod worker_health;
