//! What a submitter may ask for, and the checks it must pass before anything is written.
//!
//! Every input from outside arrives as a [`JobRequest`] (from JSON, or built in code)
//! and becomes a [`NewJob`] only through [`JobRequest::validate`]. A [`NewJob`] is
//! therefore always well formed, and the store never sees a bad value.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::DependencyPolicy;
use crate::config::SubmitLimits;

/// Bad input: which field, and why. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct ValidationError {
    pub field: String,
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }
}

/// A job submission as it arrives from outside. Numbers are wide on purpose, so that a
/// negative or oversized value gets a clear "must be ..." instead of a type error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// `^[a-z0-9_.-]{1,64}$`: the handler that runs the job.
    #[serde(rename = "type")]
    #[schema(pattern = "^[a-z0-9_.-]{1,64}$", min_length = 1, max_length = 64)]
    pub job_type: String,
    /// Any JSON (an object when absent or null), at most `jobs.max_payload_bytes` as
    /// compact JSON, without NUL characters; every number must fit a 64-bit integer or
    /// a double exactly (it is refused, never changed).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Higher runs first (default 0).
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = -2147483648i64, maximum = 2147483647i64)]
    pub priority: Option<i64>,
    /// Retries after the first attempt, at most `jobs.max_retries_limit` (default 100).
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 0, maximum = 100)]
    pub max_retries: Option<i64>,
    /// Milliseconds a run may take (default `jobs.default_timeout_ms`).
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 2147483647i64)]
    pub timeout_ms: Option<i64>,
    /// RFC 3339; the job is not claimed before this time.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub run_at: Option<String>,
    /// A second submission with the same key returns the first job instead of a new
    /// one. 1 to 255 characters, without NUL.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255, pattern = "^[^\\u0000]*$")]
    pub idempotency_key: Option<String>,
    /// Jobs this one waits for: ids of existing jobs (an unknown id refuses the
    /// submission), or (in a batch) the `ref` of another job of the same batch.
    #[serde(default)]
    pub depends_on: Option<Vec<String>>,
    /// What a failed (dead-lettered or cancelled) dependency does to this job:
    /// `cancel` (the default: this job is cancelled too) or `continue` (it runs anyway).
    #[serde(default)]
    #[schema(pattern = "^(cancel|continue)$")]
    pub on_dependency_failure: Option<String>,
    /// A name for this job that other jobs of the same batch use in `depends_on`
    /// (1 to 64 characters).
    #[serde(default, rename = "ref")]
    #[schema(min_length = 1, max_length = 64)]
    pub reference: Option<String>,
}

/// An integer as JSON (and JSON Schema) counts one: `3`, or `3.0` and `3e2` (numbers
/// without a fraction). `2.5` is refused, naming the field.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        // In -2^63..2^63, where the conversion is exact.
        Some(f) if f.fract() == 0.0 && (-9.223_372_036_854_775_808e18..9.223_372_036_854_775_808e18).contains(&f) => {
            Ok(Some(f as i64))
        }
        _ if n.is_u64() => Err(D::Error::custom(format!("{n} is out of range"))),
        _ => Err(D::Error::custom(format!("{n} is not a whole number"))),
    }
}

/// A validated job, ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub job_id: Uuid,
    pub job_type: String,
    pub payload: Value,
    pub priority: i32,
    pub max_retries: i32,
    pub timeout_ms: i32,
    /// `None`: ready at once (the store's clock decides "now").
    pub run_at: Option<DateTime<Utc>>,
    pub idempotency_key: Option<String>,
    /// Jobs this one waits for (distinct, never itself).
    pub depends_on: Vec<Uuid>,
    pub dependency_policy: DependencyPolicy,
}

impl JobRequest {
    /// A request for a job of `job_type` with `payload` and every default.
    pub fn new(job_type: impl Into<String>, payload: Value) -> Self {
        Self { job_type: job_type.into(), payload, ..Self::default() }
    }

