//! Postgres for the tests: a schema of its own for each test (so tests run in
//! parallel and may commit), dropped after it.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use aeon::store::postgres::MIGRATOR;

/// The database tests create their schemas in: `AEON_TEST_DATABASE_URL`, else the
/// local `test` database.
pub fn database_url() -> String {
    std::env::var("AEON_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A migrated schema that exists for one test and is dropped after it.
pub struct PgSchema {
    pub pool: PgPool,
    pub schema: String,
}

impl PgSchema {
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

    /// A URL whose connections use this schema: for node processes of the test's own.
    pub fn url(&self) -> String {
        format!("{}?options=-c%20search_path%3D{}", database_url(), self.schema)
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.expect(sql)
    }

    /// This schema's connections, when they are all busy: for failure messages.
    pub async fn activity(&self) -> String {
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
            format!("pool exhausted: {activity:#?}")
        } else {
            String::new()
        }
    }

    /// The ids a query returns, as a set.
    pub async fn ids(&self, sql: &'static str) -> std::collections::BTreeSet<Uuid> {
        sqlx::query_scalar::<_, Uuid>(sql).fetch_all(&self.pool).await.expect(sql).into_iter().collect()
    }
}

impl Drop for PgSchema {
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
