//! The experiment's scratch database: a Postgres schema of its own or a SQLite file,
//! made and migrated before the nodes start and removed afterwards; the database
//! faults (`db_disconnect`, `db_lock`, and `qdrant_down` on the embedded vector
//! store); and the read-out the checks work on.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Connection, PgConnection};

use super::Harness;
use crate::experiment::check::{ExecutionRow, JobRow, Observed, SnapshotSeen, WorkerRow};
use crate::experiment::scenario::{BackendKind, Scenario};
use crate::store::{SnapshotFilter, Store};

/// The embedded vector store's table, and its name while `qdrant_down` hides it.
const VECTORS: &str = "execution_contexts";
const VECTORS_DOWN: &str = "execution_contexts_down";

pub(super) enum Db {
    Postgres { pool: PgPool, admin_url: String, schema: String, node_url: String },
    Sqlite { dir: PathBuf, url: String, pool: SqlitePool },
}

/// A cheap handle that counts finished jobs, for the progress bar.
#[derive(Clone)]
pub enum Counter {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

const COUNTS: &str = "SELECT
    (SELECT COUNT(*) FROM jobs WHERE status IN ('WAITING', 'PENDING', 'RUNNING')),
    (SELECT COUNT(*) FROM jobs WHERE status IN ('COMPLETED', 'DEAD_LETTER', 'CANCELLED'))";

impl Counter {
    /// (jobs not finished, jobs finished).
    pub async fn unfinished_and_done(&self) -> anyhow::Result<(i64, i64)> {
        Ok(match self {
            Counter::Postgres(pool) => sqlx::query_as(COUNTS).fetch_one(pool).await?,
            Counter::Sqlite(pool) => sqlx::query_as(COUNTS).fetch_one(pool).await?,
        })
    }
}

impl Db {
    pub(super) async fn create(scenario: &Scenario, harness: &Harness) -> anyhow::Result<Db> {
        match scenario.cluster.backend {
            BackendKind::Postgres => {
                let base = harness
                    .store_url
                    .clone()
                    .or_else(|| scenario.cluster.store_url.clone())
                    .or_else(|| std::env::var("AEON_EXPERIMENT_DATABASE_URL").ok())
                    .or_else(|| std::env::var("DATABASE_URL").ok())
                    .filter(|u| u.starts_with("postgres"))
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "a postgres scenario needs a server: --store URL, cluster.store_url, AEON_EXPERIMENT_DATABASE_URL or DATABASE_URL"
                        )
                    })?;
                let schema = format!("aeon_exp_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::connect(&base).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut admin).await?;
                admin.close().await?;
                let options: PgConnectOptions = base.parse()?;
                let pool = PgPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options.options([("search_path", schema.as_str())]))
                    .await?;
                crate::store::postgres::MIGRATOR.run(&pool).await?;
                let separator = if base.contains('?') { '&' } else { '?' };
                let node_url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
                Ok(Db::Postgres { pool, admin_url: base, schema, node_url })
            }
            BackendKind::Sqlite => {
                let dir = std::env::temp_dir().join(format!("aeon-exp-{}", uuid::Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir)?;
                let url = format!("sqlite://{}", dir.join("aeon.db").display());
                {
                    let store = crate::store::sqlite::SqliteStore::connect(&url, Default::default()).await?;
                    store.migrate().await?;
                } // the single-node lock goes with the store
                let options = SqliteConnectOptions::new().filename(dir.join("aeon.db")).read_only(true);
                let pool = SqlitePoolOptions::new().max_connections(2).connect_with(options).await?;
                Ok(Db::Sqlite { dir, url, pool })
            }
        }
    }

    /// The store URL node `index` uses (on Postgres, named so its connections can be found).
    pub(super) fn node_url(&self, index: usize) -> String {
        match self {
            Db::Postgres { node_url, schema, .. } => format!("{node_url}&application_name={}", app_name(schema, index)),
            Db::Sqlite { url, .. } => url.clone(),
        }
    }

    pub(super) fn counter(&self) -> Counter {
        match self {
            Db::Postgres { pool, .. } => Counter::Postgres(pool.clone()),
            Db::Sqlite { pool, .. } => Counter::Sqlite(pool.clone()),
        }
    }

    /// What the database holds, times in milliseconds since `start`.
    pub(super) async fn read(&self, start: DateTime<Utc>) -> anyhow::Result<Observed> {
        let t = |col: &str| match self {
            Db::Postgres { .. } => format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"),
            Db::Sqlite { .. } => col.to_string(),
        };
        let jobs_sql = format!(
            "SELECT CAST(job_id AS TEXT), status, CAST(attempts AS BIGINT), CAST(max_retries AS BIGINT), {} FROM jobs",
            t("completed_at")
        );
        let exec_sql = format!(
            "SELECT CAST(job_id AS TEXT), execution_status, CAST(attempt AS BIGINT), {}, {}, CAST(worker_id AS TEXT) FROM job_executions",
            t("started_at"),
            t("finished_at")
        );
        const DLQ: &str = "SELECT CAST(job_id AS TEXT) FROM dead_letter_queue WHERE NOT requeued";
        const DEPS: &str = "SELECT CAST(job_id AS TEXT), CAST(depends_on_job_id AS TEXT) FROM job_dependencies";
        const WORKERS: &str = "SELECT CAST(worker_id AS TEXT), node_id, CAST(failure_count AS BIGINT) FROM workers";
        type J = (String, String, i64, i64, Option<String>);
        type E = (String, String, i64, Option<String>, Option<String>, Option<String>);
        type W = (String, String, i64);
        type Rows = (Vec<J>, Vec<E>, Vec<String>, Vec<(String, String)>, Vec<W>);
        let (jobs, execs, dlq, deps, workers): Rows = match self {
            Db::Postgres { pool, .. } => (
                sqlx::query_as(sqlx::AssertSqlSafe(jobs_sql)).fetch_all(pool).await?,
                sqlx::query_as(sqlx::AssertSqlSafe(exec_sql)).fetch_all(pool).await?,
                sqlx::query_scalar(DLQ).fetch_all(pool).await?,
                sqlx::query_as(DEPS).fetch_all(pool).await?,
                sqlx::query_as(WORKERS).fetch_all(pool).await?,
            ),
            Db::Sqlite { pool, .. } => (
                sqlx::query_as(sqlx::AssertSqlSafe(jobs_sql)).fetch_all(pool).await?,
                sqlx::query_as(sqlx::AssertSqlSafe(exec_sql)).fetch_all(pool).await?,
                sqlx::query_scalar(DLQ).fetch_all(pool).await?,
                sqlx::query_as(DEPS).fetch_all(pool).await?,
                sqlx::query_as(WORKERS).fetch_all(pool).await?,
            ),
        };
        let ms = |t: Option<String>| {
            t.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| (t.with_timezone(&Utc) - start).num_milliseconds())
        };
        Ok(Observed {
            jobs: jobs
                .into_iter()
                .map(|(job_id, status, attempts, max_retries, done)| JobRow {
                    job_id,
                    status,
                    attempts,
                    max_retries,
                    completed_ms: ms(done),
                })
                .collect(),
            executions: execs
                .into_iter()
                .map(|(job_id, status, attempt, s, f, worker_id)| ExecutionRow {
                    job_id,
                    status,
                    attempt,
                    started_ms: ms(s),
                    finished_ms: ms(f),
                    worker_id,
                })
                .collect(),
            dead_letters: dlq,
            dependencies: deps,
            workers: workers
                .into_iter()
                .map(|(worker_id, node_id, failure_count)| WorkerRow { worker_id, node_id, failure_count })
                .collect(),
            ..Observed::default()
        })
    }

    /// Nodes whose row says `DRAINING`.
    pub async fn draining(&self) -> anyhow::Result<Vec<String>> {
        const SQL: &str = "SELECT node_id FROM nodes WHERE status = 'DRAINING' ORDER BY node_id";
        Ok(match self {
            Db::Postgres { pool, .. } => sqlx::query_scalar(SQL).fetch_all(pool).await?,
            Db::Sqlite { pool, .. } => sqlx::query_scalar(SQL).fetch_all(pool).await?,
        })
    }

    /// Workers in service (not `DEAD`, `FAILED` or `STOPPED`) per node.
    pub async fn in_service(&self) -> anyhow::Result<BTreeMap<String, i64>> {
        const SQL: &str = "SELECT node_id, COUNT(*) FROM workers WHERE status NOT IN ('DEAD', 'FAILED', 'STOPPED') \
                           GROUP BY node_id";
        let rows: Vec<(String, i64)> = match self {
            Db::Postgres { pool, .. } => sqlx::query_as(SQL).fetch_all(pool).await?,
            Db::Sqlite { pool, .. } => sqlx::query_as(SQL).fetch_all(pool).await?,
        };
        Ok(rows.into_iter().collect())
    }

    /// Each node's newest snapshot, verified with its chain as `aeon snapshot verify`
    /// does. Only once the nodes are stopped (SQLite opens the store for it).
    pub(super) async fn snapshots(
        &self,
        nodes: &[String],
        after_settle: &[String],
        start: DateTime<Utc>,
    ) -> anyhow::Result<Vec<SnapshotSeen>> {
        let store: Box<dyn Store> = match self {
            Db::Postgres { pool, .. } => {
                Box::new(crate::store::postgres::PgStore::from_pool(pool.clone(), Default::default()))
            }
            Db::Sqlite { url, .. } => {
                Box::new(crate::store::sqlite::SqliteStore::connect(url, Default::default()).await?)
            }
        };
        let mut seen = Vec::new();
        for node in nodes {
            let filter = SnapshotFilter { node_id: Some(node.clone()), ..SnapshotFilter::newest(1) };
            let Some(newest) = store.list_snapshots(filter).await?.into_iter().next() else { continue };
            let id = newest.snapshot_id;
            let mut s = SnapshotSeen {
                node_id: node.clone(),
                snapshot_id: id.to_string(),
                snapshot_type: newest.snapshot_type.as_str().to_string(),
                taken_ms: (newest.created_at - start).num_milliseconds(),
                after_settle: after_settle.contains(&id.to_string()),
                ..SnapshotSeen::default()
            };
            match crate::snapshot::verify::verify(store.as_ref(), id).await {
                Ok(verified) => {
                    let state = verified.state;
                    s.workers = state
                        .workers
                        .iter()
                        .map(|w| (w.worker_id.to_string(), i64::from(w.restarts.failure_count)))
                        .collect();
                    s.in_flight = state.in_flight.iter().map(|c| c.job_id.to_string()).collect();
                    s.queue = state.queue.by_status.into_iter().collect::<BTreeMap<_, _>>();
                }
                Err(e) => s.verify_error = Some(e.to_string()),
            }
            seen.push(s);
        }
        Ok(seen)
    }

    /// Terminates node `index`'s database connections; answers how many.
    pub(super) async fn disconnect(&self, index: usize) -> anyhow::Result<i64> {
        match self {
            Db::Postgres { pool, schema, .. } => {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) t",
                )
                .bind(app_name(schema, index))
                .fetch_one(pool)
                .await?;
                Ok(n)
            }
            Db::Sqlite { .. } => anyhow::bail!("db_disconnect needs Postgres"),
        }
    }

    /// Holds a lock on `jobs` for `ms` from a connection of the harness's own.
    pub(super) async fn lock(&self, ms: u64) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let wait = Duration::from_millis(ms);
        Ok(match self {
            Db::Postgres { pool, .. } => {
                let mut conn = pool.acquire().await?.detach();
                sqlx::raw_sql("BEGIN; LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE").execute(&mut conn).await?;
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut conn).await;
                })
            }
            Db::Sqlite { dir, .. } => {
                let mut conn = sqlx::SqliteConnection::connect_with(&writer(dir)).await?;
                sqlx::raw_sql("BEGIN EXCLUSIVE").execute(&mut conn).await?;
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut conn).await;
                })
            }
        })
    }

    /// `qdrant_down` on the embedded vector store: its table is renamed away for `ms`,
    /// so every write and search of the nodes' vector store fails, then renamed back.
    /// The answer ends when the table is back.
    pub(super) async fn vectors_down(&self, ms: u64) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let wait = Duration::from_millis(ms);
        let hide = format!("ALTER TABLE {VECTORS} RENAME TO {VECTORS_DOWN}");
        let back = format!("ALTER TABLE {VECTORS_DOWN} RENAME TO {VECTORS}");
        Ok(match self {
            Db::Postgres { pool, .. } => {
                let mut conn = pool.acquire().await?.detach();
                sqlx::raw_sql("SET lock_timeout = '10s'").execute(&mut conn).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(hide)).execute(&mut conn).await?;
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(back)).execute(&mut conn).await {
                        tracing::error!(error = %e, "qdrant_down: the vector table could not be renamed back");
                    }
                })
            }
            Db::Sqlite { dir, .. } => {
                let mut conn = sqlx::SqliteConnection::connect_with(&writer(dir)).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(hide)).execute(&mut conn).await?;
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(back)).execute(&mut conn).await {
                        tracing::error!(error = %e, "qdrant_down: the vector table could not be renamed back");
                    }
                })
            }
        })
    }

    /// How many contexts the embedded vector store holds.
    pub(super) async fn vector_points(&self) -> anyhow::Result<u64> {
        let sql = format!("SELECT COUNT(*) FROM {VECTORS}");
        let n: i64 = match self {
            Db::Postgres { pool, .. } => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?,
            Db::Sqlite { pool, .. } => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?,
        };
        Ok(n as u64)
    }

    pub(super) async fn remove(self) {
        match self {
            Db::Postgres { pool, admin_url, schema, .. } => {
                pool.close().await;
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = sqlx::raw_sql("SET client_min_messages = warning").execute(&mut admin).await;
                    let drop_it = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(drop_it)).execute(&mut admin).await;
                }
            }
            Db::Sqlite { dir, pool, .. } => {
                pool.close().await;
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// A writing connection of the harness to the SQLite file, patient with the node's writer.
fn writer(dir: &std::path::Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new().filename(dir.join("aeon.db")).busy_timeout(Duration::from_secs(10))
}

fn app_name(schema: &str, index: usize) -> String {
    format!("{}-n{index}", &schema[..schema.len().min(40)])
}
