//! The OpenAPI document, generated from the handlers' annotations and made exact
//! where they cannot say it all (a test runs an OpenAPI 3.1 validator on it, another
//! compares its operations with the route list, `super::routes`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use utoipa::OpenApi;

use crate::node::Node;

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
    for (path, item) in doc["paths"].as_object_mut().into_iter().flatten() {
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
                // Every path parameter is an id, as the routes match it (400 otherwise).
                if parameter["in"] == "path" {
                    parameter["schema"] = path_parameter_schema(path, parameter["name"].as_str().unwrap_or(""));
                }
            }
        }
    }
    unique_operation_ids(&mut doc);
    super::exact::make_exact(&mut doc);
    let schemas = &mut doc["components"]["schemas"];
    schemas["JsonValue"] = json_value_schema();
    if schemas.get("CrashRequest").is_some() {
        schemas["CrashRequest"] = crash_request_schema();
    }
    doc
}

/// The schema of the parameter `{name}` of `path`: the id the route matches there.
fn path_parameter_schema(path: &str, name: &str) -> Value {
    let collection = path.split('/').take_while(|s| *s != format!("{{{name}}}")).last().unwrap_or("");
    let id = super::routes::id_of(collection)
        .unwrap_or_else(|| panic!("{path}: the parameter {name} follows no collection with ids"));
    if id.uuid {
        json!({ "type": "string", "format": "uuid" })
    } else {
        json!({ "type": "string", "pattern": format!("^{}$", id.regex) })
    }
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
/// Which numbers fit depends on how they are written (`1e21` is a double, the same
/// value written as 22 digits is an integer no 64-bit integer holds), which JSON
/// Schema cannot tell apart: the schema takes every number, the description says.
fn json_value_schema() -> Value {
    let no_nul = "^[^\\u0000]*$";
    let any = json!({ "$ref": "#/components/schemas/JsonValue" });
    json!({
        "description": "Any JSON value: strings and keys without NUL characters; numbers that fit a 64-bit integer or a double exactly (an integer written without a fraction or exponent must fit -2^63..2^64-1; a number written with one must be a double written exactly, as its shortest form is). Others are refused with 422 naming them: send them as strings.",
        "anyOf": [
            { "type": "null" },
            { "type": "boolean" },
            { "type": "string", "pattern": no_nul },
            { "type": "number" },
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
