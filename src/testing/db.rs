//! The database a [`TestNode`](super::TestNode) runs on: a SQLite file in a folder of
//! its own, or a schema of its own in a Postgres database. Either is made and
//! migrated for one node and removed when the node is dropped.

use std::path::PathBuf;
use std::sync::Arc;

use sqlx::Connection;
use uuid::Uuid;

use crate::retry::BackoffPolicy;
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, StoreResult};

/// Where a [`TestNode`](super::TestNode)'s jobs live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestDatabase {
    /// A fresh SQLite file in a temporary folder, removed on drop (the default).
    Sqlite,
    /// A fresh schema in the Postgres database `url` names, dropped on drop.
    Postgres(String),
}

impl TestDatabase {
    /// Postgres when `AEON_TEST_DATABASE_URL` is set, else SQLite: one suite for both.
    pub fn from_env() -> Self {
        match std::env::var("AEON_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => TestDatabase::Postgres(url),
            _ => TestDatabase::Sqlite,
        }
    }
}

/// What to remove when the node goes.
pub(crate) enum Scratch {
    Folder(PathBuf),
    Schema { admin_url: String, schema: String },
}

impl Scratch {
    /// The SQLite file's path, or the Postgres schema's name.
    pub(crate) fn describe(&self) -> String {
        match self {
            Scratch::Folder(dir) => dir.join("aeon.db").display().to_string(),
            Scratch::Schema { schema, .. } => schema.clone(),
        }
    }

    /// Makes and migrates the database; answers its store and what to remove later.
    pub(crate) async fn create(db: &TestDatabase, backoff: BackoffPolicy) -> StoreResult<(Arc<dyn Store>, Scratch)> {
        match db {
            TestDatabase::Sqlite => {
                let dir = std::env::temp_dir().join(format!("aeon-testnode-{}", Uuid::new_v4().simple()));
                let url = format!("sqlite://{}", dir.join("aeon.db").display());
                let scratch = Scratch::Folder(dir); // removed even if what follows fails
                let store = SqliteStore::connect(&url, backoff).await?;
                store.migrate().await?;
                Ok((Arc::new(store), scratch))
            }
            TestDatabase::Postgres(admin_url) => {
                let schema = format!("aeon_test_{}", Uuid::new_v4().simple());
                let mut admin = sqlx::PgConnection::connect(admin_url).await?;
                let create = format!("CREATE SCHEMA {schema}");
                sqlx::query(sqlx::AssertSqlSafe(create)).execute(&mut admin).await?;
                admin.close().await.ok();
                let scratch = Scratch::Schema { admin_url: admin_url.clone(), schema: schema.clone() };
                let separator = if admin_url.contains('?') { '&' } else { '?' };
                let url =
                    format!("{admin_url}{separator}application_name={schema}&options=-c%20search_path%3D{schema}");
                let store = PgStore::connect(&url, 8, backoff).await?;
                store.migrate().await?;
                Ok((Arc::new(store), scratch))
            }
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        match self {
            Scratch::Folder(dir) => {
                let _ = std::fs::remove_dir_all(&*dir);
            }
            Scratch::Schema { admin_url, schema } => {
                // Drop is not async, and the test's runtime may be ending: drop the
                // schema from a thread of our own, and wait for it.
                let (url, schema) = (admin_url.clone(), schema.clone());
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
                    rt.block_on(async {
                        let Ok(mut admin) = sqlx::PgConnection::connect(&url).await else { return };
                        let _ = sqlx::query(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                        )
                        .bind(&schema)
                        .execute(&mut admin)
                        .await;
                        let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut admin).await;
                    });
                })
                .join();
            }
        }
    }
}
