//! Every route of the node's HTTP server, in one list: [`ROUTES`] registers the actix
//! routes, and the same list answers a request no route took — 405 with `Allow` when
//! its path is routed for other methods, 400 when it has a route's shape but a
//! malformed id, 404 otherwise. The OpenAPI document describes the same list (a test
//! compares the two), and its path parameters' schemas come from [`id_of`].
//!
//! A path parameter matches only a well-formed id (a UUID, or a node id), so a literal
//! path beside a parameter (`/v1/jobs/batch` beside `/v1/jobs/{id}`) is never read as
//! the parameter's route.

use std::sync::LazyLock;

use actix_web::dev::ResourceDef;
use actix_web::http::StatusCode;
use actix_web::http::header::{ALLOW, HeaderValue};
use actix_web::middleware::from_fn;
use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::{ApiError, bulk, contexts, jobs, nodes, openapi, ops, snapshots, workers};

/// One route: its method, its path (OpenAPI's template: `{id}` is a parameter) and
/// how to register its handler at an actix path pattern.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    register: fn(&mut ServiceConfig, &str),
}

macro_rules! route {
    ($method:ident $path:literal => $handler:path) => {
        Route {
            method: stringify!($method),
            path: $path,
            register: |cfg, pattern| {
                cfg.route(pattern, web::route().method(actix_web::http::Method::$method).to($handler));
            },
        }
    };
}

/// Every route. Those under `/v1` need the API token (see [`super::authenticate`]).
pub static ROUTES: &[Route] = &[
    route!(GET "/livez" => ops::livez),
    route!(GET "/readyz" => ops::readyz),
    route!(GET "/metrics" => ops::metrics),
    route!(GET "/openapi.json" => openapi::serve),
    route!(POST "/v1/jobs" => jobs::submit),
    route!(GET "/v1/jobs" => jobs::list),
    route!(POST "/v1/jobs/batch" => jobs::submit_batch),
    route!(POST "/v1/jobs/bulk" => bulk::run),
    route!(GET "/v1/jobs/{id}" => jobs::show),
    route!(POST "/v1/jobs/{id}/cancel" => jobs::cancel),
    route!(GET "/v1/jobs/{id}/similar" => contexts::similar),
    route!(GET "/v1/jobs/{id}/context" => contexts::context),
    route!(GET "/v1/workflows/{id}" => jobs::workflow),
    route!(GET "/v1/workers" => workers::list),
    route!(POST "/v1/workers/{id}/crash" => workers::crash),
    route!(GET "/v1/workers/{id}/health" => workers::health),
    route!(GET "/v1/nodes" => nodes::list),
    route!(POST "/v1/nodes/{id}/drain" => nodes::drain),
    route!(GET "/v1/dead-letters" => ops::dead_letters),
    route!(POST "/v1/dead-letters/{job_id}/requeue" => ops::requeue),
    route!(POST "/v1/snapshots" => snapshots::create),
    route!(GET "/v1/snapshots" => snapshots::list),
    route!(GET "/v1/snapshots/{id}" => snapshots::show),
    route!(POST "/v1/snapshots/{id}/restore" => snapshots::restore),
    route!(GET "/v1/stats" => ops::stats),
    route!(GET "/v1/stats/history" => ops::history),
    route!(GET "/v1/session" => ops::session),
    // The dashboard's files (open: they hold no data; the data needs the token).
    route!(GET "/ui" => crate::ui::index),
    route!(GET "/ui/" => crate::ui::index),
    route!(GET "/ui/app.js" => crate::ui::app_js),
    route!(GET "/ui/core.js" => crate::ui::core_js),
    route!(GET "/ui/actions.js" => crate::ui::actions_js),
    route!(GET "/ui/overview.js" => crate::ui::overview_js),
    route!(GET "/ui/jobs.js" => crate::ui::jobs_js),
    route!(GET "/ui/job.js" => crate::ui::job_js),
    route!(GET "/ui/workers.js" => crate::ui::workers_js),
    route!(GET "/ui/app.css" => crate::ui::app_css),
];

/// Registers [`ROUTES`] (those under `/v1` behind the token check) and the answer
/// to every request none of them takes.
pub fn register(cfg: &mut ServiceConfig) {
    let (v1, open): (Vec<&Route>, Vec<&Route>) = ROUTES.iter().partition(|r| r.path.starts_with("/v1/"));
    for route in open {
        (route.register)(cfg, &pattern(route.path));
    }
    cfg.service(web::scope("/v1").wrap(from_fn(super::authenticate)).configure(|scope| {
        for route in v1 {
            (route.register)(scope, &pattern(&route.path["/v1".len()..]));
        }
    }));
    cfg.default_service(web::to(fallback));
}

/// What a path parameter names. Every parameter follows its collection's segment
/// (`/v1/jobs/{id}`), and that collection says which id it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id {
    /// The field a malformed one is reported as.
    pub field: &'static str,
    /// What it must be, for messages.
    pub what: &'static str,
    /// The regular expression a well-formed one matches, whole.
    pub regex: &'static str,
    /// Whether it is a UUID (`format: uuid` in the document).
    pub uuid: bool,
}

/// A UUID in its hyphenated form, as every id of the API is written.
const UUID: &str = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

