//! The vector-store conformance suite: every case is written once, against the
//! [`VectorStore`] contract, and runs on the embedded store (over SQLite always, over
//! Postgres when `AEON_TEST_DATABASE_URL` is set) and on Qdrant when
//! `AEON_TEST_QDRANT_URL` names one (`AEON_TEST_QDRANT_URL=http://127.0.0.1:6334 cargo
//! test vectors`; `.ci/run` starts a server of its own for them). Without it the Qdrant
//! cases show as ignored, with that command.

use std::time::Duration;

use actix::Actor;
use aeon::actors::store::{EmbeddedVectorStore, StoreActor, StoreActorConfig};
use aeon::vector::{ContextPoint, DIMENSION, ExecutionContext, SimilarQuery, VectorError, VectorStore, embed};
use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use crate::common::{Backend, TestDb, exact_backoff, shared};

/// A vector store for one case, and what cleans it up.
pub enum TestVectors {
    Embedded(TestDb, EmbeddedVectorStore),
    Qdrant(aeon::vector::QdrantVectorStore),
}

impl TestVectors {
    /// The embedded store over a fresh database of `backend`, through a StoreActor.
    pub async fn embedded(backend: Backend) -> Self {
        let db = TestDb::new(backend).await;
        let store = StoreActor::new(
            db.store(exact_backoff()).shared(),
            shared(&aeon::clock::ManualClock::starting_now()),
            StoreActorConfig::default(),
        );
        let vectors = EmbeddedVectorStore::new(store.start());
        TestVectors::Embedded(db, vectors)
    }

    /// Qdrant at `AEON_TEST_QDRANT_URL` (with `AEON_TEST_QDRANT_API_KEY` if it needs
    /// one), in a collection of this case's own.
    pub async fn qdrant() -> Self {
        let url = std::env::var("AEON_TEST_QDRANT_URL").expect("AEON_TEST_QDRANT_URL names a Qdrant");
        let api_key = std::env::var("AEON_TEST_QDRANT_API_KEY").unwrap_or_default();
        let collection = format!("aeon_test_{}", Uuid::new_v4().simple());
        let vectors = aeon::vector::QdrantVectorStore::connect(&url, &api_key, &collection, Duration::from_secs(10))
            .expect("a Qdrant client");
        TestVectors::Qdrant(vectors)
    }

    pub fn store(&self) -> &dyn VectorStore {
        match self {
            TestVectors::Embedded(_, v) => v,
            TestVectors::Qdrant(v) => v,
        }
    }

    /// Drops a Qdrant case's collection; closes an embedded case's database (its
    /// StoreActor then holds no connection when the test's System ends).
    pub async fn cleanup(self) {
        match self {
            TestVectors::Qdrant(v) => v.drop_collection().await.expect("drop the test collection"),
            TestVectors::Embedded(db, _) => db.store(exact_backoff()).close().await.expect("close the database"),
        }
    }
}

/// Declares each `async fn name(vectors: &dyn VectorStore)` as a case on every
/// vector store: `name::embedded_sqlite`, `name::embedded_postgres`, `name::qdrant`.
macro_rules! on_every_vector_store {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                use super::TestVectors;
                use crate::common::Backend;

                async fn run(vectors: TestVectors) {
                    vectors.store().prepare().await.expect("prepare");
                    super::$name(vectors.store()).await;
                    vectors.cleanup().await;
                }

                #[actix_rt::test]
                async fn embedded_sqlite() {
                    run(TestVectors::embedded(Backend::Sqlite).await).await
                }

                #[actix_rt::test]
                #[cfg_attr(
                    not(aeon_postgres_tests),
                    ignore = "Postgres case: AEON_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test"
                )]
                async fn embedded_postgres() {
                    run(TestVectors::embedded(Backend::Postgres).await).await
                }

                #[actix_rt::test]
                #[cfg_attr(
                    not(aeon_qdrant_tests),
                    ignore = "Qdrant case: AEON_TEST_QDRANT_URL=http://127.0.0.1:6334 cargo test"
                )]
                async fn qdrant() {
                    run(TestVectors::qdrant().await).await
                }
            }
        )+
    };
}

/// A point of `job_id`'s attempt `attempt`, embedded from its outcome and error.
fn point(job_id: Uuid, attempt: i32, outcome: &str, error: Option<&str>) -> ContextPoint {
    let context = ExecutionContext {
        execution_id: Uuid::now_v7(),
        job_id,
        job_type: "email".into(),
        attempt,
        outcome: outcome.into(),
        error: error.map(str::to_string),
        duration_ms: 12,
        worker_id: Uuid::new_v4(),
        node_id: "node-v".into(),
        checkpoint: None,
        recorded_at: Utc::now(),
    };
    ContextPoint { vector: embed("email", outcome, error), context }
}

fn assert_close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    assert!(a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4), "vectors differ");
}

on_every_vector_store!(
    a_point_round_trips_with_its_payload,
    the_point_id_is_the_execution_id_and_an_upsert_replaces,
    search_ranks_by_cosine_and_applies_its_filters,
    a_job_lists_its_attempts_oldest_first,
    vectors_of_the_wrong_size_are_refused,
);

