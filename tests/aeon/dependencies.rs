//! Workflows as DAGs on the real store: waiting, release in the completing
//! transaction, fan-in, failure policies, refusals, and races.

use std::time::Duration;

use aeon::clock::{Clock, ManualClock};
use aeon::job::{ExecutionStatus, JobRequest, JobStatus, SubmitLimits, validate_batch};
use aeon::store::{ClaimedJob, Completion, Failure, StoreError};
use rstest::rstest;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{AnyStore, TestDb, clock, exact_backoff, on_every_backend, postgres_only};

/// A batch request: `(ref, type, depends_on refs or ids, policy)`.
fn batch(specs: &[(&str, &str, &[&str], &str)]) -> Vec<JobRequest> {
    specs
        .iter()
        .map(|(reference, job_type, deps, policy)| {
            let mut r = JobRequest::new(*job_type, json!({ "name": reference }));
            r.reference = Some(reference.to_string());
            r.depends_on = (!deps.is_empty()).then(|| deps.iter().map(|d| d.to_string()).collect());
            r.on_dependency_failure = (!policy.is_empty()).then(|| policy.to_string());
            r.max_retries = Some(0);
            r
        })
        .collect()
}

async fn submit(store: &AnyStore, requests: Vec<JobRequest>, clock: &ManualClock) -> Vec<(Uuid, JobStatus)> {
    let jobs = validate_batch(requests, &SubmitLimits::default()).expect("valid batch");
    store.enqueue(jobs, clock.now()).await.unwrap().into_iter().map(|e| (e.job_id, e.status)).collect()
}

async fn claim_all(store: &AnyStore, clock: &ManualClock) -> Vec<ClaimedJob> {
    let job_types = ["collect", "echo", "fail", "noop"].map(String::from).into();
    let request = aeon::store::ClaimRequest::one(Uuid::new_v4(), 2_000, Duration::from_secs(60), job_types);
    store.claim(request, clock.now()).await.unwrap()
}

async fn complete(store: &AnyStore, runs: &[ClaimedJob], clock: &ManualClock) -> u64 {
    let done = runs.iter().map(|r| Completion { claim: r.claim_ref(), result: json!({ "done": r.payload["name"] }) });
    store.complete(done.collect(), clock.now()).await.unwrap().released
}

async fn status(store: &AnyStore, id: Uuid) -> JobStatus {
    store.get_job(id).await.unwrap().unwrap().status
}

async fn a_diamond_runs_in_order_and_the_sink_sees_both_results(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let ids = submit(
        &store,
        batch(&[
            ("a", "echo", &[], ""),
            ("b", "echo", &["a"], ""),
            ("c", "echo", &["a"], ""),
            ("d", "collect", &["b", "c"], ""),
        ]),
        &clock,
    )
    .await;
    let statuses: Vec<JobStatus> = ids.iter().map(|(_, s)| *s).collect();
    assert_eq!(statuses, [JobStatus::Pending, JobStatus::Waiting, JobStatus::Waiting, JobStatus::Waiting]);

    let first = claim_all(&store, &clock).await;
    assert_eq!(first.iter().map(|r| r.job_id).collect::<Vec<_>>(), [ids[0].0]);
    assert_eq!(complete(&store, &first, &clock).await, 2, "b and c are released with a's completion");
    let middle = claim_all(&store, &clock).await;
    assert_eq!(middle.len(), 2);
    assert_eq!(complete(&store, &middle[..1], &clock).await, 0, "d still waits for the other");
    assert_eq!(status(&store, ids[3].0).await, JobStatus::Waiting);
    assert_eq!(complete(&store, &middle[1..], &clock).await, 1);
    let sink = claim_all(&store, &clock).await;
    assert_eq!(sink.len(), 1);
    let seen: Vec<(Uuid, &str, Value)> =
        sink[0].dependencies.iter().map(|d| (d.job_id, d.status.as_str(), d.result.clone().unwrap())).collect();
    let mut expected =
        vec![(ids[1].0, "COMPLETED", json!({"done": "b"})), (ids[2].0, "COMPLETED", json!({"done": "c"}))];
    expected.sort_by_key(|e| e.0);
    assert_eq!(seen, expected, "fan-in: the sink sees its dependencies' results");
}

