//! The embedded (SQLite) backend of the [`Store`](crate::store::Store) contract: a node
//! that needs no database server. It keeps the Postgres backend's semantics statement
//! by statement (`tests/aeon/` runs one suite on both); what differs is how.
//!
//! - **One writer.** SQLite has one writer at a time. Every write goes through a pool
//!   of exactly one connection, so writes queue in-process (fairly, in the pool)
//!   instead of failing with `SQLITE_BUSY`, and a transaction starts with
//!   `BEGIN IMMEDIATE`, holding the write lock from its first read. That serialises
//!   claims too: no `SKIP LOCKED` is needed, and none exists.
//! - **Readers beside it.** WAL journal mode lets a few read-only connections answer
//!   reads (a job, a listing, counts) while the writer works.
//! - **Durable.** `synchronous = FULL`: an enqueue or completion that returned is on
//!   disk, as with Postgres.
//! - **One node.** A lock file beside the database ([`lock`]) refuses a second node.
//!
//! The statements live in [`sql`]. Each part of the contract is implemented in the file
//! of its name, as on Postgres: [`queue`], [`reads`], [`operator`], [`membership`],
//! [`snapshots`], [`contexts`]; the transaction steps several operations share are in
//! [`settle`] (settling failures, rescuing claims) and [`dependencies`] (releasing or
//! cancelling dependents). Like `PgStore`, the store counts what it sends
//! ([`SqliteStore::statements_sent`]).

mod codec;
mod contexts;
mod dependencies;
mod lock;
mod membership;
mod operator;
mod queue;
mod reads;
mod rows;
mod settle;
mod snapshots;
pub mod sql;

use std::fs::File;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::retry::BackoffPolicy;
use crate::store::{StoreError, StoreResult};

/// The one text form of a time in the SQLite schema, and its reading: for tools and
/// tests that query the database directly (a time bound any other way compares wrong).
pub use codec::{parse_time, time as format_time};

/// The migrations of the SQLite schema, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a connection waits on a lock SQLite holds (a checkpoint, another
/// process reading) before it gives up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a write waits for the single writer connection. Writes queue behind one
/// another here, so this is generous.
const WRITER_WAIT: Duration = Duration::from_secs(60);

/// Read-only connections beside the writer.
const READERS: u32 = 4;

/// A [`Store`](crate::store::Store) on a SQLite file. Clones share the connections,
/// the lock and the statement count.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The one connection every write goes through.
    writer: SqlitePool,
    /// Read-only connections for reads that need no write lock.
    readers: SqlitePool,
    backoff: BackoffPolicy,
    statements: Arc<AtomicU64>,
    /// The single-node lock, released when the last clone is dropped.
    _lock: Arc<File>,
}

impl SqliteStore {
    /// Opens the database `url` names (`sqlite://aeon-data/aeon.db`,
    /// `sqlite:///abs/path.db`), creating its folder and file if missing, after taking
    /// the single-node lock beside it. Does not migrate: see
    /// [`Store::migrate`](crate::store::Store::migrate).
    pub async fn connect(url: &str, backoff: BackoffPolicy) -> StoreResult<Self> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::Database(
                "an in-memory SQLite database would lose every job when the node stops: name a file \
                 (sqlite://path/to/aeon.db)"
                    .into(),
            ));
        }
        let options = SqliteConnectOptions::from_str(url)?;
        let path = options.get_filename().to_path_buf();
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(|e| {
                StoreError::Database(
                    format!("cannot create the folder {} for the database: {e}", folder.display()).into(),
                )
            })?;
        }
        // Before the database is opened: a refused node must not touch it.
        let lock = lock::take(&path)?;
        let writer_options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        // Never closed while the store lives: its cached statements stay prepared, and
        // the WAL is not checkpointed away (and recreated) under the readers each time
        // the node idles.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(WRITER_WAIT)
            .connect_with(writer_options)
            .await?;
        // Opened after the writer has made the file and put it in WAL mode, which
        // read-only connections cannot do.
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(WRITER_WAIT)
            .connect_with(reader_options(&path))
            .await?;
        Ok(Self { writer, readers, backoff, statements: Arc::new(AtomicU64::new(0)), _lock: Arc::new(lock) })
    }

    /// The same database (connections and lock shared) retrying with `backoff`, with
    /// a statement count of its own, as `PgStore::from_pool` gives.
    pub fn with_backoff(&self, backoff: BackoffPolicy) -> Self {
        Self { backoff, statements: Arc::new(AtomicU64::new(0)), ..self.clone() }
    }

    /// The read-only connections, for tests and tools that read the database directly.
    pub fn pool(&self) -> &SqlitePool {
        &self.readers
    }

    /// Both pools (the writer, the readers) without the single-node lock: what a
    /// harness holds to close them later, while the file may pass to another node.
    pub fn pools(&self) -> [SqlitePool; 2] {
        [self.writer.clone(), self.readers.clone()]
    }

    /// SQLite's `max_page_count` on the writer, the one connection every write goes
    /// through: set to `pages` when given (SQLite never sets it below the file's
    /// current size), then answered. A write that needs more pages than that fails
    /// with `SQLITE_FULL`, as on a full disk: how tests and fire drills make one
    /// without filling a real disk. Not kept: a reopened store has SQLite's default.
    pub async fn max_page_count(&self, pages: Option<u32>) -> StoreResult<u64> {
        let sql = match pages {
            Some(pages) => format!("PRAGMA max_page_count = {pages}"),
            None => "PRAGMA max_page_count".to_string(),
        };
        let answered: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&self.writer).await?;
        Ok(answered as u64)
    }

    /// How many statements this store has sent to the database since it was created.
    /// A catalogue entry that SQLite runs as a short script (see [`sql`]) is one call
    /// and counts once, as its single Postgres statement does.
    pub fn statements_sent(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    fn sent(&self, n: u64) {
        self.statements.fetch_add(n, Ordering::Relaxed);
    }

    /// A write transaction on the writer, holding SQLite's write lock from the start.
    async fn begin(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.sent(1);
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn commit(&self, tx: Transaction<'static, Sqlite>) -> StoreResult<()> {
        self.sent(1);
        Ok(tx.commit().await?)
    }
}

/// Read-only connections to the database at `path`.
fn reader_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new().filename(path).read_only(true).busy_timeout(BUSY_TIMEOUT).foreign_keys(true)
}

#[async_trait::async_trait]
impl crate::store::Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.writer).await.map_err(|e| StoreError::Database(Box::new(e)))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn close(&self) -> StoreResult<()> {
        futures::join!(self.readers.close(), self.writer.close());
        Ok(())
    }
}
