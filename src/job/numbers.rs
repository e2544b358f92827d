//! Numbers in submitted JSON are kept exactly, or refused: never changed.
//!
//! serde_json reads a number into a `u64`, an `i64` or an `f64`. A literal that none of
//! them holds exactly (`1180591620717411303424`, `1.00000000000000000001`, `1e400`)
//! would be stored and returned as another number without a word. [`inexact_number`]
//! scans the raw request text for such literals before it is parsed, so the request is
//! refused with the path of the first one (`payload.amount`, `jobs[2].payload.x[3]`).
//!
//! Why refuse at the door rather than turn on serde_json's `arbitrary_precision`:
//! that feature is global to the build (every crate that uses serde_json gets it),
//! changes how `Value` holds numbers (serde's `flatten` and untagged enums then see
//! numbers as maps), and each backend would have to keep the digits through its JSON
//! functions (SQLite's read large numbers as REAL). A check at the door keeps the one
//! JSON model the whole runtime uses and makes the promise easy to state and test:
//! what is accepted is stored and returned as the same number. A value written `1e2`
//! comes back as `100.0` — the same number, spelled as serde_json spells it.
//!
//! The comparison is between decimal values (sign, significant digits, exponent), so
//! it does not depend on spelling. Parsing uses serde_json's `float_roundtrip`
//! feature (see `Cargo.toml`): without it a 17-digit double may be read one unit in
//! the last place off, and a number that fits would be refused.

/// The first number literal in `json` that serde_json would not keep exactly: its
/// path (`payload.x[3]`; `body` at the top level) and its text. `None` when every
/// number fits, and also when the text is not JSON (the parser reports that).
pub fn inexact_number(json: &[u8]) -> Option<(String, String)> {
    let mut scanner = Scanner { bytes: json, at: 0, frames: Vec::new() };
    scanner.run().ok().flatten()
}

/// Why a literal was refused, for the error message.
pub fn inexact_reason(literal: &str) -> String {
    let shown = if literal.len() > 40 { format!("{}…", &literal[..40]) } else { literal.to_string() };
    format!(
        "the number {shown} cannot be stored exactly: numbers must fit a 64-bit integer or a double \
         (send it as a string to keep every digit)"
    )
}

/// Whether serde_json reads `literal` and writes back the same decimal value.
fn survives(literal: &str) -> bool {
    match serde_json::from_str::<serde_json::Number>(literal) {
        Ok(n) => decimal(literal) == decimal(&n.to_string()),
        Err(_) => false, // out of range (`1e400`)
    }
}

/// A decimal number as (negative, significant digits, exponent): the value is
/// `0.DIGITS × 10^exponent`, digits without leading or trailing zeros; zero is
/// `(false, "", 0)` whatever its sign or spelling.
fn decimal(literal: &str) -> (bool, String, i64) {
    let (negative, rest) = match literal.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, literal),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], parse_exponent(&rest[i + 1..])),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = int.chars().chain(frac.chars()).collect();
    let mut point = exponent.saturating_add(int.len() as i64);
    let leading = digits.len() - digits.trim_start_matches('0').len();
    point = point.saturating_sub(leading as i64);
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    if significant.is_empty() {
        return (false, String::new(), 0);
    }
    (negative, significant.to_string(), point)
}

/// An exponent's value, saturated (`e99999999999999999999` is merely very large).
fn parse_exponent(text: &str) -> i64 {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = digits.bytes().fold(0i64, |n, d| n.saturating_mul(10).saturating_add(i64::from(d - b'0')));
    if negative { -magnitude } else { magnitude }
}

/// Where the scanner is: inside an object (the current key, if read) or an array (the
/// current index).
enum Frame {
    Object { key: Option<String>, expecting_key: bool },
    Array { index: usize },
}

/// Not JSON: stop scanning and let the parser say what is wrong.
struct NotJson;

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    frames: Vec<Frame>,
}

