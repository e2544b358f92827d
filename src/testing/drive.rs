//! Driving a [`TestNode`]: run what is ready ([`TestNode::drain`]), move time
//! ([`TestNode::advance`]), stop the node for a while ([`TestNode::pause`]), or do
//! once what the node's timers would ([`TestNode::tick`]).

use std::time::{Duration, Instant};

use uuid::Uuid;

use super::TestNode;
use crate::actors::health::Sweep;
use crate::actors::probe::{Event, RunResult};
use crate::actors::store::Flush;
use crate::actors::supervisor::{CheckChildren, GetMonitor, GetSlots, TickWorkers, Wake};
use crate::clock::Clock;
use crate::job::{Job, JobStatus};
use crate::store::JobFilter;

/// The runs a [`TestNode::drain`] saw end, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Drained {
    pub runs: Vec<(Uuid, RunResult)>,
}

impl Drained {
    /// Runs that completed their job.
    pub fn succeeded(&self) -> usize {
        self.count(|r| matches!(r, RunResult::Succeeded))
    }

    /// Runs that failed: returned a failure, timed out or panicked.
    pub fn failed(&self) -> usize {
        self.count(|r| matches!(r, RunResult::Failed { .. } | RunResult::TimedOut | RunResult::Panicked))
    }

    /// Runs that snoozed.
    pub fn snoozed(&self) -> usize {
        self.count(|r| matches!(r, RunResult::Snoozed))
    }

    fn count(&self, which: impl Fn(&RunResult) -> bool) -> usize {
        self.runs.iter().filter(|(_, r)| which(r)).count()
    }
}

impl TestNode {
    /// Runs every ready job — and the retries and dependents that become ready while
    /// it does — until no job is ready or running; answers the runs that ended.
    /// Time does not move: a retry whose backoff has not passed, a snoozed job or one
    /// scheduled later stays for [`TestNode::advance`]. Panics, with the jobs still
    /// unfinished, if the node has not come to rest within its patience (a handler
    /// that never returns, a hung worker, a store that keeps failing).
    ///
    /// ```
    /// # use aeon::{handler::Registry, job::JobStatus, testing::TestNode};
    /// # actix_rt::System::new().block_on(async {
    /// let mut node = TestNode::start(Registry::with_builtins()).await;
    /// let job_id = node.submit("echo", serde_json::json!({ "hello": "world" })).await;
    /// let drained = node.drain().await;
    /// assert_eq!(drained.succeeded(), 1);
    /// node.assert_status(job_id, JobStatus::Completed).await;
    /// node.shutdown().await;
    /// # });
    /// ```
    pub async fn drain(&mut self) -> Drained {
        let deadline = Instant::now() + self.patience;
        let from = self.journal.len();
        loop {
            // The reads below are not one snapshot: a run may start and end between
            // them (a dependent released, claimed and done while the database is
            // read). So rest counts only if no event arrived while they were made.
            self.pump_ready();
            let seen = self.journal.len();
            self.actors.store.send(Flush).await.expect("the StoreActor answers");
            let slots = self.actors.supervisor.send(GetSlots).await.expect("the Supervisor answers");
            let held: u32 = slots.iter().map(|s| s.load + s.unsettled).sum();
            let ready = self.ready_jobs().await;
            let running = self.jobs_in(JobStatus::Running).await;
            self.pump_ready();
            if held == 0 && ready.is_empty() && running.is_empty() && self.journal.len() == seen {
                self.pump_ready();
                let runs = self.journal[from..]
                    .iter()
                    .filter_map(|e| match e {
                        Event::JobFinished { job_id, result, .. } => Some((*job_id, result.clone())),
                        _ => None,
                    })
                    .collect();
                return Drained { runs };
            }
            if Instant::now() >= deadline {
                let show = |jobs: &[Job]| jobs.iter().map(|j| (j.job_id, j.job_type.clone())).collect::<Vec<_>>();
                panic!(
                    "drain: the node did not come to rest within {:?}: running {:?}, ready {:?}, worker slots {slots:?} \
                     (a handler that does not return? a hung or failed worker? advance the clock past a \
                     dead worker's heartbeats)",
                    self.patience,
                    show(&running),
                    show(&ready),
                );
            }
            if held == 0 {
                self.actors.supervisor.send(Wake).await.expect("the Supervisor answers");
            }
            // Wait for the next thing to happen, or look again shortly.
            let next = self.journal.len();
            self.find_event(next, Duration::from_millis(20), &|_| true).await;
        }
    }

    /// Moves the clock forward by `by`, doing what the node's timers would do on the
    /// way: workers heartbeat, check their runs' deadlines and renew their leases, the
    /// HealthMonitor sweeps (dead workers, expired leases), the Supervisor restarts
    /// dead children and claims what came due — at least every health sweep period
    /// (`health.sweep_ms`) and every third of a lease, as a running node does (a
    /// longer step would be a node that was stopped meanwhile). Retries, snoozed and
    /// scheduled jobs due by then are claimed; run them with [`TestNode::drain`].
    pub async fn advance(&mut self, by: Duration) {
        let mut left = by;
        while !left.is_zero() {
            let now = self.step.min(left);
            self.clock.advance(now);
            left -= now;
            self.tick().await;
        }
    }

    /// The node's process is stopped for `by` (SIGSTOP, a paused VM) and wakes: the
    /// clock jumps with nothing run meanwhile, then the timers that came due fire,
    /// the HealthMonitor's sweep first — before the workers' heartbeats are heard,
    /// the order in which they look oldest. A node must not kill its own workers for
    /// the time it was stopped; one that is really silent still dies once
    /// `health.dead_after_ms` of running time has passed ([`TestNode::advance`]).
    pub async fn pause(&mut self, by: Duration) {
        self.clock.advance(by);
        let monitor = self.actors.supervisor.send(GetMonitor).await.expect("the Supervisor answers");
        let _ = monitor.send(Sweep).await;
        self.tick().await;
    }

    /// Does once what the node's timers do, without moving the clock: a tick to each
    /// worker, a HealthMonitor sweep, a Supervisor check of its children, a wake-up.
    pub async fn tick(&self) {
        let supervisor = &self.actors.supervisor;
        supervisor.send(TickWorkers).await.expect("the Supervisor answers");
        let monitor = supervisor.send(GetMonitor).await.expect("the Supervisor answers");
        let _ = monitor.send(Sweep).await; // a dead monitor is restarted just below
        supervisor.send(CheckChildren).await.expect("the Supervisor answers");
        supervisor.send(Wake).await.expect("the Supervisor answers");
    }

    /// `PENDING` jobs this node handles whose time has come.
    pub(super) async fn ready_jobs(&self) -> Vec<Job> {
        let now = self.clock.now();
        let pending = self.jobs_in(JobStatus::Pending).await;
        pending.into_iter().filter(|j| j.scheduled_at <= now && self.job_types.contains(&j.job_type)).collect()
    }

    /// Jobs in `status`, oldest first (up to 10,000).
    pub(super) async fn jobs_in(&self, status: JobStatus) -> Vec<Job> {
        let filter = JobFilter { statuses: vec![status], limit: 10_000, ..JobFilter::default() };
        let mut jobs = self.store.list_jobs(filter).await.expect("the store lists jobs");
        jobs.reverse();
        jobs
    }
}
