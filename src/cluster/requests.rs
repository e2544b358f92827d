//! Requests between nodes: [`Cluster::serve`] an actor here, [`Cluster::ask`] one on
//! another node.
//!
//! **Deadlines.** A request carries the time its asker stops waiting (its `timeout`
//! from now): the asker answers [`AskError::Timeout`] at that moment, and the receiver,
//! reading it later (it was paused, its read was lost), does what the actor says of
//! late requests ([`Late`]): a cancel is still applied (the asker fell back to the
//! store, and stopping the handler as well is what the caller wanted), a drain or a
//! crash is not (the caller was told it did not happen). Deadlines are wall-clock
//! times: the nodes' clocks must agree to well within `cluster.request_timeout_ms`.
//!
//! **Versions.** A deadline needs envelope version 2, which a node of a release before
//! it refuses; so a request carries one only to a node whose membership key says it
//! reads version 2 ([`member_info`]). Any other node gets version 1, without a
//! deadline, and handles it whenever it reads it, as before.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::LocalBoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::{AskError, Cluster};
use crate::mailbox::envelope::MAX_ORIGIN_CHARS;
use crate::mailbox::{Body, ENVELOPE_VERSION, Envelope, OLDEST_ENVELOPE_VERSION};

/// What a served actor does with a request read after its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Late {
    /// Handles it anyway: it is still wanted (a cancel).
    Apply,
    /// Refuses it (acknowledged, logged, answered as expired): its asker told its
    /// caller it did not happen (a drain, a crash).
    Refuse,
}

/// What a served actor learns of a request besides its message.
#[derive(Clone)]
pub struct Asked {
    /// The node that asked.
    pub from: String,
    /// Who asked that node (an HTTP caller), as it said.
    pub origin: Option<String>,
    /// When the asker stops waiting (none from a node of a release before deadlines).
    pub deadline: Option<DateTime<Utc>>,
    then: Rc<RefCell<Vec<LocalBoxFuture<'static, ()>>>>,
}

impl Asked {
    fn new(from: String, origin: Option<String>, deadline: Option<DateTime<Utc>>) -> Self {
        Self { from, origin, deadline, then: Rc::default() }
    }

    /// Runs `work` once the request is answered and acknowledged: for a request whose
    /// handling ends the process, which would otherwise never answer and be delivered
    /// again to the node's next process.
    pub fn then(&self, work: impl Future<Output = ()> + 'static) {
        self.then.borrow_mut().push(Box::pin(work));
    }

    pub(super) fn take_then(&self) -> Vec<LocalBoxFuture<'static, ()>> {
        std::mem::take(&mut *self.then.borrow_mut())
    }

    /// `from`, and the origin when there is one: for a log line.
    pub fn who(&self) -> String {
        match &self.origin {
            Some(origin) => format!("node {} ({origin})", self.from),
            None => format!("node {}", self.from),
        }
    }
}

pub(super) type Handler = Arc<dyn Fn(Value, Asked) -> LocalBoxFuture<'static, Result<Value, String>> + Send + Sync>;

/// A served actor: its handler, and what it does with late requests.
#[derive(Clone)]
pub(super) struct Served {
    pub handler: Handler,
    pub late: Late,
}

/// What a node announces in its membership key: its API address and the newest
/// envelope version it reads, as JSON. A release before version 2 announced its bare
/// address (and reads the key's name alone, never its value).
pub fn member_info(address: &str) -> String {
    serde_json::json!({ "address": address, "envelope": ENVELOPE_VERSION }).to_string()
}

/// The newest envelope version both this build and the node announcing `info` read.
pub fn envelope_version(info: &str) -> u32 {
    let announced = serde_json::from_str::<Value>(info).ok().and_then(|v| v.get("envelope")?.as_u64());
    announced.map_or(OLDEST_ENVELOPE_VERSION, |v| (v.min(ENVELOPE_VERSION as u64) as u32).max(OLDEST_ENVELOPE_VERSION))
}

