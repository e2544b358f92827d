//! Envelopes: what travels in a mailbox entry. Typed and versioned (serde JSON): an
//! entry of a version this build does not read, or one that does not parse, is
//! [`Rejected`] with the reason; the receiver logs it, counts it and acknowledges it,
//! so it never blocks the mailbox.
//!
//! **Versions.** Version 1 is what every release reads. Version 2 adds what a request
//! may say beside its message: its `deadline` and its `origin`. A release before
//! version 2 refuses an entry of version 2 (and any field it does not know), so an
//! envelope is written in the oldest version that holds what it says
//! ([`Envelope::new`]): wake-ups, replies and requests without a deadline stay
//! version 1, and a sender puts a deadline on a request only for a node that announced
//! it reads version 2 (`docs/cluster.md`, *Envelope versions*).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The newest envelope version this build reads and writes.
pub const ENVELOPE_VERSION: u32 = 2;

/// The oldest envelope version this build reads (what every release reads).
pub const OLDEST_ENVELOPE_VERSION: u32 = 1;

/// Entries larger than this are refused unread (a mailbox carries commands, not data).
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;

/// The longest `origin` a request may carry (it is only for the receiver's log).
pub const MAX_ORIGIN_CHARS: usize = 200;

/// One message between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// 1, or 2 when the body says what only version 2 can ([`Envelope::new`]).
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
    Request {
        actor: String,
        message: serde_json::Value,
        /// Version 2: when the asker stops waiting for the answer. A request read
        /// after it is handled as its actor says (a cancel is still applied, a drain
        /// is not: `crate::cluster::Late`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline: Option<DateTime<Utc>>,
        /// Version 2: who asked the asker (an HTTP caller's address), for the
        /// receiver's log. At most [`MAX_ORIGIN_CHARS`] characters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin: Option<String>,
    },
    /// The answer to request `request_id`: the actor's reply, or why there is none.
    Reply { request_id: Uuid, answer: Result<serde_json::Value, String> },
}

impl Body {
    /// A request with neither deadline nor origin (version 1).
    pub fn request(actor: &str, message: serde_json::Value) -> Body {
        Body::Request { actor: actor.to_string(), message, deadline: None, origin: None }
    }

    /// The oldest envelope version that can carry this body.
    fn version(&self) -> u32 {
        match self {
            Body::Request { deadline, origin, .. } if deadline.is_some() || origin.is_some() => 2,
            _ => OLDEST_ENVELOPE_VERSION,
        }
    }
}

/// Why an entry was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("envelope version {0} is not one this build reads ({OLDEST_ENVELOPE_VERSION} to {ENVELOPE_VERSION})")]
    Version(u64),
    #[error("malformed envelope: {0}")]
    Malformed(String),
}

impl Envelope {
    /// A new envelope from `from`, stamped now, in the oldest version that carries
    /// `body` (so that a node of an older release reads it whenever it can).
    pub fn new(from: &str, body: Body) -> Self {
        Envelope { v: body.version(), id: Uuid::now_v7(), from: from.to_string(), sent_at: Utc::now(), body }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope serializes")
    }

