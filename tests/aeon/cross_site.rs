//! A web page the operator visits cannot drive the default node (loopback, no token)
//! through the browser: a form or `text/plain` body is 415, a write another site
//! sends (`Sec-Fetch-Site`, a foreign `Origin`) is 403 — body-less cancel and drain
//! included — and a `Host` a rebound name gives is 421. Nothing changes; the
//! dashboard's own requests, tools and allowed names still work.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use serde_json::Value;

use crate::common::api::ApiNode;

/// Sends one HTTP/1.1 request with exactly `headers` (and `Host` as given there, or
/// the node's address); answers (status, JSON body).
async fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
        request += &format!("Host: {addr}\r\n");
    }
    for (name, value) in headers {
        request += &format!("{name}: {value}\r\n");
    }
    request += &format!("\r\n{body}");
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        stream.write_all(request.as_bytes()).expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read the answer");
        let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
        let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (status, serde_json::from_str(body).unwrap_or(Value::String(body.into())))
    })
    .await
    .unwrap()
}

/// A job that waits (scheduled far ahead), so a refused cancel would be seen.
async fn waiting_job(api: &ApiNode) -> String {
    let (status, job) = api.post("/v1/jobs", r#"{"type":"noop","run_at":"2999-01-01T00:00:00Z"}"#).await;
    assert_eq!(status, 201, "{job}");
    job["job_id"].as_str().unwrap().to_string()
}

async fn status_of(api: &ApiNode, job_id: &str) -> String {
    api.get(&format!("/v1/jobs/{job_id}")).await.1["status"].as_str().unwrap_or_default().to_string()
}

fn refusal(answer: &(u16, Value)) -> (u16, &str, &str) {
    let error = &answer.1["error"];
    (answer.0, error["code"].as_str().unwrap_or(""), error["field"].as_str().unwrap_or(""))
}

#[actix_rt::test]
async fn form_and_text_bodies_are_415_naming_content_type_and_write_nothing() {
    let api = ApiNode::start(|_| {}).await;
    let json = r#"{"type":"noop"}"#;
    for kind in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let answer = send(api.addr, "POST", "/v1/jobs", &[("Content-Type", kind)], json).await;
        assert_eq!(refusal(&answer), (415, "unsupported_media_type", "Content-Type"), "{kind}: {}", answer.1);
        assert!(answer.1["error"]["message"].as_str().unwrap().contains("application/json"), "{}", answer.1);
    }
    let untyped = send(api.addr, "POST", "/v1/jobs", &[], json).await;
    assert_eq!(refusal(&untyped).0, 415, "{}", untyped.1);
    let text = [("Content-Type", "text/plain")];
    assert_eq!(
        refusal(&send(api.addr, "POST", "/v1/jobs/bulk", &text, r#"{"action":"cancel","filter":{}}"#).await).0,
        415
    );
    assert_eq!(api.db.count("SELECT COUNT(*) FROM jobs").await, 0, "nothing was written");

    let typed = send(api.addr, "POST", "/v1/jobs", &[("Content-Type", "application/json; charset=utf-8")], json).await;
    assert_eq!(typed.0, 201, "JSON with a charset is JSON: {}", typed.1);
    api.stop().await;
}

#[actix_rt::test]
async fn writes_from_another_site_are_403_and_change_nothing() {
    let api = ApiNode::start(|_| {}).await;
    let job = waiting_job(&api).await;
    let cancel = format!("/v1/jobs/{job}/cancel");
    let drain = format!("/v1/nodes/{}/drain", api.node.node_id);
    let json = ("Content-Type", "application/json");
    let evil = ("Origin", "http://evil.example");

    // Body-less: no Content-Type to check, the origin alone refuses them.
    assert_eq!(refusal(&send(api.addr, "POST", &cancel, &[evil], "").await), (403, "cross_site", "Origin"));
    assert_eq!(refusal(&send(api.addr, "POST", &drain, &[evil], "").await), (403, "cross_site", "Origin"));
    let other_port = ("Origin", "http://127.0.0.1:1");
    assert_eq!(refusal(&send(api.addr, "POST", &cancel, &[other_port], "").await).0, 403, "another local port");
    let sandboxed = send(api.addr, "POST", &drain, &[("Origin", "null")], "").await;
    assert_eq!(refusal(&sandboxed).0, 403, "{}", sandboxed.1);
    // A JSON bulk cancel of everything, told apart by the browser's Sec-Fetch-Site.
    let everything = r#"{"action":"cancel","filter":{}}"#;
    for site in ["cross-site", "same-site"] {
        let answer = send(api.addr, "POST", "/v1/jobs/bulk", &[json, ("Sec-Fetch-Site", site)], everything).await;
        assert_eq!(refusal(&answer), (403, "cross_site", "Sec-Fetch-Site"), "{site}: {}", answer.1);
    }
    let restore = format!("/v1/snapshots/{}/restore", uuid::Uuid::new_v4());
    assert_eq!(refusal(&send(api.addr, "POST", &restore, &[evil], "").await).0, 403);

    assert_eq!(status_of(&api, &job).await, "PENDING", "the job was not cancelled");
    let (ready, health) = api.get("/readyz").await;
    assert_eq!(ready, 200, "the node is not draining: {health}");
    // Reads are not refused: the browser keeps a cross-site answer from the page.
    let read = send(api.addr, "GET", "/v1/stats", &[evil, ("Sec-Fetch-Site", "cross-site")], "").await;
    assert_eq!(read.0, 200, "{}", read.1);

    // The dashboard's own requests: same origin, as a browser sends them.
    let origin = format!("http://{}", api.addr);
    let dashboard = [("Origin", origin.as_str()), ("Sec-Fetch-Site", "same-origin")];
    let answer = send(api.addr, "POST", &cancel, &dashboard, "").await;
    assert_eq!((answer.0, answer.1["status"].as_str()), (200, Some("CANCELLED")), "{}", answer.1);
    api.stop().await;
}

#[actix_rt::test]
async fn a_rebound_host_is_421_on_a_loopback_bind_and_reaches_nothing() {
    let api = ApiNode::start(|_| {}).await;
    let job = waiting_job(&api).await;
    let rebound = format!("evil.example:{}", api.addr.port());
    let host = ("Host", rebound.as_str());
    let read = send(api.addr, "GET", "/v1/jobs", &[host], "").await;
    assert_eq!(refusal(&read), (421, "foreign_host", "Host"), "a rebound page cannot read: {}", read.1);
    assert!(read.1["error"]["message"].as_str().unwrap().contains("api.allowed_hosts"), "{}", read.1);
    let cancel = send(api.addr, "POST", &format!("/v1/jobs/{job}/cancel"), &[host], "").await;
    assert_eq!(refusal(&cancel).0, 421);
    let typed = [host, ("Content-Type", "application/json")];
    assert_eq!(refusal(&send(api.addr, "POST", "/v1/jobs", &typed, r#"{"type":"noop"}"#).await).0, 421);
    assert_eq!(send(api.addr, "GET", "/ui/", &[host], "").await.0, 421, "nor load the dashboard");
    assert_eq!(status_of(&api, &job).await, "PENDING");
    assert_eq!(api.db.count("SELECT COUNT(*) FROM jobs").await, 1, "nothing was written");

    let localhost = format!("localhost:{}", api.addr.port());
    assert_eq!(send(api.addr, "GET", "/v1/jobs", &[("Host", localhost.as_str())], "").await.0, 200);
    api.stop().await;
}

#[actix_rt::test]
async fn allowed_hosts_and_origins_let_a_proxy_and_another_dashboard_in() {
    let api = ApiNode::start(|c| {
        c.api.allowed_hosts = vec!["aeon.internal".into()];
        c.api.allowed_origins = vec!["https://ops.example".into()];
    })
    .await;
    let job = waiting_job(&api).await;
    let named = send(api.addr, "GET", "/v1/jobs", &[("Host", "aeon.internal")], "").await;
    assert_eq!(named.0, 200, "{}", named.1);
    let theirs = [("Origin", "https://ops.example"), ("Sec-Fetch-Site", "cross-site")];
    let answer = send(api.addr, "POST", &format!("/v1/jobs/{job}/cancel"), &theirs, "").await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    let others = [("Origin", "https://ops.example.evil"), ("Sec-Fetch-Site", "cross-site")];
    assert_eq!(send(api.addr, "POST", "/v1/nodes/x/drain", &others, "").await.0, 403);
    api.stop().await;
}
