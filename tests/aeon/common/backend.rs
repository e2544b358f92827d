//! The backends the conformance suite runs on, and a store of either kind for one test.
//!
//! Every behaviour test of the store and every actor-level test is written once, as an
//! `async fn name(db: TestDb)`, and declared with [`on_every_backend!`]: it then runs
//! as `name::sqlite` and `name::postgres`. The SQLite cases need nothing; the Postgres
//! cases run when `AEON_TEST_DATABASE_URL` names a database at build time (the build
//! script then sets `cfg(aeon_postgres_tests)`), and otherwise show as ignored, with the
//! reason, in the runner's summary — never as passed.

use std::collections::BTreeSet;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

use aeon::retry::BackoffPolicy;
use aeon::store::Store;
use aeon::store::postgres::PgStore;
use aeon::store::sqlite::SqliteStore;
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use uuid::Uuid;

use super::postgres::PgSchema;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, migrated database for one test: a Postgres schema of its own (dropped
/// after it) or a SQLite file in a temporary folder of its own (removed after it).
pub struct TestDb {
    pub backend: Backend,
    kind: Kind,
}

enum Kind {
    Postgres(PgSchema),
    Sqlite { dir: PathBuf, url: String, pool: SqlitePool, store: Option<SqliteStore> },
}

impl TestDb {
    /// A fresh database on `backend`; on Postgres a pool of up to 8 connections.
    pub async fn new(backend: Backend) -> Self {
        Self::with_connections(backend, 8).await
    }

    pub async fn with_connections(backend: Backend, max_connections: u32) -> Self {
        let kind = match backend {
            Backend::Postgres => Kind::Postgres(PgSchema::new(max_connections).await),
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("aeon-test-{}", Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir).expect("create the test's folder");
                let url = format!("sqlite://{}", dir.join("aeon.db").display());
                let store = SqliteStore::connect(&url, BackoffPolicy::default()).await.expect("open SQLite");
                store.migrate().await.expect("migrate SQLite");
                let pool = reader(&dir).await;
                Kind::Sqlite { dir, url, pool, store: Some(store) }
            }
        };
        Self { backend, kind }
    }

    /// Runs `test` on a fresh database of `backend`, then closes the database's pools,
    /// which every store made here shares: actors the test left running can write
    /// nothing more, and no connection is in use when its System ends. A node the test
    /// started on its own pools is the test's to shut down (`Node::shutdown`,
    /// `ApiNode::stop`; their `Teardown` guards fail a test that forgets).
    pub async fn run<F: std::future::Future<Output = ()>>(backend: Backend, test: impl FnOnce(TestDb) -> F) {
        let db = TestDb::new(backend).await;
        let pools = db.pools();
        test(db).await;
        pools.close().await;
    }

    /// The pools of this database's stores and of its plain readers.
    fn pools(&self) -> Pools {
        match &self.kind {
            Kind::Postgres(schema) => Pools::Postgres(schema.pool.clone()),
            Kind::Sqlite { pool, store, .. } => {
                let mut pools = vec![pool.clone()];
                pools.extend(store.iter().flat_map(SqliteStore::pools));
                Pools::Sqlite(pools)
            }
        }
    }

    /// A store on this database retrying with `backoff`. Stores made here share the
    /// database (on SQLite, its one writer and its lock).
    pub fn store(&self, backoff: BackoffPolicy) -> AnyStore {
        match &self.kind {
            Kind::Postgres(schema) => AnyStore::Postgres(PgStore::from_pool(schema.pool.clone(), backoff)),
            Kind::Sqlite { store: Some(store), .. } => AnyStore::Sqlite(store.with_backoff(backoff)),
            Kind::Sqlite { store: None, .. } => panic!("the SQLite file was handed over to a node process"),
        }
    }

    /// The URL a node process of its own would use for this database. On SQLite the
    /// file is then the node's: the test's own store must not be used meanwhile.
    pub fn url(&self) -> String {
        match &self.kind {
            Kind::Postgres(schema) => schema.url(),
            Kind::Sqlite { url, .. } => url.clone(),
        }
    }

    /// Lets go of the SQLite file's single-node lock (a node process of the test's own
    /// takes it next); the test reads through a plain connection from then on.
    pub fn release_lock(&mut self) {
        if let Kind::Sqlite { store, .. } = &mut self.kind {
            *store = None; // the lock goes with the last clone of the store
        }
    }

    /// The Postgres schema, for the tests that are Postgres-only by nature.
    pub fn postgres(&self) -> &PgSchema {
        match &self.kind {
            Kind::Postgres(schema) => schema,
            Kind::Sqlite { .. } => panic!("a Postgres-only test ran on SQLite"),
        }
    }

    /// A plain reading connection pool to the SQLite file, for the SQLite-only checks.
    pub fn sqlite(&self) -> &SqlitePool {
        match &self.kind {
            Kind::Sqlite { pool, .. } => pool,
            Kind::Postgres(_) => panic!("a SQLite-only test ran on Postgres"),
        }
    }

    /// Takes, from a connection of the test's own, the lock that stops every write to
    /// `jobs` (Postgres: `LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE`; SQLite: the
    /// database's write lock), held until [`TableLock::release`].
    pub async fn lock_jobs(&self) -> TableLock {
        match &self.kind {
            Kind::Postgres(schema) => {
                let mut conn = schema.pool.acquire().await.expect("a connection").detach();
                sqlx::raw_sql("BEGIN; LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE").execute(&mut conn).await.unwrap();
                TableLock::Postgres(conn)
            }
            Kind::Sqlite { dir, .. } => {
                let options = SqliteConnectOptions::new().filename(dir.join("aeon.db"));
                let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("a connection");
                sqlx::raw_sql("BEGIN EXCLUSIVE").execute(&mut conn).await.unwrap();
                TableLock::Sqlite(conn)
            }
        }
    }

    /// Fills the database's disk, as far as writes can tell, until [`FullDisk::free`].
    /// SQLite: the file is capped at its current size (`max_page_count` on the node's
    /// writer, shared with the test's store), so a write that needs a new page fails
    /// with `SQLITE_FULL`, as it would on a full disk. Postgres (where a full disk
    /// cannot be made here): every insert into `jobs`, `job_executions` and
    /// `worker_health_logs` fails with the server's `disk_full` (SQLSTATE 53100),
    /// raised by a trigger with the message a full disk gives.
    pub async fn fill_disk(&self) -> FullDisk {
        match &self.kind {
            Kind::Sqlite { store: Some(store), .. } => {
                let pages = store.max_page_count(None).await.expect("read max_page_count");
                let capped = store.max_page_count(Some(1)).await.expect("cap max_page_count");
                assert!(capped < pages, "capped at the current size ({capped} pages)");
                FullDisk::Sqlite { store: store.clone(), pages }
            }
            Kind::Sqlite { store: None, .. } => panic!("the SQLite file was handed over to a node process"),
            Kind::Postgres(schema) => {
                sqlx::raw_sql(
                    "CREATE FUNCTION aeon_test_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                         RAISE EXCEPTION 'could not extend file \"base/16384/16385\": No space left on device'
                             USING ERRCODE = 'disk_full';
                     END $$;
                     CREATE TRIGGER disk_full BEFORE INSERT ON jobs
                         FOR EACH STATEMENT EXECUTE FUNCTION aeon_test_disk_full();
                     CREATE TRIGGER disk_full BEFORE INSERT ON job_executions
                         FOR EACH STATEMENT EXECUTE FUNCTION aeon_test_disk_full();
                     CREATE TRIGGER disk_full BEFORE INSERT ON worker_health_logs
                         FOR EACH STATEMENT EXECUTE FUNCTION aeon_test_disk_full();",
                )
                .execute(&schema.pool)
                .await
                .expect("fill the disk");
                FullDisk::Postgres(schema.pool.clone())
            }
        }
    }

    /// The single number a query answers, e.g. `SELECT COUNT(*) FROM jobs`. The SQL
    /// must be portable between the backends.
    pub async fn count(&self, sql: &'static str) -> i64 {
        match &self.kind {
            Kind::Postgres(schema) => schema.count(sql).await,
            Kind::Sqlite { pool, .. } => sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql),
        }
    }

    /// A count whose query takes one time, `$1` (each backend writes times its own way).
    pub async fn count_since(&self, sql: &'static str, since: chrono::DateTime<chrono::Utc>) -> i64 {
        match &self.kind {
            Kind::Postgres(schema) => sqlx::query_scalar(sql).bind(since).fetch_one(&schema.pool).await.expect(sql),
            Kind::Sqlite { pool, .. } => {
                let since = aeon::store::sqlite::format_time(since);
                sqlx::query_scalar(sql).bind(since).fetch_one(pool).await.expect(sql)
            }
        }
    }

    /// A float a query answers (portable SQL: `CAST(x AS DOUBLE PRECISION)`).
    pub async fn float(&self, sql: &'static str) -> f64 {
        match &self.kind {
            Kind::Postgres(schema) => sqlx::query_scalar(sql).fetch_one(&schema.pool).await.expect(sql),
            Kind::Sqlite { pool, .. } => sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql),
        }
    }

    /// The text values a query answers, in order.
    pub async fn texts(&self, sql: &'static str) -> Vec<String> {
        match &self.kind {
            Kind::Postgres(schema) => sqlx::query_scalar(sql).fetch_all(&schema.pool).await.expect(sql),
            Kind::Sqlite { pool, .. } => sqlx::query_scalar(sql).fetch_all(pool).await.expect(sql),
        }
    }

    /// The ids a query returns, as a set.
    pub async fn ids(&self, sql: &'static str) -> BTreeSet<Uuid> {
        match &self.kind {
            Kind::Postgres(schema) => schema.ids(sql).await,
            Kind::Sqlite { pool, .. } => {
                let texts: Vec<String> = sqlx::query_scalar(sql).fetch_all(pool).await.expect(sql);
                texts.iter().map(|t| Uuid::parse_str(t).expect("a UUID")).collect()
            }
        }
    }

    /// Jobs by status and the unfinished ones' attempts: for failure messages.
    pub async fn status_summary(&self) -> String {
        const BY_STATUS: &str = "SELECT status || ': ' || COUNT(*) FROM jobs GROUP BY status ORDER BY status";
        const UNFINISHED: &str = "SELECT job_type || ' ' || status || ' attempt ' || attempts FROM jobs
             WHERE status NOT IN ('COMPLETED', 'DEAD_LETTER') ORDER BY job_id LIMIT 5";
        let pool_state = match &self.kind {
            Kind::Postgres(schema) => schema.activity().await,
            Kind::Sqlite { .. } => String::new(),
        };
        let (by_status, unfinished) = (self.texts(BY_STATUS).await, self.texts(UNFINISHED).await);
        format!("{:?}: {by_status:?}; unfinished: {unfinished:?} {pool_state}", self.backend)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Kind::Sqlite { dir, .. } = &self.kind {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A test database's pools, closed at the test's end ([`TestDb::run`]).
enum Pools {
    Postgres(sqlx::PgPool),
    Sqlite(Vec<SqlitePool>),
}

impl Pools {
    /// Waits for the connections in use to come back (an actor mid-statement finishes
    /// it), then closes every one; later statements fail, and no connection is left.
    async fn close(self) {
        let closing = async {
            match self {
                Pools::Postgres(pool) => pool.close().await,
                Pools::Sqlite(pools) => {
                    futures::future::join_all(pools.iter().map(SqlitePool::close)).await;
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), closing)
            .await
            .expect("a connection of the test's database was still in use 10 s after the test");
    }
}

/// A database whose disk [`TestDb::fill_disk`] filled.
pub enum FullDisk {
    Sqlite { store: SqliteStore, pages: u64 },
    Postgres(sqlx::PgPool),
}

impl FullDisk {
    /// Gives the database room again.
    pub async fn free(self) {
        match self {
            FullDisk::Sqlite { store, pages } => {
                let pages = u32::try_from(pages).unwrap_or(u32::MAX);
                assert_eq!(store.max_page_count(Some(pages)).await.expect("lift the cap"), u64::from(pages));
            }
            FullDisk::Postgres(pool) => {
                sqlx::raw_sql(
                    "DROP TRIGGER disk_full ON jobs; DROP TRIGGER disk_full ON job_executions;
                     DROP TRIGGER disk_full ON worker_health_logs; DROP FUNCTION aeon_test_disk_full();",
                )
                .execute(&pool)
                .await
                .expect("free the disk");
            }
        }
    }
}

/// A lock on `jobs` held by a connection of the test's own.
pub enum TableLock {
    Postgres(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

impl TableLock {
    pub async fn release(self) {
        match self {
            TableLock::Postgres(mut c) => sqlx::raw_sql("ROLLBACK").execute(&mut c).await.map(drop).unwrap(),
            TableLock::Sqlite(mut c) => sqlx::raw_sql("ROLLBACK").execute(&mut c).await.map(drop).unwrap(),
        }
    }
}

/// Plain reading connections to a test's SQLite file (no lock: they are not a node).
async fn reader(dir: &std::path::Path) -> SqlitePool {
    let options = SqliteConnectOptions::new().filename(dir.join("aeon.db")).read_only(true);
    SqlitePoolOptions::new().max_connections(2).connect_with(options).await.expect("open SQLite to read")
}

/// A store of either backend, with what tests ask beyond the contract.
#[derive(Clone)]
pub enum AnyStore {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

impl AnyStore {
    /// Statements sent to the database so far (how tests prove that batching batches).
    pub fn statements_sent(&self) -> u64 {
        match self {
            AnyStore::Postgres(s) => s.statements_sent(),
            AnyStore::Sqlite(s) => s.statements_sent(),
        }
    }

    /// The store as the actors hold it.
    pub fn shared(&self) -> Arc<dyn Store> {
        match self {
            AnyStore::Postgres(s) => Arc::new(s.clone()),
            AnyStore::Sqlite(s) => Arc::new(s.clone()),
        }
    }
}

impl Deref for AnyStore {
    type Target = dyn Store;

    fn deref(&self) -> &Self::Target {
        match self {
            AnyStore::Postgres(s) => s,
            AnyStore::Sqlite(s) => s,
        }
    }
}

/// Declares each named `async fn name(db: TestDb)` as a test on every backend:
/// `name::sqlite` and `name::postgres`.
macro_rules! on_every_backend {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[actix_rt::test]
                async fn sqlite() {
                    $crate::common::TestDb::run($crate::common::Backend::Sqlite, super::$name).await
                }

                #[actix_rt::test]
                #[cfg_attr(
                    not(aeon_postgres_tests),
                    ignore = "Postgres case: AEON_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test"
                )]
                async fn postgres() {
                    $crate::common::TestDb::run($crate::common::Backend::Postgres, super::$name).await
                }
            }
        )+
    };
}
pub(crate) use on_every_backend;

/// Declares each named `async fn name(db: TestDb)` as a Postgres-only test, named so:
/// `name::postgres_only`.
macro_rules! postgres_only {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[actix_rt::test]
                #[cfg_attr(
                    not(aeon_postgres_tests),
                    ignore = "Postgres case: AEON_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test"
                )]
                async fn postgres_only() {
                    $crate::common::TestDb::run($crate::common::Backend::Postgres, super::$name).await
                }
            }
        )+
    };
}
pub(crate) use postgres_only;
