//! The `aeon` binary as a client of a test node: output and exit codes.

use std::process::Command;

use serde_json::Value;

use crate::common::api::ApiNode;

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `aeon <args>` against `url` off the actors' thread.
async fn aeon(url: &str, token: Option<&str>, args: &[&str]) -> Ran {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aeon"));
    command.args(args).env("AEON_URL", url).env_remove("AEON_TOKEN");
    if let Some(token) = token {
        command.env("AEON_TOKEN", token);
    }
    let out = tokio::task::spawn_blocking(move || command.output().expect("run aeon")).await.unwrap();
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[actix_rt::test]
async fn the_cli_drives_a_node_with_tables_json_and_exit_codes() {
    let api = ApiNode::start(|_| {}).await;
    let url = api.url();

    let submitted = aeon(&url, None, &["job", "submit", "--type", "echo", "--payload", r#"{"n":1}"#]).await;
    assert_eq!(submitted.code, 0, "{}", submitted.stderr);
    let id = submitted.stdout.split_whitespace().next().unwrap().to_string();
    assert!(uuid::Uuid::try_parse(&id).is_ok(), "{}", submitted.stdout);
    api.until_finished(&id).await;

    let shown = aeon(&url, None, &["job", "show", &id]).await;
    assert_eq!(shown.code, 0);
    assert!(shown.stdout.contains("COMPLETED") && shown.stdout.contains("SUCCEEDED"), "{}", shown.stdout);
    let json = aeon(&url, None, &["job", "show", &id, "--json"]).await;
    let parsed: Value = serde_json::from_str(&json.stdout).expect("--json prints JSON");
    assert_eq!(parsed["result"]["n"], 1);

    let listed = aeon(&url, None, &["job", "list", "--type", "echo"]).await;
    assert_eq!(listed.code, 0);
    assert!(listed.stdout.starts_with("JOB_ID") && listed.stdout.contains(&id), "{}", listed.stdout);
    let workers = aeon(&url, None, &["workers"]).await;
    assert!(workers.stdout.starts_with("WORKER_ID"), "{}", workers.stdout);
    let stats = aeon(&url, None, &["stats", "--json"]).await;
    assert_eq!(serde_json::from_str::<Value>(&stats.stdout).unwrap()["jobs"]["COMPLETED"], 1);
    assert_eq!(aeon(&url, None, &["dlq", "list"]).await.code, 0);

    // Exit codes scripts rely on.
    let conflict = aeon(&url, None, &["job", "cancel", &id]).await;
    assert_eq!(conflict.code, 4, "{}", conflict.stderr);
    assert!(conflict.stderr.starts_with("error: 409"), "{}", conflict.stderr);
    assert_eq!(aeon(&url, None, &["job", "show", &uuid::Uuid::new_v4().to_string()]).await.code, 3);
    let bad = aeon(&url, None, &["job", "show", "not-an-id"]).await;
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("job_id"), "{}", bad.stderr);
    let invalid = aeon(&url, None, &["job", "submit", "--type", "noop", "--timeout-ms", "-5"]).await;
    assert_eq!(invalid.code, 2);
    assert!(invalid.stderr.contains("timeout_ms"), "{}", invalid.stderr);
    assert_eq!(aeon(&url, None, &["job", "submit", "--type", "noop", "--payload", "{oops"]).await.code, 2);
    assert_eq!(aeon("http://127.0.0.1:1", None, &["stats"]).await.code, 1, "unreachable node");
    api.stop().await;

    let guarded = ApiNode::start(|c| c.api.token = "cli-token-123".into()).await;
    assert_eq!(aeon(&guarded.url(), None, &["stats"]).await.code, 5);
    assert_eq!(aeon(&guarded.url(), Some("cli-token-123"), &["stats"]).await.code, 0);
    guarded.stop().await;
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["node", "--help"],
        vec!["job", "--help"],
        vec!["job", "submit", "--help"],
        vec!["job", "list", "--help"],
        vec!["dlq", "requeue", "--help"],
        vec!["workers", "--help"],
        vec!["stats", "--help"],
        vec!["snapshot", "--help"],
        vec!["snapshot", "restore", "--help"],
        vec!["migrate", "--help"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_aeon")).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"), "{args:?}");
    }
}