async fn a_point_round_trips_with_its_payload(vectors: &dyn VectorStore) {
    // Preparing again finds the collection and its indexes there.
    vectors.prepare().await.expect("prepare is idempotent");
    let job = Uuid::new_v4();
    let mut p = point(job, 1, "CRASHED", Some("handler panicked: boom"));
    p.context.checkpoint = Some(json!({"step": 3, "done": ["a", "b"], "nested": {"ok": true}}));
    vectors.upsert(vec![p.clone()]).await.unwrap();
    let found = vectors.job_contexts(job).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].context, p.context);
    assert_close(&found[0].vector, &p.vector);
    assert!(vectors.job_contexts(Uuid::new_v4()).await.unwrap().is_empty(), "an unknown job has no points");
}

async fn the_point_id_is_the_execution_id_and_an_upsert_replaces(vectors: &dyn VectorStore) {
    let job = Uuid::new_v4();
    let first = point(job, 1, "FAILED", Some("smtp: connection refused"));
    let mut again = first.clone();
    again.context.outcome = "TIMED_OUT".into();
    again.context.error = Some("timed out after 300 ms".into());
    again.vector = embed("email", "TIMED_OUT", again.context.error.as_deref());
    vectors.upsert(vec![first]).await.unwrap();
    vectors.upsert(vec![again.clone()]).await.unwrap();
    let found = vectors.job_contexts(job).await.unwrap();
    assert_eq!(found.len(), 1, "one point per execution");
    assert_eq!(found[0].context, again.context);
}

async fn search_ranks_by_cosine_and_applies_its_filters(vectors: &dyn VectorStore) {
    let (asked, alike, apart, succeeded) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let own = point(asked, 1, "FAILED", Some("smtp: connection refused by mx1 after 300 ms"));
    let alike_point = point(alike, 2, "FAILED", Some("smtp: connection refused by mx2 after 5000 ms"));
    let apart_point = point(apart, 1, "FAILED", Some("template: missing variable first_name"));
    let success = point(succeeded, 1, "SUCCEEDED", None);
    vectors.upsert(vec![own.clone(), alike_point.clone(), apart_point.clone(), success]).await.unwrap();

    let query = SimilarQuery { vector: own.vector.clone(), limit: 10, failed_only: true, exclude_job: Some(asked) };
    let found = vectors.search(query.clone()).await.unwrap();
    let jobs: Vec<Uuid> = found.iter().map(|s| s.context.job_id).collect();
    assert_eq!(jobs, vec![alike, apart], "alike first; the job itself and successes left out");
    assert!(found[0].score > found[1].score + 0.2, "{} vs {}", found[0].score, found[1].score);
    assert!(found[0].score <= 1.0001 && found[0].score > 0.9, "{}", found[0].score);
    assert_eq!(found[0].context, alike_point.context);

    let best = vectors.search(SimilarQuery { limit: 1, ..query.clone() }).await.unwrap();
    assert_eq!(best.iter().map(|s| s.context.job_id).collect::<Vec<_>>(), vec![alike]);

    let everything = SimilarQuery { failed_only: false, exclude_job: None, ..query };
    let all = vectors.search(everything).await.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].context.job_id, asked, "the point itself is the most alike");
    assert!(all.windows(2).all(|w| w[0].score >= w[1].score), "best first");
}

async fn a_job_lists_its_attempts_oldest_first(vectors: &dyn VectorStore) {
    let (job, other) = (Uuid::new_v4(), Uuid::new_v4());
    let attempts: Vec<ContextPoint> =
        (1..=3).rev().map(|a| point(job, a, "FAILED", Some(&format!("attempt {a} failed")))).collect();
    let mut written = attempts.clone();
    written.push(point(other, 1, "FAILED", Some("another job")));
    vectors.upsert(written).await.unwrap();
    let found = vectors.job_contexts(job).await.unwrap();
    assert_eq!(found.iter().map(|p| p.context.attempt).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(found.iter().all(|p| p.context.job_id == job));
}

async fn vectors_of_the_wrong_size_are_refused(vectors: &dyn VectorStore) {
    let mut p = point(Uuid::new_v4(), 1, "FAILED", Some("x"));
    p.vector = vec![1.0; DIMENSION - 1];
    assert!(matches!(vectors.upsert(vec![p]).await, Err(VectorError::Invalid(_))));
    let query = SimilarQuery { vector: vec![1.0; 3], limit: 5, failed_only: true, exclude_job: None };
    assert!(matches!(vectors.search(query).await, Err(VectorError::Invalid(_))));
}

/// The embedded store keeps a vector's bits: a handler's vector is stored as given.
#[test]
fn vectors_survive_their_byte_encoding() {
    let v = embed("t", "FAILED", Some("e"));
    assert_eq!(aeon::vector::vector_from_bytes(&aeon::vector::vector_to_bytes(&v)).unwrap(), v);
}