async fn a_chain_five_hundred_deep_releases_one_link_per_completion(db: TestDb) {
    const DEPTH: usize = 500;
    let clock = clock();
    let store = db.store(exact_backoff());
    let refs: Vec<String> = (0..DEPTH).map(|i| format!("link-{i}")).collect();
    let requests = (0..DEPTH)
        .map(|i| {
            let mut r = JobRequest::new("noop", json!({ "name": i }));
            r.reference = Some(refs[i].clone());
            r.depends_on = (i > 0).then(|| vec![refs[i - 1].clone()]);
            r
        })
        .collect();
    let ids = submit(&store, requests, &clock).await;
    for (i, (id, _)) in ids.iter().enumerate() {
        let runs = claim_all(&store, &clock).await;
        assert_eq!(runs.iter().map(|r| r.job_id).collect::<Vec<_>>(), [*id], "link {i} alone is ready");
        let released = complete(&store, &runs, &clock).await;
        assert_eq!(released, u64::from(i + 1 < DEPTH));
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM jobs WHERE status = 'COMPLETED'").await, DEPTH as i64);
}

async fn fan_out_to_a_thousand_and_back_in_to_one(db: TestDb) {
    const WIDTH: usize = 1_000;
    let clock = clock();
    let store = db.store(exact_backoff());
    let mut requests = vec![{
        let mut r = JobRequest::new("noop", json!({}));
        r.reference = Some("root".into());
        r
    }];
    for i in 0..WIDTH {
        let mut r = JobRequest::new("noop", json!({ "name": i }));
        r.reference = Some(format!("mid-{i}"));
        r.depends_on = Some(vec!["root".into()]);
        requests.push(r);
    }
    let mut sink = JobRequest::new("collect", json!({}));
    sink.depends_on = Some((0..WIDTH).map(|i| format!("mid-{i}")).collect());
    requests.push(sink);
    let ids = submit(&store, requests, &clock).await;

    let root = claim_all(&store, &clock).await;
    assert_eq!(root.len(), 1);
    let before = store.statements_sent();
    assert_eq!(complete(&store, &root, &clock).await, WIDTH as u64, "one completion releases all thousand");
    assert!(store.statements_sent() - before <= 6, "released in batches, not one round trip each");
    let mids = claim_all(&store, &clock).await;
    assert_eq!(mids.len(), WIDTH);
    assert_eq!(complete(&store, &mids, &clock).await, 1, "the sink is released once, with the last of them");
    let last = claim_all(&store, &clock).await;
    assert_eq!(last[0].job_id, ids.last().unwrap().0);
    assert_eq!(last[0].dependencies.len(), WIDTH);
}

#[rstest]
#[case::to_itself(&[("a", "noop", &["a"] as &[&str], "")], "jobs[0].depends_on", "itself")]
#[case::directly(&[("a", "noop", &["b"] as &[&str], ""), ("b", "noop", &["a"], "")], "jobs[1].depends_on", "a -> b -> a")]
#[case::through_three(
    &[("a", "noop", &["c"] as &[&str], ""), ("b", "noop", &["a"], ""), ("c", "noop", &["b"], "")],
    "jobs[1].depends_on",
    "a -> c -> b -> a"
)]
#[case::unknown_ref(&[("a", "noop", &["nobody"] as &[&str], "")], "jobs[0].depends_on", "neither a job id nor the ref")]
#[case::bad_policy(&[("a", "noop", &[] as &[&str], "sometimes")], "jobs[0].on_dependency_failure", "cancel or continue")]
fn bad_graphs_are_refused_naming_the_problem(
    #[case] specs: &[(&str, &str, &[&str], &str)],
    #[case] field: &str,
    #[case] reason: &str,
) {
    let err = validate_batch(batch(specs), &SubmitLimits::default()).unwrap_err();
    assert_eq!(err.field, field, "{err}");
    assert!(err.reason.contains(reason), "{err} should say {reason:?}");
}

