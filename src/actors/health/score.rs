//! How a worker's health score is computed.
//!
//! `score = 1 - 0.75·error_rate - 0.15·missed - 0.07·latency - 0.03·load`, clamped to 0..1:
//! - `error_rate`: runs that crashed (the handler panicked or timed out, or its Job
//!   actor died) among the last `window` runs. A run whose handler returned a failure
//!   is not the worker's error: every worker of the node runs the same handler against
//!   the same services, so it would fail on any of them, and quarantining the one that
//!   happened to run it only idles a healthy worker;
//! - `missed`: heartbeat periods missed, as a fraction of those that make it dead;
//! - `latency`: mean run latency over the window, as a fraction of `latency_ref_ms`;
//! - `load`: running jobs over capacity.
//!
//! A worker silent for `dead_after_ms` is dead (score 0). Each assessment also says
//! why the score is under 1, for people ([`Tracked::reason`]).

use std::collections::VecDeque;

use crate::config::HealthConfig;
use crate::store::WorkerStatus;
use chrono::{DateTime, Utc};

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
    /// (ok, latency_ms) of the latest runs, oldest first; `ok` is false for a crash
    /// only (see [`super::RunOutcome`]).
    pub runs: VecDeque<(bool, u64)>,
    pub score: f64,
    /// Why the score is under 1, or why the worker is dead or failed; `None` at a full
    /// score. Set by [`Tracked::assess`].
    pub reason: Option<String>,
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
            reason: None,
            since: now,
        }
    }

    /// Takes `stalled` off this worker's silence: time the node spent stopped, when
    /// no heartbeat could be heard (see the monitor's late sweeps). Never moves its
    /// last sign of life past `now`.
    pub fn excuse(&mut self, stalled: chrono::Duration, now: DateTime<Utc>) {
        match &mut self.last_heartbeat {
            Some(beat) => *beat = (*beat + stalled).min(now),
            None => self.since = (self.since + stalled).min(now),
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
            match self.status {
                WorkerStatus::Failed => {
                    self.score = 0.0;
                    let deaths = self.failure_count;
                    self.reason = Some(format!("failed: died {deaths} times, past its restart intensity"));
                }
                WorkerStatus::Dead => {
                    self.score = 0.0;
                    self.reason.get_or_insert_with(|| "dead".into());
                }
                _ => self.reason = None, // stopped on purpose: nothing wrong with it
            }
            return false;
        }
        let silent_ms = (now - self.last_heartbeat.unwrap_or(self.since)).num_milliseconds().max(0) as f64;
        if silent_ms > config.dead_after_ms as f64 {
            self.status = WorkerStatus::Dead;
            self.score = 0.0;
            self.reason = Some(format!("dead: no heartbeat for {}", seconds(silent_ms)));
            return true;
        }
        let beat = config.heartbeat_ms.max(1) as f64;
        let missed_beats = (silent_ms / beat - 1.0).max(0.0);
        let beats_to_death = (config.dead_after_ms as f64 / beat).max(1.0);
        let missed = (missed_beats / beats_to_death).min(1.0);
        let mean_latency_ms = self.mean_latency_ms();
        let latency = (mean_latency_ms / config.latency_ref_ms.max(1) as f64).min(1.0);
        // Crashes weigh most: a worker whose every run crashes scores 0.25, under the
        // default threshold (0.3), whatever its latency and load.
        let costs = [
            (0.75 * self.error_rate(), self.crashes()),
            (0.15 * missed, format!("no heartbeat for {}", seconds(silent_ms))),
            (0.07 * latency, format!("its runs take {} on average", seconds(mean_latency_ms))),
            (0.03 * self.load_ratio(), format!("{} of {} slots busy", self.load, self.capacity)),
        ];
        let score = 1.0 - costs.iter().map(|(cost, _)| cost).sum::<f64>();
        self.score = score.clamp(0.0, 1.0);
        self.status = if self.score < config.unhealthy_below { WorkerStatus::Unhealthy } else { WorkerStatus::Active };
        self.reason = explain(costs);
        false
    }

    fn crashes(&self) -> String {
        let crashed = self.runs.iter().filter(|(ok, _)| !ok).count();
        format!("{crashed} of its last {} runs crashed or timed out", self.runs.len())
    }
}

