//! How a worker's health score is computed.
//!
//! `score = 1 - 0.75·error_rate - 0.15·missed - 0.07·latency - 0.03·load`, clamped to 0..1:
//! - `error_rate`: failed, timed-out or panicked runs among the last `window` runs;
//! - `missed`: heartbeat periods missed, as a fraction of those that make it dead;
//! - `latency`: mean run latency over the window, as a fraction of `latency_ref_ms`;
//! - `load`: running jobs over capacity.
//!
//! A worker silent for `dead_after_ms` is dead (score 0).

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::WorkerStatus;

/// Health thresholds and timings (the `[health]` config section).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// How often workers heartbeat, in milliseconds.
    pub heartbeat_ms: u64,
    /// A worker silent this long is dead and is restarted.
    pub dead_after_ms: u64,
    /// How often the monitor sweeps (scores, writes, rescues), in milliseconds.
    pub sweep_ms: u64,
    /// Workers scoring under this get no new jobs.
    pub unhealthy_below: f64,
    /// A mean run latency of this many milliseconds costs the full latency share.
    pub latency_ref_ms: u64,
    /// Runs remembered per worker for the error rate and latency.
    pub window: usize,
    /// A worker's health metrics are written when one moves, and at least this often
    /// (milliseconds); an idle node writes almost nothing.
    pub log_every_ms: u64,
    /// A store call in flight this long, or store calls failing with no success for
    /// this long, make the node unready (milliseconds).
    pub store_stall_ms: u64,
    /// An unhealthy worker gets no jobs; after this long without one (milliseconds) it
    /// gets a single job on probation: a success makes it healthy again.
    pub probation_ms: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            heartbeat_ms: 500,
            dead_after_ms: 5_000,
            sweep_ms: 1_000,
            unhealthy_below: 0.3,
            latency_ref_ms: 60_000,
            window: 50,
            log_every_ms: 60_000,
            store_stall_ms: 5_000,
            probation_ms: 30_000,
        }
    }
}

/// What the monitor knows of one worker.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub status: WorkerStatus,
    pub capacity: u32,
    pub load: u32,
    pub failure_count: i32,
    /// The last beat received; the tracking start counts as one, so a worker that
    /// never beats is declared dead too.
    pub last_heartbeat: Option<DateTime<Utc>>,
    pub heartbeat_latency_ms: f64,
    /// (ok, latency_ms) of the latest runs, oldest first.
    pub runs: VecDeque<(bool, u64)>,
    pub score: f64,
    since: DateTime<Utc>,
}

impl Tracked {
    pub fn new(capacity: u32, now: DateTime<Utc>) -> Self {
        Self {
            status: WorkerStatus::Active,
            capacity,
            load: 0,
            failure_count: 0,
            last_heartbeat: None,
            heartbeat_latency_ms: 0.0,
            runs: VecDeque::new(),
            score: 1.0,
            since: now,
        }
    }

    /// Takes a snapshot's health inputs and score (a restore), with a fresh heartbeat
    /// grace from `now`. Only the latest `window` runs are kept.
    pub fn restore(&mut self, seed: &super::HealthSeed, window: usize, unhealthy_below: f64, now: DateTime<Utc>) {
        self.runs = seed.runs.iter().copied().collect();
        while self.runs.len() > window.max(1) {
            self.runs.pop_front();
        }
        self.heartbeat_latency_ms = seed.heartbeat_latency_ms;
        self.failure_count = seed.failure_count;
        self.score = seed.score.clamp(0.0, 1.0);
        if matches!(self.status, WorkerStatus::Active | WorkerStatus::Unhealthy) {
            self.status = if self.score < unhealthy_below { WorkerStatus::Unhealthy } else { WorkerStatus::Active };
        }
        self.last_heartbeat = None;
        self.since = now;
    }

    pub fn heartbeat(&mut self, now: DateTime<Utc>, sent_at: DateTime<Utc>, load: u32, capacity: u32) {
        self.last_heartbeat = Some(now);
        self.heartbeat_latency_ms = (now - sent_at).num_microseconds().unwrap_or(0).max(0) as f64 / 1_000.0;
        self.load = load;
        self.capacity = capacity.max(1);
    }

    pub fn record_run(&mut self, ok: bool, latency_ms: u64, window: usize) {
        self.runs.push_back((ok, latency_ms));
        while self.runs.len() > window.max(1) {
            self.runs.pop_front();
        }
    }

    pub fn error_rate(&self) -> f64 {
        if self.runs.is_empty() {
            return 0.0;
        }
        self.runs.iter().filter(|(ok, _)| !ok).count() as f64 / self.runs.len() as f64
    }

    pub fn load_ratio(&self) -> f64 {
        f64::from(self.load) / f64::from(self.capacity.max(1))
    }

    fn mean_latency_ms(&self) -> f64 {
        if self.runs.is_empty() {
            return 0.0;
        }
        self.runs.iter().map(|(_, l)| *l as f64).sum::<f64>() / self.runs.len() as f64
    }

    /// Recomputes the score and status at `now`. Returns whether the worker has just
    /// been declared dead.
    pub fn assess(&mut self, now: DateTime<Utc>, config: &HealthConfig) -> bool {
        if matches!(self.status, WorkerStatus::Failed | WorkerStatus::Stopped | WorkerStatus::Dead) {
            if self.status != WorkerStatus::Stopped {
                self.score = 0.0;
            }
            return false;
        }
        let silent_ms = (now - self.last_heartbeat.unwrap_or(self.since)).num_milliseconds().max(0) as f64;
        if silent_ms > config.dead_after_ms as f64 {
            self.status = WorkerStatus::Dead;
            self.score = 0.0;
            return true;
        }
        let beat = config.heartbeat_ms.max(1) as f64;
        let missed_beats = (silent_ms / beat - 1.0).max(0.0);
        let beats_to_death = (config.dead_after_ms as f64 / beat).max(1.0);
        let missed = (missed_beats / beats_to_death).min(1.0);
        let latency = (self.mean_latency_ms() / config.latency_ref_ms.max(1) as f64).min(1.0);
        // Errors weigh most: a worker failing every run scores 0.25, under the default
        // threshold (0.3), whatever its latency and load.
        let score = 1.0 - 0.75 * self.error_rate() - 0.15 * missed - 0.07 * latency - 0.03 * self.load_ratio();
        self.score = score.clamp(0.0, 1.0);
        self.status = if self.score < config.unhealthy_below { WorkerStatus::Unhealthy } else { WorkerStatus::Active };
        false
    }
}