    /// Parses a JSON submission. Unknown fields and wrong types are refused, naming the field.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ValidationError> {
        parse_json(bytes)
    }

    /// Checks every field against `limits` and fills in the defaults. `depends_on`
    /// must hold job ids; batch references are resolved by [`validate_batch`].
    pub fn validate(self, limits: &SubmitLimits) -> Result<NewJob, ValidationError> {
        let mut job = self.clone().validate_own_fields(limits)?;
        job.depends_on = resolve_dependencies(&self.depends_on, job.job_id, &Default::default())?;
        Ok(job)
    }

    /// Every field but `depends_on`, which needs the batch to resolve.
    fn validate_own_fields(self, limits: &SubmitLimits) -> Result<NewJob, ValidationError> {
        validate_job_type(&self.job_type)?;
        let payload = if self.payload.is_null() { Value::Object(Default::default()) } else { self.payload };
        if let Some(why) = unstorable(&payload) {
            return Err(ValidationError::new("payload", why));
        }
        let size = serde_json::to_vec(&payload).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > limits.max_payload_bytes {
            return Err(ValidationError::new(
                "payload",
                format!("is {size} bytes, over the limit of {} bytes", limits.max_payload_bytes),
            ));
        }
        let priority = match self.priority {
            None => 0,
            Some(p) => i32::try_from(p)
                .map_err(|_| ValidationError::new("priority", format!("{p} is outside {}..={}", i32::MIN, i32::MAX)))?,
        };
        let max_retries = match self.max_retries {
            None => limits.default_max_retries,
            Some(r) if r < 0 => {
                return Err(ValidationError::new("max_retries", format!("{r} is negative")));
            }
            Some(r) if r > i64::from(limits.max_retries_limit) => {
                return Err(ValidationError::new(
                    "max_retries",
                    format!("{r} is over the limit of {}", limits.max_retries_limit),
                ));
            }
            Some(r) => r as i32,
        };
        let timeout_ms = match self.timeout_ms {
            None => limits.default_timeout_ms,
            Some(t) if t <= 0 => {
                return Err(ValidationError::new(
                    "timeout_ms",
                    format!("{t} must be a positive number of milliseconds"),
                ));
            }
            Some(t) => i32::try_from(t)
                .map_err(|_| ValidationError::new("timeout_ms", format!("{t} is over the limit of {}", i32::MAX)))?,
        };
        let run_at = match self.run_at {
            None => None,
            Some(s) => {
                let at = DateTime::parse_from_rfc3339(&s)
                    .map_err(|e| ValidationError::new("run_at", format!("{s:?} is not an RFC 3339 time: {e}")))?
                    .with_timezone(&Utc);
                // RFC 3339 has four-digit years; past them the backends part ways (one
                // answers `+10000-…`, the other clamps): refused rather than changed.
                if !(0..=9999).contains(&chrono::Datelike::year(&at)) {
                    let why = format!("{s:?} is {at} in UTC, outside the years 0000 to 9999");
                    return Err(ValidationError::new("run_at", why));
                }
                Some(at)
            }
        };
        if let Some(key) = &self.idempotency_key
            && (key.is_empty() || key.chars().count() > 255 || key.contains('\0'))
        {
            // Characters, as the column (`VARCHAR(255)`) and the OpenAPI document count them.
            return Err(ValidationError::new("idempotency_key", "must be 1 to 255 characters long, without NUL"));
        }
        let dependency_policy = match self.on_dependency_failure.as_deref() {
            None => DependencyPolicy::Cancel,
            Some(p) => p.parse().map_err(|e: String| ValidationError::new("on_dependency_failure", e))?,
        };
        if let Some(reference) = &self.reference
            && (reference.is_empty() || reference.chars().count() > 64)
        {
            return Err(ValidationError::new("ref", "must be 1 to 64 characters long"));
        }
        Ok(NewJob {
            job_id: Uuid::now_v7(),
            job_type: self.job_type,
            payload,
            priority,
            max_retries,
            timeout_ms,
            run_at,
            idempotency_key: self.idempotency_key,
            depends_on: Vec::new(),
            dependency_policy,
        })
    }
}

/// Validates a batch, all or nothing: the first bad job's field is named with its
/// index (`jobs[3].timeout_ms`), and no job of the batch is returned. Jobs may depend
/// on each other by `ref`; a cycle among them is refused, naming it.
pub fn validate_batch(requests: Vec<JobRequest>, limits: &SubmitLimits) -> Result<Vec<NewJob>, ValidationError> {
    let at = |i: usize, e: ValidationError| ValidationError::new(format!("jobs[{i}].{}", e.field), e.reason);
    let mut jobs = Vec::with_capacity(requests.len());
    let mut refs = std::collections::HashMap::new();
    for (i, request) in requests.iter().enumerate() {
        let job = request.clone().validate_own_fields(limits).map_err(|e| at(i, e))?;
        if let Some(reference) = &request.reference
            && refs.insert(reference.clone(), job.job_id).is_some()
        {
            return Err(at(i, ValidationError::new("ref", format!("{reference:?} names two jobs of the batch"))));
        }
        jobs.push(job);
    }
    for (i, (job, request)) in jobs.iter_mut().zip(&requests).enumerate() {
        job.depends_on = resolve_dependencies(&request.depends_on, job.job_id, &refs).map_err(|e| at(i, e))?;
    }
    super::dependencies::refuse_cycles(&jobs, &requests)?;
    Ok(jobs)
}

