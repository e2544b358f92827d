//! The Postgres backend of the [`Store`] contract.
//!
//! Each operation is one statement (or one short transaction) whatever the batch size;
//! the statements live in [`sql`]. The store counts the statements it sends, which is
//! how tests prove that batching really batches.

mod contexts;
mod dependencies;
mod membership;
mod operator;
mod queue;
mod reads;
mod rows;
pub mod schema;
mod settle;
mod snapshots;
pub mod sql;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};
use uuid::Uuid;

use crate::retry::BackoffPolicy;
use crate::store::{JobFilter, Store, StoreError, StoreResult};

/// The migrations of the Postgres schema, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A [`Store`] on Postgres.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Connections that run only claims, with [`sql::claim_session`] set.
    claims: PgPool,
    backoff: BackoffPolicy,
    statements: Arc<AtomicU64>,
}

impl PgStore {
    /// Connects a pool of up to `max_connections` to `url`.
    pub async fn connect(url: &str, max_connections: u32, backoff: BackoffPolicy) -> StoreResult<Self> {
        let options: PgConnectOptions = url.parse()?;
        // One plain connection first: a pool that cannot connect only says that it
        // timed out, while this says why (refused, no such database, bad password).
        sqlx::Connection::close(<sqlx::PgConnection as sqlx::Connection>::connect_with(&options).await?).await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self::from_pool(pool, backoff))
    }

    /// Wraps an existing pool (tests hand in one bound to their own schema).
    /// Claims run on two connections of their own, opened on first use with the
    /// pool's options and [`sql::claim_session`] (a node sends one claim at a time).
    pub fn from_pool(pool: PgPool, backoff: BackoffPolicy) -> Self {
        let options = (*pool.connect_options()).clone().options(sql::claim_session());
        let claims =
            PgPoolOptions::new().max_connections(2).acquire_timeout(Duration::from_secs(10)).connect_lazy_with(options);
        Self { pool, claims, backoff, statements: Arc::new(AtomicU64::new(0)) }
    }

    /// How many statements this store has sent to the database since it was created.
    pub fn statements_sent(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    fn sent(&self, n: u64) {
        self.statements.fetch_add(n, Ordering::Relaxed);
    }
}

/// The claims among `locked` rows (job, execution, worker, attempts, max_retries,
/// claim_queued, unstarted_returns) that still belong to the execution named.
type LockedClaim = (Uuid, Option<Uuid>, Option<Uuid>, i32, i32, bool, i32);

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await.map_err(|e| StoreError::Database(Box::new(e)))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) -> StoreResult<()> {
        self.pool.close().await;
        Ok(())
    }
}

/// Binds [`sql::LIST_JOBS`]'s parameters ($1 to $7) from `filter`.
fn bind_filter<'q, Q: BindFilter<'q>>(query: Q, filter: &JobFilter) -> Q {
    let (from, until) = filter.id_range();
    let statuses: Vec<&'static str> = filter.statuses.iter().map(|s| s.as_str()).collect();
    query
        .bind_one(statuses)
        .bind_one(filter.job_type.clone())
        .bind_one(from)
        .bind_one(until)
        .bind_one(filter.search.clone())
        .bind_one(filter.job_ids.clone())
        .bind_one(i64::from(filter.limit))
}

/// The query kinds [`bind_filter`] fills (rows, or one column).
trait BindFilter<'q>: Sized {
    fn bind_one<T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + Send>(self, value: T) -> Self;
}

impl<'q> BindFilter<'q> for sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    fn bind_one<T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + Send>(self, value: T) -> Self {
        self.bind(value)
    }
}

impl<'q, O> BindFilter<'q> for sqlx::query::QueryScalar<'q, Postgres, O, sqlx::postgres::PgArguments> {
    fn bind_one<T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + Send>(self, value: T) -> Self {
        self.bind(value)
    }
}

/// Health scores are NUMERIC(3,2) in 0..=1.
fn clamp_score(score: f64) -> f64 {
    if score.is_finite() { score.clamp(0.0, 1.0) } else { 0.0 }
}
