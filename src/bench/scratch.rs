//! A fresh database for one bench run, on either backend: a schema of its own on the
//! Postgres of `store.url` (dropped afterwards), or a SQLite file in a temporary
//! folder of its own (removed afterwards).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, PgConnection, PgPool, SqliteConnection};

use crate::config::Config;
use crate::retry::BackoffPolicy;
use crate::store::postgres::{MIGRATOR, PgStore};
use crate::store::sqlite::SqliteStore;
use crate::store::{Backend, Store};

/// A migrated, empty database; see the module docs.
pub(crate) enum Scratch {
    Postgres { pool: PgPool, url: String, schema: String, base: String },
    Sqlite { dir: PathBuf, store: SqliteStore },
}

impl Scratch {
    /// A scratch database on the backend of `config.store.url`; on Postgres a pool of
    /// up to `connections`.
    pub async fn new(config: &Config, connections: u32) -> anyhow::Result<Self> {
        match Backend::of(&config.store.url).map_err(|e| anyhow::anyhow!("store.url: {e}"))? {
            Backend::Postgres => Self::postgres(&config.store.url, connections).await,
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("aeon-bench-{}", uuid::Uuid::new_v4().simple()));
                let url = format!("sqlite://{}", dir.join("aeon.db").display());
                let store = SqliteStore::connect(&url, config.retry).await?;
                store.migrate().await?;
                Ok(Scratch::Sqlite { dir, store })
            }
        }
    }

    async fn postgres(base: &str, connections: u32) -> anyhow::Result<Self> {
        let schema = format!("aeon_bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(base).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut admin).await?;
        admin.close().await?;
        let options: PgConnectOptions = base.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.options([("search_path", schema.as_str())]))
            .await?;
        MIGRATOR.run(&pool).await?;
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
        Ok(Scratch::Postgres { pool, url, schema, base: base.to_string() })
    }

    /// A store on this database, as a node would hold it.
    pub fn store(&self, backoff: BackoffPolicy) -> Arc<dyn Store> {
        match self {
            Scratch::Postgres { pool, .. } => Arc::new(PgStore::from_pool(pool.clone(), backoff)),
            Scratch::Sqlite { store, .. } => Arc::new(store.with_backoff(backoff)),
        }
    }

    /// The Postgres URL of this schema (its `search_path` set), for a node process of
    /// its own; `None` on SQLite.
    pub fn url(&self) -> Option<&str> {
        match self {
            Scratch::Postgres { url, .. } => Some(url),
            Scratch::Sqlite { .. } => None,
        }
    }

    /// The Postgres pool, for the plain-SQL ceiling (a Postgres loop by definition).
    pub fn pg_pool(&self) -> Option<&PgPool> {
        match self {
            Scratch::Postgres { pool, .. } => Some(pool),
            Scratch::Sqlite { .. } => None,
        }
    }

    /// A connection of its own that watches the jobs, apart from the node's.
    pub async fn watcher(&self) -> anyhow::Result<Watcher> {
        Ok(match self {
            Scratch::Postgres { url, .. } => Watcher::Postgres(PgConnection::connect(url).await?),
            Scratch::Sqlite { dir, .. } => {
                let options = SqliteConnectOptions::new().filename(dir.join("aeon.db")).read_only(true);
                Watcher::Sqlite(SqliteConnection::connect_with(&options).await?)
            }
        })
    }

    /// Removes the database.
    pub async fn remove(self) -> anyhow::Result<()> {
        match self {
            Scratch::Postgres { pool, schema, base, .. } => {
                pool.close().await;
                let mut admin = PgConnection::connect(&base).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut admin).await?;
            }
            Scratch::Sqlite { dir, store } => {
                drop(store);
                std::fs::remove_dir_all(&dir)?;
            }
        }
        Ok(())
    }
}

/// A separate connection that watches the jobs of a scratch database.
pub(crate) enum Watcher {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl Watcher {
    /// Whether any job is unfinished. Three existence checks on the status index
    /// (cheap), not a count of the whole table: the watching must not load the
    /// database it measures.
    pub async fn any_unfinished(&mut self) -> anyhow::Result<bool> {
        const UNFINISHED: &str = "SELECT EXISTS (SELECT 1 FROM jobs WHERE status = 'PENDING')
                                      OR EXISTS (SELECT 1 FROM jobs WHERE status = 'RUNNING')
                                      OR EXISTS (SELECT 1 FROM jobs WHERE status = 'WAITING')";
        Ok(match self {
            Watcher::Postgres(c) => sqlx::query_scalar(UNFINISHED).fetch_one(c).await?,
            Watcher::Sqlite(c) => sqlx::query_scalar(UNFINISHED).fetch_one(c).await?,
        })
    }

    /// How many jobs are `RUNNING` (claimed).
    pub async fn running(&mut self) -> anyhow::Result<i64> {
        const RUNNING: &str = "SELECT COUNT(*) FROM jobs WHERE status = 'RUNNING'";
        Ok(match self {
            Watcher::Postgres(c) => sqlx::query_scalar(RUNNING).fetch_one(c).await?,
            Watcher::Sqlite(c) => sqlx::query_scalar(RUNNING).fetch_one(c).await?,
        })
    }

    pub async fn completed(&mut self) -> anyhow::Result<i64> {
        const COMPLETED: &str = "SELECT COUNT(*) FROM jobs WHERE status = 'COMPLETED'";
        Ok(match self {
            Watcher::Postgres(c) => sqlx::query_scalar(COMPLETED).fetch_one(c).await?,
            Watcher::Sqlite(c) => sqlx::query_scalar(COMPLETED).fetch_one(c).await?,
        })
    }
}
