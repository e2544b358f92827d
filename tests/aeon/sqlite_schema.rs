//! The SQLite schema has what the Postgres one has: the same seven tables, the same
//! columns with the same nullability, the same CHECK values (the Rust enums), and every
//! statement of the SQLite catalogue prepares against it. Types differ by design (UUIDs,
//! JSON and times are text), and `schema.rs` pins the Postgres types.

use std::collections::BTreeSet;

use aeon::store::postgres::schema::{EXPECTED_COLUMNS, expected_status_values};
use aeon::store::sqlite::sql;
use sqlx::{Executor, Row};

use crate::common::{Backend, TestDb};

#[actix_rt::test]
async fn sqlite_has_the_columns_and_nullability_of_the_postgres_schema() {
    let db = TestDb::new(Backend::Sqlite).await;
    let tables: BTreeSet<&str> = EXPECTED_COLUMNS.iter().map(|c| c.0).collect();
    let mut live = BTreeSet::new();
    for table in &tables {
        let rows = sqlx::query("SELECT name, \"notnull\", pk, type FROM pragma_table_info(?)")
            .bind(table)
            .fetch_all(db.sqlite())
            .await
            .unwrap();
        assert!(!rows.is_empty(), "table {table} is missing");
        for row in rows {
            let (name, not_null, pk, ty): (String, i64, i64, String) = (row.get(0), row.get(1), row.get(2), row.get(3));
            // An INTEGER PRIMARY KEY is the rowid: never NULL, declared or not.
            let nullable = not_null == 0 && !(pk == 1 && ty.eq_ignore_ascii_case("INTEGER"));
            live.insert((table.to_string(), name, nullable));
        }
    }
    let expected: BTreeSet<(String, String, bool)> =
        EXPECTED_COLUMNS.iter().map(|(t, c, _, null)| (t.to_string(), c.to_string(), *null)).collect();
    let missing: Vec<_> = expected.difference(&live).collect();
    let unexpected: Vec<_> = live.difference(&expected).collect();
    assert!(missing.is_empty(), "columns (or their nullability) the SQLite schema lacks: {missing:?}");
    assert!(unexpected.is_empty(), "SQLite columns the Postgres schema does not have: {unexpected:?}");
}

#[actix_rt::test]
async fn sqlite_check_constraints_allow_exactly_the_status_values_of_the_code() {
    let db = TestDb::new(Backend::Sqlite).await;
    for (table, column, values) in expected_status_values() {
        let definition: String = sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?")
            .bind(table)
            .fetch_one(db.sqlite())
            .await
            .unwrap();
        // `CHECK (column IN ('A', 'B', ...))`, wherever it stands in the table.
        let flat = definition.split_whitespace().collect::<Vec<_>>().join(" ");
        let start = flat
            .find(&format!("CHECK ({column} IN ("))
            .unwrap_or_else(|| panic!("no CHECK ({column} IN (...)) on {table}: {flat}"));
        let list = &flat[start..];
        let list = &list[..list.find("))").expect("the list ends")];
        let allowed: BTreeSet<String> = list.split('\'').skip(1).step_by(2).map(str::to_string).collect();
        let expected: BTreeSet<String> = values.iter().map(|v| v.to_string()).collect();
        assert_eq!(allowed, expected, "{table}.{column}");
    }
}

#[actix_rt::test]
async fn every_sqlite_statement_prepares_against_the_live_schema() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut conn = db.sqlite().acquire().await.unwrap();
    for (name, statement) in sql::all() {
        if let Err(e) = conn.prepare(sqlx::SqlSafeStr::into_sql_str(statement)).await {
            panic!("statement {name} does not fit the SQLite schema: {e}");
        }
    }
}

/// One name per statement on both backends, so an operation reads the same in either
/// folder. The backend-only ones are listed here on purpose, each with why.
#[test]
fn both_backends_declare_the_same_statements() {
    const POSTGRES_ONLY: &[(&str, &str)] = &[
        (
            "ENQUEUE_UNKEYED",
            "a plain insert for submits without idempotency keys: ON CONFLICT costs Postgres a WAL record per row",
        ),
        ("GET_JOB_FOR_UPDATE", "row locks: SQLite's one writer serialises every write"),
        ("PRUNE_TRY_LOCK", "an advisory lock so one node prunes at a time: a SQLite file has one node"),
        (
            "PUT_CONTEXTS_UPSERT",
            "a batch written again: PUT_CONTEXTS is a plain insert on Postgres, an upsert per point on SQLite",
        ),
    ];
    const SQLITE_ONLY: &[(&str, &str)] = &[];
    let postgres: BTreeSet<&str> = aeon::store::postgres::sql::all().map(|(name, _)| name).collect();
    let sqlite: BTreeSet<&str> = sql::all().map(|(name, _)| name).collect();
    let listed = |only: &[(&'static str, &str)]| only.iter().map(|(name, _)| *name).collect::<BTreeSet<&str>>();
    let postgres_only: BTreeSet<&str> = postgres.difference(&sqlite).copied().collect();
    let sqlite_only: BTreeSet<&str> = sqlite.difference(&postgres).copied().collect();
    assert_eq!(postgres_only, listed(POSTGRES_ONLY), "statements only Postgres declares");
    assert_eq!(sqlite_only, listed(SQLITE_ONLY), "statements only SQLite declares");
    assert!(postgres.len() > 50, "every file's statements are listed: {}", postgres.len());
}
