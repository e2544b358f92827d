//! The job filter the listing (`GET /v1/jobs`) and the bulk actions
//! (`POST /v1/jobs/bulk`) share: status, type, creation-time range and a text search.
//! A value that does not fit is refused naming its field; in a query string that is a
//! 400 (`invalid_query`), in a body a 422, as everywhere else in the API.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::job::{JobStatus, validate_job_type};
use crate::store::JobFilter;

/// The longest search text.
pub const MAX_SEARCH: usize = 200;

/// How far back a search without `since` looks: the search reads every job of its
/// time range, so the range is always bounded.
pub const SEARCH_DEFAULT_WINDOW: TimeDelta = TimeDelta::hours(24);

/// Which jobs: every field given narrows the set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    /// Only jobs in this status (empty: any).
    #[schema(pattern = "^(|WAITING|PENDING|RUNNING|COMPLETED|DEAD_LETTER|CANCELLED)$")]
    pub status: Option<String>,
    /// Only jobs of this type (empty: any).
    #[serde(rename = "type")]
    #[schema(pattern = "^[a-z0-9_.-]{0,64}$", max_length = 64)]
    pub job_type: Option<String>,
    /// Only jobs created at or after this time (RFC 3339).
    #[schema(format = DateTime)]
    pub since: Option<String>,
    /// Only jobs created before this time (RFC 3339), after `since`.
    #[schema(format = DateTime)]
    pub until: Option<String>,
    /// Only jobs whose payload (as JSON text) or error contains this text,
    /// case-sensitive, at most 200 characters. It is not indexed: it reads the jobs of
    /// the time range, which is the last 24 hours when `since` is not given.
    #[schema(max_length = 200, pattern = "^[^\\u0000]*$")]
    pub search: Option<String>,
}

/// A field of a [`FilterSpec`] that does not fit: which, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub field: &'static str,
    pub reason: String,
}

impl FilterSpec {
    /// The store's filter (without cursor or limit), as of `now`.
    pub fn to_filter(&self, now: DateTime<Utc>) -> Result<JobFilter, FilterError> {
        let bad = |field: &'static str, reason: String| FilterError { field, reason };
        let mut filter = JobFilter::default();
        if let Some(s) = nonempty(&self.status) {
            filter.statuses = vec![s.parse::<JobStatus>().map_err(|e| bad("status", e.to_string()))?];
        }
        if let Some(t) = nonempty(&self.job_type) {
            validate_job_type(t).map_err(|e| bad("type", e.reason))?;
            filter.job_type = Some(t.to_string());
        }
        filter.created_from = nonempty(&self.since).map(|s| time(s).map_err(|r| bad("since", r))).transpose()?;
        filter.created_until = nonempty(&self.until).map(|s| time(s).map_err(|r| bad("until", r))).transpose()?;
        if let (Some(from), Some(until)) = (filter.created_from, filter.created_until)
            && from >= until
        {
            return Err(bad("until", "must be after since".into()));
        }
        if let Some(text) = nonempty(&self.search) {
            let chars = text.chars().count();
            if chars > MAX_SEARCH {
                return Err(bad("search", format!("is {chars} characters; the most is {MAX_SEARCH}")));
            }
            if text.contains('\0') {
                return Err(bad("search", "must not contain a NUL character".into()));
            }
            filter.search = Some(text.to_string());
            filter.created_from.get_or_insert(now - SEARCH_DEFAULT_WINDOW);
        }
        Ok(filter)
    }
}

/// An empty text is the same as no text (an HTML form sends empty fields).
fn nonempty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

fn time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{text:?} is not an RFC 3339 time (like 2026-01-31T12:00:00Z): {e}"))
}
