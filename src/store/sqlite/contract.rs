//! The [`Store`] contract for [`SqliteStore`]: one place that shows every method
//! and where its body lives (the files are split by concern, not by trait order).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{MIGRATOR, SqliteStore};
use crate::job::{Execution, Job, JobStatus, NewJob};
use crate::store::{
    Applied, BulkAction, ClaimRef, ClaimRequest, ClaimedJob, Completed, Completion, DeadLetter, Edges, Enqueued,
    Failed, Failure, Fence, HealthLog, JobFilter, NodeRecord, PrunePolicy, Pruned, Rescued, SnapshotFilter,
    SnapshotRow, SnapshotSummary, Store, StoreError, StoreResult, WorkerRecord, WorkflowNode,
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

    async fn extend_leases(&self, claims: Vec<ClaimRef>, until: DateTime<Utc>) -> StoreResult<u64> {
        self.extend_claim_leases(claims, until).await
    }

    async fn rescue_expired(&self, limit: u32, now: DateTime<Utc>) -> StoreResult<Vec<Rescued>> {
        self.rescue_expired_claims(limit, now).await
    }

    async fn rescue_worker(&self, worker_id: Uuid, now: DateTime<Utc>) -> StoreResult<Vec<Rescued>> {
        self.rescue_worker_claims(worker_id, now).await
    }

    async fn rescue_node(
        &self,
        node_id: &str,
        silent_since: DateTime<Utc>,
        fence: Fence,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<Rescued>>> {
        self.rescue_dead_node(node_id, silent_since, fence, now).await
    }

    async fn heartbeat_node(&self, node: NodeRecord, now: DateTime<Utc>) -> StoreResult<bool> {
        self.write_node(node, now).await
    }

    async fn take_node(
        &self,
        node: NodeRecord,
        seen: Option<NodeRecord>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<Rescued>>> {
        self.take_over_node(node, seen, now).await
    }

    async fn list_nodes(&self) -> StoreResult<Vec<NodeRecord>> {
        self.read_nodes().await
    }

    /// The file's lock (`lock.rs`) keeps every other process out.
    fn exclusive(&self) -> bool {
        true
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>> {
        self.take_lease(name, holder, until, now).await
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

    async fn job_ids(&self, filter: JobFilter) -> StoreResult<Vec<Uuid>> {
        self.read_job_ids(filter).await
    }

    async fn count_jobs(&self, filter: JobFilter) -> StoreResult<u64> {
        self.count_filtered(filter).await
    }

    async fn apply_bulk(&self, action: BulkAction, job_ids: Vec<Uuid>, now: DateTime<Utc>) -> StoreResult<Vec<Uuid>> {
        self.apply_bulk_action(action, job_ids, now).await
    }

    async fn health_history(
        &self,
        worker_id: Uuid,
        metric_type: &str,
        limit: u32,
    ) -> StoreResult<Vec<crate::store::HealthSample>> {
        self.read_health_history(worker_id, metric_type, limit).await
    }

    async fn pending_by_type(&self) -> StoreResult<Vec<(String, i64)>> {
        self.count_pending_by_type().await
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

    async fn prune(&self, policy: PrunePolicy) -> StoreResult<Pruned> {
        self.prune_old_rows(policy).await
    }

    async fn insert_snapshot(&self, snapshot: SnapshotRow) -> StoreResult<()> {
        self.insert_snapshot_row(snapshot).await
    }

    async fn list_snapshots(&self, filter: SnapshotFilter) -> StoreResult<Vec<SnapshotSummary>> {
        self.select_snapshots(filter).await
    }

    async fn get_snapshot(&self, snapshot_id: Uuid) -> StoreResult<Option<SnapshotRow>> {
        self.select_snapshot(snapshot_id).await
    }

    async fn latest_snapshot(&self, node_id: Option<String>) -> StoreResult<Option<SnapshotRow>> {
        self.select_latest_snapshot(node_id).await
    }

    async fn delete_snapshots(&self, snapshot_ids: Vec<Uuid>) -> StoreResult<u64> {
        self.delete_snapshot_rows(snapshot_ids).await
    }

    async fn save_checkpoint(
        &self,
        claim: ClaimRef,
        data: serde_json::Value,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied> {
        self.save_job_checkpoint(claim, data, now).await
    }

    async fn last_checkpoint(&self, job_id: Uuid) -> StoreResult<Option<crate::store::Checkpoint>> {
        self.read_checkpoint(job_id).await
    }

    async fn put_contexts(&self, points: Vec<crate::vector::ContextPoint>) -> StoreResult<()> {
        self.upsert_contexts(points).await
    }

    async fn search_contexts(&self, query: crate::vector::SimilarQuery) -> StoreResult<Vec<crate::vector::Scored>> {
        self.scan_contexts(query).await
    }

    async fn job_contexts(&self, job_id: Uuid) -> StoreResult<Vec<crate::vector::ContextPoint>> {
        self.read_job_contexts(job_id).await
    }
}