    /// Reads an entry: the version first (so that a newer build's message is refused
    /// as such, whatever its shape), then the rest; version 1 may not carry what only
    /// version 2 says.
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
        let readable = OLDEST_ENVELOPE_VERSION as u64..=ENVELOPE_VERSION as u64;
        match version.v {
            Some(serde_json::Value::Number(n)) if n.as_u64().is_some_and(|v| readable.contains(&v)) => {}
            Some(serde_json::Value::Number(n)) if n.as_u64().is_some() => {
                return Err(Rejected::Version(n.as_u64().unwrap_or_default()));
            }
            Some(other) => return Err(Rejected::Malformed(format!("v: {other} is not a version number"))),
            None => return Err(Rejected::Malformed("no version (v)".into())),
        }
        let envelope: Envelope = serde_json::from_slice(data).map_err(|e| Rejected::Malformed(e.to_string()))?;
        if let Body::Request { origin: Some(origin), .. } = &envelope.body
            && origin.chars().count() > MAX_ORIGIN_CHARS
        {
            return Err(Rejected::Malformed(format!("origin: over {MAX_ORIGIN_CHARS} characters")));
        }
        if envelope.body.version() > envelope.v {
            return Err(Rejected::Malformed(format!(
                "deadline and origin need envelope version 2; this one says {}",
                envelope.v
            )));
        }
        Ok(envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(deadline: Option<DateTime<Utc>>, origin: Option<&str>) -> Body {
        Body::Request { actor: "x".into(), message: 1.into(), deadline, origin: origin.map(str::to_string) }
    }

    #[test]
    fn an_envelope_reads_back_as_written() {
        let envelope = Envelope::new("a", Body::request("x", serde_json::json!({"n": 1})));
        assert_eq!(envelope.v, 1);
        assert_eq!(Envelope::decode(&envelope.encode()).unwrap(), envelope);
        let envelope = Envelope::new("a", request(Some(Utc::now()), Some("http 127.0.0.1:1")));
        assert_eq!(envelope.v, 2, "a deadline or an origin needs version 2");
        assert_eq!(Envelope::decode(&envelope.encode()).unwrap(), envelope);
    }

    #[test]
    fn another_version_and_garbage_are_refused_with_the_reason() {
        let mut envelope = serde_json::to_value(Envelope::new("a", Body::Wake {})).unwrap();
        envelope["v"] = 3.into();
        let data = serde_json::to_vec(&envelope).unwrap();
        assert_eq!(Envelope::decode(&data), Err(Rejected::Version(3)));
        assert_eq!(Rejected::Version(3).to_string(), "envelope version 3 is not one this build reads (1 to 2)");
        envelope["v"] = 0.into();
        assert_eq!(Envelope::decode(&serde_json::to_vec(&envelope).unwrap()), Err(Rejected::Version(0)));
        assert!(matches!(Envelope::decode(b"not json"), Err(Rejected::Malformed(_))));
        assert!(matches!(Envelope::decode(br#"{"v":1,"kind":"wake"}"#), Err(Rejected::Malformed(_))));
        assert!(matches!(Envelope::decode(br#"{"v":"1"}"#), Err(Rejected::Malformed(_))));
        let empty = Rejected::Malformed("no envelope: the entry's `e` field is missing or empty".into());
        assert_eq!(Envelope::decode(b""), Err(empty), "not \"EOF while parsing\"");
    }

    #[test]
    fn a_field_this_build_does_not_know_is_refused_in_the_envelope_and_in_its_body() {
        let wake = serde_json::to_value(Envelope::new("a", Body::Wake {})).unwrap();
        let request = serde_json::to_value(Envelope::new("a", request(Some(Utc::now()), None))).unwrap();
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
    fn version_1_may_not_carry_a_deadline_or_an_origin_and_an_origin_is_bounded() {
        let mut v1 = serde_json::to_value(Envelope::new("a", request(Some(Utc::now()), None))).unwrap();
        v1["v"] = 1.into();
        let refused = Envelope::decode(&serde_json::to_vec(&v1).unwrap());
        assert!(
            matches!(&refused, Err(Rejected::Malformed(why)) if why.contains("need envelope version 2")),
            "{refused:?}"
        );
        let long = "o".repeat(MAX_ORIGIN_CHARS + 1);
        let refused = Envelope::decode(&Envelope::new("a", request(None, Some(&long))).encode());
        assert!(matches!(&refused, Err(Rejected::Malformed(why)) if why.starts_with("origin:")), "{refused:?}");
    }

    /// What the release before version 2 wrote, byte for byte: this build reads it.
    #[test]
    fn what_the_previous_release_wrote_is_read() {
        let written = [
            r#"{"v":1,"id":"01939a52-5d5c-7f3a-9d3e-1c2b3a4d5e6f","from":"a","sent_at":"2026-12-07T20:00:00Z","body":{"kind":"wake"}}"#,
            r#"{"v":1,"id":"01939a52-5d5c-7f3a-9d3e-1c2b3a4d5e6f","from":"a","sent_at":"2026-12-07T20:00:00.123456Z","body":{"kind":"request","actor":"node.drain","message":null}}"#,
            r#"{"v":1,"id":"01939a52-5d5c-7f3a-9d3e-1c2b3a4d5e6f","from":"b","sent_at":"2026-12-07T20:00:00Z","body":{"kind":"reply","request_id":"01939a52-5d5c-7f3a-9d3e-1c2b3a4d5e60","answer":{"Ok":{"status":"CANCELLED"}}}}"#,
        ];
        for data in written {
            let envelope = Envelope::decode(data.as_bytes()).unwrap_or_else(|e| panic!("{data}: {e}"));
            assert_eq!(envelope.v, 1);
            if let Body::Request { deadline, origin, .. } = envelope.body {
                assert_eq!((deadline, origin), (None, None), "a version 1 request has no deadline");
            }
        }
    }

    /// The reader of the release before version 2, as it was (its types, its version
    /// check): what this build sends a node that did not announce version 2 must pass
    /// it; a request with a deadline would not, which is why a sender only puts one on
    /// for a node that reads version 2.
    mod previous_release {
        use super::*;

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Envelope {
            v: u32,
            id: Uuid,
            from: String,
            sent_at: DateTime<Utc>,
            body: Body,
        }

        #[derive(Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
        #[allow(dead_code)]
        enum Body {
            Wake {},
            Request { actor: String, message: serde_json::Value },
            Reply { request_id: Uuid, answer: Result<serde_json::Value, String> },
        }

        pub fn reads(data: &[u8]) -> bool {
            #[derive(Deserialize)]
            struct Version {
                v: Option<serde_json::Value>,
            }
            let Ok(Version { v: Some(serde_json::Value::Number(n)) }) = serde_json::from_slice(data) else {
                return false;
            };
            n.as_u64() == Some(1) && serde_json::from_slice::<Envelope>(data).is_ok()
        }
    }

    #[test]
    fn what_this_build_sends_a_previous_release_node_is_read_by_it() {
        let reply = Body::Reply { request_id: Uuid::now_v7(), answer: Ok(serde_json::json!({"status": "CANCELLED"})) };
        for body in [Body::Wake {}, Body::request("node.drain", serde_json::Value::Null), reply] {
            let data = Envelope::new("a", body).encode();
            assert!(previous_release::reads(&data), "{}", String::from_utf8_lossy(&data));
        }
        let with_deadline = Envelope::new("a", request(Some(Utc::now()), None)).encode();
        assert!(!previous_release::reads(&with_deadline), "version 2 is refused there: never sent to such a node");
    }

    #[test]
    fn an_entry_over_64_kib_is_refused_unread_and_one_at_the_limit_is_read() {
        let sized = |bytes: usize| {
            let mut envelope = Envelope::new("a", Body::request("x", "".into()));
            let room = bytes - envelope.encode().len();
            envelope.body = Body::request("x", "y".repeat(room).into());
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
