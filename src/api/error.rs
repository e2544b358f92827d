//! API errors: `{"error": {"code", "message", "field"?}}` with the right status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::job::ValidationError;
use crate::node::SubmitError;
use crate::store::StoreError;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `invalid`, `malformed_json`, `unauthorized`, ...
    pub code: &'static str,
    /// What went wrong, for people; at most 1,000 characters (a longer message, one
    /// quoting a large input, is cut and ends `… [N more characters]`).
    pub message: String,
    /// The input field at fault, when there is one (at most 200 characters, cut alike).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The longest error message answered, in characters; a longer one is cut, marked.
pub const MAX_MESSAGE: usize = 1000;

/// The longest field name answered, in characters.
pub const MAX_FIELD: usize = 200;

/// `text` whole when it has at most `max` characters; else its first `max` and a
/// marker saying how many more there were.
pub fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}… [{} more characters]", &text[..cut], text[cut..].chars().count()),
    }
}

/// An error an endpoint answers with.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: ErrorDetail,
}

impl ApiError {
    /// An error whose message is at most [`MAX_MESSAGE`] characters: a message that
    /// quotes the input (a bad value, an unknown field) never echoes it unbounded.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, detail: ErrorDetail { code, message: bounded(&message.into(), MAX_MESSAGE), field: None } }
    }

    /// Names the field at fault (at most [`MAX_FIELD`] characters of it).
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.detail.field = Some(bounded(&field.into(), MAX_FIELD));
        self
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.detail.code, self.detail.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(ErrorBody { error: self.detail.clone() })
    }
}

/// A bad value: 422 naming the field. Bad ids in paths and queries are 400 instead.
impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        let field = e.field.clone();
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string()).with_field(field)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(id) => Self::not_found(format!("job {id} not found")),
            StoreError::Conflict { .. } => Self::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            StoreError::Invalid(v) => v.into(),
            StoreError::Unavailable | StoreError::Database(_) => {
                // The database error may hold details that are no business of a client.
                tracing::error!(error = %e, "store request failed");
                Self::unavailable("the store is unavailable; try again")
            }
            StoreError::DiskFull(_) => {
                tracing::error!(error = %e, "a write failed: the database's disk is full");
                let message = "the database's disk is full: nothing was written; free space on it, then try again";
                Self::new(StatusCode::INSUFFICIENT_STORAGE, "disk_full", message)
            }
            StoreError::Corrupt(_) => {
                tracing::error!(error = %e, "corrupt row");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "a stored row could not be read")
            }
        }
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Invalid(v) => v.into(),
            SubmitError::Store(s) => s.into(),
        }
    }
}

impl From<actix::MailboxError> for ApiError {
    fn from(_: actix::MailboxError) -> Self {
        Self::unavailable("the node is shutting down")
    }
}

/// The deepest nesting of arrays and objects a body may have: serde_json's own limit
/// (deeper, it cannot read the body at all). A payload has a lower limit of its own
/// (`job::MAX_NESTING`, 422 naming it), so what is stored can be read back anywhere.
pub const MAX_BODY_NESTING: usize = 127;

/// Parses a JSON body: syntax errors and nesting deeper than [`MAX_BODY_NESTING`] are 400,
/// values that do not fit are 422 naming the field.
pub fn parse_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        return Err(ApiError::malformed(format!("the body is not valid JSON: {e}")).with_field("body"));
    }
    if body_nesting(bytes) > MAX_BODY_NESTING {
        let message = format!("the body nests arrays and objects deeper than {MAX_BODY_NESTING} levels");
        return Err(ApiError::malformed(message).with_field("body"));
    }
    crate::job::parse_json(bytes).map_err(ApiError::from)
}

/// How deep the arrays and objects of valid JSON `bytes` nest (iteratively: any depth).
fn body_nesting(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_with_a_marker() {
        assert_eq!(bounded("short", 10), "short");
        assert_eq!(bounded("ééééé", 2), "éé… [3 more characters]");
        let error = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "x".repeat(3_000_000))
            .with_field("y".repeat(1000));
        assert!(error.detail.message.len() < MAX_MESSAGE + 50, "{}", error.detail.message.len());
        assert!(error.detail.message.ends_with("… [2999000 more characters]"));
        assert!(error.detail.field.unwrap().ends_with("… [800 more characters]"));
    }

    #[test]
    fn nesting_counts_arrays_and_objects_outside_strings() {
        assert_eq!(body_nesting(br#"{"a": [1, {"b": "[[[{{"}], "c\"[": []}"#), 3);
        assert_eq!(body_nesting(b"1"), 0);
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(body_nesting(deep.as_bytes()), 200);
    }
}
