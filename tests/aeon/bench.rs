//! `aeon bench` runs its scenarios and writes its report. It reports timings; these
//! tests check what it reports and that it cleans up after itself, never a timing.

use std::path::Path;

use serde_json::Value;

use crate::common::{TestDb, postgres_only};

/// Runs `aeon bench <args> --json` in `dir` (with `REDIS_URL` = `redis_url`, if
/// given); answers the results and the report.
async fn bench(dir: &Path, database_url: Option<String>, args: &[&str]) -> (Value, String) {
    bench_with_redis(dir, database_url, None, args).await
}

async fn bench_with_redis(
    dir: &Path,
    database_url: Option<String>,
    redis_url: Option<String>,
    args: &[&str],
) -> (Value, String) {
    let report = dir.join("BENCH.md");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_aeon"));
    command
        .arg("bench")
        .args(["--jobs", "300", "--latency-jobs", "5", "--runs", "1", "--json", "--report"])
        .arg(&report)
        .args(args)
        .current_dir(dir)
        .env("TMPDIR", dir) // its scratch files land here, where the test can look
        .env_remove("DATABASE_URL")
        .env("REDIS_URL", redis_url.unwrap_or_default())
        .env("AEON__RETRY__BASE_MS", "10")
        .env("RUST_LOG", "error");
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    let out = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let results: Value = serde_json::from_slice(&out.stdout).expect("--json prints the results");
    (results, std::fs::read_to_string(report).expect("the report is written"))
}

fn scenarios(results: &Value) -> Vec<String> {
    let measurements = results["measurements"].as_array().unwrap();
    for m in measurements {
        let (min, median, max) =
            (m["min"].as_f64().unwrap(), m["median"].as_f64().unwrap(), m["max"].as_f64().unwrap());
        assert!(min <= median && median <= max, "a median lies within its spread: {m}");
        assert!(m["runs"].as_u64().unwrap() >= 1, "{m}");
    }
    measurements.iter().map(|m| m["scenario"].as_str().unwrap().to_string()).collect()
}

/// Held by each test that counts every bench schema of the database at its end: two
/// such benches at once would each see the other's scratch schema.
static COUNTS_SCHEMAS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn scratch_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("aeon-bench-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn every_scenario_runs_with_sqlite_side_by_side_and_scratch_schemas_are_dropped(db: TestDb) {
    let _alone = COUNTS_SCHEMAS.lock().await;
    let dir = scratch_dir();
    let (results, markdown) = bench(&dir, Some(crate::common::database_url()), &["--sqlite"]).await;
    let names = scenarios(&results);
    for expected in [
        "memory: idle node RSS",
        "throughput: end-to-end jobs/s",
        "limit: plain SQL jobs/s",
        "latency: p99",
        "recovery: worker panic",
        "actors: awaited round trips/s",
        "throughput / limit ratio",
        "throughput: end-to-end jobs/s (sqlite)",
        "latency: p99 (sqlite)",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    assert!(markdown.starts_with("# Benchmarks") && markdown.contains("| throughput: end-to-end jobs/s (sqlite) |"));
    let schemas: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_namespace WHERE nspname LIKE 'aeon_bench_%'")
        .fetch_one(&db.postgres().pool)
        .await
        .unwrap();
    assert_eq!(schemas, 0, "the bench drops its scratch schemas");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The cluster scenario, tiny: its measurements, in a section of their own that keeps
/// the report's other sections.
async fn the_cluster_scenario_runs_and_writes_its_own_section(db: TestDb) {
    let _alone = COUNTS_SCHEMAS.lock().await;
    let dir = scratch_dir();
    std::fs::write(dir.join("BENCH.md"), "# Benchmarks\n\n## An earlier run\n\nkept\n").unwrap();
    let redis = crate::common::redis::TestRedis::start(None).await;
    let database_url = Some(crate::common::database_url());
    let (results, markdown) = bench_with_redis(&dir, database_url, Some(redis.url()), &["--scenario", "cluster"]).await;
    let names = scenarios(&results);
    for expected in [
        "cluster: cross-node pickup p50",
        "cluster: cross-node pickup p99",
        "cluster: 1 node jobs/s",
        "cluster: 2 nodes jobs/s",
        "cluster: failover p50",
        "cluster: failover max",
        "cluster: mailbox messages/s",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    assert!(markdown.contains("## An earlier run\n\nkept"), "the other sections are kept: {markdown}");
    assert!(markdown.contains("## The cluster scenario") && markdown.contains("| cluster: failover max |"));
    let schemas: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_namespace WHERE nspname LIKE 'aeon_bench_%'")
        .fetch_one(&db.postgres().pool)
        .await
        .unwrap();
    assert_eq!(schemas, 0, "the bench drops its scratch schemas");
    let _ = std::fs::remove_dir_all(&dir);
}

postgres_only!(
    every_scenario_runs_with_sqlite_side_by_side_and_scratch_schemas_are_dropped,
    the_cluster_scenario_runs_and_writes_its_own_section,
);

#[actix_rt::test]
async fn on_the_embedded_default_the_bench_runs_on_sqlite_and_skips_the_postgres_ceiling() {
    let dir = scratch_dir();
    let (results, _) =
        bench(&dir, None, &["--scenario", "throughput", "--scenario", "latency", "--scenario", "limit"]).await;
    let names = scenarios(&results);
    assert!(names.iter().any(|n| n == "throughput: end-to-end jobs/s"), "{names:?}");
    assert!(names.iter().any(|n| n == "latency: p50"), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("limit")), "the ceiling is a Postgres loop: {names:?}");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("aeon-bench-"))
        .collect();
    assert!(leftovers.is_empty(), "scratch files are removed: {leftovers:?}");
    assert!(!dir.join("aeon-data").exists(), "the bench never touches the node's own database");
    let _ = std::fs::remove_dir_all(&dir);
}
