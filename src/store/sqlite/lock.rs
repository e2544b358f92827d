//! The single-node lock. SQLite serves one node: two nodes on one file would each
//! claim with their own writer, and nothing in SQLite fences one node's rescuer from
//! the other's live claims the way a shared Postgres does. So a node takes an
//! exclusive advisory lock on `<db path>.lock` before it opens the database and keeps
//! it as long as its store lives; a second node is refused at start, with an error
//! that says what to use instead. The operating system releases the lock when the
//! file is closed or the process dies (even by SIGKILL), so no stale lock outlives a
//! crash and no cleanup is needed.

use std::ffi::OsString;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use crate::store::{StoreError, StoreResult};

/// The lock file beside a database: `<db path>.lock`.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut path = OsString::from(database.as_os_str());
    path.push(".lock");
    PathBuf::from(path)
}

/// The database's real path, symlinks resolved (the file's, or its folder's while the
/// file does not exist yet), so that every name of one file takes the one lock. (A hard
/// link is a name of its own: it is not caught.)
fn resolved(database: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(database) {
        return real;
    }
    let folder = match database.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(folder), database.file_name()) {
        (Ok(folder), Some(name)) => folder.join(name),
        _ => database.to_path_buf(),
    }
}

/// Takes the single-node lock of `database`, or explains why another node has it.
/// The lock lasts as long as the returned file stays open.
pub fn take(database: &Path) -> StoreResult<File> {
    let path = lock_path(&resolved(database));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::Database(format!("cannot open the lock file {}: {e}", path.display()).into()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StoreError::Database(
            format!(
                "the SQLite database {} is already in use by another Aeon node (lock file {}); SQLite serves a \
                 single node — use Postgres (store.url = \"postgres://…\") to run several nodes",
                database.display(),
                path.display()
            )
            .into(),
        )),
        Err(TryLockError::Error(e)) => {
            Err(StoreError::Database(format!("cannot lock {} for this node: {e}", path.display()).into()))
        }
    }
}
