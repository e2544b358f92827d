//! Choosing and opening a backend from `store.url`: `postgres://…` or `sqlite://…`.
//!
//! A connection that fails is reported once, naming the backend, where it tried
//! (host, port and database, or the file) and what to check, never the password.

use std::sync::Arc;

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::{Store, StoreError, StoreResult};
use crate::config::redact_url;
use crate::retry::BackoffPolicy;

/// The database behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Production and several nodes: `postgres://user:password@host:port/database`.
    Postgres,
    /// The embedded default, a single node: `sqlite://path/to/file.db`.
    Sqlite,
}

impl Backend {
    /// The backend a URL names by its scheme, or why it names none.
    pub fn of(url: &str) -> Result<Backend, String> {
        match url.split_once("://").map(|(scheme, _)| scheme) {
            Some("postgres" | "postgresql") => Ok(Backend::Postgres),
            Some("sqlite") => Ok(Backend::Sqlite),
            _ => Err("must start with postgres:// or sqlite:// (for example sqlite://aeon-data/aeon.db)".into()),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// Connects to the store `url` names (a pool of up to `max_connections` for Postgres)
/// and applies its migrations.
pub async fn open(url: &str, max_connections: u32, backoff: BackoffPolicy) -> StoreResult<Arc<dyn Store>> {
    let backend = Backend::of(url).map_err(|reason| StoreError::Database(format!("store.url: {reason}").into()))?;
    let store: Arc<dyn Store> = match backend {
        Backend::Postgres => {
            Arc::new(PgStore::connect(url, max_connections, backoff).await.map_err(|e| explain(backend, url, e))?)
        }
        Backend::Sqlite => Arc::new(SqliteStore::connect(url, backoff).await.map_err(|e| explain(backend, url, e))?),
    };
    store.migrate().await.map_err(|e| explain(backend, url, e))?;
    Ok(store)
}

/// One message that says what failed, where, and what to check.
fn explain(backend: Backend, url: &str, error: StoreError) -> StoreError {
    let StoreError::Database(source) = error else { return error };
    let cause = cause_of(&*source);
    let message = match backend {
        Backend::Postgres => {
            let place = postgres_place(url);
            let hint = if cause.contains("timed out") || cause.contains("refused") || cause.contains("error connecting")
            {
                "is PostgreSQL running there and reachable?"
            } else if cause.contains("does not exist") {
                "create it, or point store.url (or DATABASE_URL) at one that exists"
            } else if cause.contains("password") || cause.contains("authentication") {
                "check the user and password in store.url"
            } else {
                "check store.url (or DATABASE_URL)"
            };
            format!("cannot use PostgreSQL at {place}: {cause}; {hint}")
        }
        Backend::Sqlite => format!("cannot use the SQLite database {}: {cause}", redact_url(url)),
    };
    StoreError::Database(message.into())
}

/// `host:port/database` of a Postgres URL, without credentials.
fn postgres_place(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}:{}/{}",
            u.host_str().unwrap_or("localhost"),
            u.port().unwrap_or(5432),
            u.path().trim_start_matches('/')
        ),
        Err(_) => "<unparseable store.url>".into(),
    }
}

/// The innermost message of an error chain, once (sqlx repeats its cause in the
/// outer message).
fn cause_of(error: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = error;
    while let Some(next) = inner.source() {
        inner = next;
    }
    let text = inner.to_string();
    // Postgres errors end with the server's own source line ("at line 948"): noise here.
    match text.rsplit_once(" at line ") {
        Some((cause, line)) if line.chars().all(|c| c.is_ascii_digit()) => cause.to_string(),
        _ => text,
    }
}
