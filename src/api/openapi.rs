//! The OpenAPI document, generated from the handlers' annotations and made exact
//! where they cannot say it all (a test runs an OpenAPI 3.1 validator on it), and the
//! 405 answers it makes possible: a path routed for other methods answers with `Allow`.

use std::sync::LazyLock;

use actix_web::http::StatusCode;
use actix_web::http::header::{ALLOW, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde_json::{Value, json};
use utoipa::OpenApi;

use crate::node::Node;

use super::ApiError;
use super::{bulk, contexts, jobs, nodes, ops, snapshots, workers};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Aeon",
        description = "A durable, actor-based job runtime. When `api.token` is set, every /v1 call needs `Authorization: Bearer <token>`; `api.read_token`, when set, may make every GET and no write (403)."
    ),
    paths(
        jobs::submit,
        jobs::submit_batch,
        jobs::show,
        jobs::list,
        jobs::workflow,
        jobs::cancel,
        contexts::similar,
        contexts::context,
        bulk::run,
        workers::list,
        workers::crash,
        workers::health,
        nodes::list,
        nodes::drain,
        snapshots::create,
        snapshots::list,
        snapshots::show,
        snapshots::restore,
        ops::dead_letters,
        ops::requeue,
        ops::stats,
        ops::history,
        ops::session,
        ops::livez,
        ops::readyz,
        ops::metrics,
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON (what `docs/openapi.json` holds): valid OpenAPI 3.1,
/// declaring what the server enforces (with the default configuration).
pub fn document() -> String {
    pretty(&document_value())
}

/// The document as served: `max_retries`' bound is this node's `jobs.max_retries_limit`.
pub async fn serve(node: web::Data<Node>) -> HttpResponse {
    let mut doc = document_value();
    let limit = node.config().jobs.max_retries_limit;
    if let Some(max_retries) = doc.pointer_mut("/components/schemas/JobRequest/properties/max_retries") {
        max_retries["maximum"] = json!(limit);
    }
    HttpResponse::Ok().content_type("application/json").body(pretty(&doc))
}

fn pretty(doc: &Value) -> String {
    serde_json::to_string_pretty(doc).expect("the OpenAPI document serializes")
}

/// The generated document, made exact where annotations cannot say it all.
fn document_value() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes");
    for item in doc["paths"].as_object_mut().into_iter().flat_map(|paths| paths.values_mut()) {
        for operation in item.as_object_mut().into_iter().flat_map(|ops| ops.values_mut()) {
            // OpenAPI requires a description on every response.
            for (code, response) in operation.get_mut("responses").and_then(Value::as_object_mut).into_iter().flatten()
            {
                if response.get("description").is_none() {
                    let reason = code.parse().ok().and_then(|c| StatusCode::from_u16(c).ok());
                    response["description"] = json!(reason.and_then(|c| c.canonical_reason()).unwrap_or("Answer"));
                }
            }
            for parameter in operation.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                // A query string cannot say null: an optional parameter is one left out.
                if let Some(types) = parameter["schema"].get_mut("type").and_then(Value::as_array_mut) {
                    types.retain(|t| t != "null");
                    if types.len() == 1 {
                        parameter["schema"]["type"] = types[0].clone();
                    }
                }
                // Every path parameter of this API is an id, and ids are UUIDs (400 otherwise).
                if parameter["in"] == "path" && parameter["schema"]["type"] == "string" {
                    parameter["schema"]["format"] = json!("uuid");
                }
            }
        }
    }
    unique_operation_ids(&mut doc);
    let schemas = &mut doc["components"]["schemas"];
    schemas["JsonValue"] = json_value_schema();
    if let Some(payload) = schemas.pointer_mut("/JobRequest/properties/payload") {
        let description = payload["description"].clone();
        *payload = json!({ "$ref": "#/components/schemas/JsonValue", "description": description });
    }
    if schemas.get("CrashRequest").is_some() {
        schemas["CrashRequest"] = crash_request_schema();
    }
    doc
}

/// Operation ids are the handlers' names, and several modules have a `list` or a
/// `show`: an id used more than once gets its path's resource as a prefix
/// (`jobs_list`, `snapshots_list`), so every id is unique as OpenAPI requires.
fn unique_operation_ids(doc: &mut Value) {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for item in doc["paths"].as_object().into_iter().flat_map(|paths| paths.values()) {
        for operation in item.as_object().into_iter().flat_map(|ops| ops.values()) {
            if let Some(id) = operation["operationId"].as_str() {
                *seen.entry(id.to_string()).or_default() += 1;
            }
        }
    }
    for (path, item) in doc["paths"].as_object_mut().into_iter().flatten() {
        let resource = path.trim_start_matches("/v1").split('/').find(|s| !s.is_empty()).unwrap_or("root");
        for operation in item.as_object_mut().into_iter().flat_map(|ops| ops.values_mut()) {
            let Some(id) = operation["operationId"].as_str().map(str::to_string) else { continue };
            if seen.get(&id).is_some_and(|n| *n > 1) {
                operation["operationId"] = json!(format!("{}_{id}", resource.replace('-', "_")));
            }
        }
    }
}

