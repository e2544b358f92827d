//! The values that cross the [`Store`](super::Store) contract.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::job::{ExecutionStatus, JobStatus};

/// The answer for one submitted job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enqueued {
    pub job_id: Uuid,
    pub status: JobStatus,
    /// `false` when the idempotency key named an existing job, which is returned instead.
    pub created: bool,
}

/// One worker's room for new jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    pub worker_id: Uuid,
    /// Free slots: jobs that would start at once.
    pub slots: u32,
    /// Room in its queue (prefetch): jobs that would wait for a slot.
    pub queue: u32,
}

/// Workers asking for work: one statement claims for all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    /// Each worker asking, with its room.
    pub workers: Vec<Room>,
    /// How long the claim holds without being extended.
    pub lease: Duration,
    /// Only jobs of these types (the ones this node has handlers for).
    pub job_types: Arc<[String]>,
}

impl ClaimRequest {
    /// One worker asking for up to `limit` jobs to start at once.
    pub fn one(worker_id: Uuid, limit: u32, lease: Duration, job_types: Arc<[String]>) -> Self {
        Self { workers: vec![Room { worker_id, slots: limit, queue: 0 }], lease, job_types }
    }

    /// How many jobs the request may claim in all.
    pub fn limit(&self) -> u32 {
        self.workers.iter().map(|r| r.slots + r.queue).sum()
    }

    /// How many of [`ClaimRequest::slots`] start at once: the first ones; the rest go
    /// to a worker's queue. A claim records which it was (`claim_queued`), so that a
    /// queued claim whose node dies goes back without costing an attempt.
    pub fn starting(&self) -> u32 {
        self.workers.iter().map(|r| r.slots).sum()
    }

    /// The worker for each claimed job, in turn (the best jobs come first): free slots
    /// before queue room, so no job waits in a queue while a slot is free somewhere;
    /// round robin over the workers within each, so a short claim spreads out.
    pub fn slots(&self) -> Vec<Uuid> {
        let mut slots = Vec::with_capacity(self.limit() as usize);
        for room in [|r: &Room| r.slots, |r: &Room| r.queue] {
            let mut left: Vec<(Uuid, u32)> = self.workers.iter().map(|r| (r.worker_id, room(r))).collect();
            while left.iter().any(|(_, n)| *n > 0) {
                for (worker_id, n) in left.iter_mut().filter(|(_, n)| *n > 0) {
                    slots.push(*worker_id);
                    *n -= 1;
                }
            }
        }
        slots
    }
}

/// A job claimed for one execution. `execution_id` is the fencing token: only it can
/// complete or fail this attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    pub job_id: Uuid,
    pub execution_id: Uuid,
    /// The worker it was claimed for.
    pub worker_id: Uuid,
    pub attempt: i32,
    pub job_type: String,
    pub payload: Value,
    pub max_retries: i32,
    pub timeout_ms: i32,
    pub lease_expires_at: DateTime<Utc>,
    /// How the jobs this one depended on ended (fan-in): empty without dependencies.
    pub dependencies: Vec<DependencyOutcome>,
}

/// A dependency as its dependent sees it when it runs.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct DependencyOutcome {
    pub job_id: Uuid,
    /// `COMPLETED`, or `DEAD_LETTER` / `CANCELLED` under the `continue` policy.
    pub status: String,
    pub result: Option<Value>,
}

/// A job's place in the dependency graph.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Edges {
    pub depends_on: Vec<Uuid>,
    pub dependents: Vec<Uuid>,
}

/// One job of a workflow (a root and everything that depends on it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkflowNode {
    pub job_id: Uuid,
    pub job_type: String,
    pub status: JobStatus,
    pub depends_on: Vec<Uuid>,
}

/// What a batch of completions did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completed {
    /// One per completion, in order.
    pub applied: Vec<Applied>,
    /// Dependents that became ready.
    pub released: u64,
}

/// What a batch of failures did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failed {
    pub outcomes: Vec<FailOutcome>,
    /// Dependents that became ready (`continue` policy).
    pub released: u64,
}

impl ClaimedJob {
    pub fn claim_ref(&self) -> ClaimRef {
        ClaimRef { job_id: self.job_id, execution_id: self.execution_id }
    }
}

/// Names one claim: a job and the execution that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClaimRef {
    pub job_id: Uuid,
    pub execution_id: Uuid,
}

/// A successful attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub claim: ClaimRef,
    pub result: Value,
}

/// Whether a write that needs the claim found it still held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Applied {
    Applied,
    /// The execution no longer holds the claim (rescued, cancelled, already finished):
    /// nothing was changed.
    Stale,
}

