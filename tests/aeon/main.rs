//! Aeon's integration tests: one binary (it links once), one module per concern.
//! They run against the real Postgres at `AEON_TEST_DATABASE_URL` (default: the local
//! `test` database), each test in a schema of its own.

mod common;

mod actors;
mod api;

mod bad_input;
mod batching;
mod bench;
mod cli;
mod concurrency;
mod config;
mod dependencies;
mod idempotency;
mod lifecycle;
mod node;
mod retries;
mod schema;