/// A payload: any JSON whose strings and keys hold no NUL character and whose numbers
/// fit a 64-bit integer or a double exactly (the server refuses others with 422).
fn json_value_schema() -> Value {
    let no_nul = "^[^\\u0000]*$";
    let any = json!({ "$ref": "#/components/schemas/JsonValue" });
    json!({
        "description": "Any JSON value: strings and keys without NUL characters; numbers that fit a 64-bit integer or a double exactly.",
        "anyOf": [
            { "type": "null" },
            { "type": "boolean" },
            { "type": "string", "pattern": no_nul },
            { "type": "integer", "minimum": i64::MIN, "maximum": u64::MAX },
            { "type": "number", "not": { "type": "integer" } },
            { "type": "array", "items": any },
            { "type": "object", "propertyNames": { "pattern": no_nul }, "additionalProperties": any },
        ],
    })
}

/// `{"mode": "panic" | "exit"}`, `{"mode": "hang", "ms"?: N}` or `{"mode": "slow", "ms": N}`,
/// nothing else (see [`crate::actors::worker::CrashMode`]).
fn crash_request_schema() -> Value {
    let ms =
        |description: &str| json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX, "description": description });
    json!({
        "description": "How to crash the worker: `panic` or `exit`; `hang`, for `ms` when given (else until it is declared dead and restarted); or `slow` with `ms` (0 restores normal speed).",
        "oneOf": [
            {
                "type": "object",
                "required": ["mode"],
                "properties": { "mode": { "type": "string", "enum": ["panic", "exit"] } },
                "additionalProperties": false,
            },
            {
                "type": "object",
                "required": ["mode"],
                "properties": {
                    "mode": { "type": "string", "enum": ["hang"] },
                    "ms": ms("How long the worker hangs, in milliseconds"),
                },
                "additionalProperties": false,
            },
            {
                "type": "object",
                "required": ["mode", "ms"],
                "properties": {
                    "mode": { "type": "string", "enum": ["slow"] },
                    "ms": ms("The delay before each job starts, in milliseconds"),
                },
                "additionalProperties": false,
            },
        ],
    })
}

/// Routes the document does not describe, with their methods.
const UNDOCUMENTED: [(&str, &str); 1] = [("/openapi.json", "GET")];

/// Each route's path segments (`{x}` matches any one segment) and methods, from the document.
static ROUTES: LazyLock<Vec<(Vec<String>, Vec<String>)>> = LazyLock::new(|| {
    let doc = document_value();
    let mut routes: Vec<(Vec<String>, Vec<String>)> = doc["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(path, item)| {
            let methods = item.as_object().into_iter().flat_map(|m| m.keys()).map(|m| m.to_uppercase()).collect();
            (segments(path), methods)
        })
        .collect();
    routes.extend(UNDOCUMENTED.iter().map(|(path, method)| (segments(path), vec![method.to_string()])));
    routes
});

fn segments(path: &str) -> Vec<String> {
    path.split('/').map(str::to_string).collect()
}

/// The methods routed at `path` (every documented route whose template matches it),
/// sorted; `None` when no route has that path.
pub fn allowed_methods(path: &str) -> Option<Vec<String>> {
    let given = segments(path);
    let mut methods: Vec<String> = ROUTES
        .iter()
        .filter(|(template, _)| {
            template.len() == given.len()
                && template.iter().zip(&given).all(|(t, g)| t == g || (t.starts_with('{') && !g.is_empty()))
        })
        .flat_map(|(_, methods)| methods.iter().cloned())
        .collect();
    methods.sort();
    methods.dedup();
    (!methods.is_empty()).then_some(methods)
}

/// What a request no route took gets: 405 with `Allow` when its path is routed for
/// other methods, 404 otherwise.
pub async fn fallback(req: HttpRequest) -> HttpResponse {
    match allowed_methods(req.path()) {
        Some(methods) => {
            let allow = methods.join(", ");
            let message = format!("{} is not allowed on {}; allowed: {allow}", req.method(), req.path());
            let mut response =
                ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", message).error_response();
            if let Ok(value) = HeaderValue::from_str(&allow) {
                response.headers_mut().insert(ALLOW, value);
            }
            response
        }
        None => ApiError::not_found("no such route").error_response(),
    }
}
