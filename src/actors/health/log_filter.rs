//! Which health samples are worth a row. A sweep computes four metrics per worker
//! every `health.sweep_ms`; written every time, an idle node of four workers would add
//! 16 rows a second (1.4 million a day). A worker's metrics are written when one of
//! them moved meaningfully since its last row, and otherwise once every
//! `health.log_every_ms`, so an idle cluster writes almost nothing and a busy one
//! still shows every change.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// `heartbeat_latency_ms`, `error_rate`, `load`, `health_score`, in that order.
pub type Sample = [f64; 4];

/// A move smaller than this is noise: latency in milliseconds (or a fifth of the
/// last value, whichever is larger), the ratios and the score in hundredths.
fn moved(last: &Sample, now: &Sample) -> bool {
    let latency = (now[0] - last[0]).abs() >= f64::max(5.0, last[0].abs() / 5.0);
    latency || last[1..].iter().zip(&now[1..]).any(|(a, b)| (a - b).abs() >= 0.01)
}

/// The last sample written for each worker, and when.
#[derive(Debug, Default)]
pub struct LogFilter {
    last: HashMap<Uuid, (Sample, DateTime<Utc>)>,
}

impl LogFilter {
    /// Whether `sample` should be written now; if so it becomes the worker's last.
    pub fn due(&mut self, worker_id: Uuid, sample: Sample, now: DateTime<Utc>, every: chrono::Duration) -> bool {
        let due = match self.last.get(&worker_id) {
            None => true,
            Some((last, at)) => moved(last, &sample) || now - *at >= every,
        };
        if due {
            self.last.insert(worker_id, (sample, now));
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_first_samples_real_moves_and_the_periodic_row_are_due() {
        let mut filter = LogFilter::default();
        let (worker, start, every) = (Uuid::new_v4(), Utc::now(), chrono::Duration::seconds(60));
        let at = |s: i64| start + chrono::Duration::seconds(s);
        assert!(filter.due(worker, [1.0, 0.0, 0.1, 1.0], at(0), every), "the first sample");
        assert!(!filter.due(worker, [2.0, 0.0, 0.1, 1.0], at(1), every), "a millisecond of jitter");
        assert!(!filter.due(worker, [1.0, 0.004, 0.1, 0.995], at(2), every), "under a hundredth");
        assert!(filter.due(worker, [1.0, 0.0, 0.3, 1.0], at(3), every), "the load moved");
        assert!(filter.due(worker, [9.0, 0.0, 0.3, 1.0], at(4), every), "the latency moved 8 ms");
        assert!(!filter.due(worker, [9.0, 0.0, 0.3, 1.0], at(63), every));
        assert!(filter.due(worker, [9.0, 0.0, 0.3, 1.0], at(64), every), "once a minute regardless");
        assert!(filter.due(Uuid::new_v4(), [9.0, 0.0, 0.3, 1.0], at(64), every), "each worker its own");
    }
}
