//! What keeps a web page from driving the node through its operator's browser.
//!
//! The default node listens on loopback with no token: any page the operator visits
//! could otherwise post to it (a form or a `text/plain` fetch needs no CORS
//! preflight), and a page on a name rebound to 127.0.0.1 (DNS rebinding) could read
//! it as well. So, before any handler:
//!
//! - on a loopback bind, `Host` must name this machine (`localhost`, a loopback IP,
//!   or an `api.allowed_hosts` entry), else 421 — a rebound name sends its own;
//! - a write (any method but GET, HEAD, OPTIONS) from another site is 403: a browser
//!   says so in `Sec-Fetch-Site` (only `same-origin` and `none` pass) and in an
//!   `Origin` whose host and port differ from `Host` — unless that origin is in
//!   `api.allowed_origins`;
//! - a routed write with a body must say `Content-Type: application/json`, else 415
//!   (forms and `text/plain`, which browsers send cross-site without asking, never
//!   reach a handler). Body-less writes (cancel, drain) need no type.
//!
//! Clients that are not browsers (the CLI, curl, scripts) send no `Origin` nor
//! `Sec-Fetch-Site` and pass, as long as they name the node as they reach it.

use std::net::IpAddr;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderMap, ORIGIN, TRANSFER_ENCODING};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web;

use super::ApiError;
use super::error::bounded;
use crate::config::ApiConfig;

/// What the guard lets through, fixed when the server starts.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Every address the server listens on is a loopback one: `Host` is checked.
    pub loopback_only: bool,
    /// `api.allowed_hosts`, lower-cased.
    pub allowed_hosts: Vec<String>,
    /// `api.allowed_origins`, as browsers write them.
    pub allowed_origins: Vec<String>,
}

impl Policy {
    /// The policy of a server with `config` listening on `addrs`.
    pub fn new(config: &ApiConfig, addrs: &[std::net::SocketAddr]) -> Self {
        Self {
            loopback_only: !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()),
            allowed_hosts: config.allowed_hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            allowed_origins: config.allowed_origins.clone(),
        }
    }

    /// Why a request with `method`, `path` and `headers` is refused, if it is.
    pub fn check(&self, method: &Method, path: &str, headers: &HeaderMap) -> Result<(), ApiError> {
        // A value that is not visible ASCII is no name, origin or type of ours.
        let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("<unreadable>"));
        let host = header(HOST.as_str());
        if self.loopback_only
            && let Some(host) = host
            && !self.host_allowed(host)
        {
            let message = format!(
                "Host {:?} does not name this node: it listens on loopback only, so another name reaching it was \
                 rebound to this machine (DNS rebinding); if the name is yours, list it in api.allowed_hosts",
                bounded(host, 100)
            );
            return Err(ApiError::new(StatusCode::MISDIRECTED_REQUEST, "foreign_host", message).with_field("Host"));
        }
        if [Method::GET, Method::HEAD, Method::OPTIONS].contains(method) {
            return Ok(());
        }
        let origin = header(ORIGIN.as_str());
        let allowed = origin.is_some_and(|o| self.allowed_origins.iter().any(|a| a == o));
        if !allowed {
            if let Some(site) = header(SEC_FETCH_SITE).filter(|s| !["same-origin", "none"].contains(s)) {
                let message = format!(
                    "a browser request from another site (Sec-Fetch-Site: {}) may not change anything; if its \
                     origin is yours, list it in api.allowed_origins",
                    bounded(site, 40)
                );
                return Err(ApiError::new(StatusCode::FORBIDDEN, "cross_site", message).with_field("Sec-Fetch-Site"));
            }
            if let Some(origin) = origin
                && !host.is_some_and(|h| same_origin(origin, h))
            {
                let message = format!(
                    "Origin {:?} is not this node's (Host {:?}): a page of another site may not change anything; \
                     if the origin is yours, list it in api.allowed_origins",
                    bounded(origin, 100),
                    bounded(host.unwrap_or(""), 100)
                );
                return Err(ApiError::new(StatusCode::FORBIDDEN, "cross_site", message).with_field("Origin"));
            }
        }
        let routed = super::routes::allowed_methods(path).is_some_and(|m| m.contains(&method.as_str()));
        if routed && has_body(headers) {
            let given = header(CONTENT_TYPE.as_str());
            if !given.is_some_and(is_json) {
                let message = format!(
                    "a request body must be JSON, sent with Content-Type: application/json (given: {})",
                    given.map(|t| format!("{:?}", bounded(t, 100))).unwrap_or_else(|| "none".into())
                );
                let status = StatusCode::UNSUPPORTED_MEDIA_TYPE;
                return Err(ApiError::new(status, "unsupported_media_type", message).with_field("Content-Type"));
            }
        }
        Ok(())
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let Some((name, _port)) = crate::config::split_host_port(&host) else { return false };
        is_loopback_name(name) || self.allowed_hosts.iter().any(|a| *a == host || *a == name)
    }
}