/// The most jobs one job may wait for (a batch holds at most 10,000 jobs).
pub const MAX_DEPENDENCIES: usize = 10_000;

/// Turns `depends_on` entries (job ids, or refs of the batch) into distinct job ids,
/// in one pass.
fn resolve_dependencies(
    entries: &Option<Vec<String>>,
    own_id: Uuid,
    refs: &std::collections::HashMap<String, Uuid>,
) -> Result<Vec<Uuid>, ValidationError> {
    let entries = entries.as_deref().unwrap_or_default();
    if entries.len() > MAX_DEPENDENCIES {
        let why = format!("{} entries, over the limit of {MAX_DEPENDENCIES}", entries.len());
        return Err(ValidationError::new("depends_on", why));
    }
    let mut resolved: Vec<Uuid> = Vec::with_capacity(entries.len());
    let mut seen = std::collections::HashSet::with_capacity(entries.len());
    for entry in entries {
        let id = match (refs.get(entry), Uuid::try_parse(entry)) {
            (Some(id), _) => *id,
            (None, Ok(id)) => id,
            (None, Err(_)) => {
                return Err(ValidationError::new(
                    "depends_on",
                    format!("{entry:?} is neither a job id nor the ref of a job in this batch"),
                ));
            }
        };
        if id == own_id {
            return Err(ValidationError::new("depends_on", "a job cannot depend on itself"));
        }
        if seen.insert(id) {
            resolved.push(id);
        }
    }
    Ok(resolved)
}

/// Parses a JSON object into `T`, naming the field at fault when it does not fit.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ValidationError> {
    // serde would also read a struct from a JSON array, by position: refuse that.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ValidationError::new("body", "must be a JSON object"));
    }
    // A number serde_json would change is refused by path before anything reads it.
    if let Some((field, literal)) = super::inexact_number(bytes) {
        return Err(ValidationError::new(field, super::inexact_reason(&literal)));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let field =
            unknown_field_name(&message).or_else(|| missing_field_name(&message)).unwrap_or_else(|| field_path(&path));
        ValidationError::new(field, strip_position(&message))
    })
}

/// How deeply a stored value (a payload, a result, a checkpoint) may nest. Values are
/// read back inside others (a dependency's result sits two levels down in its
/// dependent's claim), and serde_json reads at most 128 levels: kept well under that,
/// everything stored can be read back wherever it travels.
pub const MAX_NESTING: usize = 64;

/// Why a JSON value cannot be stored and read back on every backend, if it cannot: a
/// NUL character (Postgres' JSONB refuses it; a job that could run on one backend and
/// not another is refused at the door, whichever backend this node has), or nesting
/// deeper than [`MAX_NESTING`].
pub fn unstorable(value: &Value) -> Option<String> {
    if holds_nul(value) {
        return Some("holds a NUL character (\\u0000)".into());
    }
    let depth = nesting(value);
    (depth > MAX_NESTING).then(|| format!("is nested {depth} levels deep; at most {MAX_NESTING} can be stored"))
}

/// How many arrays and objects deep `value` goes (a scalar: 0). Walked with a stack of
/// its own: a value built in code can be deeper than a recursion would survive.
pub fn nesting(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0)];
    while let Some((value, depth)) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|child| (child, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|child| (child, depth + 1))),
            _ => continue,
        }
        deepest = deepest.max(depth + 1);
    }
    deepest
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// Job types are short, lowercase names: `^[a-z0-9_.-]{1,64}$`.
pub fn validate_job_type(job_type: &str) -> Result<(), ValidationError> {
    let ok = (1..=64).contains(&job_type.len())
        && job_type.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new("type", format!("{job_type:?} must match ^[a-z0-9_.-]{{1,64}}$")))
    }
}

/// Parses a job id given as text, naming the field when it is not a UUID.
pub fn parse_job_id(text: &str) -> Result<Uuid, ValidationError> {
    Uuid::try_parse(text).map_err(|e| ValidationError::new("job_id", format!("{text:?} is not a UUID: {e}")))
}

/// The field an error is in, as far as it names input fields: `payload[0][0]` is in
/// `payload` (free-form), `jobs[3].timeout_ms` stays as it is.
fn field_path(path: &str) -> String {
    if path.is_empty() || path == "." || path == "?" {
        return "body".to_string();
    }
    match path.find("payload") {
        Some(i) => path[..i + "payload".len()].to_string(),
        None => path.to_string(),
    }
}

fn unknown_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

fn missing_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

/// serde_json appends " at line 1 column 17"; the field name says more than that.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}
