//! The [`Store`] contract for [`SqliteStore`]: one place that shows every method
//! and where its body lives (the files are split by concern, not by trait order).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{MIGRATOR, SqliteStore};
use crate::job::{Execution, Job, JobStatus, NewJob};
use crate::store::{
    Applied, ClaimRef, ClaimRequest, ClaimedJob, Completed, Completion, DeadLetter, Edges, Enqueued, Failed, Failure,
    HealthLog, JobFilter, Rescued, Store, StoreError, StoreResult, WorkerRecord, WorkflowNode,
};

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.writer).await.map_err(|e| StoreError::Database(Box::new(e)))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn enqueue(&self, jobs: Vec<NewJob>, now: DateTime<Utc>) -> StoreResult<Vec<Enqueued>> {
        self.enqueue_jobs(jobs, now).await
    }

    async fn claim(&self, request: ClaimRequest, now: DateTime<Utc>) -> StoreResult<Vec<ClaimedJob>> {
        self.claim_jobs(request, now).await
    }

    async fn complete(&self, completions: Vec<Completion>, now: DateTime<Utc>) -> StoreResult<Completed> {
        self.complete_jobs(completions, now).await
    }

    async fn fail(&self, failures: Vec<Failure>, now: DateTime<Utc>) -> StoreResult<Failed> {
        self.fail_jobs(failures, now).await
    }

    async fn release(
        &self,
        claims: Vec<ClaimRef>,
        run_at: DateTime<Utc>,
        reason: String,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Applied>> {
        self.release_claims(claims, run_at, reason, now).await
    }

    async fn give_back(&self, claims: Vec<ClaimRef>, now: DateTime<Utc>) -> StoreResult<Vec<Applied>> {
        self.give_back_claims(claims, now).await
    }

    async fn extend_leases(&self, execution_ids: Vec<Uuid>, until: DateTime<Utc>) -> StoreResult<u64> {
        self.extend_claim_leases(execution_ids, until).await
    }

    async fn rescue_expired(&self, limit: u32, now: DateTime<Utc>) -> StoreResult<Vec<Rescued>> {
        self.rescue_expired_claims(limit, now).await
    }

    async fn rescue_worker(&self, worker_id: Uuid, now: DateTime<Utc>) -> StoreResult<Vec<Rescued>> {
        self.rescue_worker_claims(worker_id, now).await
    }

    async fn cancel(&self, job_id: Uuid, now: DateTime<Utc>) -> StoreResult<Job> {
        self.cancel_job(job_id, now).await
    }

    async fn requeue_dead_letter(&self, job_id: Uuid, now: DateTime<Utc>) -> StoreResult<Job> {
        self.requeue_dead_job(job_id, now).await
    }

    async fn get_job(&self, job_id: Uuid) -> StoreResult<Option<Job>> {
        self.read_job(job_id).await
    }

    async fn edges(&self, job_id: Uuid) -> StoreResult<Edges> {
        self.select_edges(job_id).await
    }

    async fn workflow(&self, root: Uuid, limit: u32) -> StoreResult<Vec<WorkflowNode>> {
        self.select_workflow(root, limit).await
    }

    async fn executions(&self, job_id: Uuid) -> StoreResult<Vec<Execution>> {
        self.read_executions(job_id).await
    }

    async fn list_jobs(&self, filter: JobFilter) -> StoreResult<Vec<Job>> {
        self.read_jobs(filter).await
    }

    async fn dead_letters(&self, limit: u32, before: Option<i64>) -> StoreResult<Vec<DeadLetter>> {
        self.read_dead_letters(limit, before).await
    }

    async fn completed_since(&self, since: DateTime<Utc>) -> StoreResult<i64> {
        self.count_completed_since(since).await
    }

    async fn upsert_workers(&self, workers: Vec<WorkerRecord>) -> StoreResult<()> {
        self.upsert_worker_rows(workers).await
    }

    async fn list_workers(&self) -> StoreResult<Vec<WorkerRecord>> {
        self.read_workers().await
    }

    async fn write_health_logs(&self, logs: Vec<HealthLog>) -> StoreResult<()> {
        self.insert_health_logs(logs).await
    }

    async fn count_by_status(&self) -> StoreResult<Vec<(JobStatus, i64)>> {
        self.count_jobs_by_status().await
    }
}
