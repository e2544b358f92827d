//! Envelopes: what travels in a mailbox entry. Typed and versioned (serde JSON): an
//! entry of another version, or one that does not parse, is [`Rejected`] with the
//! reason; the receiver logs it, counts it and acknowledges it, so it never blocks the
//! mailbox.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The envelope version this build writes and reads.
pub const ENVELOPE_VERSION: u32 = 1;

/// Entries larger than this are refused unread (a mailbox carries commands, not data).
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;

/// One message between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// [`ENVELOPE_VERSION`] when written by this build.
    pub v: u32,
    /// Unique per message (a request's replies name it).
    pub id: Uuid,
    /// The sending node.
    pub from: String,
    pub sent_at: DateTime<Utc>,
    pub body: Body,
}

/// What an envelope says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Body {
    /// Jobs may be ready: claim now rather than at the next poll. A hint. (Braced:
    /// serde lets a unit variant of a tagged enum take any field; this one takes none.)
    Wake {},
    /// Ask the actor named `actor` on the receiving node; the answer comes back to
    /// `from` as a [`Body::Reply`] naming this envelope's id.
    Request { actor: String, message: serde_json::Value },
    /// The answer to request `request_id`: the actor's reply, or why there is none.
    Reply { request_id: Uuid, answer: Result<serde_json::Value, String> },
}

/// Why an entry was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("envelope version {0} is not {ENVELOPE_VERSION}")]
    Version(u64),
    #[error("malformed envelope: {0}")]
    Malformed(String),
}

impl Envelope {
    /// A new envelope from `from`, stamped now.
    pub fn new(from: &str, body: Body) -> Self {
        Envelope { v: ENVELOPE_VERSION, id: Uuid::now_v7(), from: from.to_string(), sent_at: Utc::now(), body }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope serializes")
    }

    /// Reads an entry: the version first (so that a newer build's message is refused
    /// as such, whatever its shape), then the rest.
    pub fn decode(data: &[u8]) -> Result<Envelope, Rejected> {
        if data.is_empty() {
            return Err(Rejected::Malformed("no envelope: the entry's `e` field is missing or empty".into()));
        }
        if data.len() > MAX_ENVELOPE_BYTES {
            return Err(Rejected::Malformed(format!("{} bytes, over {MAX_ENVELOPE_BYTES}", data.len())));
        }
        #[derive(Deserialize)]
        struct Version {
            v: Option<serde_json::Value>,
        }
        let version: Version = serde_json::from_slice(data).map_err(|e| Rejected::Malformed(e.to_string()))?;
        match version.v {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(ENVELOPE_VERSION as u64) => {}
            Some(serde_json::Value::Number(n)) if n.as_u64().is_some() => {
                return Err(Rejected::Version(n.as_u64().unwrap_or_default()));
            }
            Some(other) => return Err(Rejected::Malformed(format!("v: {other} is not a version number"))),
            None => return Err(Rejected::Malformed("no version (v)".into())),
        }
        serde_json::from_slice(data).map_err(|e| Rejected::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_reads_back_as_written() {
        let envelope = Envelope::new("a", Body::Request { actor: "x".into(), message: serde_json::json!({"n": 1}) });
        assert_eq!(Envelope::decode(&envelope.encode()).unwrap(), envelope);
    }

    #[test]
    fn another_version_and_garbage_are_refused_with_the_reason() {
        let mut envelope = serde_json::to_value(Envelope::new("a", Body::Wake {})).unwrap();
        envelope["v"] = 2.into();
        let data = serde_json::to_vec(&envelope).unwrap();
        assert_eq!(Envelope::decode(&data), Err(Rejected::Version(2)));
        assert!(matches!(Envelope::decode(b"not json"), Err(Rejected::Malformed(_))));
        assert!(matches!(Envelope::decode(br#"{"v":1,"kind":"wake"}"#), Err(Rejected::Malformed(_))));
        assert!(matches!(Envelope::decode(br#"{"v":"1"}"#), Err(Rejected::Malformed(_))));
        let empty = Rejected::Malformed("no envelope: the entry's `e` field is missing or empty".into());
        assert_eq!(Envelope::decode(b""), Err(empty), "not \"EOF while parsing\"");
    }

    #[test]
    fn a_field_this_build_does_not_know_is_refused_in_the_envelope_and_in_its_body() {
        let wake = serde_json::to_value(Envelope::new("a", Body::Wake {})).unwrap();
        let request = Body::Request { actor: "x".into(), message: 1.into() };
        let request = serde_json::to_value(Envelope::new("a", request)).unwrap();
        for (at, mut forged) in [("envelope", wake.clone()), ("wake", wake), ("request", request)] {
            match at {
                "envelope" => forged["extra"] = 1.into(),
                _ => forged["body"]["extra"] = 1.into(),
            }
            let refused = Envelope::decode(&serde_json::to_vec(&forged).unwrap());
            assert!(
                matches!(&refused, Err(Rejected::Malformed(why)) if why.contains("unknown field `extra`")),
                "{at}: {refused:?}"
            );
        }
    }

    #[test]
    fn an_entry_over_64_kib_is_refused_unread_and_one_at_the_limit_is_read() {
        let sized = |bytes: usize| {
            let mut envelope = Envelope::new("a", Body::Request { actor: "x".into(), message: "".into() });
            let room = bytes - envelope.encode().len();
            envelope.body = Body::Request { actor: "x".into(), message: "y".repeat(room).into() };
            let data = envelope.encode();
            assert_eq!(data.len(), bytes);
            (envelope, data)
        };
        let (at_limit, data) = sized(MAX_ENVELOPE_BYTES);
        assert_eq!(Envelope::decode(&data), Ok(at_limit));
        let (_, data) = sized(MAX_ENVELOPE_BYTES + 1);
        let over = format!("{} bytes, over {MAX_ENVELOPE_BYTES}", MAX_ENVELOPE_BYTES + 1);
        assert_eq!(Envelope::decode(&data), Err(Rejected::Malformed(over)));
    }
}
