//! Assertions on a [`TestNode`]'s jobs. Each failure message shows what was there
//! instead of what was expected.

use uuid::Uuid;

use super::{PayloadMatcher, TestNode};
use crate::job::{Execution, Job, JobStatus};
use crate::store::JobFilter;

/// The statuses of a job that waits to run: [`TestNode::enqueued`] lists these.
const ENQUEUED: [JobStatus; 2] = [JobStatus::Pending, JobStatus::Waiting];

impl TestNode {
    /// The jobs of `job_type` waiting to run (`PENDING`, or `WAITING` on
    /// dependencies), oldest first.
    pub async fn enqueued(&self, job_type: &str) -> Vec<Job> {
        let filter = JobFilter {
            statuses: ENQUEUED.to_vec(),
            job_type: Some(job_type.to_string()),
            limit: 10_000,
            ..JobFilter::default()
        };
        let mut jobs = self.store.list_jobs(filter).await.expect("the store lists jobs");
        jobs.reverse();
        jobs
    }

    /// Asserts that a job of `job_type` whose payload `matcher` accepts waits to run;
    /// answers the first such job. A JSON value as matcher accepts payloads that
    /// contain it (see [`PayloadMatcher`]).
    ///
    /// ```
    /// # use aeon::{handler::Registry, testing::TestNode};
    /// use serde_json::json;
    /// # actix_rt::System::new().block_on(async {
    /// // No handler for "email": the job stays enqueued.
    /// let node = TestNode::start(Registry::with_builtins()).await;
    /// node.submit("email", json!({ "to": "ada@example.com", "subject": "hi" })).await;
    /// node.assert_enqueued("email", json!({ "to": "ada@example.com" })).await;
    /// node.refute_enqueued("email", json!({ "to": "bob@example.com" })).await;
    /// node.shutdown().await;
    /// # });
    /// ```
    pub async fn assert_enqueued(&self, job_type: &str, matcher: impl PayloadMatcher) -> Job {
        let jobs = self.enqueued(job_type).await;
        if let Some(job) = jobs.iter().find(|j| matcher.matches(&j.payload)) {
            return job.clone();
        }
        let others = self.enqueued_elsewhere(job_type).await;
        panic!(
            "expected an enqueued {job_type:?} job {}, found none; enqueued {job_type:?} jobs: {}; other enqueued \
             jobs: {others}",
            matcher.describe(),
            payloads(&jobs)
        );
    }

    /// Asserts that no job of `job_type` whose payload `matcher` accepts waits to run.
    pub async fn refute_enqueued(&self, job_type: &str, matcher: impl PayloadMatcher) {
        let jobs = self.enqueued(job_type).await;
        let found: Vec<Job> = jobs.into_iter().filter(|j| matcher.matches(&j.payload)).collect();
        if !found.is_empty() {
            panic!("expected no enqueued {job_type:?} job {}, found: {}", matcher.describe(), payloads(&found));
        }
    }

    /// The job, as the store has it now. Panics if there is no such job.
    pub async fn job(&self, job_id: Uuid) -> Job {
        match self.store.get_job(job_id).await.expect("the store reads the job") {
            Some(job) => job,
            None => panic!("no job {job_id} in the store"),
        }
    }

    /// The job's attempts, oldest first.
    pub async fn executions(&self, job_id: Uuid) -> Vec<Execution> {
        self.store.executions(job_id).await.expect("the store reads executions")
    }

    /// Asserts the job's status; answers the job. The failure message shows the job
    /// as it is and its attempts.
    pub async fn assert_status(&self, job_id: Uuid, status: JobStatus) -> Job {
        let job = self.job(job_id).await;
        if job.status != status {
            panic!("expected job {job_id} to be {status}, it is {}", self.describe(&job).await);
        }
        job
    }

    /// Asserts how many attempts the job has made; answers the job.
    pub async fn assert_attempts(&self, job_id: Uuid, attempts: i32) -> Job {
        let job = self.job(job_id).await;
        if job.attempts != attempts {
            panic!("expected job {job_id} to have made {attempts} attempts, it is {}", self.describe(&job).await);
        }
        job
    }

    /// A job and its attempts in a line or two, for failure messages.
    pub async fn describe(&self, job: &Job) -> String {
        let executions = self.executions(job.job_id).await;
        let attempts: Vec<String> = executions
            .iter()
            .map(|e| match &e.error {
                Some(error) => format!("#{} {} ({error})", e.attempt, e.execution_status),
                None => format!("#{} {}", e.attempt, e.execution_status),
            })
            .collect();
        format!(
            "{} ({} job, attempts {}, max_retries {}, error {:?}, result {:?}, scheduled at {}); executions: {attempts:?}",
            job.status, job.job_type, job.attempts, job.max_retries, job.error, job.result, job.scheduled_at
        )
    }

    /// Job types with enqueued jobs other than `job_type`, with counts.
    async fn enqueued_elsewhere(&self, job_type: &str) -> String {
        let filter = JobFilter { statuses: ENQUEUED.to_vec(), limit: 10_000, ..JobFilter::default() };
        let jobs = self.store.list_jobs(filter).await.expect("the store lists jobs");
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for job in jobs.iter().filter(|j| j.job_type != job_type) {
            *counts.entry(&job.job_type).or_default() += 1;
        }
        if counts.is_empty() { "none".into() } else { format!("{counts:?}") }
    }
}

/// Jobs' ids and payloads, for a failure message.
fn payloads(jobs: &[Job]) -> String {
    if jobs.is_empty() {
        return "none".into();
    }
    let shown: Vec<String> = jobs.iter().take(10).map(|j| format!("{} {}", j.job_id, j.payload)).collect();
    let more = jobs.len().saturating_sub(10);
    if more > 0 { format!("[{}] and {more} more", shown.join(", ")) } else { format!("[{}]", shown.join(", ")) }
}