/// The costs a score shows (two decimals are stored), largest first, or `None`.
fn explain(mut costs: [(f64, String); 4]) -> Option<String> {
    costs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let shown: Vec<String> = costs.into_iter().filter(|(cost, _)| *cost >= 0.005).map(|(_, why)| why).collect();
    (!shown.is_empty()).then(|| shown.join("; "))
}

/// `1.2 s`, or `350 ms` under a second.
fn seconds(ms: f64) -> String {
    if ms < 1_000.0 { format!("{ms:.0} ms") } else { format!("{:.1} s", ms / 1_000.0) }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::actors::health::HealthSeed;

    fn config() -> HealthConfig {
        HealthConfig {
            heartbeat_ms: 500,
            dead_after_ms: 5_000,
            latency_ref_ms: 1_000,
            unhealthy_below: 0.3,
            ..Default::default()
        }
    }

    fn ms(n: i64) -> chrono::Duration {
        chrono::Duration::milliseconds(n)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn the_error_rate_and_mean_latency_are_over_the_latest_window_of_runs() {
        let mut w = Tracked::new(4, Utc::now());
        assert_eq!((w.error_rate(), w.mean_latency_ms()), (0.0, 0.0), "no runs: nothing against it");
        for (ok, latency) in [(false, 900), (true, 100), (true, 300), (false, 200), (true, 400)] {
            w.record_run(ok, latency, 4);
        }
        assert_eq!(w.runs.len(), 4, "the oldest run is forgotten");
        assert_eq!(w.error_rate(), 0.25);
        assert_eq!(w.mean_latency_ms(), 250.0);
    }

    #[test]
    fn a_heartbeat_records_its_time_latency_load_and_capacity() {
        let now = Utc::now();
        let mut w = Tracked::new(4, now);
        w.heartbeat(now, now - chrono::Duration::microseconds(2_500), 3, 8);
        assert_eq!(w.last_heartbeat, Some(now));
        assert_eq!(w.heartbeat_latency_ms, 2.5);
        assert_eq!((w.load, w.capacity), (3, 8));
        assert_eq!(w.load_ratio(), 0.375);
    }

    #[test]
    fn the_score_weighs_errors_missed_beats_latency_and_load() {
        let t0 = Utc::now();
        let mut w = Tracked::new(4, t0);
        w.heartbeat(t0, t0, 2, 4);
        for ok in [true, true, true, false] {
            w.record_run(ok, 500, 50);
        }
        // 1.5 s silent at 500 ms beats: 2 beats missed of the 10 that make it dead.
        assert!(!w.assess(t0 + ms(1_500), &config()));
        let expected = 1.0 - 0.75 * 0.25 - 0.15 * 0.2 - 0.07 * 0.5 - 0.03 * 0.5;
        assert!(close(w.score, expected), "{} != {expected}", w.score);
        assert_eq!(w.status, WorkerStatus::Active);
    }

    #[test]
    fn a_worker_crashing_every_run_is_unhealthy_and_one_at_the_threshold_is_not() {
        let t0 = Utc::now();
        let mut failing = Tracked::new(4, t0);
        failing.record_run(false, 0, 50);
        assert!(!failing.assess(t0, &config()));
        assert!(close(failing.score, 0.25));
        assert_eq!(failing.status, WorkerStatus::Unhealthy);

        let mut perfect = Tracked::new(4, t0);
        perfect.assess(t0, &HealthConfig { unhealthy_below: 1.0, ..config() });
        assert_eq!(
            (perfect.score, perfect.status),
            (1.0, WorkerStatus::Active),
            "a score equal to the threshold is healthy"
        );
    }

    #[test]
    fn a_worker_silent_longer_than_dead_after_is_declared_dead_once() {
        let t0 = Utc::now();
        let mut w = Tracked::new(4, t0);
        assert!(!w.assess(t0 + ms(5_000), &config()), "silent exactly dead_after: not yet");
        assert_ne!(w.status, WorkerStatus::Dead);
        assert!(w.assess(t0 + ms(5_001), &config()));
        assert_eq!((w.status, w.score), (WorkerStatus::Dead, 0.0));
        assert!(!w.assess(t0 + ms(6_000), &config()), "already dead: not declared again");
    }

    #[test]
    fn a_failed_worker_scores_zero_and_a_stopped_one_keeps_its_score() {
        let t0 = Utc::now();
        let mut failed = Tracked::new(4, t0);
        failed.status = WorkerStatus::Failed;
        assert!(!failed.assess(t0, &config()));
        assert_eq!(failed.score, 0.0);

        let mut stopped = Tracked::new(4, t0);
        stopped.status = WorkerStatus::Stopped;
        assert!(!stopped.assess(t0 + ms(60_000), &config()));
        assert_eq!((stopped.status, stopped.score), (WorkerStatus::Stopped, 1.0));
    }

    #[test]
    fn an_excused_stall_is_taken_off_the_silence_but_never_past_now() {
        let t0 = Utc::now();
        let mut beating = Tracked::new(4, t0);
        beating.heartbeat(t0, t0, 0, 4);
        beating.excuse(ms(6_000), t0 + ms(7_000));
        assert_eq!(beating.last_heartbeat, Some(t0 + ms(6_000)));
        assert!(!beating.assess(t0 + ms(7_000), &config()), "silent 1 s of running time");
        beating.excuse(ms(6_000), t0 + ms(7_000));
        assert_eq!(beating.last_heartbeat, Some(t0 + ms(7_000)), "not a beat from the future");

        let mut silent = Tracked::new(4, t0); // never beat: its grace runs from its start
        silent.excuse(ms(3_000), t0 + ms(7_000));
        assert!(!silent.assess(t0 + ms(8_000), &config()));
        assert!(silent.assess(t0 + ms(8_001), &config()), "dead 5 s of running time after its start");
    }

    #[test]
    fn the_reason_says_why_a_worker_is_dead_or_failed_and_a_stopped_one_has_none() {
        let t0 = Utc::now();
        let mut dead = Tracked::new(4, t0);
        assert!(dead.assess(t0 + ms(5_250), &config()));
        assert_eq!(dead.reason.as_deref(), Some("dead: no heartbeat for 5.2 s"));
        dead.assess(t0 + ms(9_000), &config());
        assert_eq!(dead.reason.as_deref(), Some("dead: no heartbeat for 5.2 s"), "as it was declared");

        let mut failed = Tracked::new(4, t0);
        (failed.status, failed.failure_count) = (WorkerStatus::Failed, 6);
        failed.assess(t0, &config());
        assert_eq!(failed.reason.as_deref(), Some("failed: died 6 times, past its restart intensity"));

        let mut stopped = Tracked::new(4, t0);
        stopped.assess(t0 + ms(1_000), &config());
        assert!(stopped.reason.is_some(), "a missed beat costs");
        stopped.status = WorkerStatus::Stopped;
        stopped.assess(t0 + ms(1_000), &config());
        assert_eq!(stopped.reason, None);
    }

    #[test]
    fn the_reason_shows_only_costs_a_two_decimal_score_shows() {
        let t0 = Utc::now();
        let mut w = Tracked::new(10, t0);
        w.heartbeat(t0, t0, 1, 10); // 0.003
        w.record_run(true, 300, 50); // 0.07 * 300 / 1000 = 0.021
        w.assess(t0, &config());
        assert_eq!(w.reason.as_deref(), Some("its runs take 300 ms on average"));
        w.heartbeat(t0, t0, 2, 10); // 0.006
        w.assess(t0, &config());
        assert_eq!(w.reason.as_deref(), Some("its runs take 300 ms on average; 2 of 10 slots busy"));
    }

    #[test]
    fn a_restore_takes_the_latest_runs_and_the_score_and_grants_a_fresh_grace() {
        let t0 = Utc::now();
        let seed = |score| HealthSeed {
            worker_id: Uuid::new_v4(),
            failure_count: 2,
            score,
            heartbeat_latency_ms: 7.5,
            runs: vec![(true, 1), (false, 2), (true, 3), (true, 4), (false, 5)],
        };
        let mut w = Tracked::new(4, t0);
        w.heartbeat(t0, t0, 0, 4);
        w.restore(&seed(0.2), 3, 0.3, t0 + ms(10_000));
        assert_eq!(w.runs, VecDeque::from([(true, 3), (true, 4), (false, 5)]));
        assert_eq!((w.failure_count, w.heartbeat_latency_ms, w.score), (2, 7.5, 0.2));
        assert_eq!(w.status, WorkerStatus::Unhealthy);
        assert_eq!(w.last_heartbeat, None);
        assert!(!w.assess(t0 + ms(15_000), &config()), "the grace runs from the restore");

        let mut w = Tracked::new(4, t0);
        w.restore(&seed(0.3), 3, 0.3, t0);
        assert_eq!(w.status, WorkerStatus::Active, "a restored score equal to the threshold is healthy");
    }
}