async fn a_dependency_on_an_unknown_job_refuses_the_whole_submit(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let ghost = Uuid::new_v4();
    let requests = batch(&[("a", "noop", &[], ""), ("b", "noop", &["a"], "")]);
    let mut jobs = validate_batch(requests, &SubmitLimits::default()).unwrap();
    jobs[1].depends_on.push(ghost);
    match store.enqueue(jobs, clock.now()).await {
        Err(StoreError::Invalid(e)) => {
            assert_eq!(e.field, "jobs[1].depends_on", "the batch job that names it");
            assert!(e.reason.contains(&ghost.to_string()), "{e}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM jobs").await, 0, "nothing of the submit is written");
    assert_eq!(db.count("SELECT COUNT(*) FROM job_dependencies").await, 0);
    let mut alone = JobRequest::new("noop", json!({}));
    alone.depends_on = Some(vec![ghost.to_string()]);
    match store.enqueue(validate_batch(vec![alone], &SubmitLimits::default()).unwrap(), clock.now()).await {
        Err(StoreError::Invalid(e)) => assert_eq!(e.field, "depends_on", "a single job's field, plainly"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn a_failed_dependency_cancels_dependents_transitively_unless_they_continue(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let ids = submit(
        &store,
        batch(&[
            ("a", "fail", &[], ""),
            ("b", "noop", &["a"], "cancel"),
            ("c", "noop", &["b"], ""),
            ("d", "collect", &["b"], "continue"),
        ]),
        &clock,
    )
    .await;
    let a = claim_all(&store, &clock).await;
    let failure =
        Failure { claim: a[0].claim_ref(), status: ExecutionStatus::Failed, error: "no".into(), permanent: false };
    let failed = store.fail(vec![failure], clock.now()).await.unwrap();
    assert_eq!(failed.released, 1, "d continues");
    for (i, name) in [(1, "b"), (2, "c")] {
        let job = store.get_job(ids[i].0).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Cancelled, "{name}");
        assert_eq!(job.error, Some(format!("dependency {} failed", ids[0].0)), "{name} names the failed job");
    }
    let d = claim_all(&store, &clock).await;
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].job_id, d[0].dependencies[0].status.as_str()), (ids[3].0, "CANCELLED"));

    // Submitted after the failure: settled at once.
    let late = batch(&[("e", "noop", &[], ""), ("f", "noop", &[], "continue")]);
    let mut late = validate_batch(late, &SubmitLimits::default()).unwrap();
    late[0].depends_on = vec![ids[0].0];
    late[1].depends_on = vec![ids[0].0];
    let answers = store.enqueue(late, clock.now()).await.unwrap();
    assert_eq!((answers[0].status, answers[1].status), (JobStatus::Cancelled, JobStatus::Pending));
}

async fn cancelling_a_job_cancels_its_waiting_dependents(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let ids = submit(&store, batch(&[("a", "noop", &[], ""), ("b", "noop", &["a"], "")]), &clock).await;
    store.cancel(ids[0].0, clock.now()).await.unwrap();
    assert_eq!(status(&store, ids[1].0).await, JobStatus::Cancelled);
}

