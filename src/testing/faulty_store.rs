//! [`FaultyStore`]: any [`Store`] behind a wrapper that fails the operations a test
//! chooses — once, `n` times or always, for every call or only for calls about one
//! job — and otherwise passes every call through. Like Temporal's persistence fault
//! injector: the runtime's answer to a failing database is tested with the real
//! actors, on the real store.
//!
//! Every method of the contract is here, delegated one by one: the honest cost of a
//! wrapper, and the place to add a method when the contract grows.
//!
//! ```
//! use aeon::handler::Registry;
//! use aeon::job::JobStatus;
//! use aeon::testing::{Fault, FaultyStore, Op, TestNode};
//!
//! # actix_rt::System::new().block_on(async {
//! let faults = FaultyStore::detached();
//! let mut node = TestNode::builder(Registry::with_builtins()).wrap_store(faults.wrapper()).start().await;
//! faults.inject(Fault::on(Op::Complete).once());
//!
//! let job_id = node.submit("echo", serde_json::json!(1)).await;
//! faults.until_injected(Op::Complete, 1).await; // the result's write failed ...
//! node.advance(std::time::Duration::from_secs(1)).await; // ... its Job actor writes it again
//! node.drain().await;
//! let job = node.assert_status(job_id, JobStatus::Completed).await;
//! assert_eq!(job.attempts, 1, "one attempt, recorded once");
//! # });
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::job::{Execution, Job, NewJob};
use crate::store::*;
use crate::vector::{ContextPoint, Scored, SimilarQuery};

/// A store operation: one method of the [`Store`] contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Op {
    Migrate,
    Ping,
    Enqueue,
    Claim,
    Complete,
    Fail,
    Release,
    GiveBack,
    ExtendLeases,
    RescueExpired,
    RescueWorker,
    RescueNode,
    HeartbeatNode,
    TakeNode,
    ListNodes,
    AcquireLease,
    Cancel,
    RequeueDeadLetter,
    GetJob,
    Edges,
    Workflow,
    Executions,
    ListJobs,
    JobIds,
    CountJobs,
    ApplyBulk,
    HealthHistory,
    PendingByType,
    DeadLetters,
    CompletedSince,
    UpsertWorkers,
    ListWorkers,
    WriteHealthLogs,
    CountByStatus,
    Prune,
    InsertSnapshot,
    ListSnapshots,
    GetSnapshot,
    LatestSnapshot,
    DeleteSnapshots,
    SaveCheckpoint,
    LastCheckpoint,
    PutContexts,
    SearchContexts,
    JobContexts,
}

/// How many calls a fault fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    /// The next `n` matching calls.
    N(u32),
    Always,
}

/// One fault: which operation, how often, and optionally only for calls that name a
/// job (a batch naming it among others fails whole, as a database would).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub op: Op,
    pub times: Times,
    /// Only calls about this job. Operations that name no job (a claim, a listing
    /// without ids, the workers' calls) never match a job-scoped fault.
    pub job_id: Option<Uuid>,
}

impl Fault {
    /// The next call of `op` fails; see [`Fault::times`], [`Fault::always`],
    /// [`Fault::for_job`].
    pub fn on(op: Op) -> Fault {
        Fault { op, times: Times::N(1), job_id: None }
    }

    pub fn once(self) -> Fault {
        self.times(1)
    }

    /// The next `n` matching calls fail.
    pub fn times(mut self, n: u32) -> Fault {
        self.times = Times::N(n);
        self
    }

    /// Every matching call fails, until [`FaultyStore::clear`].
    pub fn always(mut self) -> Fault {
        self.times = Times::Always;
        self
    }

    /// Only calls about `job_id` fail.
    pub fn for_job(mut self, job_id: Uuid) -> Fault {
        self.job_id = Some(job_id);
        self
    }
}

#[derive(Default)]
struct Faults {
    armed: Vec<Fault>,
    /// Where every enqueue waits before it goes through (see [`FaultyStore::hold_enqueues`]).
    enqueue_gate: Option<super::Gate>,
    calls: HashMap<Op, u64>,
    injected: HashMap<Op, u64>,
}

/// A [`Store`] that fails what it is told to and passes the rest to the store it
/// wraps. Clones share their faults and counts, so a test keeps one to arm faults
/// and read counts while the node's actors use another. See the [module](self) docs.
#[derive(Clone)]
pub struct FaultyStore {
    inner: Arc<Mutex<Option<Arc<dyn Store>>>>,
    faults: Arc<Mutex<Faults>>,
}

