//! The fenced hot path ([`Queue`](crate::store::Queue)) on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::SqliteStore;
use crate::job::NewJob;
use crate::store::{
    Applied, ClaimRef, ClaimRequest, ClaimedJob, Completed, Completion, Enqueued, Failed, Failure, Queue, Rescued,
    StoreResult,
};

#[async_trait]
impl Queue for SqliteStore {
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

    async fn extend_leases(&self, claims: Vec<ClaimRef>, until: DateTime<Utc>) -> StoreResult<u64> {
        self.extend_claim_leases(claims, until).await
    }

    async fn rescue_expired(&self, limit: u32, now: DateTime<Utc>) -> StoreResult<Vec<Rescued>> {
        self.rescue_expired_claims(limit, now).await
    }

    async fn rescue_worker(&self, worker_id: Uuid, now: DateTime<Utc>) -> StoreResult<Vec<Rescued>> {
        self.rescue_worker_claims(worker_id, now).await
    }

    async fn save_checkpoint(
        &self,
        claim: ClaimRef,
        data: serde_json::Value,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied> {
        self.save_job_checkpoint(claim, data, now).await
    }
}
