//! `aeon snapshot create|list|show|verify|restore`: a node's state snapshots through
//! its API. `verify` exits 4 (as a conflict) when the snapshot does not verify.

use clap::Subcommand;
use serde_json::{Value, json};

use super::render::{table, text};
use super::{CliError, Client, ClientOptions, id_path, pretty, query};

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Take a snapshot of the node's actors now.
    Create {
        /// FULL (everything), INCREMENTAL (the change since the node's latest
        /// snapshot) or AUTO.
        #[arg(long = "type", default_value = "FULL")]
        snapshot_type: String,
    },
    /// List snapshots, newest first.
    List {
        /// Only snapshots of this type: FULL, INCREMENTAL or AUTO.
        #[arg(long = "type")]
        snapshot_type: Option<String>,
        /// At most this many (1 to 1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The next page: the cursor printed after the previous one (`more: --cursor …`).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show a snapshot: its metadata, whether it verifies, and (with --json) its state.
    Show {
        /// The snapshot's id.
        id: String,
    },
    /// Check a snapshot and its chain (checksum, schema version, shape, parents);
    /// exit 0 if it may be restored, 4 if not.
    Verify {
        /// The snapshot's id.
        id: String,
    },
    /// Restore the node's actors (worker health, restart counters) from a snapshot.
    /// Jobs are never touched. Refused, changing nothing, if it does not verify.
    Restore {
        /// The snapshot's id.
        id: String,
    },
}

/// Runs a `snapshot` subcommand; answers the text to print.
pub fn snapshot(options: ClientOptions, command: SnapshotCommand) -> Result<String, CliError> {
    let json_out = options.json;
    let client = Client::new(options);
    let (value, shown) = match command {
        SnapshotCommand::Create { snapshot_type } => {
            let value = client.call("POST", "/v1/snapshots", Some(json!({ "type": snapshot_type })))?;
            // An AUTO snapshot's content is FULL or INCREMENTAL; the others' content
            // is their type, said once.
            let (kind, content) = (text(&value["snapshot_type"]), text(&value["content"]));
            let shown = if kind == content {
                format!("{} {kind}", text(&value["snapshot_id"]))
            } else {
                format!("{} {kind} ({content} content)", text(&value["snapshot_id"]))
            };
            (value, shown)
        }
        SnapshotCommand::List { snapshot_type, limit, cursor } => {
            let q = query(&[("type", snapshot_type), ("limit", Some(limit.to_string())), ("cursor", cursor)]);
            let value = client.call("GET", &format!("/v1/snapshots{q}"), None)?;
            let shown = list(&value);
            (value, shown)
        }
        SnapshotCommand::Show { id } => {
            let value = client.call("GET", &format!("/v1/snapshots/{}", id_path(&id)), None)?;
            let shown = show(&value);
            (value, shown)
        }
        SnapshotCommand::Verify { id } => {
            let value = client.call("GET", &format!("/v1/snapshots/{}", id_path(&id)), None)?;
            let verify = &value["verify"];
            if verify["ok"] != Value::Bool(true) {
                let message = verify["error"]["message"].as_str().unwrap_or("it does not verify");
                return Err(CliError::new(4, format!("does not verify: {message}")));
            }
            (verify.clone(), format!("ok: {}", chain(&verify["chain"])))
        }
        SnapshotCommand::Restore { id } => {
            let value = client.call("POST", &format!("/v1/snapshots/{}/restore", id_path(&id)), None)?;
            let shown = restored(&value);
            (value, shown)
        }
    };
    Ok(if json_out { pretty(&value) } else { shown })
}

fn chain(v: &Value) -> String {
    let ids: Vec<String> = v.as_array().into_iter().flatten().map(text).collect();
    if ids.is_empty() { "-".into() } else { ids.join(" -> ") }
}

fn list(v: &Value) -> String {
    let rows = v["snapshots"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            ["snapshot_id", "snapshot_type", "content", "created_at", "node_id", "parent_id"]
                .map(|f| text(&s[f]))
                .to_vec()
        })
        .collect();
    let mut out = table(&["SNAPSHOT_ID", "TYPE", "CONTENT", "CREATED_AT", "NODE", "PARENT"], rows);
    if let Some(next) = v["next_cursor"].as_str() {
        out.push_str(&format!("\nnext page: --cursor {next}"));
    }
    out
}

fn show(v: &Value) -> String {
    let fields = [
        "snapshot_id",
        "snapshot_type",
        "content",
        "created_at",
        "node_id",
        "parent_id",
        "depth",
        "schema_version",
        "checksum",
        "config_fingerprint",
    ];
    let mut out: Vec<String> = fields.iter().map(|f| format!("{f:<19} {}", text(&v[*f]))).collect();
    let verify = &v["verify"];
    let verdict = if verify["ok"] == Value::Bool(true) {
        format!("ok ({})", chain(&verify["chain"]))
    } else {
        format!("FAILED: {}", text(&verify["error"]["message"]))
    };
    out.push(format!("{:<19} {verdict}", "verify"));
    if let Some(workers) = v["state_data"]["workers"].as_array() {
        out.push(String::new());
        let rows = workers
            .iter()
            .map(|w| {
                vec![
                    text(&w["worker_id"]),
                    text(&w["status"]),
                    text(&w["health"]["score"]),
                    text(&w["restarts"]["failure_count"]),
                    text(&w["slots"]["load"]),
                ]
            })
            .collect();
        out.push(table(&["WORKER_ID", "STATUS", "SCORE", "FAILURES", "LOAD"], rows));
    }
    out.join("\n")
}

fn restored(v: &Value) -> String {
    let workers = v["workers"].as_array().cloned().unwrap_or_default();
    let mut out = vec![format!("restored from {} ({})", text(&v["snapshot_id"]), chain(&v["chain"]))];
    if v["config_matches"] == Value::Bool(false) {
        out.push("warning: the snapshot was taken under another configuration".into());
    }
    let rows =
        workers.iter().map(|w| vec![text(&w["snapshot_worker_id"]), text(&w["worker_id"]), text(&w["note"])]).collect();
    out.push(table(&["SNAPSHOT_WORKER", "WORKER_ID", "NOTE"], rows));
    let in_flight = v["in_flight"].as_array().cloned().unwrap_or_default();
    let held = in_flight.iter().filter(|c| c["same_claim"] == Value::Bool(true)).count();
    out.push(format!(
        "in flight at the snapshot: {} ({held} still held by the same execution); jobs were not touched",
        in_flight.len()
    ));
    out.join("\n")
}
