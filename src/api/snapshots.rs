//! `/v1/snapshots`: take, list, show (with a verification), restore. See
//! `docs/snapshots.md`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::jobs::body;
use super::{ApiError, ErrorBody, bad_query, next_cursor, page_limit};
use crate::node::Node;
use crate::snapshot::{RestoreReport, SnapshotError};
use crate::store::{SnapshotFilter, SnapshotRow, SnapshotSummary, SnapshotType};

/// `POST /v1/snapshots`: `{"type": "FULL" | "INCREMENTAL" | "AUTO"}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSnapshot {
    #[serde(rename = "type")]
    pub snapshot_type: String,
}

/// A snapshot row without its state. The metadata fields are `null` when the row's
/// metadata cannot be read (its verification then says why).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SnapshotView {
    pub snapshot_id: Uuid,
    /// `FULL`, `INCREMENTAL` or `AUTO`.
    pub snapshot_type: String,
    pub created_at: DateTime<Utc>,
    /// What `state_data` holds: `FULL` (the whole state) or `INCREMENTAL` (the change
    /// since `parent_id`). An AUTO snapshot holds either.
    pub content: Option<String>,
    pub node_id: Option<String>,
    pub schema_version: Option<u64>,
    pub parent_id: Option<Uuid>,
    /// INCREMENTAL links down to the FULL base.
    pub depth: Option<u64>,
    /// `sha256:<hex>` of the canonical content.
    pub checksum: Option<String>,
    pub config_fingerprint: Option<String>,
}

impl SnapshotView {
    fn new(snapshot_id: Uuid, snapshot_type: SnapshotType, created_at: DateTime<Utc>, metadata: &str) -> Self {
        let meta: Value = serde_json::from_str(metadata).unwrap_or(Value::Null);
        let text = |key: &str| meta.get(key).and_then(Value::as_str).map(str::to_string);
        Self {
            snapshot_id,
            snapshot_type: snapshot_type.as_str().into(),
            created_at,
            content: text("content"),
            node_id: text("node_id"),
            schema_version: meta.get("schema_version").and_then(Value::as_u64),
            parent_id: text("parent_id").and_then(|p| Uuid::try_parse(&p).ok()),
            depth: meta.get("depth").and_then(Value::as_u64),
            checksum: text("checksum"),
            config_fingerprint: text("config_fingerprint"),
        }
    }
}

impl From<&SnapshotRow> for SnapshotView {
    fn from(r: &SnapshotRow) -> Self {
        Self::new(r.snapshot_id, r.snapshot_type, r.created_at, &r.metadata)
    }
}

impl From<&SnapshotSummary> for SnapshotView {
    fn from(s: &SnapshotSummary) -> Self {
        Self::new(s.snapshot_id, s.snapshot_type, s.created_at, &s.metadata)
    }
}

/// A page of snapshots, newest first; pass `next_cursor` as `cursor` for the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SnapshotPage {
    pub snapshots: Vec<SnapshotView>,
    pub next_cursor: Option<String>,
}

/// Whether a snapshot (and its chain) may be restored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VerifyView {
    pub ok: bool,
    /// Why not: `code` is `corrupt`, `checksum_mismatch`, `schema_version` or
    /// `broken_chain`; `message` names the snapshot at fault.
    pub error: Option<VerifyError>,
    /// The chain restored from, FULL base first (when it verifies).
    pub chain: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VerifyError {
    pub code: String,
    pub message: String,
}

/// A snapshot whole, with its verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SnapshotDetail {
    #[serde(flatten)]
    pub snapshot: SnapshotView,
    /// The stored state (`null` if it is not JSON).
    #[schema(value_type = Option<Object>)]
    pub state_data: Option<Value>,
    pub verify: VerifyView,
}

impl From<SnapshotError> for ApiError {
    fn from(e: SnapshotError) -> Self {
        match e {
            SnapshotError::NotFound(_) => ApiError::not_found(e.to_string()),
            SnapshotError::Store(s) => s.into(),
            SnapshotError::Unavailable => ApiError::unavailable(e.to_string()),
            SnapshotError::NoParent { .. } => ApiError::new(StatusCode::CONFLICT, e.code(), e.to_string()),
            // Does not verify: refused, nothing changed.
            _ => ApiError::new(StatusCode::CONFLICT, e.code(), e.to_string()),
        }
    }
}

