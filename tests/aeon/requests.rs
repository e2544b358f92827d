//! Requests between in-process clusters, on each mailbox (`name::memory`, and
//! `name::redis` on a `redis-server` of the test's own): a read whose answer was lost
//! is handled at once, a request's deadline as its actor says, a deadline only for a
//! node that reads envelope version 2, and what an actor leaves for after its answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aeon::cluster::{AskError, Asked, Cluster, ClusterConfig, Late, member_info};
use aeon::mailbox::{
    Body, Delivery, Envelope, Mailbox, MailboxError, MailboxResult, RawEntry, envelope::MAX_ORIGIN_CHARS,
};
use async_trait::async_trait;
use chrono::Utc;
use serde_json::{Value, json};

use crate::mailbox::Kind;

macro_rules! on_every_mailbox {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[actix_rt::test]
                async fn memory() {
                    super::$name(crate::mailbox::Kind::Memory).await
                }

                #[actix_rt::test]
                async fn redis() {
                    super::$name(crate::mailbox::Kind::Redis).await
                }
            }
        )+
    };
}

/// A reclaim so slow that only a redelivery explains a prompt answer.
fn config() -> ClusterConfig {
    ClusterConfig { reclaim_idle_ms: 60_000, ..ClusterConfig::default() }
}

/// Registers `nodes` as members that read envelope version 2, for a minute.
async fn members(mailbox: &dyn Mailbox, nodes: &[&str]) {
    for node in nodes {
        mailbox.announce(node, &member_info("127.0.0.1:1"), Duration::from_secs(60)).await.unwrap();
    }
}

/// A mailbox whose next read that finds entries loses its answer, as a read does whose
/// response timed out (the process paused while the server answered): the server has
/// handed the entries to the consumer, the consumer never saw them.
struct Lossy {
    inner: Arc<dyn Mailbox>,
    lose: AtomicBool,
}

#[async_trait]
impl Mailbox for Lossy {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn post(&self, entries: Vec<(String, Vec<u8>)>) -> MailboxResult<()> {
        self.inner.post(entries).await
    }
    async fn receive(&self, node: &str, consumer: &str, count: usize, block: Duration) -> MailboxResult<Vec<RawEntry>> {
        let got = self.inner.receive(node, consumer, count, block).await?;
        if !got.is_empty() && self.lose.swap(false, Ordering::SeqCst) {
            return Err(MailboxError::Unavailable("the read's answer was lost (response timed out)".into()));
        }
        Ok(got)
    }
    async fn ack(&self, node: &str, ids: Vec<String>) -> MailboxResult<()> {
        self.inner.ack(node, ids).await
    }
    async fn reclaim(&self, node: &str, consumer: &str, idle: Duration, count: usize) -> MailboxResult<Vec<RawEntry>> {
        self.inner.reclaim(node, consumer, idle, count).await
    }
    async fn redeliver(&self, node: &str, consumer: &str, count: usize) -> MailboxResult<Vec<RawEntry>> {
        self.inner.redeliver(node, consumer, count).await
    }
    async fn pending(&self, node: &str) -> MailboxResult<u64> {
        self.inner.pending(node).await
    }
    async fn announce(&self, node: &str, info: &str, ttl: Duration) -> MailboxResult<()> {
        self.inner.announce(node, info, ttl).await
    }
    async fn withdraw(&self, node: &str) -> MailboxResult<()> {
        self.inner.withdraw(node).await
    }
    async fn members(&self) -> MailboxResult<Vec<(String, String)>> {
        self.inner.members().await
    }
    async fn ping(&self) -> MailboxResult<()> {
        self.inner.ping().await
    }
}

