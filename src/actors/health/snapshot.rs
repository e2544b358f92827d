//! What the HealthMonitor gives a snapshot ([`GetHealth`]) and takes back from a
//! restore ([`RestoreHealth`]): each worker's score and the inputs it is computed from.

use actix::prelude::*;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::HealthMonitor;
use crate::store::WorkerStatus;

/// Asks for every tracked worker's health, by worker id.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Vec<HealthRuntime>")]
pub struct GetHealth;

/// One worker's health as the monitor holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthRuntime {
    pub worker_id: Uuid,
    pub status: WorkerStatus,
    pub score: f64,
    pub capacity: u32,
    pub load: u32,
    pub failure_count: i32,
    pub heartbeat_latency_ms: f64,
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// (ok, latency_ms) of the latest runs, oldest first.
    pub runs: Vec<(bool, u64)>,
    pub error_rate: f64,
}

/// Brings back workers' health (a restore). A worker the monitor does not track is
/// skipped. Each restored worker gets a fresh heartbeat grace.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RestoreHealth(pub Vec<HealthSeed>);

/// The health inputs of one worker, and the score they gave.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthSeed {
    pub worker_id: Uuid,
    pub failure_count: i32,
    pub score: f64,
    pub heartbeat_latency_ms: f64,
    pub runs: Vec<(bool, u64)>,
}

impl Handler<GetHealth> for HealthMonitor {
    type Result = Vec<HealthRuntime>;

    fn handle(&mut self, _: GetHealth, _: &mut Self::Context) -> Vec<HealthRuntime> {
        let mut all: Vec<HealthRuntime> = self
            .workers
            .iter()
            .map(|(&worker_id, w)| HealthRuntime {
                worker_id,
                status: w.status,
                score: w.score,
                capacity: w.capacity,
                load: w.load,
                failure_count: w.failure_count,
                heartbeat_latency_ms: w.heartbeat_latency_ms,
                last_heartbeat: w.last_heartbeat,
                runs: w.runs.iter().copied().collect(),
                error_rate: w.error_rate(),
            })
            .collect();
        all.sort_by_key(|h| h.worker_id);
        all
    }
}

impl Handler<RestoreHealth> for HealthMonitor {
    type Result = ();

    fn handle(&mut self, msg: RestoreHealth, _: &mut Self::Context) {
        let now = self.clock.now();
        let (window, threshold) = (self.config.window, self.config.unhealthy_below);
        for seed in msg.0 {
            if let Some(w) = self.workers.get_mut(&seed.worker_id) {
                w.restore(&seed, window, threshold, now);
            }
        }
    }
}
