//! Time, injected. Backoff, timeouts, leases, heartbeats, the poll, the drain's grace
//! and the retry of a failed write all read a [`Clock`], and the waits among them go
//! through [`Clock::sleep`], so tests drive them with a [`ManualClock`] instead of
//! sleeping.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use tokio::sync::oneshot;

/// A source of the current time, shared by every actor of a node.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;

    /// Resolves once this clock has moved `d` past now.
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()>;
}

/// A shared clock handle, as actors hold it.
pub type SharedClock = Arc<dyn Clock>;

/// The wall clock, for production.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A clock that moves only when told to, for tests and simulations. Its sleeps end
/// when [`ManualClock::advance`] or [`ManualClock::set`] moves it past their end.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
    /// Sleeps not yet over: when each ends, and whom to tell.
    sleepers: Arc<Mutex<Vec<Sleeper>>>,
}

/// A sleep of a [`ManualClock`]: when it ends, and whom to tell.
type Sleeper = (DateTime<Utc>, oneshot::Sender<()>);

impl ManualClock {
    /// A clock standing at `start`. Postgres keeps microseconds, so the start is
    /// truncated to them: a time written and read back compares equal.
    pub fn new(start: DateTime<Utc>) -> Self {
        let micros = start.timestamp_micros();
        let start = DateTime::from_timestamp_micros(micros).unwrap_or(start);
        Self { now: Arc::new(Mutex::new(start)), sleepers: Arc::default() }
    }

    /// A clock standing at the current wall-clock time.
    pub fn starting_now() -> Self {
        Self::new(Utc::now())
    }

    /// Moves the clock forward by `by`, ending the sleeps it passes.
    pub fn advance(&self, by: Duration) {
        let to = {
            let mut now = self.now.lock().expect("clock mutex poisoned");
            *now += chrono::Duration::from_std(by).expect("duration out of range");
            *now
        };
        self.wake_until(to);
    }

    /// Sets the clock to `to`, ending the sleeps it passes.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().expect("clock mutex poisoned") = to;
        self.wake_until(to);
    }

    fn wake_until(&self, now: DateTime<Utc>) {
        let mut sleepers = self.sleepers.lock().expect("clock mutex poisoned");
        let (due, later): (Vec<_>, Vec<_>) = sleepers.drain(..).partition(|(end, _)| *end <= now);
        *sleepers = later;
        for (_, wake) in due {
            let _ = wake.send(()); // the sleeper may have been dropped
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("clock mutex poisoned")
    }

    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        let end = after(self.now(), d);
        let (wake, woken) = oneshot::channel();
        if end <= self.now() {
            return Box::pin(async {});
        }
        self.sleepers.lock().expect("clock mutex poisoned").push((end, wake));
        // A clock dropped with sleepers pending ends them: nothing could move it again.
        Box::pin(async move {
            let _ = woken.await;
        })
    }
}

/// `now + d`, saturating instead of panicking on absurd durations.
pub fn after(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d).ok().and_then(|d| now.checked_add_signed(d)).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::starting_now();
        let t0 = clock.now();
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now() - t0, chrono::Duration::milliseconds(1500));
    }

    #[tokio::test]
    async fn manual_sleeps_end_when_the_clock_passes_them() {
        use futures::FutureExt;
        let clock = ManualClock::starting_now();
        let mut short = clock.sleep(Duration::from_secs(1));
        let mut long = clock.sleep(Duration::from_secs(10));
        assert!((&mut short).now_or_never().is_none(), "not before the clock moves");
        clock.advance(Duration::from_millis(999));
        assert!((&mut short).now_or_never().is_none());
        clock.advance(Duration::from_millis(1));
        assert!(short.now_or_never().is_some(), "over once the clock reaches its end");
        assert!((&mut long).now_or_never().is_none(), "the long one still waits");
        clock.advance(Duration::from_secs(9));
        assert!(long.now_or_never().is_some());
        assert!(clock.sleep(Duration::ZERO).now_or_never().is_some(), "a zero sleep is over at once");
    }
}
