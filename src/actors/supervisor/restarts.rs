//! Restart intensity, as in Erlang/OTP: a worker that dies more than `max_restarts`
//! times within `window` is given up on.

use chrono::{DateTime, Utc};
use std::collections::VecDeque;

use crate::config::RestartPolicy;

/// One worker's deaths and restarts.
#[derive(Debug, Clone, Default)]
pub struct Restarts {
    recent: VecDeque<DateTime<Utc>>,
    deaths: i32,
}

impl Restarts {
    /// Counts a death at `now`; answers whether the worker may be restarted.
    pub fn allow(&mut self, now: DateTime<Utc>, policy: &RestartPolicy) -> bool {
        self.deaths += 1;
        let horizon = now - chrono::Duration::from_std(policy.window()).unwrap_or(chrono::Duration::MAX);
        while self.recent.front().is_some_and(|t| *t <= horizon) {
            self.recent.pop_front();
        }
        (self.recent.len() as u32) < policy.max_restarts
    }

    pub fn record(&mut self, now: DateTime<Utc>) {
        self.recent.push_back(now);
    }

    /// Deaths so far: `workers.failure_count`.
    pub fn failure_count(&self) -> i32 {
        self.deaths
    }

    /// The restarts that count against the intensity limit (oldest first); older ones
    /// are forgotten at the next death.
    pub fn window(&self) -> Vec<DateTime<Utc>> {
        self.recent.iter().copied().collect()
    }

    /// Counters as a snapshot recorded them (restore).
    pub fn restored(failure_count: i32, window: Vec<DateTime<Utc>>) -> Self {
        Self { recent: window.into(), deaths: failure_count.max(0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_up_after_max_restarts_within_the_window_but_forgets_old_ones() {
        let policy = RestartPolicy { max_restarts: 2, window_ms: 10_000 };
        let t0 = Utc::now();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let mut r = Restarts::default();
        assert!(r.allow(at(0), &policy));
        r.record(at(0));
        assert!(r.allow(at(1), &policy));
        r.record(at(1));
        assert!(!r.allow(at(2), &policy), "a third death within 10 s is final");
        assert_eq!(r.failure_count(), 3);

        let mut r = Restarts::default();
        for s in [0, 1] {
            assert!(r.allow(at(s), &policy));
            r.record(at(s));
        }
        assert!(r.allow(at(11), &policy), "deaths older than the window are forgotten");
    }

    #[test]
    fn the_window_lists_the_restarts_that_count_oldest_first() {
        let policy = RestartPolicy { max_restarts: 5, window_ms: 10_000 };
        let t0 = Utc::now();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let mut r = Restarts::default();
        for s in [0, 4, 8] {
            assert!(r.allow(at(s), &policy));
            r.record(at(s));
        }
        assert_eq!(r.window(), vec![at(0), at(4), at(8)]);
        assert!(r.allow(at(12), &policy));
        assert_eq!(r.window(), vec![at(4), at(8)], "the restart 12 s old is forgotten at the next death");
    }

    #[test]
    fn restored_counters_carry_on_where_the_snapshot_left_them() {
        let policy = RestartPolicy { max_restarts: 2, window_ms: 10_000 };
        let t0 = Utc::now();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let mut r = Restarts::restored(7, vec![at(0), at(1)]);
        assert_eq!((r.failure_count(), r.window()), (7, vec![at(0), at(1)]));
        assert!(!r.allow(at(2), &policy), "the restored window counts against the limit");
        assert_eq!(r.failure_count(), 8);
        assert_eq!(Restarts::restored(-3, vec![]).failure_count(), 0, "a negative count is read as none");
    }
}