impl FaultyStore {
    /// `inner` behind a wrapper with no fault armed.
    pub fn new(inner: Arc<dyn Store>) -> FaultyStore {
        FaultyStore { inner: Arc::new(Mutex::new(Some(inner))), faults: Arc::default() }
    }

    /// A wrapper whose store comes later: hand [`FaultyStore::wrapper`] to
    /// [`TestNodeBuilder::wrap_store`](super::TestNodeBuilder::wrap_store), which
    /// gives it the node's fresh store.
    pub fn detached() -> FaultyStore {
        FaultyStore { inner: Arc::default(), faults: Arc::default() }
    }

    /// Wraps `inner` with this store's faults: what [`TestNodeBuilder::wrap_store`](super::TestNodeBuilder::wrap_store) takes.
    pub fn wrapper(&self) -> impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store> + 'static {
        let this = self.clone();
        move |inner| {
            *this.inner.lock().expect("faulty store") = Some(inner);
            Arc::new(this)
        }
    }

    /// Wraps `inner` and answers it as the actors hold a store.
    pub fn wrap(inner: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(FaultyStore::new(inner))
    }

    /// Arms `fault`. Faults are checked in the order they were armed.
    pub fn inject(&self, fault: Fault) {
        self.faults.lock().expect("faulty store").armed.push(fault);
    }

    /// Every enqueue from now on waits at `gate` (one permit each) before it goes
    /// through: a test holds a submit's write in flight and acts meanwhile.
    pub fn hold_enqueues(&self, gate: super::Gate) {
        self.faults.lock().expect("faulty store").enqueue_gate = Some(gate);
    }

    /// Disarms every fault (counts are kept).
    pub fn clear(&self) {
        self.faults.lock().expect("faulty store").armed.clear();
    }

    /// How many calls of `op` reached this wrapper, failed or not.
    pub fn calls(&self, op: Op) -> u64 {
        self.faults.lock().expect("faulty store").calls.get(&op).copied().unwrap_or(0)
    }

    /// How many calls of `op` a fault failed.
    pub fn injected(&self, op: Op) -> u64 {
        self.faults.lock().expect("faulty store").injected.get(&op).copied().unwrap_or(0)
    }

    /// Waits until faults have failed `n` calls of `op` in all (the actors call the
    /// store on their own schedule); panics after [`PATIENCE`](super::PATIENCE).
    pub async fn until_injected(&self, op: Op, n: u64) {
        let deadline = std::time::Instant::now() + super::PATIENCE;
        while self.injected(op) < n {
            assert!(
                std::time::Instant::now() < deadline,
                "{op:?} failed {} of the {n} times expected within {:?} ({} calls)",
                self.injected(op),
                super::PATIENCE,
                self.calls(op)
            );
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    fn inner(&self) -> Arc<dyn Store> {
        self.inner.lock().expect("faulty store").clone().expect("a FaultyStore used before it was given its store")
    }

    /// Counts the call, and fails it if an armed fault matches.
    fn check(&self, op: Op, jobs: impl IntoIterator<Item = Uuid>) -> StoreResult<Arc<dyn Store>> {
        let jobs: Vec<Uuid> = jobs.into_iter().collect();
        let mut faults = self.faults.lock().expect("faulty store");
        *faults.calls.entry(op).or_default() += 1;
        let matching = faults
            .armed
            .iter()
            .position(|f| f.op == op && f.job_id.is_none_or(|j| jobs.contains(&j)) && f.times != Times::N(0));
        if let Some(at) = matching {
            let fault = &mut faults.armed[at];
            if let Times::N(n) = &mut fault.times {
                *n -= 1;
            }
            let about = fault.job_id.map(|j| format!(" (job {j})")).unwrap_or_default();
            *faults.injected.entry(op).or_default() += 1;
            return Err(StoreError::Database(format!("injected fault: {op:?}{about}").into()));
        }
        drop(faults);
        Ok(self.inner())
    }
}

fn none() -> std::iter::Empty<Uuid> {
    std::iter::empty()
}

#[async_trait]
impl Store for FaultyStore {
    async fn migrate(&self) -> StoreResult<()> {
        self.check(Op::Migrate, none())?.migrate().await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.check(Op::Ping, none())?.ping().await
    }

    async fn enqueue(&self, jobs: Vec<NewJob>, now: DateTime<Utc>) -> StoreResult<Vec<Enqueued>> {
        let gate = self.faults.lock().expect("faulty store").enqueue_gate.clone();
        if let Some(gate) = gate {
            gate.pass().await;
        }
        self.check(Op::Enqueue, jobs.iter().map(|j| j.job_id))?.enqueue(jobs, now).await
    }

    async fn claim(&self, request: ClaimRequest, now: DateTime<Utc>) -> StoreResult<Vec<ClaimedJob>> {
        self.check(Op::Claim, none())?.claim(request, now).await
    }

    async fn complete(&self, completions: Vec<Completion>, now: DateTime<Utc>) -> StoreResult<Completed> {
        self.check(Op::Complete, completions.iter().map(|c| c.claim.job_id))?.complete(completions, now).await
    }

    async fn fail(&self, failures: Vec<Failure>, now: DateTime<Utc>) -> StoreResult<Failed> {
        self.check(Op::Fail, failures.iter().map(|f| f.claim.job_id))?.fail(failures, now).await
    }

    async fn release(
        &self,
        claims: Vec<ClaimRef>,
        run_at: DateTime<Utc>,
        reason: String,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Applied>> {
        self.check(Op::Release, claims.iter().map(|c| c.job_id))?.release(claims, run_at, reason, now).await
    }

    async fn give_back(&self, claims: Vec<ClaimRef>, now: DateTime<Utc>) -> StoreResult<Vec<Applied>> {
        self.check(Op::GiveBack, claims.iter().map(|c| c.job_id))?.give_back(claims, now).await
    }

    async fn extend_leases(&self, claims: Vec<ClaimRef>, until: DateTime<Utc>) -> StoreResult<u64> {
        self.check(Op::ExtendLeases, claims.iter().map(|c| c.job_id))?.extend_leases(claims, until).await
    }

    async fn rescue_expired(&self, limit: u32, now: DateTime<Utc>) -> StoreResult<Vec<Rescued>> {
        self.check(Op::RescueExpired, none())?.rescue_expired(limit, now).await
    }

    async fn rescue_worker(&self, worker_id: Uuid, now: DateTime<Utc>) -> StoreResult<Vec<Rescued>> {
        self.check(Op::RescueWorker, none())?.rescue_worker(worker_id, now).await
    }

    async fn rescue_node(
        &self,
        node_id: &str,
        silent_since: DateTime<Utc>,
        fence: Fence,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<Rescued>>> {
        self.check(Op::RescueNode, none())?.rescue_node(node_id, silent_since, fence, now).await
    }

    async fn heartbeat_node(&self, node: NodeRecord, now: DateTime<Utc>) -> StoreResult<bool> {
        self.check(Op::HeartbeatNode, none())?.heartbeat_node(node, now).await
    }

    async fn take_node(
        &self,
        node: NodeRecord,
        seen: Option<NodeRecord>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<Rescued>>> {
        self.check(Op::TakeNode, none())?.take_node(node, seen, now).await
    }

    fn exclusive(&self) -> bool {
        self.inner.lock().expect("faulty store").as_ref().is_some_and(|inner| inner.exclusive())
    }

    async fn list_nodes(&self) -> StoreResult<Vec<NodeRecord>> {
        self.check(Op::ListNodes, none())?.list_nodes().await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>> {
        self.check(Op::AcquireLease, none())?.acquire_lease(name, holder, until, now).await
    }

    async fn cancel(&self, job_id: Uuid, now: DateTime<Utc>) -> StoreResult<Job> {
        self.check(Op::Cancel, [job_id])?.cancel(job_id, now).await
    }

    async fn requeue_dead_letter(&self, job_id: Uuid, now: DateTime<Utc>) -> StoreResult<Job> {
        self.check(Op::RequeueDeadLetter, [job_id])?.requeue_dead_letter(job_id, now).await
    }

    async fn get_job(&self, job_id: Uuid) -> StoreResult<Option<Job>> {
        self.check(Op::GetJob, [job_id])?.get_job(job_id).await
    }

    async fn edges(&self, job_id: Uuid) -> StoreResult<Edges> {
        self.check(Op::Edges, [job_id])?.edges(job_id).await
    }

    async fn workflow(&self, root: Uuid, limit: u32) -> StoreResult<Vec<WorkflowNode>> {
        self.check(Op::Workflow, [root])?.workflow(root, limit).await
    }

    async fn executions(&self, job_id: Uuid) -> StoreResult<Vec<Execution>> {
        self.check(Op::Executions, [job_id])?.executions(job_id).await
    }

    async fn list_jobs(&self, filter: JobFilter) -> StoreResult<Vec<Job>> {
        self.check(Op::ListJobs, filter.job_ids.clone())?.list_jobs(filter).await
    }

    async fn job_ids(&self, filter: JobFilter) -> StoreResult<Vec<Uuid>> {
        self.check(Op::JobIds, filter.job_ids.clone())?.job_ids(filter).await
    }

    async fn count_jobs(&self, filter: JobFilter) -> StoreResult<u64> {
        self.check(Op::CountJobs, filter.job_ids.clone())?.count_jobs(filter).await
    }

    async fn apply_bulk(&self, action: BulkAction, job_ids: Vec<Uuid>, now: DateTime<Utc>) -> StoreResult<Vec<Uuid>> {
        self.check(Op::ApplyBulk, job_ids.clone())?.apply_bulk(action, job_ids, now).await
    }

    async fn health_history(&self, worker_id: Uuid, metric_type: &str, limit: u32) -> StoreResult<Vec<HealthSample>> {
        self.check(Op::HealthHistory, none())?.health_history(worker_id, metric_type, limit).await
    }

    async fn pending_by_type(&self) -> StoreResult<Vec<(String, i64)>> {
        self.check(Op::PendingByType, none())?.pending_by_type().await
    }

    async fn dead_letters(&self, limit: u32, before: Option<i64>) -> StoreResult<Vec<DeadLetter>> {
        self.check(Op::DeadLetters, none())?.dead_letters(limit, before).await
    }

    async fn completed_since(&self, since: DateTime<Utc>) -> StoreResult<i64> {
        self.check(Op::CompletedSince, none())?.completed_since(since).await
    }

    async fn upsert_workers(&self, workers: Vec<WorkerRecord>) -> StoreResult<()> {
        self.check(Op::UpsertWorkers, none())?.upsert_workers(workers).await
    }

    async fn list_workers(&self) -> StoreResult<Vec<WorkerRecord>> {
        self.check(Op::ListWorkers, none())?.list_workers().await
    }

    async fn write_health_logs(&self, logs: Vec<HealthLog>) -> StoreResult<()> {
        self.check(Op::WriteHealthLogs, none())?.write_health_logs(logs).await
    }

    async fn count_by_status(&self) -> StoreResult<Vec<(crate::job::JobStatus, i64)>> {
        self.check(Op::CountByStatus, none())?.count_by_status().await
    }

    async fn prune(&self, policy: PrunePolicy) -> StoreResult<Pruned> {
        self.check(Op::Prune, none())?.prune(policy).await
    }

    async fn insert_snapshot(&self, snapshot: SnapshotRow) -> StoreResult<()> {
        self.check(Op::InsertSnapshot, none())?.insert_snapshot(snapshot).await
    }

    async fn list_snapshots(&self, filter: SnapshotFilter) -> StoreResult<Vec<SnapshotSummary>> {
        self.check(Op::ListSnapshots, none())?.list_snapshots(filter).await
    }

    async fn get_snapshot(&self, snapshot_id: Uuid) -> StoreResult<Option<SnapshotRow>> {
        self.check(Op::GetSnapshot, none())?.get_snapshot(snapshot_id).await
    }

    async fn latest_snapshot(&self, node_id: Option<String>) -> StoreResult<Option<SnapshotRow>> {
        self.check(Op::LatestSnapshot, none())?.latest_snapshot(node_id).await
    }

    async fn delete_snapshots(&self, snapshot_ids: Vec<Uuid>) -> StoreResult<u64> {
        self.check(Op::DeleteSnapshots, none())?.delete_snapshots(snapshot_ids).await
    }

    async fn save_checkpoint(
        &self,
        claim: ClaimRef,
        data: serde_json::Value,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied> {
        self.check(Op::SaveCheckpoint, [claim.job_id])?.save_checkpoint(claim, data, now).await
    }

    async fn last_checkpoint(&self, job_id: Uuid) -> StoreResult<Option<Checkpoint>> {
        self.check(Op::LastCheckpoint, [job_id])?.last_checkpoint(job_id).await
    }

    async fn put_contexts(&self, points: Vec<ContextPoint>) -> StoreResult<()> {
        self.check(Op::PutContexts, points.iter().map(|p| p.context.job_id).collect::<Vec<_>>())?
            .put_contexts(points)
            .await
    }

    async fn search_contexts(&self, query: SimilarQuery) -> StoreResult<Vec<Scored>> {
        self.check(Op::SearchContexts, none())?.search_contexts(query).await
    }

    async fn job_contexts(&self, job_id: Uuid) -> StoreResult<Vec<ContextPoint>> {
        self.check(Op::JobContexts, [job_id])?.job_contexts(job_id).await
    }
}