const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// Refuses what [`Policy::check`] refuses, before any handler (or the token check).
pub(crate) async fn refuse_foreign(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(policy) = req.app_data::<web::Data<Policy>>() {
        policy.check(req.method(), req.path(), req.headers())?;
    }
    next.call(req).await
}

/// `localhost`, or a loopback IP (127.0.0.0/8, `[::1]`).
fn is_loopback_name(name: &str) -> bool {
    let ip = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')).unwrap_or(name);
    name == "localhost" || ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether the browser origin `origin` (`scheme://host[:port]`) is the one `host`
/// (a `Host` header) names; a `Host` without a port has the scheme's default one.
fn same_origin(origin: &str, host: &str) -> bool {
    let Ok(origin) = url::Url::parse(origin) else { return false };
    let (Some(origin_host), Some(origin_port)) = (origin.host_str(), origin.port_or_known_default()) else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    let Some((name, port)) = crate::config::split_host_port(&host) else { return false };
    let default = if origin.scheme() == "https" { 443 } else { 80 };
    name == origin_host.to_ascii_lowercase() && port.unwrap_or(default) == origin_port
}

/// Whether the request carries a body (one declared, or sent in chunks).
fn has_body(headers: &HeaderMap) -> bool {
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).map(|v| v.trim() != "0");
    declared.unwrap_or(false) || headers.contains_key(TRANSFER_ENCODING)
}