/// A node id, as `node.id` allows it.
pub const NODE_ID: &str = "[A-Za-z0-9_.-]{1,128}";

/// The id a parameter after `collection` names; `None` for a collection without ids.
pub fn id_of(collection: &str) -> Option<Id> {
    let uuid = |field, what| Some(Id { field, what, regex: UUID, uuid: true });
    match collection {
        "jobs" | "workflows" | "dead-letters" => uuid("job_id", "a job id (UUID)"),
        "workers" => uuid("worker_id", "a worker id (UUID)"),
        "snapshots" => uuid("snapshot_id", "a snapshot id (UUID)"),
        "nodes" => Some(Id { field: "node_id", what: "a node id", regex: NODE_ID, uuid: false }),
        _ => None,
    }
}

/// Each segment of `template`, with the id it names when it is a parameter.
fn segments(template: &str) -> impl Iterator<Item = (&str, Option<Id>)> {
    let mut previous = "";
    template.split('/').map(move |segment| {
        let id = segment
            .starts_with('{')
            .then(|| id_of(previous).unwrap_or_else(|| panic!("{template}: no id is known after /{previous}/")));
        previous = segment;
        (segment, id)
    })
}

/// The actix pattern of `template`: each parameter matches only a well-formed id.
pub fn pattern(template: &str) -> String {
    let parts: Vec<String> = segments(template)
        .map(|(segment, id)| match id {
            Some(id) => format!("{}:{}}}", segment.trim_end_matches('}'), id.regex),
            None => segment.to_string(),
        })
        .collect();
    parts.join("/")
}

/// Each route's matchers: `strict` takes only well-formed ids (as the route is
/// registered), `shaped` any non-empty segment where an id goes.
struct Matcher {
    route: &'static Route,
    strict: ResourceDef,
    shaped: ResourceDef,
}

static MATCHERS: LazyLock<Vec<Matcher>> = LazyLock::new(|| {
    ROUTES
        .iter()
        .map(|route| Matcher {
            route,
            strict: ResourceDef::new(pattern(route.path)),
            shaped: ResourceDef::new(route.path),
        })
        .collect()
});

/// The methods routed at `path`, sorted; `None` when no route has that path (a
/// malformed id included).
pub fn allowed_methods(path: &str) -> Option<Vec<&'static str>> {
    let mut methods: Vec<&str> = MATCHERS.iter().filter(|m| m.strict.is_match(path)).map(|m| m.route.method).collect();
    methods.sort();
    methods.dedup();
    (!methods.is_empty()).then_some(methods)
}

/// When `path` has a route's shape but an id in it is malformed: the 400 to answer.
fn malformed_id(path: &str) -> Option<ApiError> {
    let given: Vec<&str> = path.split('/').collect();
    MATCHERS.iter().filter(|m| m.shaped.is_match(path)).find_map(|m| {
        segments(m.route.path).zip(&given).find_map(|((_, id), text)| {
            let id = id?;
            let well_formed = ResourceDef::new(format!("/{{x:{}}}", id.regex)).is_match(&format!("/{text}"));
            (!well_formed).then(|| {
                let message = format!("{:?} is not {}", super::error::bounded(text, 80), id.what);
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", message).with_field(id.field)
            })
        })
    })
}

/// What a request no route took gets: 405 with `Allow` when its path is routed for
/// other methods, 400 when it has a route's shape with a malformed id, 404 otherwise.
pub async fn fallback(req: HttpRequest) -> HttpResponse {
    let path = req.path();
    if let Some(methods) = allowed_methods(path) {
        let allow = methods.join(", ");
        let message = format!("{} is not allowed here; allowed: {allow}", req.method());
        let mut response =
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", message).error_response();
        if let Ok(value) = HeaderValue::from_str(&allow) {
            response.headers_mut().insert(ALLOW, value);
        }
        return response;
    }
    malformed_id(path).unwrap_or_else(|| ApiError::not_found("no such route")).error_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_names_a_known_id_and_patterns_match_only_ids() {
        for route in ROUTES {
            let _ = pattern(route.path); // panics on an unknown collection
        }
        assert_eq!(allowed_methods("/v1/jobs/batch"), Some(vec!["POST"]));
        assert_eq!(allowed_methods("/v1/jobs/bulk"), Some(vec!["POST"]));
        assert_eq!(allowed_methods("/v1/jobs"), Some(vec!["GET", "POST"]));
        assert_eq!(allowed_methods("/v1/jobs/0193b0e4-7a5c-7d1e-8f00-000000000001"), Some(vec!["GET"]));
        assert_eq!(allowed_methods("/v1/jobs/not-a-uuid"), None);
        assert_eq!(allowed_methods("/v1/nodes/node-1.example/drain"), Some(vec!["POST"]));
        assert_eq!(allowed_methods("/v1/nodes/a b/drain"), None);
        assert_eq!(malformed_id("/v1/jobs/batch/cancel").map(|e| e.detail.field), Some(Some("job_id".into())));
        assert_eq!(malformed_id("/v1/snapshots/x").map(|e| e.detail.field), Some(Some("snapshot_id".into())));
        assert!(malformed_id("/v1/nothing/here").is_none());
    }
}
