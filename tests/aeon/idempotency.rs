//! An idempotency key returns the existing job instead of creating a second one.

use aeon::clock::Clock;
use aeon::job::JobStatus;

use crate::common::{TestDb, claim, clock, exact_backoff, job_with, on_every_backend};

async fn the_same_key_returns_the_first_job(db: TestDb) {
    let clock = clock();
    let store = db.store(exact_backoff());
    let keyed = |key: &str| job_with(|j| j.idempotency_key = Some(key.into()));

    let first = keyed("order-42");
    let created = store.enqueue(vec![first.clone()], clock.now()).await.unwrap();
    assert_eq!((created[0].job_id, created[0].created), (first.job_id, true));

    claim(&store, 1, &clock).await;
    let again = store.enqueue(vec![keyed("order-42")], clock.now()).await.unwrap();
    assert_eq!(again[0].job_id, first.job_id);
    assert!(!again[0].created);
    assert_eq!(again[0].status, JobStatus::Running, "the answer reports the existing job's status");

    // In a batch: a new key, a taken key, the same new key twice, and no key.
    let batch = vec![keyed("order-43"), keyed("order-42"), keyed("order-43"), job_with(|_| {})];
    let answers = store.enqueue(batch.clone(), clock.now()).await.unwrap();
    assert_eq!(answers[0].job_id, batch[0].job_id);
    assert!(answers[0].created);
    assert_eq!((answers[1].job_id, answers[1].created), (first.job_id, false));
    assert_eq!((answers[2].job_id, answers[2].created), (batch[0].job_id, false));
    assert!(answers[3].created);
    assert_eq!(db.count("SELECT COUNT(*) FROM jobs").await, 3);
}

async fn two_submits_racing_with_one_key_make_one_job(db: TestDb) {
    let clock = clock();
    for round in 0..20 {
        // Two stores, each with connections of its own: on Postgres the inserts race;
        // on SQLite they take turns at its one writer (either may be first, no race).
        let (left, right) = (db.store(exact_backoff()), db.store(exact_backoff()));
        let key = format!("race-{round}");
        let (a, b) =
            (job_with(|j| j.idempotency_key = Some(key.clone())), job_with(|j| j.idempotency_key = Some(key.clone())));
        let (x, y) =
            futures::join!(left.enqueue(vec![a.clone()], clock.now()), right.enqueue(vec![b.clone()], clock.now()));
        let (x, y) = (x.expect("no error for the loser either").remove(0), y.expect("no error").remove(0));
        assert_eq!(x.job_id, y.job_id, "round {round}: both answers name one job");
        assert_eq!(u8::from(x.created) + u8::from(y.created), 1, "round {round}: exactly one created it");
        assert!([a.job_id, b.job_id].contains(&x.job_id));
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM jobs").await, 20);
}

on_every_backend!(the_same_key_returns_the_first_job, two_submits_racing_with_one_key_make_one_job);
