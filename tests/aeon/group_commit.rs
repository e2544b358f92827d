//! Single submits share commits: those that arrive while one is being written go to
//! the database together in the next write, each answered with its own outcome once
//! its job is durable; a group the database refuses is written item by item.

use std::sync::Arc;

use actix::Actor;
use aeon::actors::store::{EnqueueOne, StoreActor, StoreActorConfig, StoreHandle};
use aeon::clock::ManualClock;
use aeon::job::NewJob;
use aeon::store::{Enqueued, StoreError, StoreResult};
use aeon::testing::{FaultyStore, Gate, Op};
use futures::future::join_all;
use serde_json::json;
use uuid::Uuid;

use crate::common::{TestDb, clock, exact_backoff, job_with, new_job, on_every_backend, shared};

/// A StoreActor over `db`, its store calls counted and every enqueue held at a gate.
fn held(db: &TestDb, clock: &ManualClock) -> (StoreHandle, FaultyStore, Gate) {
    let faults = FaultyStore::new(db.store(exact_backoff()).shared());
    let gate = Gate::new();
    faults.hold_enqueues(gate.clone());
    let config = StoreActorConfig { window_ms: 2, max_size: 500, ..Default::default() };
    (StoreActor::new(Arc::new(faults.clone()), shared(clock), config).start(), faults, gate)
}

/// Submits `first` and, while its write waits at the gate, `rest`; then lets every
/// write through. Answers each submit's outcome, in order.
async fn one_then_the_rest(
    actor: &StoreHandle,
    gate: &Gate,
    first: NewJob,
    rest: &[NewJob],
) -> Vec<StoreResult<Enqueued>> {
    let first = actor.send(EnqueueOne(first));
    gate.arrived(1).await; // the first submit's write is in flight
    let rest: Vec<_> = rest.iter().map(|j| actor.send(EnqueueOne(j.clone()))).collect();
    gate.open(usize::MAX >> 4);
    let mut answers = vec![first.await.unwrap()];
    answers.extend(join_all(rest).await.into_iter().map(Result::unwrap));
    answers
}

async fn submits_arriving_while_one_is_written_share_the_next_write(db: TestDb) {
    let clock = clock();
    let (actor, faults, gate) = held(&db, &clock);
    let keyed = || job_with(|j| j.idempotency_key = Some("order-7".into()));
    let first = new_job("noop", json!(0));
    let rest = vec![new_job("noop", json!(1)), keyed(), new_job("noop", json!(3)), keyed()];
    let answers = one_then_the_rest(&actor, &gate, first.clone(), &rest).await;

    assert_eq!(faults.calls(Op::Enqueue), 2, "the first submit alone, then the four that waited, together");
    let answers: Vec<Enqueued> = answers.into_iter().map(Result::unwrap).collect();
    for (i, job) in std::iter::once(&first).chain(&rest[..3]).enumerate() {
        assert_eq!((answers[i].job_id, answers[i].created), (job.job_id, true), "submit {i}");
    }
    assert_eq!(
        (answers[4].job_id, answers[4].created),
        (rest[1].job_id, false),
        "a key taken earlier in the same write names the job that took it"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM jobs").await, 4);
}

async fn a_submit_the_database_refuses_fails_alone_and_its_group_is_written(db: TestDb) {
    let clock = clock();
    let (actor, faults, gate) = held(&db, &clock);
    let missing = Uuid::new_v4();
    let bad = job_with(|j| j.depends_on = Some(vec![missing.to_string()]));
    let first = new_job("noop", json!(0));
    let rest = vec![new_job("noop", json!(1)), bad, new_job("noop", json!(3))];
    let answers = one_then_the_rest(&actor, &gate, first.clone(), &rest).await;

    match &answers[2] {
        Err(StoreError::Invalid(e)) => {
            assert_eq!(e.field, "depends_on", "named as a single submit's field");
            assert!(e.reason.contains(&missing.to_string()), "{e}");
        }
        other => panic!("the submit with an unknown dependency is refused: {other:?}"),
    }
    for (i, job) in [(0, &first), (1, &rest[0]), (3, &rest[2])] {
        let answer = answers[i].as_ref().unwrap();
        assert_eq!((answer.job_id, answer.created), (job.job_id, true), "submit {i}");
    }
    assert_eq!(faults.calls(Op::Enqueue), 1 + 1 + 3, "the first alone; the group of three, refused; each alone");
    assert_eq!(db.count("SELECT COUNT(*) FROM jobs").await, 3);
}

on_every_backend!(
    submits_arriving_while_one_is_written_share_the_next_write,
    a_submit_the_database_refuses_fails_alone_and_its_group_is_written,
);
