//! [`FaultyStore`]: any [`Store`] behind a wrapper that fails the operations a test
//! chooses — once, `n` times or always, for every call or only for calls about one
//! job — and otherwise passes every call through. Like Temporal's persistence fault
//! injector: the runtime's answer to a failing database is tested with the real
//! actors, on the real store.
//!
//! Every method of the contract passes through, generated from one list (the
//! `passthrough!` table at the end: a method added to the contract gets one line
//! there, naming the jobs it is about).
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
//! node.shutdown().await;
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
    /// Where every call of an operation waits before it goes through (see [`FaultyStore::hold`]).
    gates: HashMap<Op, super::Gate>,
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
        self.hold(Op::Enqueue, gate);
    }

    /// Every call of `op` from now on waits at `gate` (one permit each) before it goes
    /// through: a test holds a call in flight (a slow read, a stuck write) and acts
    /// meanwhile. The wait is before the fault check and the count.
    pub fn hold(&self, op: Op, gate: super::Gate) {
        self.faults.lock().expect("faulty store").gates.insert(op, gate);
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

    /// Holds the call at its operation's gate when one is set, counts the call, and fails it if
    /// an armed fault matches; else answers the store to pass it to.
    async fn pass(&self, op: Op, jobs: Vec<Uuid>) -> StoreResult<Arc<dyn Store>> {
        let gate = self.faults.lock().expect("faulty store").gates.get(&op).cloned();
        if let Some(gate) = gate {
            gate.pass().await;
        }
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

/// The contract, method by method: the operation each call counts as, and the jobs it
/// is about (a job-scoped fault matches only calls about its job). From this list
/// come the [`Op`] enum and every pass-through; only what is special is written out.
macro_rules! passthrough {
    ($(
        $part:ident {
            $( $op:ident => fn $name:ident($amp:tt $self:tt $(, $arg:ident: $ty:ty)*) -> $ret:ty $(, about $jobs:expr)?; )*
        }
    )*) => {
        /// A store operation: one method of the [`Store`] contract.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum Op { $($($op,)*)* }

        $(
            passthrough!(@impl $part { $( $op => fn $name($amp $self $(, $arg: $ty)*) -> $ret $(, about $jobs)?; )* });
        )*
    };
    (@impl Membership { $( $op:ident => fn $name:ident($amp:tt $self:tt $(, $arg:ident: $ty:ty)*) -> $ret:ty $(, about $jobs:expr)?; )* }) => {
        // (Written out here, not through a helper macro: `#[async_trait]` sees the
        // methods only once they are expanded.)
        #[async_trait]
        impl Membership for FaultyStore {
            $(
                async fn $name($amp $self $(, $arg: $ty)*) -> StoreResult<$ret> {
                    let about: Vec<Uuid> = passthrough!(@about $($jobs)?);
                    $self.pass(Op::$op, about).await?.$name($($arg),*).await
                }
            )*

            fn exclusive(&self) -> bool {
                self.inner.lock().expect("faulty store").as_ref().is_some_and(|inner| inner.exclusive())
            }
        }
    };
    (@impl $part:ident { $( $op:ident => fn $name:ident($amp:tt $self:tt $(, $arg:ident: $ty:ty)*) -> $ret:ty $(, about $jobs:expr)?; )* }) => {
        #[async_trait]
        impl $part for FaultyStore {
            $(
                async fn $name($amp $self $(, $arg: $ty)*) -> StoreResult<$ret> {
                    let about: Vec<Uuid> = passthrough!(@about $($jobs)?);
                    $self.pass(Op::$op, about).await?.$name($($arg),*).await
                }
            )*
        }
    };
    (@about) => { Vec::new() };
    (@about $jobs:expr) => { IntoIterator::into_iter($jobs).collect() };
}

passthrough! {
    Store {
        Migrate => fn migrate(&self) -> ();
        Ping => fn ping(&self) -> ();
        Close => fn close(&self) -> ();
    }
    Queue {
        Enqueue => fn enqueue(&self, jobs: Vec<NewJob>, now: DateTime<Utc>) -> Vec<Enqueued>, about jobs.iter().map(|j| j.job_id);
        Claim => fn claim(&self, request: ClaimRequest, now: DateTime<Utc>) -> Vec<ClaimedJob>;
        Complete => fn complete(&self, completions: Vec<Completion>, now: DateTime<Utc>) -> Completed,
            about completions.iter().map(|c| c.claim.job_id);
        Fail => fn fail(&self, failures: Vec<Failure>, now: DateTime<Utc>) -> Failed, about failures.iter().map(|f| f.claim.job_id);
        Release => fn release(&self, params: ReleaseParams, now: DateTime<Utc>) -> Vec<Applied>,
            about params.claims.iter().map(|c| c.job_id);
        GiveBack => fn give_back(&self, claims: Vec<ClaimRef>, now: DateTime<Utc>) -> Vec<Applied>, about claims.iter().map(|c| c.job_id);
        ExtendLeases => fn extend_leases(&self, claims: Vec<ClaimRef>, until: DateTime<Utc>) -> u64, about claims.iter().map(|c| c.job_id);
        RescueExpired => fn rescue_expired(&self, limit: u32, now: DateTime<Utc>) -> Vec<Rescued>;
        RescueWorker => fn rescue_worker(&self, worker_id: Uuid, now: DateTime<Utc>) -> Vec<Rescued>;
        SaveCheckpoint => fn save_checkpoint(&self, params: SaveCheckpointParams, now: DateTime<Utc>) -> Applied,
            about [params.claim.job_id];
    }
    Reads {
        GetJob => fn get_job(&self, job_id: Uuid) -> Option<Job>, about [job_id];
        Edges => fn edges(&self, job_id: Uuid) -> Edges, about [job_id];
        Workflow => fn workflow(&self, root: Uuid, limit: u32) -> Vec<WorkflowNode>, about [root];
        Executions => fn executions(&self, job_id: Uuid) -> Vec<Execution>, about [job_id];
        ListJobs => fn list_jobs(&self, filter: JobFilter) -> Vec<Job>, about filter.job_ids.clone();
        JobIds => fn job_ids(&self, filter: JobFilter) -> Vec<Uuid>, about filter.job_ids.clone();
        CountJobs => fn count_jobs(&self, filter: JobFilter) -> u64, about filter.job_ids.clone();
        HealthHistory => fn health_history(&self, params: HealthHistoryParams) -> Vec<HealthSample>;
        PendingByType => fn pending_by_type(&self) -> Vec<(String, i64)>;
        DeadLetters => fn dead_letters(&self, limit: u32, before: Option<i64>) -> Vec<DeadLetter>;
        CompletedSince => fn completed_since(&self, since: DateTime<Utc>) -> i64;
        ListWorkers => fn list_workers(&self) -> Vec<WorkerRecord>;
        CountByStatus => fn count_by_status(&self) -> Vec<(crate::job::JobStatus, i64)>;
        ListNodes => fn list_nodes(&self) -> Vec<NodeRecord>;
        LastCheckpoint => fn last_checkpoint(&self, job_id: Uuid) -> Option<Checkpoint>, about [job_id];
        ListSnapshots => fn list_snapshots(&self, filter: SnapshotFilter) -> Vec<SnapshotSummary>;
        GetSnapshot => fn get_snapshot(&self, snapshot_id: Uuid) -> Option<SnapshotRow>;
        LatestSnapshot => fn latest_snapshot(&self, node_id: Option<String>) -> Option<SnapshotRow>;
    }
    Operator {
        Cancel => fn cancel(&self, job_id: Uuid, now: DateTime<Utc>) -> Job, about [job_id];
        RequeueDeadLetter => fn requeue_dead_letter(&self, job_id: Uuid, now: DateTime<Utc>) -> Job, about [job_id];
        ApplyBulk => fn apply_bulk(&self, params: ApplyBulkParams, now: DateTime<Utc>) -> Vec<Uuid>,
            about params.job_ids.clone();
        Prune => fn prune(&self, policy: PrunePolicy) -> Pruned;
    }
    Membership {
        HeartbeatNode => fn heartbeat_node(&self, node: NodeRecord, now: DateTime<Utc>) -> bool;
        TakeNode => fn take_node(&self, params: TakeNodeParams, now: DateTime<Utc>) -> Option<Vec<Rescued>>;
        RescueNode => fn rescue_node(&self, params: RescueNodeParams, now: DateTime<Utc>) -> Option<Vec<Rescued>>;
        AcquireLease => fn acquire_lease(&self, params: AcquireLeaseParams, now: DateTime<Utc>) -> Option<i64>;
        UpsertWorkers => fn upsert_workers(&self, workers: Vec<WorkerRecord>) -> ();
        WriteHealthLogs => fn write_health_logs(&self, logs: Vec<HealthLog>) -> ();
    }
    Snapshots {
        InsertSnapshot => fn insert_snapshot(&self, snapshot: SnapshotRow) -> ();
        DeleteSnapshots => fn delete_snapshots(&self, snapshot_ids: Vec<Uuid>) -> u64;
    }
    Contexts {
        PutContexts => fn put_contexts(&self, points: Vec<ContextPoint>) -> (), about points.iter().map(|p| p.context.job_id);
        SearchContexts => fn search_contexts(&self, query: SimilarQuery) -> Vec<Scored>;
        JobContexts => fn job_contexts(&self, job_id: Uuid) -> Vec<ContextPoint>, about [job_id];
    }
}
