//! `/v1/snapshots` and `aeon snapshot …` against a node with its API.

use std::process::Command;

use serde_json::{Value, json};

use super::tampered;
use crate::common::api::ApiNode;

/// Runs `aeon <args>` against `url` off the actors' thread: (exit code, stdout, stderr).
async fn aeon(url: &str, args: &[&str]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aeon"));
    command.args(args).env("AEON_URL", url).env_remove("AEON_TOKEN");
    let out = tokio::task::spawn_blocking(move || command.output().expect("run aeon")).await.unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[actix_rt::test]
async fn the_api_takes_lists_shows_verifies_and_restores_snapshots() {
    let api = ApiNode::start(|c| c.snapshots.auto_interval_s = 0).await;

    let (status, full) = api.post("/v1/snapshots", r#"{"type":"FULL"}"#).await;
    assert_eq!(status, 201, "{full}");
    assert_eq!((full["snapshot_type"].as_str(), full["content"].as_str()), (Some("FULL"), Some("FULL")));
    assert!(full["checksum"].as_str().unwrap().starts_with("sha256:"), "{full}");
    let full_id = full["snapshot_id"].as_str().unwrap().to_string();
    let (status, inc) = api.post("/v1/snapshots", r#"{"type":"INCREMENTAL"}"#).await;
    assert_eq!(status, 201, "{inc}");
    assert_eq!(inc["parent_id"].as_str(), Some(full_id.as_str()));
    let inc_id = inc["snapshot_id"].as_str().unwrap().to_string();

    let (status, bad) = api.post("/v1/snapshots", r#"{"type":"WEEKLY"}"#).await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["error"]["field"], "type");
    assert!(bad["error"]["message"].as_str().unwrap().contains("WEEKLY"), "{bad}");
    assert_eq!(api.post("/v1/snapshots", r#"{"kind":"FULL"}"#).await.0, 422);
    assert_eq!(api.post("/v1/snapshots", "{oops").await.0, 400);

    let (status, page) = api.get("/v1/snapshots").await;
    assert_eq!(status, 200);
    let listed: Vec<&str> =
        page["snapshots"].as_array().unwrap().iter().map(|s| s["snapshot_id"].as_str().unwrap()).collect();
    assert_eq!(listed, [inc_id.as_str(), full_id.as_str()]);
    let (_, fulls) = api.get("/v1/snapshots?type=FULL").await;
    assert_eq!(fulls["snapshots"].as_array().unwrap().len(), 1);
    assert_eq!(api.get("/v1/snapshots?type=HOURLY").await.0, 400);
    assert_eq!(api.get("/v1/snapshots?cursor=nope").await.0, 400);

    let (status, shown) = api.get(&format!("/v1/snapshots/{inc_id}")).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["verify"], json!({"ok": true, "error": null, "chain": [full_id, inc_id]}));
    assert_eq!(shown["state_data"]["node_id"], api.node.node_id.as_str());
    assert_eq!(api.get(&format!("/v1/snapshots/{}", uuid::Uuid::now_v7())).await.0, 404);
    assert_eq!(api.get("/v1/snapshots/not-an-id").await.0, 400);

    let (status, report) = api.post(&format!("/v1/snapshots/{inc_id}/restore"), "").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["chain"], json!([full_id, inc_id]));
    assert_eq!(report["workers"].as_array().unwrap().len(), 2);

    // A snapshot whose content changed: shown as not verifying; a restore is refused.
    let store = api.db.store(Default::default());
    let row = store.get_snapshot(full_id.parse().unwrap()).await.unwrap().unwrap();
    let bad = tampered(&row, false, |s| s["workers"][0]["health"]["score"] = json!(0.5), |_| {});
    store.insert_snapshot(bad.clone()).await.unwrap();
    let (_, shown) = api.get(&format!("/v1/snapshots/{}", bad.snapshot_id)).await;
    assert_eq!(shown["verify"]["ok"], false);
    assert_eq!(shown["verify"]["error"]["code"], "checksum_mismatch");
    let (status, refused) = api.post(&format!("/v1/snapshots/{}/restore", bad.snapshot_id), "").await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "checksum_mismatch");

    // The CLI, over the same API.
    let url = api.url();
    let (code, out, err) = aeon(&url, &["snapshot", "create"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.trim_end().ends_with(" FULL") && !out.contains("FULL FULL"), "the type, said once: {out}");
    let (code, out, err) = aeon(&url, &["snapshot", "create", "--type", "AUTO"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(" AUTO (") && out.contains(" content)"), "an AUTO one says its content: {out}");
    let (code, out, _) = aeon(&url, &["snapshot", "list"]).await;
    assert_eq!(code, 0);
    assert!(out.starts_with("SNAPSHOT_ID") && out.contains(&inc_id), "{out}");
    let (code, out, _) = aeon(&url, &["snapshot", "show", &inc_id]).await;
    assert_eq!(code, 0);
    assert!(out.contains("verify") && out.contains("ok (") && out.contains("WORKER_ID"), "{out}");
    let (code, out, _) = aeon(&url, &["snapshot", "verify", &inc_id]).await;
    assert_eq!((code, out.trim()), (0, format!("ok: {full_id} -> {inc_id}").as_str()));
    let (code, _, err) = aeon(&url, &["snapshot", "verify", &bad.snapshot_id.to_string()]).await;
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("does not match its checksum"), "{err}");
    let (code, out, err) = aeon(&url, &["snapshot", "restore", &full_id]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(&format!("restored from {full_id}")), "{out}");
    let (code, _, err) = aeon(&url, &["snapshot", "restore", &bad.snapshot_id.to_string()]).await;
    assert_eq!(code, 4, "{err}");
    let (code, out, _) = aeon(&url, &["snapshot", "list", "--json", "--type", "FULL"]).await;
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["snapshots"].as_array().unwrap().len(), 3);
    let (code, _, _) = aeon(&url, &["snapshot", "create", "--type", "SOMETIMES"]).await;
    assert_eq!(code, 2);
    api.stop().await;
}
