//! The OpenAPI document made exact where the handlers' annotations cannot say it: the
//! bearer scheme, the answers every operation may give (401, 403, 413, 503, ...),
//! enums from the Rust enums, "any JSON" where a job's JSON is, one of `job_ids` or
//! `filter`, and the query fields where an empty value means "not given". A fuzzer
//! (schemathesis, in CI) holds the server to what this says.

use serde_json::{Value, json};

use crate::store::{BulkAction, SnapshotType};

/// Applies every correction to the generated document `doc`.
pub(super) fn make_exact(doc: &mut Value) {
    doc["components"]["securitySchemes"] = json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "`api.token` (everything) or `api.read_token` (every GET, no write). Needed only when `api.token` is set.",
        },
    });
    for (path, item) in doc["paths"].as_object_mut().into_iter().flatten() {
        for (method, operation) in item.as_object_mut().into_iter().flatten() {
            common_responses(path, method, operation);
        }
    }
    let snapshot_types: Vec<&str> = SnapshotType::ALL.iter().map(|t| t.as_str()).collect();
    for parameter in parameters(doc, "/v1/snapshots", "get") {
        if parameter["name"] == "type" {
            parameter["schema"]["enum"] = json!(snapshot_types);
        }
    }
    // The listing reads an empty `since`, `until` or `cursor` as not given (an HTML form
    // sends empty fields).
    for parameter in parameters(doc, "/v1/jobs", "get") {
        if ["since", "until", "cursor"].contains(&parameter["name"].as_str().unwrap_or("")) {
            parameter["schema"] = or_empty(parameter["schema"].take());
        }
    }

    let schemas = &mut doc["components"]["schemas"];
    // Any JSON, as submitted and as stored.
    for pointer in
        ["/JobRequest/properties/payload", "/JobView/properties/payload", "/DeadLetterView/properties/payload"]
    {
        if let Some(payload) = schemas.pointer_mut(pointer) {
            let description = payload.get("description").cloned().unwrap_or(json!("Any JSON value."));
            *payload = json!({ "$ref": "#/components/schemas/JsonValue", "description": description });
        }
    }
    if let Some(result) = schemas.pointer_mut("/JobView/properties/result") {
        let description = "What the handler answered: any JSON value (`null` until it succeeds).";
        *result = json!({ "$ref": "#/components/schemas/JsonValue", "description": description });
    }
    if let Some(depends_on) = schemas.pointer_mut("/JobRequest/properties/depends_on") {
        depends_on["items"] = json!({ "type": "string", "minLength": 1, "maxLength": 64 });
    }
    if let Some(action) = schemas.pointer_mut("/BulkRequest/properties/action") {
        action["enum"] = json!(BulkAction::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>());
    }
    if let Some(bulk) = schemas.get_mut("BulkRequest") {
        bulk["properties"]["job_ids"]["minItems"] = json!(1);
        bulk["properties"]["job_ids"]["maxItems"] = json!(super::bulk::MAX_SELECTION);
        // Exactly one of the two, given (not null).
        bulk["oneOf"] = json!([
            { "required": ["job_ids"], "properties": { "job_ids": { "type": "array" }, "filter": { "type": "null" } } },
            { "required": ["filter"], "properties": { "filter": { "type": "object" }, "job_ids": { "type": "null" } } },
        ]);
    }
    for field in ["since", "until"] {
        if let Some(time) = schemas.pointer_mut(&format!("/FilterSpec/properties/{field}")) {
            let description = time["description"].take();
            *time = json!({ "description": description, "anyOf": [
                { "type": "string", "format": "date-time" },
                { "type": "string", "maxLength": 0 },
                { "type": "null" },
            ] });
        }
    }
    if let Some(snapshot_type) = schemas.pointer_mut("/CreateSnapshot/properties/type") {
        snapshot_type["enum"] = json!(snapshot_types);
    }
}

/// The parameters of the operation `method` at `path`.
fn parameters<'a>(doc: &'a mut Value, path: &str, method: &str) -> impl Iterator<Item = &'a mut Value> {
    doc["paths"][path][method]["parameters"].as_array_mut().into_iter().flatten()
}

/// `schema`, or an empty string.
fn or_empty(mut schema: Value) -> Value {
    let description = schema.as_object_mut().and_then(|s| s.remove("description"));
    let mut either = json!({ "anyOf": [schema, { "type": "string", "maxLength": 0 }] });
    if let Some(description) = description {
        either["description"] = description;
    }
    either
}

/// The answers an operation may give besides its own, added where it does not name
/// them: on a loopback bind, a `Host` that is not this machine's (421); under `/v1`
/// the token's (401; 403 for a write with a read-only token) and the store's (503);
/// for a write, one from another site (403) and a full disk (507); with an id in its
/// path, a malformed one (400); with a body, a malformed one (400), one over the cap
/// (413) and one that is not JSON (415).
fn common_responses(path: &str, method: &str, operation: &mut Value) {
    let has_body = operation.get("requestBody").is_some();
    let write = method != "get";
    let responses = &mut operation["responses"];
    if path.contains('{') {
        add(responses, "400", "Malformed id");
    }
    if has_body {
        add(responses, "400", "Malformed JSON");
        add(responses, "413", "The body is over `api.max_body_bytes`");
        add(responses, "415", "The body is not sent as `Content-Type: application/json`");
    }
    add(
        responses,
        "421",
        "The node listens on loopback and `Host` names another machine (DNS rebinding); see `api.allowed_hosts`",
    );
    if write {
        // Whatever else a 403 of this operation says, a write from another site is one.
        let cross_site = "a write from another site (`Origin`, `Sec-Fetch-Site`; see `api.allowed_origins`)";
        let described = if path.starts_with("/v1/") { "A read-only token: it may not change anything" } else { "" };
        add(responses, "403", described);
        let description = &mut responses["403"]["description"];
        *description = match description.as_str().unwrap_or("") {
            "" => json!(format!("Refused: {cross_site}")),
            own => json!(format!("{own}; or {cross_site}")),
        };
        add(responses, "507", "The database's disk is full: nothing was written; free space on it, then try again");
    }
    if path.starts_with("/v1/") {
        add(responses, "401", "No valid bearer token (when `api.token` is set)");
        add(responses, "503", "The store did not answer, or the node is shutting down; try again");
        operation["security"] = json!([{ "bearer": [] }]);
    }
}

/// Adds the error answer `code` to `responses` unless it names it already.
fn add(responses: &mut Value, code: &str, description: &str) {
    if responses.get(code).is_none() {
        responses[code] = json!({
            "description": description,
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } },
        });
    }
}
