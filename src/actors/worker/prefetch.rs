//! How many claimed jobs a worker should hold queued behind its running ones.
//!
//! Prefetch exists so that a slot does not sit idle for a claim's round trip: for
//! jobs that take microseconds, a queue of `workers.prefetch` keeps the slots busy.
//! For jobs that take seconds it only hoards: queued jobs wait for this worker's slots
//! while another node's slots sit idle (Celery's well-known prefetch problem).
//!
//! So a worker queues only what would start within [`HORIZON`]: its slots turn over
//! at a rate of one per run time, so `capacity × horizon / run time` jobs start within
//! the horizon. Run times are observed per job type (a moving average): the running
//! jobs each count with their own type's, a free slot with the average of all recent
//! runs. Before any run has been seen, nothing is queued: a node that just started
//! learns from its first jobs (a few milliseconds for no-op jobs) and queues then.
//! `workers.prefetch` stays the upper bound.
//!
//! This decides how many jobs a worker asks for, not what it does with a claim: a
//! worker handed more than it asked for (a claim sized before a change of pace)
//! still queues up to `workers.prefetch`, and `workers.prefetch_wait_ms` sends back
//! what waited too long.

use std::collections::HashMap;
use std::time::Duration;

/// How far ahead a worker queues by default (`workers.prefetch_horizon_ms`): a few
/// claim round trips, short next to the run time of any job worth moving to another
/// node.
pub const HORIZON: Duration = Duration::from_millis(50);

/// The horizon `workers.prefetch_horizon_ms` names; `None` (0): no adapting, a worker
/// always queues up to `workers.prefetch`.
pub fn horizon(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// The weight of the newest run in a moving average.
const WEIGHT: f64 = 0.25;

/// A run time is at least this (a manual clock can report zero).
const SHORTEST: f64 = 1e-6;

/// Observed handler run times, by job type and overall; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct RunTimes {
    /// Seconds, moving average over every recent run.
    overall: Option<f64>,
    /// Seconds, moving average per job type.
    by_type: HashMap<String, f64>,
}

fn blend(average: Option<f64>, sample: f64) -> f64 {
    match average {
        None => sample,
        Some(average) => average + WEIGHT * (sample - average),
    }
}

impl RunTimes {
    /// Notes that a handler of `job_type` ran for `ran`.
    pub fn record(&mut self, job_type: &str, ran: Duration) {
        let sample = ran.as_secs_f64().max(SHORTEST);
        self.overall = Some(blend(self.overall, sample));
        match self.by_type.get_mut(job_type) {
            Some(average) => *average = blend(Some(*average), sample),
            None => {
                self.by_type.insert(job_type.to_string(), sample);
            }
        }
    }

    /// The average run time of `job_type`, if one has been seen.
    pub fn of(&self, job_type: &str) -> Option<Duration> {
        self.by_type.get(job_type).map(|&s| Duration::from_secs_f64(s))
    }

    /// How many jobs to hold queued, at most `max`: those that would start within
    /// `horizon` on `capacity` slots, with `running` the job types running now.
    pub fn queue_room<'a>(
        &self,
        capacity: u32,
        running: impl IntoIterator<Item = &'a str>,
        max: u32,
        horizon: Duration,
    ) -> u32 {
        let Some(overall) = self.overall else { return 0 };
        let mut busy = 0u32;
        let mut per_second = 0.0;
        for job_type in running {
            busy += 1;
            per_second += 1.0 / self.by_type.get(job_type).copied().unwrap_or(overall);
        }
        per_second += f64::from(capacity.saturating_sub(busy)) / overall;
        let starts = per_second * horizon.as_secs_f64();
        if starts >= f64::from(max) { max } else { starts.floor() as u32 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn nothing_is_queued_before_a_run_has_been_seen() {
        assert_eq!(RunTimes::default().queue_room(10, [], 40, HORIZON), 0);
    }

    #[test]
    fn short_jobs_fill_the_queue_up_to_prefetch() {
        let mut times = RunTimes::default();
        times.record("noop", Duration::from_micros(100));
        assert_eq!(times.queue_room(10, [], 40, HORIZON), 40, "10 slots x 50 ms / 0.1 ms is far over 40");
        assert_eq!(times.queue_room(10, ["noop"; 10], 40, HORIZON), 40);
        assert_eq!(times.queue_room(10, [], 0, HORIZON), 0, "prefetch 0 queues nothing");
    }

    #[test]
    fn the_queue_holds_what_would_start_within_the_horizon() {
        let mut times = RunTimes::default();
        times.record("resize", 10 * MS);
        // 2 slots each free every 10 ms: 10 starts within 50 ms.
        assert_eq!(times.queue_room(2, [], 40, HORIZON), 10);
        assert_eq!(times.queue_room(2, ["resize"], 40, HORIZON), 10);
    }

    #[test]
    fn long_jobs_queue_nothing() {
        let mut times = RunTimes::default();
        times.record("sleep", 2_000 * MS);
        assert_eq!(times.queue_room(10, [], 40, HORIZON), 0, "10 slots of 2 s: 0.25 starts within 50 ms");
        assert_eq!(times.queue_room(10, ["sleep"; 10], 40, HORIZON), 0);
    }

    #[test]
    fn running_jobs_count_with_their_own_type_and_free_slots_with_the_recent_average() {
        let mut times = RunTimes::default();
        for _ in 0..20 {
            times.record("noop", Duration::from_micros(100));
        }
        times.record("sleep", 2_000 * MS);
        assert_eq!(times.of("sleep"), Some(2_000 * MS));
        // Every slot busy with a 2-second job: nothing starts soon, whatever ran before.
        assert_eq!(times.queue_room(4, ["sleep"; 4], 40, HORIZON), 0);
        // One slot turning over no-op jobs keeps the queue full.
        assert_eq!(times.queue_room(4, ["sleep", "sleep", "sleep", "noop"], 40, HORIZON), 40);
        // A type never seen runs as long as the recent average (here ~0.5 s, one 2 s
        // run among no-ops): 4 such slots start 0.4 jobs within 50 ms.
        assert_eq!(times.queue_room(4, ["report"; 4], 40, HORIZON), 0);
    }

    #[test]
    fn the_average_follows_a_type_that_got_slower() {
        let mut times = RunTimes::default();
        times.record("fetch", MS);
        assert_eq!(times.queue_room(10, [], 40, HORIZON), 40);
        for _ in 0..10 {
            times.record("fetch", 1_000 * MS);
        }
        assert_eq!(times.queue_room(10, [], 40, HORIZON), 0, "{:?}", times.of("fetch"));
    }
}
