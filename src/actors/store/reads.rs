//! [`StoreReads`]: how the API, the dashboard and snapshots read the store. Reads gain
//! nothing from the StoreActor's mailbox (nothing to batch, nothing to order), so they
//! go to the store directly, but never unseen and never with a write in reach:
//!
//! - it is read-only: it implements [`Reads`] and nothing else (an operator's write
//!   goes through the StoreActor or the Supervisor: see [`crate::node::Node`]);
//! - every call is timed by a [`StoreWatch`] of its own, with a threshold of its own
//!   (`health.store_read_slow_ms`): a read that takes longer is logged (`warn`, when
//!   it crosses the threshold, so a read that never ends is seen too) and counted
//!   (`aeon_slow_store_reads_total{op}`). Readiness does not ask this watch: a slow
//!   dashboard query is visible, but it cannot make the node unready. The StoreActor's
//!   watch ([`super::watch`]) is the one that judges the work.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreWatch;
use crate::job::{Execution, Job, JobStatus};
use crate::store::{
    Checkpoint, DeadLetter, Edges, HealthHistoryParams, HealthSample, JobFilter, NodeRecord, Reads, SnapshotFilter,
    SnapshotRow, SnapshotSummary, Store, StoreResult, WorkerRecord, WorkflowNode,
};

/// The read-only, watched way to the store; see the module docs. Cheap to clone.
#[derive(Clone)]
pub struct StoreReads {
    store: Arc<dyn Store>,
    watch: StoreWatch,
    slow: Duration,
}

impl StoreReads {
    /// Reads `store`, each call recorded in `watch`; a call of `slow` or longer is
    /// logged and counted.
    pub fn new(store: Arc<dyn Store>, watch: StoreWatch, slow: Duration) -> Self {
        Self { store, watch, slow }
    }

    /// The watch these reads are recorded in (readiness does not ask it).
    pub fn watch(&self) -> &StoreWatch {
        &self.watch
    }

    /// Runs one read, recorded in the watch; logs and counts it once it has taken
    /// `slow`, and logs how long it took in all when it ends.
    async fn timed<T>(&self, op: &'static str, read: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        let call = self.watch.start();
        let started = Instant::now();
        let outcome = {
            let slow = tokio::time::sleep(self.slow);
            tokio::pin!(read, slow);
            tokio::select! {
                biased;
                outcome = &mut read => outcome,
                () = &mut slow => {
                    let waited_ms = self.slow.as_millis() as u64;
                    tracing::warn!(op, waited_ms, "a store read is slow (health.store_read_slow_ms); readiness is not affected");
                    crate::metrics::METRICS.slow_store_read(op);
                    let outcome = read.await;
                    let took_ms = started.elapsed().as_millis() as u64;
                    tracing::info!(op, took_ms, ok = outcome.is_ok(), "a slow store read ended");
                    outcome
                }
            }
        };
        call.finish(&outcome);
        outcome
    }
}

/// The [`Reads`] methods, each timed under its own name.
macro_rules! timed_reads {
    ($( fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*) => {
        #[async_trait]
        impl Reads for StoreReads {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> StoreResult<$ret> {
                    self.timed(stringify!($name), self.store.$name($($arg),*)).await
                }
            )*
        }
    };
}

timed_reads! {
    fn get_job(&self, job_id: Uuid) -> Option<Job>;
    fn edges(&self, job_id: Uuid) -> Edges;
    fn workflow(&self, root: Uuid, limit: u32) -> Vec<WorkflowNode>;
    fn executions(&self, job_id: Uuid) -> Vec<Execution>;
    fn list_jobs(&self, filter: JobFilter) -> Vec<Job>;
    fn job_ids(&self, filter: JobFilter) -> Vec<Uuid>;
    fn count_jobs(&self, filter: JobFilter) -> u64;
    fn health_history(&self, params: HealthHistoryParams) -> Vec<HealthSample>;
    fn pending_by_type(&self) -> Vec<(String, i64)>;
    fn dead_letters(&self, limit: u32, before: Option<i64>) -> Vec<DeadLetter>;
    fn completed_since(&self, since: DateTime<Utc>) -> i64;
    fn list_workers(&self) -> Vec<WorkerRecord>;
    fn count_by_status(&self) -> Vec<(JobStatus, i64)>;
    fn list_nodes(&self) -> Vec<NodeRecord>;
    fn last_checkpoint(&self, job_id: Uuid) -> Option<Checkpoint>;
    fn list_snapshots(&self, filter: SnapshotFilter) -> Vec<SnapshotSummary>;
    fn get_snapshot(&self, snapshot_id: Uuid) -> Option<SnapshotRow>;
    fn latest_snapshot(&self, node_id: Option<String>) -> Option<SnapshotRow>;
}
