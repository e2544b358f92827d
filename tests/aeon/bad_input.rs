//! Bad input gets an error naming the field and the reason, and nothing is written.

use aeon::clock::Clock;
use aeon::job::{JobRequest, SubmitLimits, ValidationError, parse_job_id, validate_batch};
use aeon::store::StoreError;
use rstest::rstest;
use serde_json::json;

use crate::common::{TestDb, claim_request, clock, exact_backoff, new_job, on_every_backend};

fn parse_and_validate(body: &str, limits: &SubmitLimits) -> Result<(), ValidationError> {
    JobRequest::from_json(body.as_bytes())?.validate(limits).map(|_| ())
}

#[rstest]
#[case::unknown_field(r#"{"type":"noop","payload":{},"colour":"red"}"#, "colour", "unknown field")]
#[case::missing_type(r#"{"payload":{}}"#, "type", "missing field")]
#[case::malformed_json(r#"{"type":"noop","#, "body", "EOF")]
#[case::not_an_object(r#"["noop",{}]"#, "body", "JSON object")]
#[case::run_at_past_9999(
    r#"{"type":"noop","run_at":"9999-12-31T23:30:00-01:00"}"#,
    "run_at",
    "outside the years 0000 to 9999"
)]
#[case::run_at_before_0000(
    r#"{"type":"noop","run_at":"0000-01-01T00:30:00+01:00"}"#,
    "run_at",
    "outside the years 0000 to 9999"
)]
#[case::too_many_dependencies(&format!(r#"{{"type":"noop","depends_on":[{}]}}"#, vec![r#""0193b0e4-7a5c-7d1e-8f00-000000000001""#; 10_001].join(",")), "depends_on", "10001 entries, over the limit of 10000")]
#[case::too_deep_to_read_back(&format!(r#"{{"type":"noop","payload":{}{}}}"#, "[".repeat(65), "]".repeat(65)), "payload", "nested 65 levels deep; at most 64")]
#[case::absurdly_deep(&format!(r#"{{"type":"noop","payload":{}{}}}"#, "[".repeat(10_000), "]".repeat(10_000)), "payload", "recursion limit")]
#[case::wrong_type(r#"{"type":"noop","priority":"high"}"#, "priority", "invalid type")]
#[case::negative_timeout(r#"{"type":"noop","timeout_ms":-5}"#, "timeout_ms", "positive")]
#[case::zero_timeout(r#"{"type":"noop","timeout_ms":0}"#, "timeout_ms", "positive")]
#[case::huge_timeout(r#"{"type":"noop","timeout_ms":99999999999}"#, "timeout_ms", "over the limit")]
#[case::negative_retries(r#"{"type":"noop","max_retries":-1}"#, "max_retries", "negative")]
#[case::too_many_retries(r#"{"type":"noop","max_retries":1000}"#, "max_retries", "over the limit")]
#[case::uppercase_type(r#"{"type":"Noop"}"#, "type", "must match")]
#[case::spaced_type(r#"{"type":"send email"}"#, "type", "must match")]
#[case::empty_type(r#"{"type":""}"#, "type", "must match")]
#[case::long_type(&format!(r#"{{"type":"{}"}}"#, "a".repeat(65)), "type", "must match")]
#[case::bad_run_at(r#"{"type":"noop","run_at":"tomorrow"}"#, "run_at", "RFC 3339")]
#[case::empty_key(r#"{"type":"noop","idempotency_key":""}"#, "idempotency_key", "1 to 255")]
#[case::priority_overflow(r#"{"type":"noop","priority":3000000000}"#, "priority", "outside")]
#[case::nul_in_payload(r#"{"type":"noop","payload":{"a":"x\u0000y"}}"#, "payload", "NUL")]
#[case::nul_in_key(r#"{"type":"noop","idempotency_key":"k\u0000"}"#, "idempotency_key", "NUL")]
#[case::fractional_priority(r#"{"type":"noop","priority":2.5}"#, "priority", "not a whole number")]
#[case::fractional_timeout(r#"{"type":"noop","timeout_ms":0.5}"#, "timeout_ms", "not a whole number")]
fn bad_submissions_name_the_field(#[case] body: &str, #[case] field: &str, #[case] reason: &str) {
    let err = parse_and_validate(body, &SubmitLimits::default()).expect_err("must be refused");
    assert_eq!(err.field, field, "{err}");
    assert!(err.reason.contains(reason), "{err} should say {reason:?}");
}

