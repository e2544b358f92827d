//! `aeon bench` runs its scenarios and writes its report. (It reports timings; this
//! test checks the report's shape, never a timing.)

use serde_json::Value;

use crate::common::{TestDb, postgres_only};

async fn the_bench_runs_every_scenario_and_writes_its_report(db: TestDb) {
    let report = std::env::temp_dir().join(format!("aeon-bench-{}.md", uuid::Uuid::new_v4()));
    let report_arg = report.display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_aeon"))
            .args(["bench", "--jobs", "300", "--latency-jobs", "5", "--runs", "1", "--json", "--report", &report_arg])
            .env("DATABASE_URL", crate::common::database_url())
            .env("AEON__RETRY__BASE_MS", "10")
            .env("RUST_LOG", "error")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let results: Value = serde_json::from_slice(&out.stdout).expect("--json prints the results");
    let scenarios: Vec<&str> =
        results["measurements"].as_array().unwrap().iter().map(|m| m["scenario"].as_str().unwrap()).collect();
    for expected in [
        "memory: idle node RSS",
        "throughput: end-to-end jobs/s",
        "limit: plain SQL jobs/s",
        "latency: p99",
        "recovery: worker panic",
        "actors: awaited round trips/s",
        "throughput / limit ratio",
    ] {
        assert!(scenarios.contains(&expected), "{expected} missing from {scenarios:?}");
    }
    assert!(results["measurements"].as_array().unwrap().iter().all(|m| m["median"].as_f64().unwrap() > 0.0));
    let markdown = std::fs::read_to_string(&report).unwrap();
    assert!(markdown.starts_with("# Benchmarks") && markdown.contains("| throughput / limit ratio |"));
    let _ = std::fs::remove_file(&report);
    let schemas: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_namespace WHERE nspname LIKE 'aeon_bench_%'")
        .fetch_one(&db.postgres().pool)
        .await
        .unwrap();
    assert_eq!(schemas, 0, "the bench drops its scratch schemas");
}

postgres_only!(the_bench_runs_every_scenario_and_writes_its_report);
