//! How the SQLite backend writes and reads the values SQLite has no type for: times,
//! UUIDs, JSON and Postgres's NUMERIC roundings. Every value crosses through here, so
//! there is one encoding of each and the schema's promises (text order = time order,
//! text order = UUID order) hold everywhere.
//!
//! sqlx's own encodings are deliberately not used: its SQLite `Uuid` is a 16-byte BLOB
//! and its `DateTime` text has no fixed width, either of which would make comparisons
//! in SQL silently wrong.

use chrono::{DateTime, Datelike, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::store::{StoreError, StoreResult};

/// The earliest and latest times the fixed-width text can hold (four-digit years).
const FLOOR: &str = "0000-01-01T00:00:00.000000Z";
const CEILING: &str = "9999-12-31T23:59:59.999999Z";

/// A time as stored: RFC 3339 UTC with exactly six fractional digits and `Z`, so that
/// comparing the text compares the times. Nanoseconds are truncated to microseconds,
/// as sqlx does when it sends a time to Postgres. A time outside years 0..=9999 (only
/// a saturated `now + absurd duration` can be) is stored as the nearest end.
pub fn time(at: DateTime<Utc>) -> String {
    match at.year() {
        y if y < 0 => FLOOR.to_string(),
        y if y > 9999 => CEILING.to_string(),
        _ => at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    }
}

/// [`time`] of an optional time.
pub fn opt_time(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(time)
}

/// Reads a stored time back.
pub fn parse_time(text: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("unreadable time {text:?}: {e}")))
}

/// Reads a stored UUID back (lowercase hyphenated text).
pub fn parse_uuid(text: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(text).map_err(|e| StoreError::Corrupt(format!("unreadable UUID {text:?}: {e}")))
}

/// Reads stored JSON text back.
pub fn parse_json(text: &str) -> StoreResult<Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("unreadable JSON: {e}")))
}

/// UUIDs as the text the schema stores, for `IN (SELECT value FROM json_each(?))`.
pub fn uuid_list(ids: impl IntoIterator<Item = Uuid>) -> String {
    Value::Array(ids.into_iter().map(|id| Value::String(id.to_string())).collect()).to_string()
}

/// Rounds `x` to `places` decimals as Postgres does when a `float8` becomes
/// `NUMERIC(p, places)`: it first writes the float with 15 significant digits, then
/// rounds that decimal half away from zero. (Rounding the binary float directly would
/// differ: 0.285 is 0.28499999… in binary and would round down, Postgres says 0.29.)
pub fn round_decimal(x: f64, places: i32) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return if x.is_finite() { 0.0 } else { x };
    }
    // `d.dddddddddddddde±x`: 15 significant digits, like C's `%.15g`.
    let written = format!("{:.14e}", x.abs());
    let Some((mantissa, exponent)) = written.split_once('e') else { return x };
    let Ok(exponent) = exponent.parse::<i32>() else { return x };
    let digits: Vec<u64> = mantissa.bytes().filter(u8::is_ascii_digit).map(|b| u64::from(b - b'0')).collect();
    // The value is 0.d1d2…d15 × 10^(exponent + 1): keep the digits down to 10^-places.
    let keep = exponent + 1 + places;
    let magnitude = if keep < 0 {
        0.0
    } else if keep as usize >= digits.len() {
        written.parse::<f64>().unwrap_or(x.abs())
    } else {
        let keep = keep as usize;
        let kept = digits[..keep].iter().fold(0u64, |n, d| n * 10 + d) + u64::from(digits[keep] >= 5);
        format!("{kept}e-{places}").parse::<f64>().unwrap_or(x.abs())
    };
    if magnitude == 0.0 { 0.0 } else { magnitude.copysign(x) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_fixed_width_and_round_trip_to_the_microsecond() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T00:11:12.123456789Z").unwrap().with_timezone(&Utc);
        assert_eq!(time(at), "2026-12-01T00:11:12.123456Z");
        let whole = DateTime::parse_from_rfc3339("2026-12-01T00:11:12Z").unwrap().with_timezone(&Utc);
        assert_eq!(time(whole), "2026-12-01T00:11:12.000000Z");
        let micros = DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap();
        assert_eq!(parse_time(&time(micros)).unwrap(), micros);
        assert_eq!(time(DateTime::<Utc>::MAX_UTC), CEILING);
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn decimals_round_as_postgres_numeric_does() {
        assert_eq!(round_decimal(0.456, 2), 0.46);
        assert_eq!(round_decimal(0.285, 2), 0.29);
        assert_eq!(round_decimal(0.125, 2), 0.13);
        assert_eq!(round_decimal(0.004, 2), 0.0);
        assert_eq!(round_decimal(0.005, 2), 0.01);
        assert_eq!(round_decimal(1.0, 2), 1.0);
        assert_eq!(round_decimal(-1.23456, 4), -1.2346);
        assert_eq!(round_decimal(999_999.999_9, 4), 999_999.999_9);
        assert_eq!(round_decimal(1e-9, 4), 0.0);
    }
}