impl Cluster {
    /// Serves requests for `actor` on this node: each message is read as `Req`, the
    /// handler's answer sent back as JSON. A request read after its deadline is
    /// refused ([`Late::Refuse`]); see [`Cluster::serve_asked`] for more. Replaces any
    /// earlier handler of that name.
    pub fn serve<Req, Resp, F, Fut>(&self, actor: &str, handler: F)
    where
        Req: DeserializeOwned + 'static,
        Resp: Serialize + 'static,
        F: Fn(Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Resp, String>> + 'static,
    {
        self.serve_asked(actor, Late::Refuse, move |request: Req, _: Asked| handler(request));
    }

    /// As [`Cluster::serve`], with what the handler does of late requests, and told who
    /// asked ([`Asked`]).
    pub fn serve_asked<Req, Resp, F, Fut>(&self, actor: &str, late: Late, handler: F)
    where
        Req: DeserializeOwned + 'static,
        Resp: Serialize + 'static,
        F: Fn(Req, Asked) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Resp, String>> + 'static,
    {
        let handler: Handler = Arc::new(move |message: Value, asked: Asked| {
            let request = serde_json::from_value::<Req>(message);
            let answer = request.map(|request| handler(request, asked));
            Box::pin(async move {
                let reply = answer.map_err(|e| format!("malformed request: {e}"))?.await?;
                serde_json::to_value(reply).map_err(|e| e.to_string())
            })
        });
        let served = Served { handler, late };
        self.0.actors.lock().unwrap_or_else(|p| p.into_inner()).insert(actor.to_string(), served);
    }

    pub(super) fn served(&self, actor: &str) -> Option<Served> {
        self.0.actors.lock().unwrap_or_else(|p| p.into_inner()).get(actor).cloned()
    }

    /// Sends `message` to the actor named `actor` on node `node` and waits up to
    /// `timeout` for its reply; the request's deadline is that moment. Delivery is at
    /// least once: make the actor's handling idempotent.
    pub async fn ask<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        node: &str,
        actor: &str,
        message: &Req,
        timeout: Duration,
    ) -> Result<Resp, AskError> {
        self.ask_from(node, actor, message, timeout, None).await
    }

