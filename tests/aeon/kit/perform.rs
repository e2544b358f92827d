//! `perform_job` and `Perform`: one handler run alone, as a node would run it.

use aeon::handler::{JobContext, Outcome, Registry};
use aeon::job::JobStatus;
use aeon::store::DependencyOutcome;
use aeon::testing::{Perform, TestNode, perform_job};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Sleep {
    #[allow(dead_code)]
    ms: u64,
}

fn registry() -> Registry {
    let mut registry = Registry::with_builtins();
    registry.register_fn("typed", |_: JobContext, p: Sleep| async move { Outcome::Complete(json!(p.ms)) }).unwrap();
    registry
        .register_fn("context", |ctx: JobContext, _: Value| async move {
            let checkpoint = ctx.last_checkpoint().await.unwrap().map(|c| (c.data, c.attempt));
            Outcome::Complete(json!({
                "attempt": ctx.attempt,
                "max_retries": ctx.max_retries,
                "dependencies": ctx.dependencies,
                "checkpoint": checkpoint,
            }))
        })
        .unwrap();
    registry
        .register_fn("saves", |ctx: JobContext, n: u32| async move {
            for i in 1..=n {
                ctx.checkpoint(json!({ "done": i })).await.unwrap();
            }
            Outcome::Complete(json!(n))
        })
        .unwrap();
    registry.register_fn("nul", |_: JobContext, _: Value| async move { Outcome::Complete(json!("a\u{0}b")) }).unwrap();
    registry
        .register_fn("deep", |_: JobContext, levels: usize| async move {
            Outcome::Complete((0..levels).fold(json!(1), |inner, _| json!([inner])))
        })
        .unwrap();
    registry
}

#[actix_rt::test]
async fn a_handler_runs_alone_and_answers_its_outcome() {
    let registry = registry();
    assert_eq!(perform_job(&registry, "echo", json!({"a": 1})).await, Outcome::Complete(json!({"a": 1})));
    let failed = perform_job(&registry, "fail", json!({"times": 1, "message": "boom"})).await;
    assert_eq!(failed, Outcome::Fail("boom".into()));
    assert_eq!(perform_job(&registry, "typed", json!({"ms": 5})).await, Outcome::Complete(json!(5)));
}

#[actix_rt::test]
async fn a_payload_that_does_not_fit_gives_the_error_a_node_records() {
    let registry = registry();
    let alone = perform_job(&registry, "typed", json!({"ms": "soon"})).await;
    let Outcome::FailPermanently(why) = &alone else { panic!("refused for good, not {alone:?}") };
    assert!(why.contains("payload.ms"), "names the field: {why}");

    let mut node = TestNode::start(registry).await;
    let job_id = node.submit("typed", json!({"ms": "soon"})).await;
    node.drain().await;
    let recorded = node.assert_status(job_id, JobStatus::DeadLetter).await;
    assert_eq!(recorded.error.as_deref(), Some(why.as_str()), "the same error, word for word");
    node.shutdown().await;
}

#[actix_rt::test]
async fn a_result_the_store_cannot_keep_fails_as_on_a_node() {
    // A NUL, and nesting past what can be read back where a result travels (inside
    // its dependents' claims): each fails the job for good, naming why.
    for (job_type, payload, why) in [("nul", json!({}), "NUL"), ("deep", json!(65), "nested 65 levels deep")] {
        let registry = registry();
        let alone = perform_job(&registry, job_type, payload.clone()).await;
        let mut node = TestNode::start(registry).await;
        let job_id = node.submit(job_type, payload).await;
        node.drain().await;
        let recorded = node.assert_status(job_id, JobStatus::DeadLetter).await;
        let error = recorded.error.unwrap();
        assert!(error.contains(why), "{job_type}: {error}");
        assert_eq!(alone, Outcome::FailPermanently(error));
        node.shutdown().await;
    }
    let at_the_limit = perform_job(&registry(), "deep", json!(aeon::job::MAX_NESTING)).await;
    assert!(matches!(at_the_limit, Outcome::Complete(_)), "{at_the_limit:?}");
}

#[actix_rt::test]
async fn the_context_carries_the_attempt_the_dependencies_and_the_checkpoint() {
    let registry = registry();
    let dependency = DependencyOutcome { job_id: uuid::Uuid::now_v7(), status: "DEAD_LETTER".into(), result: None };
    let performed = Perform::new(&registry, "context", json!({}))
        .attempt(3)
        .max_retries(7)
        .dependency(dependency.clone())
        .completed_dependency(json!("ok"))
        .checkpoint(json!({"page": 4}))
        .run()
        .await;
    let Outcome::Complete(seen) = performed.outcome else { panic!("{:?}", performed.outcome) };
    assert_eq!(seen["attempt"], 3);
    assert_eq!(seen["max_retries"], 7);
    assert_eq!(seen["checkpoint"], json!([{"page": 4}, 2]), "saved by the attempt before");
    assert_eq!(seen["dependencies"][0], serde_json::to_value(&dependency).unwrap());
    assert_eq!(seen["dependencies"][1]["status"], "COMPLETED");
    assert_eq!(seen["dependencies"][1]["result"], "ok");
    assert_eq!(performed.context.attempt, 3);

    let first = Perform::new(&registry, "context", json!({})).run().await;
    let Outcome::Complete(seen) = first.outcome else { panic!() };
    assert_eq!((seen["attempt"].clone(), seen["checkpoint"].clone()), (json!(1), Value::Null));
}

#[actix_rt::test]
async fn checkpoints_saved_by_the_run_are_answered() {
    let registry = registry();
    let performed = Perform::new(&registry, "saves", json!(3)).run().await;
    assert_eq!(performed.checkpoint, Some(json!({"done": 3})));
    let none = Perform::new(&registry, "saves", json!(0)).checkpoint(json!("before")).run().await;
    assert_eq!(none.checkpoint, Some(json!("before")), "nothing saved: the one it started with");
}

#[actix_rt::test]
#[should_panic(expected = "no handler registered for job type \"missing\"")]
async fn an_unknown_type_fails_the_test_naming_it() {
    perform_job(&registry(), "missing", json!({})).await;
}

#[actix_rt::test]
#[should_panic(expected = "a node would refuse this payload at submit")]
async fn a_payload_a_node_refuses_at_submit_fails_the_test() {
    perform_job(&registry(), "echo", json!({"x": "nul \u{0} here"})).await;
}
