//! The messages the [`StoreActor`] answers: batched writes (completions, failures,
//! health logs), which join the current batch, and direct calls, which run at once.
//! Each is named after the store operation it makes (`Release` → `Queue::release`),
//! and takes that operation's params struct where it has one. Reads that no actor
//! needs are not here: the API and snapshots read through
//! [`StoreReads`](super::StoreReads).

use std::time::Duration;

use actix::prelude::*;
use futures::future::join_all;
use uuid::Uuid;

use super::StoreActor;
use crate::job::{Job, NewJob};
use crate::store::{
    AcquireLeaseParams, Applied, ApplyBulkParams, ClaimRef, ClaimRequest, ClaimedJob, Completion, Enqueued,
    FailOutcome, Failure, HealthLog, ReleaseParams, RescueNodeParams, Rescued, SaveCheckpointParams, StoreError,
    StoreResult, WorkerRecord,
};

/// Jobs became ready because their dependencies finished.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct JobsReady;

/// Who to tell when dependents are released (in a node, its ClusterLink, which wakes
/// this node's Supervisor and the other nodes).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct NotifyReady(pub Recipient<JobsReady>);

impl Handler<NotifyReady> for StoreActor {
    type Result = ();

    fn handle(&mut self, msg: NotifyReady, _: &mut Self::Context) {
        self.ready = Some(msg.0);
    }
}

/// Who to tell when a failed attempt's retry will come due (the node's ClusterLink,
/// which sets a timer for it).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct NotifyDue(pub Recipient<DueAt>);

impl Handler<NotifyDue> for StoreActor {
    type Result = ();

    fn handle(&mut self, msg: NotifyDue, _: &mut Self::Context) {
        self.due = Some(msg.0);
    }
}

/// Buffers `$item` in `$batch`, flushing at `max_size` or when the window ends.
macro_rules! batched_handler {
    ($msg:ty, $field:ident, $reply:ty) => {
        impl Handler<$msg> for StoreActor {
            type Result = ResponseFuture<StoreResult<$reply>>;

            fn handle(&mut self, msg: $msg, ctx: &mut Self::Context) -> Self::Result {
                let answer = self.$field.push(msg.0);
                if self.$field.len() >= self.config.max_size {
                    if let Some(timer) = self.$field.timer.take() {
                        ctx.cancel_future(timer);
                    }
                    actix::spawn(self.flush_all());
                } else if self.$field.timer.is_none() {
                    let timer = ctx.run_later(self.window(), |act, _| {
                        act.$field.timer = None;
                        actix::spawn(act.flush_all());
                    });
                    self.$field.timer = Some(timer);
                }
                Box::pin(async move { answer.await.unwrap_or(Err(StoreError::Unavailable)) })
            }
        }
    };
}

/// Completes a job with its result (batched). `Stale` if the claim was lost.
#[derive(Debug, Message)]
#[rtype(result = "StoreResult<Applied>")]
pub struct Complete(pub Completion);
batched_handler!(Complete, completions, Applied);

/// Records a failed attempt (batched): retry with backoff, or dead-letter.
#[derive(Debug, Message)]
#[rtype(result = "StoreResult<FailOutcome>")]
pub struct Fail(pub Failure);
batched_handler!(Fail, failures, FailOutcome);

/// Appends health metrics (batched with other workers' metrics).
#[derive(Debug, Message)]
#[rtype(result = "StoreResult<()>")]
pub struct WriteHealthLog(pub HealthLog);
batched_handler!(WriteHealthLog, health_logs, ());

/// Several health metrics at once; they join the same batch.
#[derive(Debug, Message)]
#[rtype(result = "StoreResult<()>")]
pub struct WriteHealthLogs(pub Vec<HealthLog>);

impl Handler<WriteHealthLogs> for StoreActor {
    type Result = ResponseFuture<StoreResult<()>>;

    fn handle(&mut self, msg: WriteHealthLogs, ctx: &mut Self::Context) -> Self::Result {
        let answers: Vec<_> = msg.0.into_iter().map(|log| self.handle(WriteHealthLog(log), ctx)).collect();
        Box::pin(async move { join_all(answers).await.into_iter().collect() })
    }
}

/// Writes every buffered item now. Answers once they are written.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Flush;

impl Handler<Flush> for StoreActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Flush, ctx: &mut Self::Context) -> Self::Result {
        for timer in [self.completions.timer.take(), self.failures.timer.take(), self.health_logs.timer.take()]
            .into_iter()
            .flatten()
        {
            ctx.cancel_future(timer);
        }
        self.flush_all()
    }
}

/// Declares a message that runs one store call at once, with the actor's clock.
macro_rules! direct {
    ($(#[$meta:meta])* $name:ident $(( $($field:ident : $ty:ty),* ))? -> $reply:ty,
     |$store:ident, $now:ident| $call:expr) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub struct $name $(( $(pub $ty),* ))?;

        impl Message for $name {
            type Result = StoreResult<$reply>;
        }

        impl Handler<$name> for StoreActor {
            type Result = ResponseFuture<StoreResult<$reply>>;

            #[allow(unused_variables)]
            fn handle(&mut self, msg: $name, _: &mut Self::Context) -> Self::Result {
                let $store = self.store.clone();
                let $now = self.clock.now();
                let call = self.watch.start();
                $( let $name($($field),*) = msg; )?
                Box::pin(async move {
                    let outcome = $call.await;
                    call.finish(&outcome);
                    outcome
                })
            }
        }
    };
}

