//! The embedded default, as a newcomer meets it: `aeon node` with no configuration at
//! all runs on a SQLite file it creates, says so in its first log line, and runs a job
//! submitted with the CLI; a second node on the same file is refused with advice.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aeon::retry::BackoffPolicy;
use aeon::store::StoreError;
use aeon::store::sqlite::SqliteStore;

/// A folder of its own, removed after the test: the node's working directory.
struct Folder(PathBuf);

impl Folder {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("aeon-embedded-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Folder(dir)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `aeon node` in `dir`, with nothing configured: no config file there, and none of
/// the environment variables that would name a store.
fn bare_node(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aeon"));
    command
        .arg("node")
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("AEON__STORE__URL")
        .env("AEON__API__BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// The node's log lines, read on a thread of their own.
fn log_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

fn next_line(lines: &std::sync::mpsc::Receiver<String>, what: &str) -> String {
    lines.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("no log line: {what}"))
}

/// Runs the CLI against `url`; answers (exit code, stdout).
fn cli(url: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aeon")).args(args).env("AEON_URL", url).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn with_no_configuration_a_node_runs_on_a_sqlite_file_and_a_cli_job_completes() {
    let folder = Folder::new();
    let mut node = bare_node(&folder.0).spawn().unwrap();
    let lines = log_lines(&mut node);
    let first = next_line(&lines, "the first");
    assert!(!first.contains('\u{1b}'), "no colour codes in a pipe: {first:?}");
    assert!(first.contains("embedded SQLite") && first.contains("sqlite://aeon-data/aeon.db"), "{first}");
    let listening = loop {
        let line = next_line(&lines, "HTTP API listening");
        if line.contains("HTTP API listening") {
            break line;
        }
    };
    assert!(folder.0.join("aeon-data/aeon.db").exists(), "the file is created on first start");
    let addr = listening.split("127.0.0.1:").nth(1).expect("the address").split(|c: char| !c.is_ascii_digit()).next();
    let url = format!("http://127.0.0.1:{}", addr.unwrap());

    let (code, out) = cli(&url, &["job", "submit", "--type", "echo", "--payload", r#"{"hello":"sqlite"}"#]);
    assert_eq!(code, 0, "{out}");
    let id = out.split_whitespace().next().unwrap().to_string();
    let start = Instant::now();
    loop {
        let (code, shown) = cli(&url, &["job", "show", &id, "--json"]);
        assert_eq!(code, 0);
        let job: serde_json::Value = serde_json::from_str(&shown).unwrap();
        if job["status"] == "COMPLETED" {
            assert_eq!(job["result"], serde_json::json!({"hello": "sqlite"}));
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the job did not complete: {shown}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // A second node on the same file is refused, and told what to do instead; its log
    // is JSON, one object per line, when asked.
    let second = bare_node(&folder.0).env("AEON__LOG__FORMAT", "json").output().unwrap();
    assert!(!second.status.success());
    let said = String::from_utf8_lossy(&second.stderr).into_owned();
    assert!(said.contains("already in use by another Aeon node") && said.contains("Postgres"), "{said}");
    let (log, error): (Vec<&str>, Vec<&str>) = said.lines().partition(|l| !l.starts_with("error:"));
    assert_eq!(error.len(), 1, "{said}");
    assert!(!log.is_empty(), "{said}");
    for line in log {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(entry["fields"]["message"].is_string(), "{line}");
    }

    let _ = Command::new("kill").args(["-TERM", &node.id().to_string()]).status();
    assert!(node.wait().unwrap().success(), "SIGTERM drains and exits 0");
}

#[actix_rt::test]
async fn a_second_store_on_one_sqlite_file_is_refused_until_the_first_lets_go() {
    let folder = Folder::new();
    let url = format!("sqlite://{}", folder.0.join("one.db").display());
    let first = SqliteStore::connect(&url, BackoffPolicy::default()).await.expect("the first store");
    let refused = SqliteStore::connect(&url, BackoffPolicy::default()).await.expect_err("a second is refused");
    assert!(matches!(refused, StoreError::Database(_)), "{refused}");
    let said = refused.to_string();
    assert!(said.contains("already in use") && said.contains("postgres://"), "{said}");
    drop(first);
    SqliteStore::connect(&url, BackoffPolicy::default()).await.expect("free again once the first is gone");
}

/// Another name for the same file (a symlink, to the file or to its folder) takes the
/// same lock.
#[actix_rt::test]
async fn a_symlink_to_a_locked_sqlite_file_is_refused_too() {
    let folder = Folder::new();
    let real = folder.0.join("real");
    std::fs::create_dir(&real).unwrap();
    let url = format!("sqlite://{}", real.join("one.db").display());
    let _first = SqliteStore::connect(&url, BackoffPolicy::default()).await.expect("the first store");
    std::os::unix::fs::symlink(real.join("one.db"), folder.0.join("alias.db")).unwrap();
    std::os::unix::fs::symlink(&real, folder.0.join("linked")).unwrap();
    for other in [folder.0.join("alias.db"), folder.0.join("linked").join("one.db")] {
        let url = format!("sqlite://{}", other.display());
        let refused = SqliteStore::connect(&url, BackoffPolicy::default()).await.expect_err("the same file");
        assert!(refused.to_string().contains("already in use"), "{}: {refused}", other.display());
    }
}