#[test]
fn the_edges_of_the_limits_are_accepted() {
    for run_at in ["9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "9999-12-31T23:00:00-00:59"] {
        let body = format!(r#"{{"type":"noop","run_at":"{run_at}"}}"#);
        parse_and_validate(&body, &SubmitLimits::default()).expect(run_at);
    }
    let same = vec![r#""0193b0e4-7a5c-7d1e-8f00-000000000001""#; 10_000].join(",");
    let request = JobRequest::from_json(format!(r#"{{"type":"noop","depends_on":[{same}]}}"#).as_bytes()).unwrap();
    let job = request.validate(&SubmitLimits::default()).expect("10,000 entries: within the limit");
    assert_eq!(job.depends_on.len(), 1, "the same id ten thousand times is one dependency");
}

#[test]
fn a_payload_nested_to_the_limit_is_accepted() {
    let body = format!(r#"{{"type":"noop","payload":{}{}}}"#, "[".repeat(64), "]".repeat(64));
    parse_and_validate(&body, &SubmitLimits::default()).expect("64 levels: within the limit");
}

#[test]
fn a_valid_submission_passes_with_defaults() {
    let job =
        JobRequest::from_json(br#"{"type":"email.send-v2","payload":{"to":"a@b"},"run_at":"2030-01-01T00:00:00Z"}"#)
            .unwrap()
            .validate(&SubmitLimits::default())
            .unwrap();
    assert_eq!((job.max_retries, job.timeout_ms, job.priority), (3, 300_000, 0));
    assert_eq!(job.run_at.unwrap().to_rfc3339(), "2030-01-01T00:00:00+00:00");
}

/// JSON Schema's `integer` is any number without a fraction, `3.0` and `1e3` included:
/// the OpenAPI document declares these fields integers, so the server takes them.
#[test]
fn whole_numbers_written_with_a_fraction_or_exponent_are_integers() {
    let job = JobRequest::from_json(br#"{"type":"noop","priority":-3.0,"max_retries":2.0,"timeout_ms":1e3}"#)
        .unwrap()
        .validate(&SubmitLimits::default())
        .unwrap();
    assert_eq!((job.priority, job.max_retries, job.timeout_ms), (-3, 2, 1000));
}

#[test]
fn payloads_over_the_configured_cap_are_refused() {
    let limits = SubmitLimits { max_payload_bytes: 100, ..SubmitLimits::default() };
    let small = json!({"data": "x".repeat(50)});
    let big = json!({"data": "x".repeat(100)});
    assert!(JobRequest::new("noop", small).validate(&limits).is_ok());
    let err = JobRequest::new("noop", big).validate(&limits).unwrap_err();
    assert_eq!(err.field, "payload");
    assert!(err.reason.contains("over the limit of 100 bytes"), "{err}");
    // The default cap is 1 MiB.
    let mib = json!("y".repeat(1024 * 1024));
    assert_eq!(JobRequest::new("noop", mib).validate(&SubmitLimits::default()).unwrap_err().field, "payload");
}

#[test]
fn malformed_job_ids_are_refused_by_name() {
    for text in ["", "42", "not-a-uuid", "0193b0e4-7a5c-7d1e-8f00-00000000000g"] {
        let err = parse_job_id(text).unwrap_err();
        assert_eq!(err.field, "job_id");
    }
    assert!(parse_job_id("0193b0e4-7a5c-7d1e-8f00-000000000001").is_ok());
}

async fn one_bad_job_refuses_the_whole_batch_and_nothing_is_written(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let mut requests: Vec<JobRequest> = (0..5).map(|i| JobRequest::new("noop", json!(i))).collect();
    requests[3].timeout_ms = Some(-1);
    let err = validate_batch(requests, &SubmitLimits::default()).unwrap_err();
    assert_eq!(err.field, "jobs[3].timeout_ms");

    // The database refuses too, should a bad job ever get past validation: all or nothing.
    let mut jobs: Vec<_> = (0..5).map(|i| new_job("noop", json!(i))).collect();
    jobs[4].timeout_ms = -1;
    assert!(matches!(store.enqueue(jobs, clock.now()).await, Err(StoreError::Database(_))));
    assert_eq!(db.count("SELECT COUNT(*) FROM jobs").await, 0);
}

/// A row that cannot be read back (here nested past serde_json's 128 levels, as a
/// writer other than the API could leave it) fails alone when claimed, for good and
/// named; the rest of its claim is handed out, not orphaned until its lease ends.
async fn a_claimed_job_that_cannot_be_read_back_fails_alone_and_its_claim_mates_run(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let deep = (0..130).fold(json!(1), |inner, _| json!([inner]));
    let mut poison = new_job("echo", json!(0));
    poison.payload = deep; // past validation: the API refuses it (65 levels and up)
    let jobs = vec![new_job("noop", json!(1)), poison.clone(), new_job("noop", json!(2))];
    store.enqueue(jobs, clock.now()).await.unwrap();
    let request = claim_request(uuid::Uuid::new_v4(), 10, std::time::Duration::from_secs(60));
    let claimed = store.claim(request, clock.now()).await.expect("the claim is answered");
    let mut payloads: Vec<_> = claimed.iter().map(|c| c.payload.clone()).collect();
    payloads.sort_by_key(|p| p.as_i64());
    assert_eq!(payloads, [json!(1), json!(2)], "its claim mates are handed out");

    // (Its row is read here by SQL: reading its payload fails as the claim's did.)
    let dead = "SELECT COUNT(*) FROM jobs WHERE status = 'DEAD_LETTER'"; // the poison is the one echo
    assert_eq!(db.count(dead).await, 1, "for good: it would read the same next time");
    assert_eq!(db.count("SELECT COUNT(*) FROM jobs WHERE status = 'DEAD_LETTER' AND job_type = 'echo'").await, 1);
    let runs = store.executions(poison.job_id).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let error = runs[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("could not be read back") && error.contains("recursion limit"), "{error}");
}

on_every_backend!(
    one_bad_job_refuses_the_whole_batch_and_nothing_is_written,
    a_claimed_job_that_cannot_be_read_back_fails_alone_and_its_claim_mates_run,
);
