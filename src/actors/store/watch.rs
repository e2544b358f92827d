//! What the StoreActor sees of its store's health, for readiness: the calls in flight
//! (since when), and whether the latest calls failed.
//!
//! A store can answer `SELECT 1` at once while every statement that touches `jobs`
//! waits behind a lock: a node is then alive but makes no progress, and must say so.
//! So readiness looks at the real work: a call in flight for longer than the stall
//! limit, or calls failing with no success since, make the node unready.
//!
//! A full disk is told apart, and sooner: reads (and writes that fit in pages the
//! database already has) still succeed then, so calls do not all fail, yet every
//! write that needs room does. The node is unready, naming the disk, from the first
//! such failure until none has come for the stall limit.
//!
//! A call in flight while the process itself was paused (SIGSTOP, a frozen VM) has
//! waited that long too, through no fault of the store: the pause is taken out of its
//! wait ([`crate::pause`]) before it is judged, and said when it is.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::clock::SharedClock;
use crate::pause::Pauses;
use crate::store::{StoreError, StoreResult};

/// Shared between the StoreActor (which records) and the node (which asks).
#[derive(Clone)]
pub struct StoreWatch {
    inner: Arc<Inner>,
    clock: SharedClock,
    pauses: Arc<Pauses>,
}

struct Inner {
    next_id: AtomicU64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// When each call started, by the node's clock and by the monotonic one.
    in_flight: HashMap<u64, (DateTime<Utc>, Instant)>,
    last_ok: Option<DateTime<Utc>>,
    /// The latest failure, if it came after the latest success.
    failing: Option<(DateTime<Utc>, String)>,
    /// The latest write refused for a full disk, and why.
    disk_full: Option<(DateTime<Utc>, String)>,
}

impl StoreWatch {
    pub fn new(clock: SharedClock) -> Self {
        Self::with_pauses(clock, Pauses::global())
    }

    /// A watch that takes the pauses `pauses` knows of out of a call's wait.
    pub fn with_pauses(clock: SharedClock, pauses: Arc<Pauses>) -> Self {
        Self { inner: Arc::new(Inner { next_id: AtomicU64::new(0), state: Mutex::default() }), clock, pauses }
    }

