//! Refused mailbox entries, logged without flooding the log: the first of each kind in
//! an interval is logged in full, the rest are counted and summed up in one line when
//! the interval is over (with the latest reason). A flood of 20,000 malformed entries
//! is then a handful of lines, not 20,000; the counter `aeon_mailbox_rejected_total`
//! still counts every one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the entries after a refusal logged in full are only counted.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Why an entry was refused, as the log groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// An envelope of a version this build does not read (a newer node's).
    Version,
    /// Not an envelope (not JSON, a field missing or unknown, too large).
    Malformed,
    /// A request whose `from` names no member of the cluster.
    UnknownSender,
    /// A request read after its deadline, by an actor that does not act late.
    Expired,
}

impl Refusal {
    fn what(self) -> &'static str {
        match self {
            Refusal::Version => "mailbox entries of a version this build does not read refused and acknowledged",
            Refusal::Malformed => "malformed mailbox entries refused and acknowledged",
            Refusal::UnknownSender => "requests from no known node refused and acknowledged",
            Refusal::Expired => "requests read after their deadline refused and acknowledged",
        }
    }
}

/// What to log for a refusal: the refusal in full, or nothing (it is counted); and the
/// sum of an earlier interval that this one closed.
#[derive(Debug, PartialEq, Eq)]
pub struct Verdict {
    pub in_full: bool,
    pub closed: Option<Summary>,
}

/// The refusals of one kind counted, not logged, over an interval.
#[derive(Debug, PartialEq, Eq)]
pub struct Summary {
    pub kind: Refusal,
    pub count: u64,
    pub latest: String,
    pub over: Duration,
}

struct Window {
    since: Instant,
    counted: u64,
    latest: String,
}

/// See the module docs. The decisions take `now`, so that they can be tested without
/// waiting; [`RefusalLog::refused`] and [`RefusalLog::flush`] log with the real time.
pub struct RefusalLog {
    interval: Duration,
    windows: Mutex<HashMap<Refusal, Window>>,
}

impl Default for RefusalLog {
    fn default() -> Self {
        Self::new(REFUSAL_LOG_INTERVAL)
    }
}

impl RefusalLog {
    pub fn new(interval: Duration) -> Self {
        Self { interval, windows: Mutex::default() }
    }

    fn windows(&self) -> std::sync::MutexGuard<'_, HashMap<Refusal, Window>> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a refusal of `kind` for `reason` at `now`.
    pub fn note(&self, kind: Refusal, reason: &str, now: Instant) -> Verdict {
        let mut windows = self.windows();
        match windows.get_mut(&kind) {
            Some(window) if now.duration_since(window.since) < self.interval => {
                window.counted += 1;
                reason.clone_into(&mut window.latest);
                Verdict { in_full: false, closed: None }
            }
            _ => {
                let open = Window { since: now, counted: 0, latest: String::new() };
                let closed = windows.insert(kind, open).and_then(|w| summary(kind, w, now));
                Verdict { in_full: true, closed }
            }
        }
    }

    /// Closes the intervals that are over at `now`, answering the sums of those that
    /// counted anything.
    pub fn due(&self, now: Instant) -> Vec<Summary> {
        let mut windows = self.windows();
        let over: Vec<Refusal> =
            windows.iter().filter(|(_, w)| now.duration_since(w.since) >= self.interval).map(|(k, _)| *k).collect();
        over.into_iter().filter_map(|kind| summary(kind, windows.remove(&kind)?, now)).collect()
    }

    /// Logs a refusal (in full, or counted), and the sum of an interval it closed.
    pub fn refused(&self, kind: Refusal, entry: &str, from: Option<&str>, reason: &str) {
        let verdict = self.note(kind, reason, Instant::now());
        if let Some(summary) = verdict.closed {
            log(&summary);
        }
        if verdict.in_full {
            let from = from.unwrap_or("-");
            tracing::warn!(%entry, %from, %reason, kind = ?kind,
                "mailbox entry refused and acknowledged (more of this kind within {} s are counted, then summed up)",
                self.interval.as_secs());
        }
    }

    /// Logs the sums of the intervals that are over (the mailbox reader calls it).
    pub fn flush(&self) {
        for summary in self.due(Instant::now()) {
            log(&summary);
        }
    }
}

fn summary(kind: Refusal, window: Window, now: Instant) -> Option<Summary> {
    (window.counted > 0).then(|| Summary {
        kind,
        count: window.counted,
        latest: window.latest,
        over: now.duration_since(window.since),
    })
}

fn log(summary: &Summary) {
    tracing::warn!(count = summary.count, latest = %summary.latest, kind = ?summary.kind,
        "{} more {} in the last {} ms", summary.count, summary.kind.what(), summary.over.as_millis());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_refusal_is_logged_in_full_the_rest_of_its_interval_summed_up_once() {
        let log = RefusalLog::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(log.note(Refusal::Malformed, "r0", at(0)), Verdict { in_full: true, closed: None });
        for i in 1..20_000u64 {
            let verdict = log.note(Refusal::Malformed, &format!("r{i}"), at(i / 4));
            assert_eq!(verdict, Verdict { in_full: false, closed: None }, "refusal {i} is counted, not logged");
        }
        // Another kind has an interval of its own.
        assert!(log.note(Refusal::UnknownSender, "nobody", at(100)).in_full);
        assert!(log.due(at(9_999)).is_empty(), "nothing is over yet");
        let due = log.due(at(10_000));
        assert_eq!(
            due,
            vec![Summary {
                kind: Refusal::Malformed,
                count: 19_999,
                latest: "r19999".into(),
                over: Duration::from_secs(10)
            }]
        );
        assert!(log.due(at(10_050)).is_empty(), "summed up once");
        assert!(log.note(Refusal::Malformed, "again", at(10_100)).in_full, "a new interval starts in full");
    }

    #[test]
    fn a_refusal_after_the_interval_closes_it_and_an_interval_that_counted_nothing_says_nothing() {
        let log = RefusalLog::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(log.note(Refusal::Expired, "late", t0).in_full);
        assert!(!log.note(Refusal::Expired, "late too", t0 + Duration::from_secs(1)).in_full);
        let verdict = log.note(Refusal::Expired, "later", t0 + Duration::from_secs(11));
        assert!(verdict.in_full);
        assert_eq!(verdict.closed.map(|s| (s.count, s.latest)), Some((1, "late too".to_string())));
        assert!(log.due(t0 + Duration::from_secs(30)).is_empty(), "the new interval counted nothing");
    }
}