/// A failed attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub claim: ClaimRef,
    /// `FAILED`, `TIMED_OUT` or `CRASHED`.
    pub status: ExecutionStatus,
    pub error: String,
    /// No retry, whatever the retries left: straight to the dead-letter queue.
    pub permanent: bool,
}

impl Failure {
    /// A claim whose row could not be read back (its payload, or a dependency's result,
    /// does not decode): it fails alone and for good, named, rather than taking the
    /// rest of its claim down with it. Another attempt would read the same row.
    pub fn unreadable(claim: ClaimRef, why: impl std::fmt::Display) -> Failure {
        let error = format!("its claim could not be read back: {why}");
        tracing::error!(job_id = %claim.job_id, %error, "a claimed job fails unread");
        Failure { claim, status: ExecutionStatus::Failed, error, permanent: true }
    }
}

/// What became of a failed attempt's job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FailOutcome {
    /// Back to `PENDING`, not to run before `at`.
    Retrying { at: DateTime<Utc> },
    /// Retries exhausted (or the failure was permanent): moved to the dead-letter queue.
    DeadLettered,
    /// The execution no longer holds the claim: nothing was changed.
    Stale,
    /// Rescued, but the claim had only been queued where it was held (never known to
    /// start): back to `PENDING` at once, the attempt not counted and no execution
    /// recorded, like a give-back. Bounded per job by [`MAX_UNSTARTED_RETURNS`].
    GivenBack,
}

/// How many times a rescue may give a job's queued claim back for free. A queued
/// claim is marked when it is claimed, not when it later starts (that would cost a
/// write per job), so a claim that started from the queue and then took its node
/// down looks unstarted: past this many free returns its attempts count again, and a
/// job that kills its node each time it runs is still dead-lettered.
pub const MAX_UNSTARTED_RETURNS: i32 = 3;

/// A job taken back from an expired lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rescued {
    pub job_id: Uuid,
    pub execution_id: Uuid,
    pub worker_id: Uuid,
    pub outcome: FailOutcome,
}

/// Which jobs a listing, a count or a bulk action wants: every field given narrows
/// it. Job ids are UUIDv7, so id order is creation order and a creation-time range
/// is an id range on the primary key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs in one of these statuses (empty: any).
    pub statuses: Vec<JobStatus>,
    pub job_type: Option<String>,
    /// Only jobs created at or after this time.
    pub created_from: Option<DateTime<Utc>>,
    /// Only jobs created before this time.
    pub created_until: Option<DateTime<Utc>>,
    /// Only jobs whose payload text or error contains this text (case-sensitive).
    /// Not indexed: it reads every job the other fields leave, so callers bound it
    /// with a time range.
    pub search: Option<String>,
    /// Only these jobs (empty: any).
    pub job_ids: Vec<Uuid>,
    /// Only jobs whose id sorts before this one (the cursor of the previous page).
    pub before: Option<Uuid>,
    /// The most jobs answered (counted, for a count).
    pub limit: u32,
}

impl JobFilter {
    /// The id bounds the filter's time range and cursor come to: jobs with
    /// `from <= job_id < until`.
    pub fn id_range(&self) -> (Option<Uuid>, Option<Uuid>) {
        let from = self.created_from.map(v7_floor);
        let until = match (self.created_until.map(v7_floor), self.before) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (from, until)
    }
}

/// The smallest UUIDv7 of the millisecond `at` falls in: every job created at or
/// after `at` has an id at least this one.
pub fn v7_floor(at: DateTime<Utc>) -> Uuid {
    let ms = at.timestamp_millis().clamp(0, (1 << 48) - 1) as u128;
    Uuid::from_u128(ms << 80)
}

/// One sample of a worker's health metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HealthSample {
    pub logged_at: DateTime<Utc>,
    pub value: f64,
}

/// An operator's action on many jobs at once. Each applies only to jobs in the
/// statuses it fits ([`BulkAction::statuses`]); others are left as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    /// Unfinished jobs become `CANCELLED` (a running attempt is recorded `CANCELLED`,
    /// its handler's outcome is then refused); their dependents follow their policy.
    Cancel,
    /// `PENDING` jobs may run at once: a retry waiting out its backoff, or a job
    /// scheduled for later, is due now.
    RetryNow,
    /// Dead-lettered jobs go back to `PENDING` with fresh retries.
    Requeue,
}

impl BulkAction {
    pub const ALL: &'static [BulkAction] = &[BulkAction::Cancel, BulkAction::RetryNow, BulkAction::Requeue];

