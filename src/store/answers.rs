//! How a backend answers the contract, shared by every backend so that they agree:
//! what a submit answers for each job, which claims a batch found still held, and
//! which jobs a submit's dependencies point at once idempotency keys are resolved.
//! Pure functions over what the backend read; no driver here.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::{Applied, Enqueued, FailOutcome, Failure, StoreError, StoreResult};
use crate::job::{JobStatus, NewJob};

/// What settling a set of finished jobs (or a submit's new dependents) did to the
/// dependents: released to `PENDING`, or cancelled with their dependency.
#[derive(Debug, Default)]
pub struct Settled {
    pub released: HashSet<Uuid>,
    pub cancelled: HashSet<Uuid>,
}

/// The answer for each submitted job, in order: the inserted ones in the state their
/// dependencies left them, the others as the job that holds their idempotency key.
pub fn answer_enqueue(
    jobs: &[NewJob],
    inserted: &HashSet<Uuid>,
    existing: &HashMap<String, (Uuid, JobStatus)>,
    settled: &Settled,
) -> StoreResult<Vec<Enqueued>> {
    jobs.iter()
        .map(|job| {
            if inserted.contains(&job.job_id) {
                let status = if job.depends_on.is_empty() || settled.released.contains(&job.job_id) {
                    JobStatus::Pending
                } else if settled.cancelled.contains(&job.job_id) {
                    JobStatus::Cancelled
                } else {
                    JobStatus::Waiting
                };
                return Ok(Enqueued { job_id: job.job_id, status, created: true });
            }
            let key = job.idempotency_key.as_deref().unwrap_or_default();
            let (job_id, status) = existing.get(key).copied().ok_or_else(|| {
                StoreError::Corrupt(format!("job {} was neither inserted nor found by its key", job.job_id))
            })?;
            Ok(Enqueued { job_id, status, created: false })
        })
        .collect()
}

/// The jobs of a submit that were inserted, their dependencies pointed at the jobs
/// that really stand for them: a batch job that lost to an idempotency key is the
/// existing job, edges too.
pub fn inserted_with_resolved_dependencies(
    jobs: &[NewJob],
    inserted: &HashSet<Uuid>,
    existing: &HashMap<String, (Uuid, JobStatus)>,
) -> Vec<NewJob> {
    let actual: HashMap<Uuid, Uuid> = jobs
        .iter()
        .filter(|j| !inserted.contains(&j.job_id))
        .filter_map(|j| Some((j.job_id, existing.get(j.idempotency_key.as_deref()?)?.0)))
        .collect();
    jobs.iter()
        .filter(|j| inserted.contains(&j.job_id))
        .map(|j| NewJob { depends_on: j.depends_on.iter().map(|d| *actual.get(d).unwrap_or(d)).collect(), ..j.clone() })
        .collect()
}

/// For each execution id asked about, in order: applied if it is among `done` (each
/// at most once, so a duplicate in the batch reads as stale).
pub fn applied_in_order(asked: &[Uuid], done: Vec<Uuid>) -> Vec<Applied> {
    let mut done: HashSet<Uuid> = done.into_iter().collect();
    asked.iter().map(|e| if done.remove(e) { Applied::Applied } else { Applied::Stale }).collect()
}

/// The failures of a batch whose executions still hold their claims, each with the
/// attempts made and the retries allowed (from `held`, by execution id), each claim
/// once even if its failure arrived twice in the batch.
pub fn live_failures(failures: &[Failure], held: &HashMap<Uuid, (i32, i32)>) -> Vec<(Failure, i32, i32)> {
    let mut seen = HashSet::new();
    failures
        .iter()
        .filter(|f| seen.insert(f.claim.execution_id))
        .filter_map(|f| held.get(&f.claim.execution_id).map(|(a, m)| (f.clone(), *a, *m)))
        .collect()
}

/// The outcome for each failure asked about, in order: what settling decided, once per
/// execution; a claim lost (or a duplicate in the batch) reads as stale.
pub fn fail_outcomes_in_order(failures: &[Failure], settled: Vec<(Uuid, FailOutcome)>) -> Vec<FailOutcome> {
    let settled: HashMap<Uuid, FailOutcome> = settled.into_iter().collect();
    let mut reported = HashSet::new();
    failures
        .iter()
        .map(|f| match settled.get(&f.claim.execution_id) {
            Some(outcome) if reported.insert(f.claim.execution_id) => *outcome,
            _ => FailOutcome::Stale,
        })
        .collect()
}

/// The jobs a submit depends on that are not part of it, sorted, each once: the ones
/// that must already exist (a dependency inside the batch is new).
pub fn outside_dependencies(jobs: &[NewJob]) -> Vec<Uuid> {
    let batch: HashSet<Uuid> = jobs.iter().map(|j| j.job_id).collect();
    let mut outside: Vec<Uuid> =
        jobs.iter().flat_map(|j| j.depends_on.iter().copied()).filter(|d| !batch.contains(d)).collect();
    outside.sort();
    outside.dedup();
    outside
}