/// Item 6 of issue 23: a request read by a node whose read then timed out waited for
/// `reclaim_idle_ms` (30 s) in its pending list. It is handled at once now.
async fn a_request_whose_read_was_lost_is_handled_at_once_not_after_the_reclaim(kind: Kind) {
    let t = kind.open(1_000).await;
    members(&*t.mailbox, &["a", "b"]).await;
    let lossy = Arc::new(Lossy { inner: t.mailbox.clone(), lose: AtomicBool::new(false) });
    let b = Cluster::new("b", lossy.clone(), config());
    b.serve("echo", |said: String| async move { Ok::<_, String>(said) });
    b.start();
    let a = Cluster::new("a", t.mailbox.clone(), config());
    a.start();

    lossy.lose.store(true, Ordering::SeqCst);
    let asked = Instant::now();
    let answer: String = a.ask("b", "echo", &"hello", Duration::from_secs(10)).await.expect("b answers");
    assert_eq!(answer, "hello");
    assert!(!lossy.lose.load(Ordering::SeqCst), "the read's answer was lost");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "answered {:?} after (not after the 60 s reclaim)",
        asked.elapsed()
    );
    a.stop();
    b.stop();
}

/// Requests posted as another node would write them, read by b after their deadline:
/// an actor that acts late ([`Late::Apply`], a cancel) handles it, one that does not
/// (a drain) refuses it, answers why and acknowledges it; a request without a deadline
/// (from a node of the release before them) is handled whenever it is read.
async fn a_request_read_after_its_deadline_is_applied_or_refused_as_its_actor_says(kind: Kind) {
    let t = kind.open(1_000).await;
    let m = &*t.mailbox;
    members(m, &["a", "b"]).await;
    let b = Cluster::new("b", t.mailbox.clone(), config());
    let (refusing, applying) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let seen = refusing.clone();
    b.serve("drain-like", move |(): ()| {
        seen.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, String>(()) }
    });
    let seen = applying.clone();
    b.serve_asked("cancel-like", Late::Apply, move |(): (), asked: Asked| {
        seen.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, String>(asked.who()) }
    });
    let past = Some(Utc::now() - chrono::Duration::seconds(30));
    let request = |actor: &str, deadline| {
        let origin = Some("HTTP caller 10.0.0.1:5000".to_string());
        Envelope::new("a", Body::Request { actor: actor.into(), message: Value::Null, deadline, origin })
    };
    let late_drain = request("drain-like", past);
    let late_cancel = request("cancel-like", past);
    let old_drain = Envelope::new("a", Body::request("drain-like", Value::Null));
    assert_eq!((late_drain.v, old_drain.v), (2, 1));
    let posted = [&late_drain, &late_cancel, &old_drain];
    m.post(posted.iter().map(|e| ("b".to_string(), e.encode())).collect()).await.unwrap();
    b.start();

    let mut replies = Vec::new();
    let started = Instant::now();
    while replies.len() < 3 {
        assert!(started.elapsed() < Duration::from_secs(10), "three replies, got {replies:?}");
        let got = m.receive("a", "test", 10, Duration::from_millis(200)).await.unwrap();
        replies.extend(got.into_iter().map(|e| Delivery::from(e).envelope.unwrap().body));
    }
    let answer_to = |id| {
        replies.iter().find_map(|r| match r {
            Body::Reply { request_id, answer } if *request_id == id => Some(answer.clone()),
            _ => None,
        })
    };
    let refused = answer_to(late_drain.id).unwrap().expect_err("a late drain is refused");
    assert!(refused.starts_with("request expired: drain-like asked by node a (HTTP caller"), "{refused}");
    let applied = answer_to(late_cancel.id).unwrap().expect("a late cancel is applied");
    assert_eq!(applied, json!("node a (HTTP caller 10.0.0.1:5000)"), "the actor is told who asked");
    answer_to(old_drain.id).unwrap().expect("a request without a deadline is handled");
    assert_eq!((refusing.load(Ordering::SeqCst), applying.load(Ordering::SeqCst)), (1, 1));
    assert_eq!(b.status().rejected(), 1, "the late drain counted as refused");
    let acked = Instant::now();
    while m.pending("b").await.unwrap() != 0 {
        assert!(acked.elapsed() < Duration::from_secs(5), "every request acknowledged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.stop();
}

/// The sender's side: a request to a node that announced version 2 carries its
/// deadline, the moment `ask` stops waiting (and answers `Timeout`); one to a node
/// of the release before (its key holds its bare address) is version 1 without one,
/// which that release reads.
async fn a_deadline_goes_only_to_a_node_that_reads_version_2_and_is_when_the_asker_gives_up(kind: Kind) {
    let t = kind.open(1_000).await;
    let m = &*t.mailbox;
    members(m, &["a", "new"]).await;
    m.announce("old", "127.0.0.1:2", Duration::from_secs(60)).await.unwrap();
    for node in ["new", "old"] {
        assert!(m.receive(node, "reader", 10, Duration::from_millis(10)).await.unwrap().is_empty());
    }
    let a = Cluster::new("a", t.mailbox.clone(), config());
    let origin = "o".repeat(MAX_ORIGIN_CHARS + 50);

    let before = Utc::now();
    let asked = Instant::now();
    let timeout = Duration::from_millis(400);
    let answer = a.ask_from::<_, Value>("new", "x", &1, timeout, Some(&origin)).await;
    let waited = asked.elapsed();
    assert!(matches!(answer, Err(AskError::Timeout { .. })), "{answer:?}");
    assert!(waited >= timeout && waited < Duration::from_secs(2), "waited {waited:?}");
    let sent = m.receive("new", "reader", 10, Duration::from_millis(10)).await.unwrap();
    let envelope = Delivery::from(sent[0].clone()).envelope.unwrap();
    assert_eq!(envelope.v, 2);
    let Body::Request { deadline: Some(deadline), origin: Some(said), .. } = envelope.body else {
        panic!("a deadline and an origin: {:?}", envelope.body)
    };
    let expected = before + chrono::Duration::from_std(timeout).unwrap();
    let off = (deadline - expected).num_milliseconds();
    assert!((0..200).contains(&off), "the deadline is when the asker gave up: {deadline} vs {expected}");
    assert_eq!(said.chars().count(), MAX_ORIGIN_CHARS, "the origin cut to fit");

    let _ = a.ask_from::<_, Value>("old", "x", &1, Duration::from_millis(50), Some("caller")).await;
    let sent = m.receive("old", "reader", 10, Duration::from_millis(10)).await.unwrap();
    let envelope = Delivery::from(sent[0].clone()).envelope.unwrap();
    assert_eq!(envelope.v, 1, "what the previous release reads");
    let Body::Request { deadline, origin, .. } = envelope.body else { panic!("a request") };
    assert_eq!((deadline, origin), (None, None));
}

/// What an actor leaves for after its answer ([`Asked::then`]: a crash that ends the
/// process) runs once the reply is sent and the request acknowledged, so that the
/// asker hears back and the node's next process is not handed the request again.
async fn what_an_actor_leaves_for_after_its_answer_runs_once_the_request_is_acknowledged(kind: Kind) {
    let t = kind.open(1_000).await;
    members(&*t.mailbox, &["a", "b"]).await;
    let b = Cluster::new("b", t.mailbox.clone(), config());
    let pending_then = Arc::new(AtomicI64::new(-1));
    let (seen, mailbox) = (pending_then.clone(), t.mailbox.clone());
    b.serve_asked("ends", Late::Refuse, move |(): (), asked: Asked| {
        let (seen, mailbox) = (seen.clone(), mailbox.clone());
        asked.then(async move {
            seen.store(mailbox.pending("b").await.unwrap() as i64, Ordering::SeqCst);
        });
        async { Ok::<_, String>(true) }
    });
    b.start();
    let a = Cluster::new("a", t.mailbox.clone(), config());
    a.start();
    let answer: bool = a.ask("b", "ends", &(), Duration::from_secs(5)).await.expect("answered first");
    assert!(answer);
    let started = Instant::now();
    while pending_then.load(Ordering::SeqCst) < 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "the work left for after never ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(pending_then.load(Ordering::SeqCst), 0, "it ran after the acknowledgement");
    a.stop();
    b.stop();
}

on_every_mailbox!(
    a_request_whose_read_was_lost_is_handled_at_once_not_after_the_reclaim,
    a_request_read_after_its_deadline_is_applied_or_refused_as_its_actor_says,
    a_deadline_goes_only_to_a_node_that_reads_version_2_and_is_when_the_asker_gives_up,
    what_an_actor_leaves_for_after_its_answer_runs_once_the_request_is_acknowledged,
);
