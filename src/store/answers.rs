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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::ExecutionStatus;
    use crate::store::ClaimRef;

    fn job(depends_on: &[Uuid], key: Option<&str>) -> NewJob {
        NewJob {
            job_id: Uuid::new_v4(),
            job_type: "t".into(),
            payload: serde_json::Value::Null,
            priority: 0,
            max_retries: 3,
            timeout_ms: 1_000,
            run_at: None,
            idempotency_key: key.map(String::from),
            depends_on: depends_on.to_vec(),
            dependency_policy: Default::default(),
        }
    }

    fn failure(execution_id: Uuid) -> Failure {
        Failure {
            claim: ClaimRef { job_id: Uuid::new_v4(), execution_id },
            status: ExecutionStatus::Failed,
            error: "boom".into(),
            permanent: false,
        }
    }

    #[test]
    fn a_submit_answers_each_job_in_the_state_its_dependencies_left_it() {
        let dep = Uuid::new_v4();
        let (free, released, cancelled, waiting) =
            (job(&[], None), job(&[dep], None), job(&[dep], None), job(&[dep], None));
        let jobs = [free.clone(), released.clone(), cancelled.clone(), waiting.clone()];
        let inserted = jobs.iter().map(|j| j.job_id).collect();
        let settled =
            Settled { released: HashSet::from([released.job_id]), cancelled: HashSet::from([cancelled.job_id]) };
        let statuses: Vec<_> = answer_enqueue(&jobs, &inserted, &HashMap::new(), &settled)
            .unwrap()
            .into_iter()
            .map(|e| (e.job_id, e.status, e.created))
            .collect();
        assert_eq!(
            statuses,
            vec![
                (free.job_id, JobStatus::Pending, true),
                (released.job_id, JobStatus::Pending, true),
                (cancelled.job_id, JobStatus::Cancelled, true),
                (waiting.job_id, JobStatus::Waiting, true),
            ]
        );
    }

    #[test]
    fn a_job_that_lost_to_its_idempotency_key_is_answered_as_the_existing_job() {
        let lost = job(&[], Some("k"));
        let existing_id = Uuid::new_v4();
        let existing = HashMap::from([("k".to_string(), (existing_id, JobStatus::Running))]);
        let answer = answer_enqueue(std::slice::from_ref(&lost), &HashSet::new(), &existing, &Settled::default());
        assert_eq!(answer.unwrap(), vec![Enqueued { job_id: existing_id, status: JobStatus::Running, created: false }]);

        let orphan = answer_enqueue(&[job(&[], Some("other"))], &HashSet::new(), &existing, &Settled::default());
        assert!(matches!(orphan, Err(StoreError::Corrupt(_))), "neither inserted nor found: {orphan:?}");
    }

    #[test]
    fn dependencies_on_a_job_that_lost_to_its_key_point_at_the_existing_job() {
        let lost = job(&[], Some("k"));
        let outside = Uuid::new_v4();
        let dependent = job(&[lost.job_id, outside], None);
        let existing_id = Uuid::new_v4();
        let existing = HashMap::from([("k".to_string(), (existing_id, JobStatus::Pending))]);
        let inserted = HashSet::from([dependent.job_id]);
        let written = inserted_with_resolved_dependencies(&[lost, dependent.clone()], &inserted, &existing);
        assert_eq!(written, vec![NewJob { depends_on: vec![existing_id, outside], ..dependent }]);
    }

    #[test]
    fn each_completion_is_applied_once_in_the_order_asked() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(applied_in_order(&[a, b, a], vec![a]), vec![Applied::Applied, Applied::Stale, Applied::Stale]);
    }

    #[test]
    fn only_failures_still_holding_their_claim_are_settled_each_once() {
        let (held, lost) = (failure(Uuid::new_v4()), failure(Uuid::new_v4()));
        let by_execution = HashMap::from([(held.claim.execution_id, (2, 5))]);
        let live = live_failures(&[held.clone(), lost, held.clone()], &by_execution);
        assert_eq!(live, vec![(held, 2, 5)]);
    }

    #[test]
    fn each_failure_gets_its_outcome_once_and_a_lost_claim_reads_stale() {
        let (settled, lost) = (failure(Uuid::new_v4()), failure(Uuid::new_v4()));
        let outcomes = fail_outcomes_in_order(
            &[settled.clone(), lost, settled.clone()],
            vec![(settled.claim.execution_id, FailOutcome::DeadLettered)],
        );
        assert_eq!(outcomes, vec![FailOutcome::DeadLettered, FailOutcome::Stale, FailOutcome::Stale]);
    }

    #[test]
    fn outside_dependencies_are_those_not_in_the_batch_sorted_and_each_once() {
        let (x, y) = (Uuid::new_v4(), Uuid::new_v4());
        let b = job(&[x, y], None);
        let a = job(&[y, b.job_id, x], None);
        let mut expected = vec![x, y];
        expected.sort();
        assert_eq!(outside_dependencies(&[a, b]), expected);
        assert_eq!(outside_dependencies(&[job(&[], None)]), Vec::<Uuid>::new());
    }
}