    /// Notes a call starting; the returned guard notes its end.
    pub fn start(&self) -> CallGuard {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.state().in_flight.insert(id, (self.clock.now(), Instant::now()));
        CallGuard { watch: self.clone(), id, done: false }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Why the store is not doing its work, if it is not: a write refused for a full
    /// disk less than `stall` ago, a call in flight for `stall` or longer while this
    /// process ran, or failures with no success for `stall`.
    pub fn trouble(&self, stall: chrono::Duration) -> Option<String> {
        let now = self.clock.now();
        let state = self.state();
        if let Some((at, error)) = &state.disk_full
            && now - *at < stall
        {
            let ago = (now - *at).num_milliseconds();
            return Some(format!(
                "the database's disk is full: a write was refused for want of space {ago} ms ago ({error}); \
                 writes fail until space is freed"
            ));
        }
        if let Some((oldest, since)) = state.in_flight.values().min_by_key(|(at, _)| *at)
            && now - *oldest >= stall
        {
            let waited = now - *oldest;
            let paused = chrono::Duration::from_std(self.pauses.paused_since(*since)).unwrap_or_default();
            if waited - paused >= stall {
                let waited = waited.num_milliseconds();
                return Some(match paused.num_milliseconds() {
                    0 => format!("a store call has waited {waited} ms (is a table locked?)"),
                    p => format!(
                        "a store call has waited {waited} ms, {} of them on the store (is a table locked?) and {p} \
                         while this node was paused",
                        waited - p
                    ),
                });
            }
            // Not the store's doing: the node was paused (its own timers fired late) and
            // has just resumed; the call is judged again on what it waits from now on.
        }
        match &state.failing {
            Some((since, error)) if now - *since >= stall => {
                let for_ms = (now - *since).num_milliseconds();
                Some(format!("store calls have failed for {for_ms} ms, none succeeding: {error}"))
            }
            _ => None,
        }
    }
}

/// One call in flight; dropping it without [`CallGuard::finish`] counts as an end
/// without an outcome (the caller gave up).
pub struct CallGuard {
    watch: StoreWatch,
    id: u64,
    done: bool,
}

impl CallGuard {
    /// Notes the call's outcome.
    pub fn finish<T>(mut self, outcome: &StoreResult<T>) {
        let now = self.watch.clock.now();
        let mut state = self.watch.state();
        state.in_flight.remove(&self.id);
        match outcome {
            Ok(_) => {
                state.last_ok = Some(now);
                state.failing = None;
            }
            Err(e) => {
                if let StoreError::DiskFull(why) = e {
                    state.disk_full = Some((now, why.clone()));
                }
                if state.failing.is_none() {
                    state.failing = Some((now, e.to_string()));
                }
            }
        }
        self.done = true;
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if !self.done {
            self.watch.state().in_flight.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::clock::ManualClock;

    fn outcome(error: Option<StoreError>) -> StoreResult<()> {
        error.map_or(Ok(()), Err)
    }

    #[test]
    fn a_full_disk_is_trouble_at_once_despite_successes_until_it_stops_for_the_stall_limit() {
        let (watch, clock, _) = watch();
        let stall = chrono::Duration::milliseconds(1_000);
        let call = |error| watch.start().finish(&outcome(error));
        call(None);
        assert_eq!(watch.trouble(stall), None);

        call(Some(StoreError::DiskFull("(code: 13) database or disk is full".into())));
        call(None); // a read, or a write that needed no new page
        let trouble = watch.trouble(stall).expect("unready at once");
        assert!(trouble.starts_with("the database's disk is full") && trouble.contains("code: 13"), "{trouble}");
        clock.advance(Duration::from_millis(900));
        assert!(watch.trouble(stall).is_some(), "within the stall limit");
        call(Some(StoreError::DiskFull("again".into())));
        call(None);
        clock.advance(Duration::from_millis(900));
        assert!(watch.trouble(stall).is_some_and(|t| t.contains("again")), "the latest refusal counts");
        clock.advance(Duration::from_millis(100));
        assert_eq!(watch.trouble(stall), None, "none for the stall limit: ready again");

        // Other failures keep their own rule: only when nothing succeeds for as long.
        call(Some(StoreError::Database("connection reset".into())));
        assert_eq!(watch.trouble(stall), None);
    }

    fn watch() -> (StoreWatch, ManualClock, Arc<Pauses>) {
        let clock = ManualClock::starting_now();
        let pauses = Arc::new(Pauses::unwatched());
        (StoreWatch::with_pauses(Arc::new(clock.clone()), pauses.clone()), clock, pauses)
    }

    const STALL: chrono::Duration = chrono::Duration::seconds(5);

    #[test]
    fn a_call_waiting_past_the_stall_limit_is_blamed_on_the_store() {
        let (watch, clock, _) = watch();
        let _call = watch.start();
        clock.advance(Duration::from_millis(4_900));
        assert_eq!(watch.trouble(STALL), None);
        clock.advance(Duration::from_millis(200));
        assert_eq!(watch.trouble(STALL).as_deref(), Some("a store call has waited 5100 ms (is a table locked?)"));
    }

    /// A call in flight across a 20 s pause of the process: the pause is not the
    /// store's; what it waited beyond the pause is.
    #[test]
    fn the_time_the_process_was_paused_is_not_blamed_on_the_store() {
        let (watch, clock, pauses) = watch();
        let _call = watch.start();
        // Paused from before the call started until 20 s after (microseconds aside).
        let now = Instant::now();
        pauses.record(now - Duration::from_secs(1), now + Duration::from_secs(20));
        clock.advance(Duration::from_millis(20_134));
        assert_eq!(watch.trouble(STALL), None, "20 s of pause and 134 ms of waiting");
        clock.advance(Duration::from_secs(5));
        let said = watch.trouble(STALL).expect("5134 ms waited on the store");
        assert_eq!(
            said,
            "a store call has waited 25134 ms, 5134 of them on the store (is a table locked?) and 20000 while this \
             node was paused"
        );
    }
}
