//! What a payload must look like for [`TestNode::assert_enqueued`](super::TestNode::assert_enqueued).

use std::fmt;

use serde_json::Value;

/// Decides whether a job's payload is the one a test looks for, and says what it
/// looks for in a failure message.
pub trait PayloadMatcher {
    fn matches(&self, payload: &Value) -> bool;
    fn describe(&self) -> String;
}

/// A JSON value matches a payload that contains it: an object matches an object
/// holding at least its keys, each matching; anything else must be equal. So
/// `json!({"to": "ada"})` matches `{"to": "ada", "subject": "hi"}`.
impl PayloadMatcher for Value {
    fn matches(&self, payload: &Value) -> bool {
        contains(payload, self)
    }

    fn describe(&self) -> String {
        format!("containing {self}")
    }
}

fn contains(payload: &Value, wanted: &Value) -> bool {
    match (payload, wanted) {
        (Value::Object(have), Value::Object(want)) => {
            want.iter().all(|(key, w)| have.get(key).is_some_and(|h| contains(h, w)))
        }
        _ => payload == wanted,
    }
}

/// Any payload at all.
#[derive(Debug, Clone, Copy)]
pub struct AnyPayload;

impl PayloadMatcher for AnyPayload {
    fn matches(&self, _: &Value) -> bool {
        true
    }

    fn describe(&self) -> String {
        "with any payload".into()
    }
}

/// Exactly this payload, every key and no other.
#[derive(Debug, Clone)]
pub struct Exactly(pub Value);

impl PayloadMatcher for Exactly {
    fn matches(&self, payload: &Value) -> bool {
        *payload == self.0
    }

    fn describe(&self) -> String {
        format!("exactly {}", self.0)
    }
}

/// A payload a function accepts, described by its name:
/// `Where::new("an amount over 100", |p| p["amount"].as_i64() > Some(100))`.
pub struct Where<F>(pub &'static str, pub F);

impl<F: Fn(&Value) -> bool> Where<F> {
    pub fn new(description: &'static str, accepts: F) -> Self {
        Where(description, accepts)
    }
}

impl<F: Fn(&Value) -> bool> PayloadMatcher for Where<F> {
    fn matches(&self, payload: &Value) -> bool {
        (self.1)(payload)
    }

    fn describe(&self) -> String {
        format!("with {}", self.0)
    }
}

impl<F> fmt::Debug for Where<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Where({:?})", self.0)
    }
}
