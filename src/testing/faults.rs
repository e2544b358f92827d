//! Faults on demand: crash the worker running a job, kill a job's Job actor. What
//! follows is the node's own recovery, so a test sees the job retried exactly as a
//! node would retry it, and can check that its handler is idempotent. For a store
//! that fails, see [`FaultyStore`](super::FaultyStore).

use std::time::Duration;

use uuid::Uuid;

use super::TestNode;
use crate::actors::probe::{Event, RunResult};
use crate::actors::supervisor::{CrashWorker, KillJob, TickWorkers};
use crate::actors::worker::CrashMode;
use crate::job::JobStatus;

impl TestNode {
    /// The worker whose claim on `job_id` is current. Panics if the job is not running.
    pub async fn worker_running(&self, job_id: Uuid) -> Uuid {
        let job = self.job(job_id).await;
        match (job.status, job.worker_id) {
            (JobStatus::Running, Some(worker_id)) => worker_id,
            _ => panic!("job {job_id} is not running: {}", self.describe(&job).await),
        }
    }

    /// Crashes the worker running `job_id` in `mode`; answers the worker's id.
    ///
    /// - [`CrashMode::Panic`]: the worker dies; this returns once the Supervisor has
    ///   voided its claims (the attempt is recorded `CRASHED`, the job retried after
    ///   its backoff) and restarted it or given up on it.
    /// - [`CrashMode::Hang`]: the worker stops answering and heartbeating; its runs
    ///   go on. [`TestNode::advance`] past `health.dead_after_ms` (5 s by default)
    ///   lets the HealthMonitor declare it dead, and the same recovery follows.
    pub async fn crash_worker_running(&mut self, job_id: Uuid, mode: CrashMode) -> Uuid {
        let worker_id = self.worker_running(job_id).await;
        let from = self.journal.len();
        let crash = CrashWorker { worker_id, mode };
        let told = self.actors.supervisor.send(crash).await.expect("the Supervisor answers");
        assert!(told, "worker {worker_id} (running job {job_id}) is not a live worker of this node");
        if mode == CrashMode::Panic {
            let back = |e: &Event| {
                matches!(e, Event::WorkerRestarted { worker_id: w, .. } | Event::WorkerFailed { worker_id: w }
                    if *w == worker_id)
            };
            if self.find_event(from, self.patience, &back).await.is_none() {
                panic!("worker {worker_id} was neither restarted nor given up on after its panic");
            }
        }
        worker_id
    }

    /// Kills the Job actor running `job_id`, as a bug in it would (it panics without
    /// settling the run), and returns once its worker has noticed on a tick and
    /// recorded the attempt `CRASHED`: the job is retried after its backoff.
    pub async fn kill_job(&mut self, job_id: Uuid) {
        let from = self.journal.len();
        let killed = self.actors.supervisor.send(KillJob { job_id }).await.expect("the Supervisor answers");
        assert!(killed, "job {job_id} is not running on this node: {}", self.describe(&self.job(job_id).await).await);
        let crashed =
            |e: &Event| matches!(e, Event::JobFinished { job_id: j, result: RunResult::Panicked, .. } if *j == job_id);
        let deadline = std::time::Instant::now() + self.patience;
        loop {
            // The worker looks for dead Job actors on its ticks.
            self.actors.supervisor.send(TickWorkers).await.expect("the Supervisor answers");
            if self.find_event(from, Duration::from_millis(20), &crashed).await.is_some() {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "the worker never noticed job {job_id}'s dead Job actor");
        }
    }
}
