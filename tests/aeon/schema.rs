//! The live schema matches what the code reads and writes: every column, its type and
//! nullability, every status value, and every statement prepares against it. The
//! Postgres checks read Postgres' catalogue (and its planner), so they are
//! Postgres-only by nature; `sqlite_schema` holds the same checks for SQLite.

use std::collections::BTreeSet;

use aeon::store::postgres::schema::{EXPECTED_COLUMNS, expected_status_values};
use aeon::store::postgres::sql;
use sqlx::{Executor, Row};

use crate::common::postgres::PgSchema;
use crate::common::{TestDb, postgres_only};

/// The seven tables of MISSION.md. The schema has them all, and may have more (the
/// execution contexts' `job_checkpoints` and `execution_contexts`).
const TABLES: [&str; 7] = [
    "jobs",
    "workers",
    "job_executions",
    "dead_letter_queue",
    "job_dependencies",
    "worker_health_logs",
    "state_snapshots",
];

async fn live_columns_match_the_columns_the_code_expects(db: TestDb) {
    let db = db.postgres();
    let tables: BTreeSet<&str> = EXPECTED_COLUMNS.iter().map(|c| c.0).collect();
    let rows = sqlx::query(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text
         FROM information_schema.columns WHERE table_schema = $1 AND table_name = ANY($2)",
    )
    .bind(&db.schema)
    .bind(tables.iter().copied().collect::<Vec<_>>())
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let live: BTreeSet<(String, String, String, bool)> =
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get::<String, _>(3) == "YES")).collect();
    let expected: BTreeSet<(String, String, String, bool)> =
        EXPECTED_COLUMNS.iter().map(|(t, c, ty, null)| (t.to_string(), c.to_string(), ty.to_string(), *null)).collect();
    let missing: Vec<_> = expected.difference(&live).collect();
    let unexpected: Vec<_> = live.difference(&expected).collect();
    assert!(missing.is_empty(), "the code expects columns the schema lacks: {missing:?}");
    assert!(unexpected.is_empty(), "the schema has columns the code does not know: {unexpected:?}");
    assert!(TABLES.iter().all(|t| tables.contains(t)), "all seven tables of MISSION.md");
}

async fn every_statement_prepares_against_the_live_schema(db: TestDb) {
    let db = db.postgres();
    let mut conn = db.pool.acquire().await.unwrap();
    for (name, statement) in sql::all() {
        if let Err(e) = conn.prepare(sqlx::SqlSafeStr::into_sql_str(statement)).await {
            panic!("statement {name} does not fit the schema: {e}");
        }
    }
}

async fn check_constraints_allow_exactly_the_status_values_of_the_code(db: TestDb) {
    let db = db.postgres();
    for (table, column, values) in expected_status_values() {
        let definitions: Vec<String> = sqlx::query_scalar(
            "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
             JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
             WHERE n.nspname = $1 AND t.relname = $2 AND c.contype = 'c'",
        )
        .bind(&db.schema)
        .bind(table)
        .fetch_all(&db.pool)
        .await
        .unwrap();
        let definition = definitions
            .iter()
            .find(|d| d.contains(&format!("({column})::text")) && d.contains("ARRAY"))
            .unwrap_or_else(|| panic!("no CHECK constraint on {table}.{column}: {definitions:?}"));
        let allowed: BTreeSet<String> = definition.split('\'').skip(1).step_by(2).map(str::to_string).collect();
        let expected: BTreeSet<String> = values.iter().map(|v| v.to_string()).collect();
        assert_eq!(allowed, expected, "{table}.{column}");
    }
}

/// The plan `statement` gets as a cached generic plan after `begin`, on this schema.
async fn generic_plan(db: &PgSchema, begin: &str, params: &str, statement: &str, args: &str) -> String {
    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(begin.to_string())).execute(&mut *conn).await.unwrap();
    let prepare = format!("PREPARE hot({params}) AS {statement}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(prepare)).execute(&mut *conn).await.unwrap();
    let explain = format!("EXPLAIN EXECUTE hot({args})");
    let lines: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(explain)).fetch_all(&mut *conn).await.unwrap();
    // A prepared statement outlives the transaction: drop it, the connection goes back
    // to the pool and the next plan may get it.
    sqlx::raw_sql("ROLLBACK; DEALLOCATE hot").execute(&mut *conn).await.unwrap();
    lines.join("\n")
}

async fn claims_and_completions_find_rows_by_key_whatever_the_statistics(db: TestDb) {
    let db = db.postgres();
    // A fresh, never analyzed schema: the statistics that mislead the planner most.
    let claim = generic_plan(
        db,
        &sql::begin_with_settings(sql::claim_session()),
        "uuid[], timestamptz, timestamptz, text[], uuid[], int4",
        sql::CLAIM,
        "'{}', now(), now(), '{noop}', '{}', 0",
    )
    .await;
    assert!(claim.contains("Index Scan using jobs_claim_idx on jobs"), "the claim walks the claim index:\n{claim}");
    let complete = generic_plan(
        db,
        &sql::BEGIN_COMPLETE,
        "uuid[], uuid[], text[], timestamptz",
        sql::COMPLETE,
        "'{}', '{}', '{}', now()",
    )
    .await;
    assert!(complete.contains("Index Scan using jobs_pkey on jobs"), "the completion finds jobs by key:\n{complete}");
    let renew = generic_plan(
        db,
        &sql::begin_with_settings(sql::claim_session()),
        "uuid[], uuid[], timestamptz",
        sql::EXTEND_LEASES,
        "'{}', '{}', now()",
    )
    .await;
    assert!(renew.contains("Index Scan using jobs_pkey on jobs"), "lease renewal finds jobs by key:\n{renew}");
    // Runs in every completion's transaction: a plan that started from the jobs (no
    // index lists the waiting ones) would read the whole table per batch.
    let dependents = generic_plan(db, &sql::BEGIN_COMPLETE, "uuid[]", sql::LOCK_WAITING_DEPENDENTS, "'{}'").await;
    assert!(
        dependents.contains("Index Scan using job_dependencies_depends_on_idx")
            && dependents.contains("Index Cond: (job_id = ANY"),
        "the dependents are found through the edges, then by key:\n{dependents}"
    );
    for (name, plan) in
        [("claim", &claim), ("completion", &complete), ("lease renewal", &renew), ("dependents", &dependents)]
    {
        for scan in ["Seq Scan", "Bitmap", "Hash Join", "Merge Join"] {
            assert!(!plan.contains(scan), "the {name} plan holds a {scan}, which grows with the table:\n{plan}");
        }
    }
}

postgres_only!(
    live_columns_match_the_columns_the_code_expects,
    every_statement_prepares_against_the_live_schema,
    check_constraints_allow_exactly_the_status_values_of_the_code,
    claims_and_completions_find_rows_by_key_whatever_the_statistics,
);