fn snapshot_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(text).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", format!("{text:?} is not a snapshot id (UUID): {e}"))
            .with_field("snapshot_id")
    })
}

/// Take a snapshot of this node's actors now.
#[utoipa::path(post, path = "/v1/snapshots", request_body = CreateSnapshot, responses(
    (status = 201, description = "Taken", body = SnapshotView),
    (status = 400, description = "Malformed JSON", body = ErrorBody),
    (status = 409, description = "INCREMENTAL with no earlier snapshot of this node that verifies", body = ErrorBody),
    (status = 422, description = "Unknown type", body = ErrorBody),
))]
pub async fn create(req: HttpRequest, payload: web::Payload, node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let request: CreateSnapshot = super::error::parse_body(&body(&req, payload, &node).await?)?;
    let snapshot_type: SnapshotType =
        request.snapshot_type.parse().map_err(|e: crate::store::UnknownSnapshotType| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string()).with_field("type")
        })?;
    let row = node.snapshots().take(snapshot_type).await?;
    Ok(HttpResponse::Created().json(SnapshotView::from(&row)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only snapshots of this type: `FULL`, `INCREMENTAL` or `AUTO`.
    #[serde(rename = "type")]
    pub snapshot_type: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

/// List snapshots, newest first (every node's).
#[utoipa::path(get, path = "/v1/snapshots", params(ListQuery), responses(
    (status = 200, body = SnapshotPage),
    (status = 400, description = "Bad query", body = ErrorBody),
))]
pub async fn list(query: web::Query<ListQuery>, node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let snapshot_type = match q.snapshot_type.as_deref() {
        None => None,
        Some(t) => Some(t.parse::<SnapshotType>().map_err(|e| bad_query("type", e.to_string()))?),
    };
    let limit = page_limit(q.limit)?;
    let before = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(Uuid::try_parse(c).map_err(|e| bad_query("cursor", format!("not a snapshot id: {e}")))?),
    };
    let filter = SnapshotFilter { snapshot_type, node_id: None, before, limit };
    let found = node.snapshots().list(filter).await?;
    let next_cursor = next_cursor(&found, limit, |s| s.snapshot_id.to_string());
    Ok(HttpResponse::Ok().json(SnapshotPage { snapshots: found.iter().map(SnapshotView::from).collect(), next_cursor }))
}

/// Show a snapshot with its state and whether it (and its chain) verifies.
#[utoipa::path(get, path = "/v1/snapshots/{id}", params(("id" = String, Path, description = "Snapshot id (UUID)")), responses(
    (status = 200, body = SnapshotDetail),
    (status = 400, description = "Malformed id", body = ErrorBody),
    (status = 404, description = "Unknown snapshot", body = ErrorBody),
))]
pub async fn show(id: web::Path<String>, node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let id = snapshot_id(&id)?;
    let row = node.snapshots().get(id).await?;
    let verify = match node.snapshots().verify(id).await {
        Ok(v) => VerifyView { ok: true, error: None, chain: v.chain },
        Err(e) if e.is_invalid_snapshot() => VerifyView {
            ok: false,
            error: Some(VerifyError { code: e.code().into(), message: e.to_string() }),
            chain: vec![],
        },
        Err(e) => return Err(e.into()),
    };
    Ok(HttpResponse::Ok().json(SnapshotDetail {
        snapshot: SnapshotView::from(&row),
        state_data: serde_json::from_str(&row.state_data).ok(),
        verify,
    }))
}

/// Restore this node's actors from a snapshot: workers get back their health scores
/// and restart counters. Jobs are never touched; the snapshot's in-flight claims are
/// compared with the job rows and reported. A snapshot that does not verify is
/// refused and nothing changes.
#[utoipa::path(post, path = "/v1/snapshots/{id}/restore", params(("id" = String, Path, description = "Snapshot id (UUID)")), responses(
    (status = 200, description = "Restored", body = RestoreReport),
    (status = 400, description = "Malformed id", body = ErrorBody),
    (status = 404, description = "Unknown snapshot", body = ErrorBody),
    (status = 409, description = "The snapshot or its chain does not verify; nothing changed", body = ErrorBody),
))]
pub async fn restore(id: web::Path<String>, node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let id = snapshot_id(&id)?;
    Ok(HttpResponse::Ok().json(node.snapshots().restore(id).await?))
}