    /// The statuses of the jobs the action applies to.
    pub fn statuses(self) -> &'static [JobStatus] {
        match self {
            BulkAction::Cancel => &[JobStatus::Waiting, JobStatus::Pending, JobStatus::Running],
            BulkAction::RetryNow => &[JobStatus::Pending],
            BulkAction::Requeue => &[JobStatus::DeadLetter],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BulkAction::Cancel => "cancel",
            BulkAction::RetryNow => "retry_now",
            BulkAction::Requeue => "requeue",
        }
    }
}

/// An open entry of the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    /// The entry's position in the queue (the paging cursor).
    pub dlq_id: i64,
    pub job_id: Uuid,
    pub job_type: String,
    pub payload: Value,
    pub last_error: Option<String>,
    pub attempts: i32,
    pub failed_at: DateTime<Utc>,
}

/// Where a worker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WorkerStatus {
    #[serde(rename = "STARTING")]
    Starting,
    #[serde(rename = "ACTIVE")]
    Active,
    /// Alive but scoring under the health threshold: gets no new jobs.
    #[serde(rename = "UNHEALTHY")]
    Unhealthy,
    /// Missed its heartbeats; being restarted.
    #[serde(rename = "DEAD")]
    Dead,
    /// Restarted too often within the restart window: given up on.
    #[serde(rename = "FAILED")]
    Failed,
    #[serde(rename = "STOPPED")]
    Stopped,
}

impl WorkerStatus {
    pub const ALL: &'static [WorkerStatus] = &[
        WorkerStatus::Starting,
        WorkerStatus::Active,
        WorkerStatus::Unhealthy,
        WorkerStatus::Dead,
        WorkerStatus::Failed,
        WorkerStatus::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WorkerStatus::Starting => "STARTING",
            WorkerStatus::Active => "ACTIVE",
            WorkerStatus::Unhealthy => "UNHEALTHY",
            WorkerStatus::Dead => "DEAD",
            WorkerStatus::Failed => "FAILED",
            WorkerStatus::Stopped => "STOPPED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|w| w.as_str() == s)
    }
}

/// A worker's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerRecord {
    pub worker_id: Uuid,
    pub node_id: String,
    pub status: WorkerStatus,
    pub capacity: i32,
    pub current_load: i32,
    /// 0..=1, stored with two decimals.
    pub health_score: f64,
    pub failure_count: i32,
    pub metadata: Value,
    pub last_heartbeat: Option<DateTime<Utc>>,
}

/// One health metric sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthLog {
    pub worker_id: Uuid,
    /// `heartbeat_latency_ms`, `error_rate`, `load`, `health_score`, ...
    pub metric_type: String,
    pub metric_value: f64,
    pub metadata: Value,
    pub logged_at: DateTime<Utc>,
}

impl HealthLog {
    /// What every backend's `metric_value` column holds (the schemas agree on
    /// NUMERIC(10,4): ±999,999.9999, to 4 decimals): values are clamped into that
    /// range, and a value that is not a number is stored as 0 rather than refusing the
    /// whole batch.
    pub fn storable_value(&self) -> f64 {
        const LIMIT: f64 = 999_999.999_9;
        if self.metric_value.is_finite() { self.metric_value.clamp(-LIMIT, LIMIT) } else { 0.0 }
    }
}

/// What one retention pass may delete: rows older than each cutoff (`None`: keep
/// that kind forever), at most `batch` of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrunePolicy {
    /// `COMPLETED` and `CANCELLED` jobs last changed before this.
    pub finished_before: Option<DateTime<Utc>>,
    /// `DEAD_LETTER` jobs last changed before this.
    pub dead_letters_before: Option<DateTime<Utc>>,
    /// Health logs written before this.
    pub health_logs_before: Option<DateTime<Utc>>,
    /// Execution contexts (the embedded vector store) recorded before this.
    pub contexts_before: Option<DateTime<Utc>>,
    pub batch: u32,
}

/// What a retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Finished jobs (their executions and dependency edges went with them).
    pub finished: u64,
    /// Dead-lettered jobs (with their queue entries and executions).
    pub dead_letters: u64,
    pub health_logs: u64,
    pub contexts: u64,
    /// Another node was pruning: nothing was done.
    pub skipped: bool,
}

impl Pruned {
    /// Whether any kind filled its batch, so more may be waiting.
    pub fn full(&self, batch: u32) -> bool {
        [self.finished, self.dead_letters, self.health_logs, self.contexts].iter().any(|n| *n >= u64::from(batch))
    }
}