/// Submits one job (an [`crate::store::Queue::enqueue`] of one): submits arriving
/// while another is being written share the next write (group commit, see
/// [`super::group`]); the answer comes once the job is durable.
#[derive(Debug, Message)]
#[rtype(result = "StoreResult<Enqueued>")]
pub struct EnqueueOne(pub NewJob);

impl Handler<EnqueueOne> for StoreActor {
    type Result = ResponseFuture<StoreResult<Enqueued>>;

    fn handle(&mut self, msg: EnqueueOne, _: &mut Self::Context) -> Self::Result {
        Box::pin(super::group::answer(self.submits.submit(msg.0)))
    }
}

direct!(
    /// Submits many jobs in one statement, all or nothing.
    Enqueue(jobs: Vec<NewJob>) -> Vec<Enqueued>, |store, now| store.enqueue(jobs, now)
);
direct!(
    /// Claims ready jobs for the workers asking, up to each one's room.
    Claim(request: ClaimRequest) -> Vec<ClaimedJob>, |store, now| store.claim(request, now)
);
direct!(
    /// Gives claims back, runnable again from `run_at` (`None`: at once).
    Release(params: ReleaseParams) -> Vec<Applied>, |store, now| store.release(params, now)
);
direct!(
    /// Gives back claims whose handler never started (no execution row).
    GiveBack(claims: Vec<ClaimRef>) -> Vec<Applied>, |store, now| store.give_back(claims, now)
);
direct!(
    /// Renews the leases of the claims these executions hold, until now + `lease`.
    ExtendLeases(claims: Vec<ClaimRef>, lease: Duration) -> u64,
    |store, now| store.extend_leases(claims, crate::clock::after(now, lease))
);
direct!(
    /// Takes back up to `limit` jobs whose lease expired.
    RescueExpired(limit: u32) -> Vec<Rescued>, |store, now| store.rescue_expired(limit, now)
);
direct!(
    /// Voids every claim of a dead worker.
    RescueWorker(worker_id: Uuid) -> Vec<Rescued>, |store, now| store.rescue_worker(worker_id, now)
);
direct!(
    /// Cancels an unfinished job.
    Cancel(job_id: Uuid) -> Job, |store, now| store.cancel(job_id, now)
);
direct!(
    /// Requeues a dead-lettered job.
    RequeueDeadLetter(job_id: Uuid) -> Job, |store, now| store.requeue_dead_letter(job_id, now)
);
direct!(
    /// Applies an operator's action to those of the jobs it fits, in one transaction.
    ApplyBulk(params: ApplyBulkParams) -> Vec<Uuid>, |store, now| store.apply_bulk(params, now)
);
direct!(
    /// Voids the claims of a node silent since `silent_since`, under the rescue lease's fence.
    RescueNode(params: RescueNodeParams) -> Option<Vec<Rescued>>, |store, now| store.rescue_node(params, now)
);
direct!(
    /// Writes this node's row, last seen now; `false` when another process has taken
    /// the node id over.
    HeartbeatNode(node: crate::store::NodeRecord) -> bool, |store, now| store.heartbeat_node(node, now)
);
direct!(ListNodes -> Vec<crate::store::NodeRecord>, |store, now| store.list_nodes());
direct!(
    /// Takes or renews a lease for its holder, until `until`; its fencing token if held.
    AcquireLease(params: AcquireLeaseParams) -> Option<i64>, |store, now| store.acquire_lease(params, now)
);
direct!(
    /// Writes workers' rows (heartbeats, load, health) in one statement.
    UpsertWorkers(workers: Vec<WorkerRecord>) -> (), |store, now| store.upsert_workers(workers)
);
direct!(Ping -> (), |store, now| store.ping());
direct!(
    /// One retention pass: at most `policy.batch` rows of each kind.
    Prune(policy: crate::store::PrunePolicy) -> crate::store::Pruned, |store, now| store.prune(policy)
);
direct!(
    /// Writes a snapshot row (taken by [`crate::snapshot`]).
    InsertSnapshot(snapshot: crate::store::SnapshotRow) -> (), |store, now| store.insert_snapshot(snapshot)
);
direct!(
    /// Deletes snapshots (AUTO retention).
    DeleteSnapshots(snapshot_ids: Vec<Uuid>) -> u64, |store, now| store.delete_snapshots(snapshot_ids)
);
direct!(
    /// Saves a running attempt's checkpoint (fenced by its claim).
    SaveCheckpoint(params: SaveCheckpointParams) -> Applied, |store, now| store.save_checkpoint(params, now)
);
direct!(
    /// The latest checkpoint of a job.
    LastCheckpoint(job_id: Uuid) -> Option<crate::store::Checkpoint>, |store, now| store.last_checkpoint(job_id)
);
direct!(
    /// The embedded vector store: writes execution contexts.
    PutContexts(points: Vec<crate::vector::ContextPoint>) -> (), |store, now| store.put_contexts(points)
);
direct!(
    /// The embedded vector store: exact cosine search.
    SearchContexts(query: crate::vector::SimilarQuery) -> Vec<crate::vector::Scored>,
    |store, now| store.search_contexts(query)
);
direct!(
    /// The embedded vector store: a job's contexts.
    JobContexts(job_id: Uuid) -> Vec<crate::vector::ContextPoint>, |store, now| store.job_contexts(job_id)
);

/// A job will be ready at this time (a retry's backoff, a submit's `run_at`).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct DueAt(pub chrono::DateTime<chrono::Utc>);