impl Scanner<'_> {
    /// Walks the text once, iteratively (deep nesting cannot overflow the stack).
    fn run(&mut self) -> Result<Option<(String, String)>, NotJson> {
        while let Some(&b) = self.bytes.get(self.at) {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | b':' => self.at += 1,
                b'{' => {
                    self.frames.push(Frame::Object { key: None, expecting_key: true });
                    self.at += 1;
                }
                b'[' => {
                    self.frames.push(Frame::Array { index: 0 });
                    self.at += 1;
                }
                b'}' | b']' => {
                    self.frames.pop().ok_or(NotJson)?;
                    self.at += 1;
                }
                b',' => {
                    match self.frames.last_mut().ok_or(NotJson)? {
                        Frame::Object { expecting_key, .. } => *expecting_key = true,
                        Frame::Array { index } => *index += 1,
                    }
                    self.at += 1;
                }
                b'"' => {
                    let end = self.string_end()?;
                    if let Some(Frame::Object { key, expecting_key: expecting @ true }) = self.frames.last_mut() {
                        *key = Some(serde_json::from_slice(&self.bytes[self.at..end]).map_err(|_| NotJson)?);
                        *expecting = false;
                    }
                    self.at = end;
                }
                b'-' | b'0'..=b'9' => {
                    let start = self.at;
                    while self.bytes.get(self.at).is_some_and(|b| b"+-.eE0123456789".contains(b)) {
                        self.at += 1;
                    }
                    let literal = std::str::from_utf8(&self.bytes[start..self.at]).map_err(|_| NotJson)?;
                    if !survives(literal) {
                        return Ok(Some((self.path(), literal.to_string())));
                    }
                }
                b't' | b'f' | b'n' => {
                    while self.bytes.get(self.at).is_some_and(u8::is_ascii_lowercase) {
                        self.at += 1;
                    }
                }
                _ => return Err(NotJson),
            }
        }
        Ok(None)
    }

    /// The index just past the string that starts at `self.at` (its closing quote).
    fn string_end(&self) -> Result<usize, NotJson> {
        let mut i = self.at + 1;
        while let Some(&b) = self.bytes.get(i) {
            match b {
                b'\\' => i += 2,
                b'"' => return Ok(i + 1),
                _ => i += 1,
            }
        }
        Err(NotJson)
    }

    /// The path of the value being read: `jobs[2].payload.x[3]`.
    fn path(&self) -> String {
        let mut path = String::new();
        for frame in &self.frames {
            match frame {
                Frame::Object { key: Some(key), .. } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Frame::Object { key: None, .. } => {}
                Frame::Array { index } => path.push_str(&format!("[{index}]")),
            }
        }
        if path.is_empty() { "body".to_string() } else { path }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_that_fit_pass_whatever_their_spelling() {
        for literal in [
            "0",
            "-0",
            "0.0",
            "1e2",
            "100",
            "1E+2",
            "0.1",
            "-2.5e-3",
            "18446744073709551615",
            "-9223372036854775808",
            "9007199254740993",
            "1.7976931348623157e308",
            "5e-324",
            "2.225073858507201e-308",
            "0.30000000000000004",
            "123456.789e-3",
            "0.000123E5",
        ] {
            assert!(survives(literal), "{literal} fits");
        }
    }

    #[test]
    fn numbers_that_would_change_are_found_with_their_path() {
        for literal in [
            "1180591620717411303424",
            "18446744073709551616",
            "-9223372036854775809",
            "1.00000000000000000001",
            "1e400",
            "1e-400",
            "0.1000000000000000055511151231257827",
            // The same double as 2.225073858507201e-308, but not the same decimal.
            "2.2250738585072011e-308",
        ] {
            assert!(!survives(literal), "{literal} would change");
        }
        let body = br#"{"jobs": [{"type": "a", "payload": 1}, {"type": "b"},
            {"type": "c", "payload": {"x": [1, 2.5, "1e999", 1.00000000000000000001]}}]}"#;
        assert_eq!(inexact_number(body), Some(("jobs[2].payload.x[3]".into(), "1.00000000000000000001".into())));
        let body = br#"{"type":"t","payload":{"a\"b":{"amount": 1180591620717411303424}}}"#;
        assert_eq!(inexact_number(body), Some(("payload.a\"b.amount".into(), "1180591620717411303424".into())));
        assert_eq!(inexact_number(b"1e400"), Some(("body".into(), "1e400".into())));
        assert_eq!(inexact_number(br#"{"a": [[], {}, 1e2, true, null, "x\\"]}"#), None);
        assert_eq!(inexact_number(b"{\"a\": [1e400"), Some(("a[0]".into(), "1e400".into())));
        assert_eq!(inexact_number(b"{\"a\": @}"), None, "not JSON: the parser says so");
    }
}