async fn two_dependencies_completing_at_once_release_their_dependent_exactly_once(db: TestDb) {
    let clock = clock();
    for round in 0..20 {
        let store = db.store(exact_backoff());
        let ids = submit(
            &store,
            batch(&[("a", "noop", &[], ""), ("b", "noop", &[], ""), ("d", "noop", &["a", "b"], "")]),
            &clock,
        )
        .await;
        let runs = claim_all(&store, &clock).await;
        assert_eq!(runs.len(), 2);
        // Two stores, two pools, two connections: on Postgres the completions race; on
        // SQLite they take turns at its one writer, in either order (no race there).
        let (left, right) = (db.store(exact_backoff()), db.store(exact_backoff()));
        let (x, y) = futures::join!(complete(&left, &runs[..1], &clock), complete(&right, &runs[1..], &clock));
        assert_eq!(x + y, 1, "round {round}: released exactly once");
        assert_eq!(status(&store, ids[2].0).await, JobStatus::Pending, "round {round}");
        let d = claim_all(&store, &clock).await;
        assert_eq!(d.len(), 1, "round {round}");
        complete(&store, &d, &clock).await;
    }
}

async fn a_dependent_is_released_with_its_dependency_so_another_node_claims_it_at_once(db: TestDb) {
    let clock = clock();
    let first_node = db.store(exact_backoff());
    let ids = submit(&first_node, batch(&[("a", "noop", &[], ""), ("b", "noop", &["a"], "")]), &clock).await;
    let a = claim_all(&first_node, &clock).await;
    complete(&first_node, &a, &clock).await;
    drop(first_node); // the first node does nothing more: it may as well have died

    let survivor = db.store(exact_backoff()); // another node on the same database
    let b = claim_all(&survivor, &clock).await;
    assert_eq!(b.iter().map(|r| r.job_id).collect::<Vec<_>>(), [ids[1].0], "the release was part of the completion");
}

/// A batch of completions is one statement: when the database refuses it part-way (a
/// NUL, which Postgres's JSONB cannot store, in the second result), no job of it is
/// completed and no dependent released. (The StoreActor then writes each alone:
/// `kit::faulty_store`.) Postgres only: SQLite stores the NUL.
async fn a_completion_batch_the_database_refuses_part_way_changes_nothing(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let specs: &[(&str, &str, &[&str], &str)] =
        &[("a", "noop", &[], ""), ("b", "noop", &[], ""), ("d", "noop", &["a"], "")];
    let ids = submit(&store, batch(specs), &clock).await;
    let runs = claim_all(&store, &clock).await;
    assert_eq!(runs.len(), 2, "a and b; d waits for a");
    let first = runs.iter().position(|r| r.job_id == ids[0].0).expect("a was claimed");
    let mut completions: Vec<Completion> =
        runs.iter().map(|r| Completion { claim: r.claim_ref(), result: json!("done") }).collect();
    completions[1 - first].result = json!("a NUL \u{0} Postgres cannot store"); // a's completion goes first
    completions.swap(0, first);
    let refused = store.complete(completions, clock.now()).await;
    assert!(matches!(refused, Err(StoreError::Database(_))), "{refused:?}");
    for (i, expected) in [JobStatus::Running, JobStatus::Running, ids[2].1].into_iter().enumerate() {
        assert_eq!(status(&store, ids[i].0).await, expected, "job {i}: as before the batch");
        let runs = store.executions(ids[i].0).await.unwrap();
        assert!(runs.iter().all(|e| e.execution_status == ExecutionStatus::Running), "job {i}: {runs:?}");
    }
}

postgres_only!(a_completion_batch_the_database_refuses_part_way_changes_nothing);

on_every_backend!(
    a_chain_five_hundred_deep_releases_one_link_per_completion,
    fan_out_to_a_thousand_and_back_in_to_one,
    two_dependencies_completing_at_once_release_their_dependent_exactly_once,
    a_diamond_runs_in_order_and_the_sink_sees_both_results,
    a_dependency_on_an_unknown_job_refuses_the_whole_submit,
    a_failed_dependency_cancels_dependents_transitively_unless_they_continue,
    cancelling_a_job_cancels_its_waiting_dependents,
    a_dependent_is_released_with_its_dependency_so_another_node_claims_it_at_once,
);
