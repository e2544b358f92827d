//! Driver errors as [`StoreError`]s, for the backends built on sqlx (both are): a
//! backend's `?` on a sqlx call reads as a database error of the contract, or as
//! [`StoreError::DiskFull`] when the database says it has no room left.

use super::StoreError;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_disk_full(&e) {
            return StoreError::DiskFull(e.to_string());
        }
        StoreError::Database(Box::new(e))
    }
}

/// Which database answered an error: their codes mean different things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    Sqlite,
    Postgres,
}

/// Whether the database refused for want of space.
fn is_disk_full(e: &sqlx::Error) -> bool {
    let Some(db) = e.as_database_error() else { return false };
    let driver = if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        Driver::Sqlite
    } else if db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() {
        Driver::Postgres
    } else {
        return false;
    };
    db.code().is_some_and(|code| disk_full_code(driver, &code))
}

/// SQLite's `SQLITE_FULL` (13: a write the disk, or `max_page_count`, has no room
/// for; sqlx gives the extended code, whose low byte is the primary one) or
/// Postgres's `disk_full` (SQLSTATE 53100: "could not extend file ... No space left
/// on device").
fn disk_full_code(driver: Driver, code: &str) -> bool {
    const SQLITE_FULL: i64 = 13;
    match driver {
        Driver::Sqlite => code.parse::<i64>().is_ok_and(|c| c & 0xff == SQLITE_FULL),
        Driver::Postgres => code == "53100",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_disks_are_told_apart_from_other_errors_on_each_database() {
        assert!(disk_full_code(Driver::Sqlite, "13"));
        assert!(!disk_full_code(Driver::Sqlite, "5"), "SQLITE_BUSY");
        assert!(!disk_full_code(Driver::Sqlite, "778"), "SQLITE_IOERR_WRITE is another failure");
        assert!(!disk_full_code(Driver::Sqlite, "2067"), "SQLITE_CONSTRAINT_UNIQUE");
        assert!(!disk_full_code(Driver::Sqlite, "53100"));
        assert!(disk_full_code(Driver::Postgres, "53100"));
        assert!(!disk_full_code(Driver::Postgres, "53200"), "out of memory");
        assert!(!disk_full_code(Driver::Postgres, "53000"), "insufficient_resources, not the disk");
        assert!(!disk_full_code(Driver::Postgres, "13"));
        assert!(!disk_full_code(Driver::Postgres, "40001"), "a serialization failure");
    }

    #[test]
    fn errors_that_are_not_the_database_s_are_never_a_full_disk() {
        assert!(!is_disk_full(&sqlx::Error::PoolTimedOut));
        let e: StoreError = sqlx::Error::RowNotFound.into();
        assert!(matches!(e, StoreError::Database(_)), "{e}");
    }
}
