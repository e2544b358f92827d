//! Fixtures shared by the integration tests: a Postgres schema of its own for each
//! test (so tests run in parallel and may commit), a manual clock, and helpers.

pub mod actors;
pub mod api;

use std::sync::Arc;

use aeon::clock::{ManualClock, SharedClock};
use aeon::job::{JobRequest, NewJob, SubmitLimits};
use aeon::retry::BackoffPolicy;
use aeon::store::postgres::{MIGRATOR, PgStore};
use aeon::store::{ClaimRequest, ClaimedJob, Store};
use rstest::fixture;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

/// The database tests create their schemas in: `AEON_TEST_DATABASE_URL`, else the
/// local `test` database.
pub fn database_url() -> String {
    std::env::var("AEON_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A migrated schema that exists for one test and is dropped after it.
pub struct TestDb {
    pub pool: PgPool,
    pub schema: String,
}

impl TestDb {
    /// Creates the schema and migrates it; the pool's connections use it by default.
    pub async fn new(max_connections: u32) -> Self {
        let schema = format!("aeon_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&database_url()).await.expect("connect to the test database");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await
            .expect("create schema");
        admin.close().await.ok();
        let options: PgConnectOptions = database_url().parse().expect("test database url");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options.options([("search_path", schema.as_str())]).application_name(&schema))
            .await
            .expect("connect pool");
        MIGRATOR.run(&pool).await.expect("migrate");
        Self { pool, schema }
    }

    pub fn store(&self, backoff: BackoffPolicy) -> PgStore {
        PgStore::from_pool(self.pool.clone(), backoff)
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.expect(sql)
    }
}

impl TestDb {
    /// Jobs by status, and the unfinished ones' latest executions: for failure messages.
    pub async fn status_summary(&self) -> String {
        let mut own = PgConnection::connect(&database_url()).await.expect("connect");
        type Activity = (String, Option<String>, Option<String>, Option<String>);
        let activity: Vec<Activity> = sqlx::query_as(
            "SELECT state, wait_event_type, wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 100)
             FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(&self.schema)
        .fetch_all(&mut own)
        .await
        .unwrap();
        if activity.len() as u32 >= self.pool.options().get_max_connections() {
            return format!("pool exhausted: {activity:#?}");
        }
        let by_status: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")
                .fetch_all(&self.pool)
                .await
                .unwrap();
        let stuck: Vec<(String, String, i32, Option<String>)> = sqlx::query_as(
            "SELECT j.job_type, j.status, j.attempts, (SELECT string_agg(e.execution_status || ':' || coalesce(e.error, ''), ' | ' ORDER BY e.created_at)
               FROM job_executions e WHERE e.job_id = j.job_id)
             FROM jobs j WHERE status NOT IN ('COMPLETED', 'DEAD_LETTER') LIMIT 5",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap();
        format!("{by_status:?}; unfinished: {stuck:#?}")
    }

    /// The ids a query returns, as a set.
    pub async fn ids(&self, sql: &'static str) -> std::collections::BTreeSet<Uuid> {
        sqlx::query_scalar::<_, Uuid>(sql).fetch_all(&self.pool).await.expect(sql).into_iter().collect()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop is not async and the test's runtime is ending: drop the schema from a
        // thread of our own, and wait for it so no schema outlives its test.
        let schema = self.schema.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&database_url()).await {
                    // The test's own connections may still hold locks (a transaction
                    // whose rollback the ended runtime will never send): end them.
                    let _ = sqlx::query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                    )
                    .bind(&schema)
                    .execute(&mut admin)
                    .await;
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

#[fixture]
pub async fn db() -> TestDb {
    TestDb::new(8).await
}

#[fixture]
pub fn clock() -> ManualClock {
    ManualClock::starting_now()
}

pub fn shared(clock: &ManualClock) -> SharedClock {
    Arc::new(clock.clone())
}

/// Backoff without jitter: delays are exactly 1 s, 2 s, 4 s, ...
pub fn exact_backoff() -> BackoffPolicy {
    BackoffPolicy { base_ms: 1_000, max_ms: 60_000, jitter: 0.0 }
}

/// A valid job of `job_type` with `payload`.
pub fn new_job(job_type: &str, payload: Value) -> NewJob {
    JobRequest::new(job_type, payload).validate(&SubmitLimits::default()).expect("valid job")
}

pub fn job_with(f: impl FnOnce(&mut JobRequest)) -> NewJob {
    let mut request = JobRequest::new("noop", json!({}));
    f(&mut request);
    request.validate(&SubmitLimits::default()).expect("valid job")
}

/// A claim for the job types the tests submit.
pub fn claim_request(worker_id: Uuid, limit: u32, lease: std::time::Duration) -> ClaimRequest {
    ClaimRequest::one(worker_id, limit, lease, ["echo", "noop"].map(String::from).into())
}

pub const LEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// Claims up to `limit` jobs for a fresh worker.
pub async fn claim(store: &impl Store, limit: u32, clock: &ManualClock) -> Vec<ClaimedJob> {
    let request = claim_request(Uuid::new_v4(), limit, LEASE);
    store.claim(request, aeon::clock::Clock::now(clock)).await.expect("claim")
}
