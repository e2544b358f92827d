//! Many claimers at once never share a job: on Postgres each claimer is a store of
//! its own, with connections of its own, so the claims really race (SKIP LOCKED).
//! On SQLite they queue for its one writer and cannot race: that case shows only
//! that claims from separate connections, one after another, never share a job
//! (it passes with `BEGIN DEFERRED` in place of `BEGIN IMMEDIATE` too, so it is no
//! test of SQLite's locking).

use std::collections::HashSet;
use std::time::Duration;

use aeon::clock::Clock;
use serde_json::json;
use uuid::Uuid;

use crate::common::{TestDb, claim_request, clock, exact_backoff, new_job, on_every_backend};

async fn concurrent_claimers_never_get_the_same_job(db: TestDb) {
    const JOBS: usize = 4_000;
    const CLAIMERS: usize = 8;
    let clock = clock();
    let store = db.store(exact_backoff());
    for chunk in (0..JOBS).collect::<Vec<_>>().chunks(1_000) {
        let jobs = chunk.iter().map(|i| new_job("noop", json!({ "i": i }))).collect();
        store.enqueue(jobs, clock.now()).await.unwrap();
    }

    let now = clock.now();
    let claimers = (0..CLAIMERS).map(|_| {
        let store = db.store(exact_backoff());
        async move {
            let worker_id = Uuid::new_v4();
            let mut mine = Vec::new();
            loop {
                let request = claim_request(worker_id, 25, Duration::from_secs(60));
                let batch = store.claim(request, now).await.expect("claim");
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|c| c.job_id));
            }
        }
    });
    let per_claimer: Vec<Vec<Uuid>> = futures::future::join_all(claimers).await;

    let all: Vec<Uuid> = per_claimer.iter().flatten().copied().collect();
    let distinct: HashSet<Uuid> = all.iter().copied().collect();
    assert_eq!(all.len(), JOBS, "every job claimed");
    assert_eq!(distinct.len(), JOBS, "no job claimed twice");
    assert!(per_claimer.iter().filter(|c| !c.is_empty()).count() > 1, "the claimers really competed");
    let executions = "SELECT COUNT(DISTINCT current_execution_id) FROM jobs WHERE current_execution_id IS NOT NULL";
    assert_eq!(db.count(executions).await, JOBS as i64, "each claim its own execution");
    assert_eq!(db.count("SELECT COUNT(*) FROM jobs WHERE status = 'RUNNING' AND attempts = 1").await, JOBS as i64);
}

on_every_backend!(concurrent_claimers_never_get_the_same_job);