    /// As [`Cluster::ask`], saying who asked this node (`origin`: an HTTP caller's
    /// address), for the receiver's log. Cut to 200 characters.
    pub async fn ask_from<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        node: &str,
        actor: &str,
        message: &Req,
        timeout: Duration,
        origin: Option<&str>,
    ) -> Result<Resp, AskError> {
        let message = serde_json::to_value(message)
            .map_err(|e| AskError::Malformed { node: node.to_string(), reason: e.to_string() })?;
        let deadline = Utc::now() + chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX);
        let body = if self.reads_version(node).await >= 2 {
            let origin = origin.map(|o| o.chars().take(MAX_ORIGIN_CHARS).collect());
            Body::Request { actor: actor.to_string(), message, deadline: Some(deadline), origin }
        } else {
            Body::request(actor, message) // version 1: what a node of an older release reads
        };
        let envelope = Envelope::new(&self.0.node_id, body);
        let (tx, rx) = oneshot::channel();
        self.0.replies.lock().unwrap_or_else(|p| p.into_inner()).insert(envelope.id, tx);
        let forget = || {
            self.0.replies.lock().unwrap_or_else(|p| p.into_inner()).remove(&envelope.id);
        };
        if let Err(error) = crate::mailbox::send(&*self.0.mailbox, &[node.to_string()], &envelope).await {
            forget();
            self.send_failed(&error);
            return Err(AskError::Unreachable { node: node.to_string(), error });
        }
        self.0.status.sent.fetch_add(1, Ordering::Relaxed);
        self.sent_to(&[node.to_string()]);
        let answer = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => answer,
            _ => {
                forget();
                return Err(AskError::Timeout { node: node.to_string(), timeout });
            }
        };
        let value = answer.map_err(|reason| AskError::Refused { node: node.to_string(), reason })?;
        serde_json::from_value(value).map_err(|e| AskError::Malformed { node: node.to_string(), reason: e.to_string() })
    }

    /// The envelope version `node` reads, as its membership key last said; read again
    /// for a node not seen yet (it may have joined since the last heartbeat).
    async fn reads_version(&self, node: &str) -> u32 {
        if let Some(v) = self.0.reads.lock().unwrap_or_else(|p| p.into_inner()).get(node) {
            return *v;
        }
        match self.0.mailbox.members().await {
            Ok(members) => members
                .iter()
                .find(|(n, _)| n == node)
                .map_or(OLDEST_ENVELOPE_VERSION, |(_, info)| envelope_version(info)),
            Err(_) => OLDEST_ENVELOPE_VERSION,
        }
    }

    pub(crate) fn deliver_reply(&self, request_id: Uuid, answer: Result<Value, String>) {
        let waiter = self.0.replies.lock().unwrap_or_else(|p| p.into_inner()).remove(&request_id);
        if let Some(waiter) = waiter {
            let _ = waiter.send(answer);
        }
    }

    /// Handles one request: refused if its sender is no member or it came too late
    /// for its actor, else answered; acknowledged in every case, and what the actor
    /// left for after that ([`Asked::then`]) run last.
    pub(super) async fn answer(&self, entry: String, from: String, request_id: Uuid, request: Body) {
        let Body::Request { actor, message, deadline, origin } = request else { return };
        let node = self.node_id().to_string();
        if !self.knows(&from).await {
            // A reply goes to the stream `from` names: only a member's.
            self.0.status.rejected.fetch_add(1, Ordering::Relaxed);
            let why = format!("a request for {actor} from {from:?}, which names no member of the cluster");
            self.0.refusals.refused(super::Refusal::UnknownSender, &entry, Some(&from), &why);
            self.ack_request(&node, entry).await;
            return;
        }
        let asked = Asked::new(from.clone(), origin, deadline);
        let answer = match self.served(&actor) {
            None => Err(format!("no actor named {actor:?} on node {node}")),
            Some(served) => match deadline.filter(|d| Utc::now() > *d) {
                Some(deadline) if served.late == Late::Refuse => {
                    self.0.status.rejected.fetch_add(1, Ordering::Relaxed);
                    let why = format!(
                        "{actor} asked by {} read {} ms after its deadline ({deadline}): not done",
                        asked.who(),
                        (Utc::now() - deadline).num_milliseconds()
                    );
                    self.0.refusals.refused(super::Refusal::Expired, &entry, Some(&from), &why);
                    Err(format!("request expired: {why}"))
                }
                late => {
                    if let Some(deadline) = late {
                        tracing::info!(%actor, asked_by = %asked.who(), %deadline,
                            "a request read after its deadline is applied all the same (its actor acts late)");
                    }
                    (served.handler)(message, asked.clone()).await
                }
            },
        };
        let reply = Envelope::new(&node, Body::Reply { request_id, answer });
        match crate::mailbox::send(&*self.0.mailbox, std::slice::from_ref(&from), &reply).await {
            Ok(()) => {
                self.0.status.sent.fetch_add(1, Ordering::Relaxed);
                self.sent_to(&[from]);
            }
            Err(e) => {
                self.send_failed(&e);
                tracing::warn!(error = %e, "could not send a reply");
            }
        }
        self.ack_request(&node, entry).await;
        for work in asked.take_then() {
            work.await;
        }
    }

    async fn ack_request(&self, node: &str, entry: String) {
        if let Err(e) = self.0.mailbox.ack(node, vec![entry]).await {
            tracing::warn!(error = %e, "could not acknowledge a request (it will be delivered again)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_reads_the_version_its_membership_key_names_and_a_bare_address_is_version_1() {
        assert_eq!(envelope_version(&member_info("127.0.0.1:8080")), ENVELOPE_VERSION);
        assert_eq!(member_info("h:1"), r#"{"address":"h:1","envelope":2}"#, "what other releases read");
        assert_eq!(envelope_version("127.0.0.1:8080"), 1, "the previous release announced its address");
        assert_eq!(envelope_version("{}"), 1);
        assert_eq!(envelope_version(r#"{"envelope": 7}"#), ENVELOPE_VERSION, "a newer node: what this build writes");
        assert_eq!(envelope_version(r#"{"envelope": 0}"#), 1);
    }
}
