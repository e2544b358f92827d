//! Driver errors as [`StoreError`]s, for the backends built on sqlx (both are): a
//! backend's `?` on a sqlx call reads as a database error of the contract.

use super::StoreError;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(Box::new(e))
    }
}