/// `application/json`, with or without parameters (`; charset=utf-8`).
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn loopback() -> Policy {
        Policy { loopback_only: true, ..Policy::default() }
    }

    fn refused(policy: &Policy, method: Method, path: &str, pairs: &[(&str, &str)]) -> Option<(u16, String)> {
        let refusal = policy.check(&method, path, &headers(pairs)).err()?;
        Some((refusal.status.as_u16(), refusal.detail.field.unwrap_or_default()))
    }

    #[test]
    fn loopback_names_are_known() {
        for name in ["localhost", "127.0.0.1", "127.9.8.7", "[::1]"] {
            assert!(is_loopback_name(name), "{name}");
        }
        for name in ["localhost.evil.example", "evil.example", "10.0.0.1", "[::2]", "0.0.0.0"] {
            assert!(!is_loopback_name(name), "{name}");
        }
    }

    #[test]
    fn origins_are_compared_with_the_host_by_name_and_port() {
        assert!(same_origin("http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(same_origin("http://LocalHost:8080", "localhost:8080"));
        assert!(same_origin("https://aeon.example", "aeon.example"));
        assert!(same_origin("https://aeon.example", "aeon.example:443"));
        assert!(!same_origin("http://127.0.0.1:3000", "127.0.0.1:8080"), "another port is another origin");
        assert!(!same_origin("http://evil.example", "127.0.0.1:8080"));
        assert!(!same_origin("null", "127.0.0.1:8080"), "an opaque origin is never ours");
        assert!(!same_origin("http://127.0.0.1:8080", "127.0.0.1"), "Host without a port means port 80");
    }

    #[test]
    fn only_json_bodies_and_body_less_writes_pass() {
        let p = Policy::default();
        let json = [("content-length", "2"), ("content-type", "application/json; charset=utf-8")];
        assert_eq!(refused(&p, Method::POST, "/v1/jobs", &json), None);
        for kind in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            let form = [("content-length", "9"), ("content-type", kind)];
            assert_eq!(refused(&p, Method::POST, "/v1/jobs", &form), Some((415, "Content-Type".into())), "{kind}");
        }
        assert_eq!(refused(&p, Method::POST, "/v1/jobs", &[("transfer-encoding", "chunked")]).unwrap().0, 415);
        assert_eq!(refused(&p, Method::POST, "/v1/jobs", &[("content-length", "5")]).unwrap().0, 415, "no type");
        let cancel = "/v1/jobs/0193b0e4-7a5c-7d1e-8f00-000000000001/cancel";
        assert_eq!(refused(&p, Method::POST, cancel, &[("content-length", "0")]), None, "no body, no type needed");
        assert_eq!(refused(&p, Method::POST, "/v1/nodes/n1/drain", &[]), None);
        // An unrouted write is the fallback's (405 or 404), whatever it carries.
        assert_eq!(
            refused(&p, Method::PUT, "/v1/jobs", &[("content-length", "3"), ("content-type", "text/plain")]),
            None
        );
    }

    #[test]
    fn writes_from_another_site_are_refused_reads_and_tools_are_not() {
        let p = loopback();
        let host = ("host", "127.0.0.1:8080");
        let drain = "/v1/nodes/n1/drain";
        assert_eq!(
            refused(&p, Method::POST, drain, &[host, ("sec-fetch-site", "cross-site")]).unwrap().1,
            "Sec-Fetch-Site"
        );
        assert_eq!(refused(&p, Method::POST, drain, &[host, ("sec-fetch-site", "same-site")]).unwrap().0, 403);
        assert_eq!(
            refused(&p, Method::POST, drain, &[host, ("origin", "http://evil.example")]),
            Some((403, "Origin".into()))
        );
        assert_eq!(refused(&p, Method::POST, drain, &[host, ("origin", "null")]).unwrap().0, 403);
        let mut unreadable = headers(&[host]);
        unreadable
            .insert(ORIGIN, actix_web::http::header::HeaderValue::from_bytes(b"http://127.0.0.1:8080\xff").unwrap());
        assert_eq!(p.check(&Method::POST, drain, &unreadable).unwrap_err().status.as_u16(), 403);
        let same = [host, ("origin", "http://127.0.0.1:8080"), ("sec-fetch-site", "same-origin")];
        assert_eq!(refused(&p, Method::POST, drain, &same), None, "the dashboard");
        assert_eq!(refused(&p, Method::POST, drain, &[host]), None, "the CLI, curl");
        assert_eq!(refused(&p, Method::POST, drain, &[host, ("sec-fetch-site", "none")]), None, "typed by the user");
        let read = [host, ("origin", "http://evil.example"), ("sec-fetch-site", "cross-site")];
        assert_eq!(
            refused(&p, Method::GET, "/v1/jobs", &read),
            None,
            "a read: the browser keeps the answer from the page"
        );
        let allowed = Policy { allowed_origins: vec!["https://ops.example".into()], ..loopback() };
        let theirs = [host, ("origin", "https://ops.example"), ("sec-fetch-site", "cross-site")];
        assert_eq!(refused(&allowed, Method::POST, drain, &theirs), None, "an allowed origin");
    }

    #[test]
    fn on_a_loopback_bind_a_host_naming_another_machine_is_misdirected() {
        let p = loopback();
        for host in ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST"] {
            assert_eq!(refused(&p, Method::GET, "/v1/jobs", &[("host", host)]), None, "{host}");
        }
        for host in ["evil.example:8080", "evil.example", "10.1.2.3:8080", "127.0.0.1:x"] {
            assert_eq!(refused(&p, Method::GET, "/v1/jobs", &[("host", host)]), Some((421, "Host".into())), "{host}");
        }
        let mut unreadable = HeaderMap::new();
        unreadable.insert(HOST, actix_web::http::header::HeaderValue::from_bytes(b"localhost\xff").unwrap());
        assert_eq!(p.check(&Method::GET, "/v1/jobs", &unreadable).unwrap_err().status.as_u16(), 421);
        let named = Policy { allowed_hosts: vec!["aeon.internal".into(), "ops.internal:9000".into()], ..loopback() };
        assert_eq!(refused(&named, Method::GET, "/ui", &[("host", "aeon.internal:8080")]), None);
        assert_eq!(refused(&named, Method::GET, "/ui", &[("host", "ops.internal:9000")]), None);
        assert_eq!(refused(&named, Method::GET, "/ui", &[("host", "ops.internal:9001")]).unwrap().0, 421);
        let open = Policy::default();
        assert_eq!(refused(&open, Method::GET, "/ui", &[("host", "aeon.example")]), None, "not a loopback bind");
    }
}
