//! Pauses of this process (SIGSTOP, a VM or container frozen, a machine that swapped):
//! times when the process ran nothing at all. A thread wakes every 100 ms by the
//! monotonic clock; when it wakes much later than it asked, the process was paused
//! meanwhile, and the gap is noted. A judgement of how long something waited (a store
//! call, for readiness) takes the pauses out, so that a pause is not blamed on what was
//! waited for.

use std::collections::VecDeque;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

/// How often the watching thread wakes.
const PERIOD: Duration = Duration::from_millis(100);
/// A wake-up this much later than asked is a pause (scheduling noise stays below it).
const LATE: Duration = Duration::from_millis(250);
/// The pauses remembered (the oldest go first).
const KEPT: usize = 32;

/// See the module docs.
#[derive(Debug)]
pub struct Pauses {
    state: Mutex<State>,
    /// Whether a thread ticks it: then a tick overdue now is a pause going on.
    ticking: bool,
}

#[derive(Debug)]
struct State {
    last_tick: Instant,
    /// Pauses that ended: from, to.
    gaps: VecDeque<(Instant, Instant)>,
}

static GLOBAL: LazyLock<Arc<Pauses>> = LazyLock::new(|| {
    let pauses = Arc::new(Pauses::with_ticking(true));
    let ticked = pauses.clone();
    let started = std::thread::Builder::new().name("aeon-pause-watch".into()).spawn(move || {
        loop {
            std::thread::sleep(PERIOD);
            ticked.tick(Instant::now());
        }
    });
    if let Err(e) = started {
        tracing::warn!(error = %e, "no thread to watch for process pauses: waits are judged whole");
    }
    pauses
});

impl Pauses {
    /// The process's own, watched by a thread started on first use.
    pub fn global() -> Arc<Pauses> {
        GLOBAL.clone()
    }

    /// Pauses noted by hand ([`Pauses::record`]), for tests: no thread.
    pub fn unwatched() -> Pauses {
        Self::with_ticking(false)
    }

    fn with_ticking(ticking: bool) -> Pauses {
        Pauses { state: Mutex::new(State { last_tick: Instant::now(), gaps: VecDeque::new() }), ticking }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The watching thread woke at `now`: a pause if that is well after it asked.
    fn tick(&self, now: Instant) {
        let mut state = self.state();
        let due = state.last_tick + PERIOD;
        if now.saturating_duration_since(due) >= LATE {
            tracing::info!(
                paused_ms = (now - due).as_millis() as u64,
                "this process was paused (its timers fired late)"
            );
            state.gaps.push_back((due, now));
            if state.gaps.len() > KEPT {
                state.gaps.pop_front();
            }
        }
        state.last_tick = now;
    }

    /// Notes that the process was paused from `from` to `to`.
    pub fn record(&self, from: Instant, to: Instant) {
        let mut state = self.state();
        state.gaps.push_back((from, to));
        if state.gaps.len() > KEPT {
            state.gaps.pop_front();
        }
    }

    /// How long the process was paused since `since`: the pauses noted, and one going
    /// on (the thread's wake-up overdue: the process has only just resumed).
    pub fn paused_since(&self, since: Instant) -> Duration {
        let state = self.state();
        let overlap = |(from, to): (Instant, Instant)| to.saturating_duration_since(from.max(since));
        let mut paused: Duration = state.gaps.iter().map(|gap| overlap(*gap)).sum();
        let due = state.last_tick + PERIOD;
        let now = Instant::now();
        if self.ticking && now.saturating_duration_since(due) >= LATE {
            paused += overlap((due, now));
        }
        paused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_part_of_a_pause_after_since_counts_and_a_late_tick_is_a_pause() {
        let pauses = Pauses::unwatched();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        pauses.record(at(1_000), at(3_000));
        assert_eq!(pauses.paused_since(at(0)), Duration::from_secs(2));
        assert_eq!(pauses.paused_since(at(2_500)), Duration::from_millis(500));
        assert_eq!(pauses.paused_since(at(4_000)), Duration::ZERO);

        let ticked = Pauses::unwatched();
        let last = ticked.state().last_tick;
        ticked.tick(last + PERIOD + Duration::from_millis(100));
        assert_eq!(ticked.paused_since(t0), Duration::ZERO, "100 ms late is noise");
        let last = ticked.state().last_tick;
        ticked.tick(last + PERIOD + Duration::from_secs(5));
        assert_eq!(ticked.paused_since(last), Duration::from_secs(5), "5 s late: paused");
    }
}
