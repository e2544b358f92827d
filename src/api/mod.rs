//! The HTTP API (actix-web, JSON): the contract operators, scripts, the CLI and the
//! crash experiments drive a node through. The OpenAPI document is served at
//! `/openapi.json`; `docs/openapi.json` is a copy a test keeps in step.
//!
//! The routes reach the store through the [`Node`](crate::node::Node) only: reads
//! through `Node::reads` (read-only, timed by a watch of their own that readiness does
//! not ask), writes through the node's methods, which send them to the actors (a
//! cancel to the Supervisor, a requeue or a bulk action to the StoreActor).

mod bulk;
mod contexts;
mod error;
mod exact;
pub mod filter;
pub mod guard;
mod jobs;
pub mod nodes;
pub mod openapi;
mod ops;
pub mod routes;
mod snapshots;
mod views;
mod workers;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use snapshots::{CreateSnapshot, SnapshotDetail, SnapshotPage, SnapshotView, VerifyError, VerifyView};
pub use views::*;

use std::net::SocketAddr;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::{Next, from_fn};
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpServer};
use futures::StreamExt;
use subtle::ConstantTimeEq;

use crate::node::Node;

/// Starts the API for `node` on `bind`. Answers the server (await it, or stop it
/// through its handle) and the addresses it listens on (useful with port 0).
/// On a loopback bind, requests must name this machine in `Host`; writes from other
/// sites and bodies that are not JSON are refused everywhere (see [`guard`]).
pub fn serve(node: Node, bind: &str) -> std::io::Result<(Server, Vec<SocketAddr>)> {
    let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(bind)?.collect();
    let policy = web::Data::new(guard::Policy::new(&node.config().api, &addrs));
    let data = web::Data::new(node);
    let server =
        HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(policy.clone())
                .wrap(from_fn(guard::refuse_foreign))
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.to_string()).into()
                }))
                .configure(routes::register)
        })
        .workers(2)
        .disable_signals() // the node owns shutdown: it drains first
        .shutdown_timeout(5)
        .bind(&addrs[..])?; // the addresses the guard's policy was made for
    let addrs = server.addrs();
    Ok((server.run(), addrs))
}

/// What a caller may do, as its token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Everything (`api.token`, or no token configured).
    Write,
    /// Every GET, no write (`api.read_token`).
    Read,
}

/// When `api.token` is set, `/v1` needs `Authorization: Bearer <token>`: that token
/// may do everything, `api.read_token` (when set) only GETs; a write with it is 403.
/// Both are compared in constant time. The access granted is left in the request's
/// extensions for the handlers (`/v1/session` answers it).
pub(crate) async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let (token, read_token) = req
        .app_data::<web::Data<Node>>()
        .map(|n| (n.config().api.token.clone(), n.config().api.read_token.clone()))
        .unwrap_or_default();
    let access = if token.is_empty() {
        Access::Write
    } else {
        let given = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let is = |expected: &str| -> bool {
            !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
        };
        // Both comparisons always run, so timing does not tell which token was close.
        let (writes, reads) = (is(&token), is(&read_token));
        if writes {
            Access::Write
        } else if reads {
            Access::Read
        } else {
            return Err(
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required").into()
            );
        }
    };
    if access == Access::Read && req.method() != actix_web::http::Method::GET {
        let message = "this token is read-only: it may not change anything";
        return Err(ApiError::new(StatusCode::FORBIDDEN, "read_only", message).into());
    }
    actix_web::HttpMessage::extensions_mut(&req).insert(access);
    next.call(req).await
}

/// A 400 naming the query parameter at fault.
pub(crate) fn bad_query(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", message).with_field(field)
}

/// The `limit` of a paged listing: 1 to 1000, 100 when absent.
pub(crate) fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(100);
    if (1..=1000).contains(&limit) {
        Ok(limit)
    } else {
        Err(bad_query("limit", format!("{limit} is outside 1..=1000")))
    }
}

/// The cursor for the page after `page`: the last item's key, when the page was full.
pub(crate) fn next_cursor<T>(page: &[T], limit: u32, key: impl Fn(&T) -> String) -> Option<String> {
    (page.len() == limit as usize).then(|| page.last().map(key)).flatten()
}

/// Reads a request body of at most `limit` bytes; a larger one is refused with 413
/// before it is read in full.
pub async fn read_body(mut payload: web::Payload, declared: Option<usize>, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is over the limit of {limit} bytes"),
        )
    };
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::malformed(format!("reading the body failed: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
