//! Canonical JSON and the checksums made from it.
//!
//! A snapshot's checksum must survive storage: Postgres keeps `state_data` as JSONB,
//! which reorders keys and re-renders numbers; SQLite keeps the text. So the checksum
//! is never taken over stored text but over a canonical rendering of the parsed
//! value: object keys sorted (by their UTF-8 bytes), no whitespace, strings as
//! serde_json escapes them, integers as written, and every other number as Rust
//! renders an `f64` (the shortest text that reads back as the same value, no
//! exponent). Two texts of the same JSON value give the same canonical bytes.
//!
//! The checksum is `sha256:` and the hex SHA-256 of the canonical bytes of
//! `{"metadata": <metadata without "checksum">, "snapshot_type": <type>,
//! "state_data": <state>}`: a change to the state, the type, the parent link, the
//! version or the node breaks it.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::store::SnapshotType;

/// The canonical text of `value`.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                out.push_str(&n.as_f64().unwrap_or(0.0).to_string());
            }
        }
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write(&map[key], out);
            }
            out.push('}');
        }
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// The checksum of a snapshot: its type, its metadata (any `checksum` key left out)
/// and its state.
pub fn checksum(snapshot_type: SnapshotType, metadata: &Value, state_data: &Value) -> String {
    let mut metadata = metadata.clone();
    if let Value::Object(map) = &mut metadata {
        map.remove("checksum");
    }
    let mut covered = Map::new();
    covered.insert("metadata".into(), metadata);
    covered.insert("snapshot_type".into(), Value::String(snapshot_type.as_str().into()));
    covered.insert("state_data".into(), state_data.clone());
    sha256(canonical(&Value::Object(covered)).as_bytes())
}

/// `sha256:` and the first 16 hex digits of the canonical JSON of a configuration
/// (pass it redacted: no secret goes into a fingerprint).
pub fn fingerprint(config: &Value) -> String {
    let full = sha256(canonical(config).as_bytes());
    full[.."sha256:".len() + 16].to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_same_value_in_other_texts_has_one_canonical_form() {
        let a: Value =
            serde_json::from_str(r#"{"b": [1, 2.50, "x"], "a": {"z": null, "y": true}, "c": 1e-7}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"y":true,"z":null},"c":0.0000001,"b":[1,2.5,"x"]}"#).unwrap();
        assert_eq!(canonical(&a), canonical(&b));
        assert_eq!(canonical(&a), r#"{"a":{"y":true,"z":null},"b":[1,2.5,"x"],"c":0.0000001}"#);
    }

    #[test]
    fn the_checksum_ignores_a_stored_checksum_and_sees_every_other_change() {
        let state = json!({"n": 1});
        let meta = json!({"node_id": "a"});
        let sum = checksum(SnapshotType::Full, &meta, &state);
        assert!(sum.starts_with("sha256:") && sum.len() == 7 + 64, "{sum}");
        assert_eq!(sum, checksum(SnapshotType::Full, &json!({"node_id": "a", "checksum": "x"}), &state));
        assert_ne!(sum, checksum(SnapshotType::Auto, &meta, &state));
        assert_ne!(sum, checksum(SnapshotType::Full, &json!({"node_id": "b"}), &state));
        assert_ne!(sum, checksum(SnapshotType::Full, &meta, &json!({"n": 2})));
    }

    #[test]
    fn a_fingerprint_is_the_first_16_hex_digits_of_the_canonical_sha256() {
        // printf '%s' '{"a":1,"b":[true,null]}' | sha256sum → 1cc69c7fa23616ca…
        assert_eq!(fingerprint(&json!({"b": [true, null], "a": 1})), "sha256:1cc69c7fa23616ca");
        assert_ne!(fingerprint(&json!({"a": 2, "b": [true, null]})), fingerprint(&json!({"a": 1, "b": [true, null]})));
    }
}
