//! Retry timing: exponential backoff with jitter.
//!
//! Attempt `n` (1-based) that fails is retried after `base * 2^(n-1)`, capped at `max`,
//! plus a random extra of up to `jitter` times that delay, so that jobs which failed
//! together do not all come back in the same instant.

use std::time::Duration;

use rand::Rng;

pub use crate::config::BackoffPolicy;

impl BackoffPolicy {
    /// The exponential part of the delay after failed attempt `attempt` (1-based).
    pub fn base_delay(&self, attempt: i32) -> Duration {
        let exponent = attempt.saturating_sub(1).clamp(0, 62) as u32;
        let ms = self.base_ms.saturating_mul(1u64 << exponent).min(self.max_ms);
        Duration::from_millis(ms)
    }

    /// The full delay: the exponential part plus jitter drawn from `rng`.
    pub fn delay<R: Rng + ?Sized>(&self, attempt: i32, rng: &mut R) -> Duration {
        let base = self.base_delay(attempt);
        let extra = if self.jitter > 0.0 { base.mul_f64(self.jitter * rng.random::<f64>()) } else { Duration::ZERO };
        base + extra
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn delays_double_and_stop_at_the_cap() {
        let p = BackoffPolicy { base_ms: 100, max_ms: 1_000, jitter: 0.0 };
        let ms: Vec<u128> = (1..=6).map(|a| p.base_delay(a).as_millis()).collect();
        assert_eq!(ms, vec![100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(p.base_delay(10_000).as_millis(), 1_000, "huge attempts must not overflow");
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let p = BackoffPolicy { base_ms: 1_000, max_ms: 60_000, jitter: 0.5 };
        let mut rng = StdRng::seed_from_u64(7);
        let delays: Vec<Duration> = (0..200).map(|_| p.delay(3, &mut rng)).collect();
        assert!(delays.iter().all(|d| *d >= Duration::from_secs(4) && *d <= Duration::from_secs(6)));
        assert!(delays.iter().any(|d| *d != delays[0]), "jitter must vary the delay");
    }
}
