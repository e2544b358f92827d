//! The mailbox conformance suite: each case is written once and runs on the in-process
//! mailbox (`name::memory`) and on Redis streams (`name::redis`, on a `redis-server`
//! the test starts for itself).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aeon::mailbox::{Body, Delivery, Envelope, Mailbox, MailboxError, MemoryMailbox, RedisMailbox, Rejected};

use crate::common::redis::TestRedis;

#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Memory,
    Redis,
}

/// A mailbox for one test, and the Redis behind it (if any), which lives as long.
pub(crate) struct TestMailbox {
    pub mailbox: Arc<dyn Mailbox>,
    pub _redis: Option<TestRedis>,
}

impl Kind {
    pub(crate) async fn open(self, max_len: usize) -> TestMailbox {
        match self {
            Kind::Memory => TestMailbox { mailbox: Arc::new(MemoryMailbox::new(max_len)), _redis: None },
            Kind::Redis => {
                let redis = TestRedis::start(None).await;
                let mailbox = RedisMailbox::open(&redis.url(), "aeon", max_len).unwrap();
                TestMailbox { mailbox: Arc::new(mailbox), _redis: Some(redis) }
            }
        }
    }
}

macro_rules! on_every_mailbox {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[actix_rt::test]
                async fn memory() {
                    super::$name(super::Kind::Memory).await
                }

                #[actix_rt::test]
                async fn redis() {
                    super::$name(super::Kind::Redis).await
                }
            }
        )+
    };
}

const SHORT: Duration = Duration::from_millis(50);

fn wake(from: &str) -> Vec<u8> {
    Envelope::new(from, Body::Wake {}).encode()
}

async fn entries_are_delivered_once_in_order_and_stay_pending_until_acked(kind: Kind) {
    let t = kind.open(1_000).await;
    let m = &*t.mailbox;
    let sent: Vec<Envelope> = (0..3).map(|i| Envelope::new(&format!("n{i}"), Body::Wake {})).collect();
    m.post(sent.iter().map(|e| ("a".to_string(), e.encode())).collect()).await.unwrap();
    m.post(vec![("b".to_string(), wake("x"))]).await.unwrap();

    let got: Vec<Delivery> = m.receive("a", "c1", 10, SHORT).await.unwrap().into_iter().map(Delivery::from).collect();
    let envelopes: Vec<Envelope> = got.iter().map(|d| d.envelope.clone().unwrap()).collect();
    assert_eq!(envelopes, sent, "node a gets its own entries, in order");
    assert!(m.receive("a", "c2", 10, SHORT).await.unwrap().is_empty(), "an entry is delivered to one consumer once");
    assert_eq!(m.pending("a").await.unwrap(), 3);
    m.ack("a", got.iter().map(|d| d.id.clone()).collect()).await.unwrap();
    assert_eq!(m.pending("a").await.unwrap(), 0);
    assert_eq!(m.receive("b", "c1", 10, SHORT).await.unwrap().len(), 1, "node b's mailbox is its own");
}

async fn a_blocked_receive_returns_as_soon_as_an_entry_arrives(kind: Kind) {
    let t = kind.open(1_000).await;
    let mailbox = t.mailbox.clone();
    // Create the group before posting: a group reads what arrives after it.
    assert!(mailbox.receive("a", "c1", 10, SHORT).await.unwrap().is_empty());
    let reader = actix_rt::spawn(async move {
        let start = Instant::now();
        let got = mailbox.receive("a", "c1", 10, Duration::from_secs(4)).await.unwrap();
        (got.len(), start.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    t.mailbox.post(vec![("a".to_string(), wake("x"))]).await.unwrap();
    let (n, waited) = reader.await.unwrap();
    assert_eq!(n, 1);
    assert!(waited < Duration::from_secs(2), "woken by the entry, not the timeout ({waited:?})");
}

async fn entries_a_dead_consumer_left_pending_are_reclaimed_and_handled_once(kind: Kind) {
    let t = kind.open(1_000).await;
    let m = &*t.mailbox;
    assert!(m.receive("a", "dead", 10, SHORT).await.unwrap().is_empty());
    m.post(vec![("a".to_string(), wake("x")), ("a".to_string(), wake("y"))]).await.unwrap();
    let read = m.receive("a", "dead", 10, SHORT).await.unwrap();
    assert_eq!(read.len(), 2, "the consumer read them, then died without acking");

    let idle = Duration::from_millis(300);
    assert!(m.reclaim("a", "live", idle, 10).await.unwrap().is_empty(), "not idle long enough yet");
    tokio::time::sleep(idle).await;
    let reclaimed = m.reclaim("a", "live", idle, 10).await.unwrap();
    assert_eq!(reclaimed, read, "the live consumer gets the same entries");
    m.ack("a", reclaimed.iter().map(|e| e.id.clone()).collect()).await.unwrap();
    tokio::time::sleep(idle).await;
    assert!(m.reclaim("a", "other", idle, 10).await.unwrap().is_empty(), "handled once: nothing left");
    assert_eq!(m.pending("a").await.unwrap(), 0);
}

/// A read whose answer the consumer lost (a timeout; the process paused while the
/// server answered) left its entries pending for that consumer: they come to it again
/// at once, not after a reclaim's idle time, and nobody else's come with them.
async fn a_consumer_gets_the_entries_it_read_and_lost_again_and_only_those(kind: Kind) {
    let t = kind.open(1_000).await;
    let m = &*t.mailbox;
    assert!(m.receive("a", "c1", 10, SHORT).await.unwrap().is_empty());
    m.post((0..3).map(|_| ("a".to_string(), wake("x"))).collect()).await.unwrap();
    let lost = m.receive("a", "c1", 2, SHORT).await.unwrap();
    assert_eq!(lost.len(), 2, "read, and (say) the answer lost");
    let other = m.receive("a", "c2", 10, SHORT).await.unwrap();
    assert_eq!(other.len(), 1, "another consumer's");
    m.ack("a", vec![lost[0].id.clone()]).await.unwrap();

    let again = m.redeliver("a", "c1", 10).await.unwrap();
    assert_eq!(again, lost[1..], "its own unacknowledged entry, at once");
    assert_eq!(m.redeliver("a", "c2", 10).await.unwrap(), other, "each consumer its own");
    assert!(m.redeliver("a", "c3", 10).await.unwrap().is_empty());
    assert!(m.redeliver("nobody", "c1", 10).await.unwrap().is_empty(), "no stream: nothing");
    m.ack("a", again.iter().chain(&other).map(|e| e.id.clone()).collect()).await.unwrap();
    assert!(m.redeliver("a", "c1", 10).await.unwrap().is_empty(), "acknowledged: never again");
    assert_eq!(m.pending("a").await.unwrap(), 0);
}

async fn malformed_and_unknown_version_entries_are_refused_with_the_reason_and_can_be_acked(kind: Kind) {
    let t = kind.open(1_000).await;
    let m = &*t.mailbox;
    let mut newer = serde_json::to_value(Envelope::new("x", Body::Wake {})).unwrap();
    newer["v"] = 9.into();
    let good = Envelope::new("x", Body::Wake {});
    let posts = [b"{not json".to_vec(), serde_json::to_vec(&newer).unwrap(), Vec::new(), good.encode()];
    m.post(posts.into_iter().map(|d| ("a".to_string(), d)).collect()).await.unwrap();

    let got: Vec<Delivery> = m.receive("a", "c", 10, SHORT).await.unwrap().into_iter().map(Delivery::from).collect();
    assert_eq!(got.len(), 4);
    assert!(matches!(got[0].envelope, Err(Rejected::Malformed(_))), "{:?}", got[0].envelope);
    assert_eq!(got[1].envelope, Err(Rejected::Version(9)));
    assert!(matches!(got[2].envelope, Err(Rejected::Malformed(_))));
    assert_eq!(got[3].envelope.as_ref().unwrap(), &good, "a bad entry does not block the next");
    m.ack("a", got.iter().map(|d| d.id.clone()).collect()).await.unwrap();
    assert_eq!(m.pending("a").await.unwrap(), 0);
}

async fn a_mailbox_is_trimmed_to_about_its_maximum_length(kind: Kind) {
    let t = kind.open(10).await;
    let m = &*t.mailbox;
    assert!(m.receive("a", "c", 10, SHORT).await.unwrap().is_empty());
    for _ in 0..10 {
        m.post((0..100).map(|_| ("a".to_string(), wake("x"))).collect()).await.unwrap();
    }
    let kept = m.receive("a", "c", 10_000, SHORT).await.unwrap().len();
    // Redis trims whole nodes of its radix tree (`MAXLEN ~`): about, not exactly.
    assert!((10..=10 + 100).contains(&kept), "1000 posted, {kept} kept");
}

async fn registrations_expire_unless_renewed(kind: Kind) {
    let t = kind.open(1_000).await;
    let m = &*t.mailbox;
    m.announce("a", "127.0.0.1:1", Duration::from_millis(300)).await.unwrap();
    m.announce("b", "127.0.0.1:2", Duration::from_secs(30)).await.unwrap();
    let both = vec![("a".to_string(), "127.0.0.1:1".to_string()), ("b".to_string(), "127.0.0.1:2".to_string())];
    assert_eq!(m.members().await.unwrap(), both);
    let start = Instant::now();
    while m.members().await.unwrap().len() > 1 {
        assert!(start.elapsed() < Duration::from_secs(5), "a's registration never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(m.members().await.unwrap(), vec![both[1].clone()]);
    m.withdraw("b").await.unwrap();
    assert!(m.members().await.unwrap().is_empty());
}

on_every_mailbox!(
    entries_are_delivered_once_in_order_and_stay_pending_until_acked,
    a_blocked_receive_returns_as_soon_as_an_entry_arrives,
    entries_a_dead_consumer_left_pending_are_reclaimed_and_handled_once,
    a_consumer_gets_the_entries_it_read_and_lost_again_and_only_those,
    malformed_and_unknown_version_entries_are_refused_with_the_reason_and_can_be_acked,
    a_mailbox_is_trimmed_to_about_its_maximum_length,
    registrations_expire_unless_renewed,
);

/// `rediss://`: the mailbox speaks TLS to a Redis that accepts nothing else.
#[actix_rt::test]
async fn the_redis_mailbox_works_over_tls() {
    let redis = TestRedis::start_tls().await;
    let tls = RedisMailbox::open(&redis.url(), "aeon", 1_000).unwrap();
    tls.ping().await.expect("a TLS connection");
    tls.post(vec![("a".to_string(), wake("x"))]).await.unwrap();
    assert_eq!(tls.receive("a", "c", 10, SHORT).await.unwrap().len(), 1);
    let plain = RedisMailbox::open(&format!("redis://127.0.0.1:{}", redis.port), "aeon", 1_000).unwrap();
    assert!(plain.ping().await.is_err(), "the server speaks only TLS: a plain connection fails");
    // Without `#insecure` the certificate is verified (against the webpki roots): this
    // one is self-signed, so the connection is refused.
    let verified = RedisMailbox::open(&format!("rediss://127.0.0.1:{}", redis.port), "aeon", 1_000).unwrap();
    let refused = verified.ping().await.expect_err("a self-signed certificate is not trusted");
    assert!(refused.to_string().to_lowercase().contains("certificate"), "{refused}");
}

/// `redis://user:password@…`: an ACL user of its own, not the default user, and a
/// wrong password refused.
#[actix_rt::test]
async fn the_redis_mailbox_logs_in_as_an_acl_user() {
    let redis = TestRedis::start(None).await;
    let made = redis.cli(&["ACL", "SETUSER", "aeon", "on", ">s3cret", "~*", "&*", "+@all"]);
    assert!(made.is_some_and(|out| out.trim() == "OK"), "the ACL user was made");
    redis.cli(&["ACL", "SETUSER", "default", "off"]).expect("the default user turned off");
    let user = |password: &str| format!("redis://aeon:{password}@127.0.0.1:{}", redis.port);
    let mailbox = RedisMailbox::open(&user("s3cret"), "aeon", 1_000).unwrap();
    mailbox.ping().await.expect("logged in as aeon");
    mailbox.post(vec![("a".to_string(), wake("x"))]).await.unwrap();
    assert_eq!(mailbox.receive("a", "c", 10, SHORT).await.unwrap().len(), 1);
    let wrong = RedisMailbox::open(&user("wrong"), "aeon", 1_000).unwrap();
    assert!(wrong.ping().await.is_err(), "a wrong password is refused");
    let anonymous = RedisMailbox::open(&format!("redis://127.0.0.1:{}", redis.port), "aeon", 1_000).unwrap();
    assert!(anonymous.ping().await.is_err(), "the default user is off: only aeon gets in");
}

/// Aeon owns its stream keys: one found holding another type (someone `SET` it) is
/// deleted and created again by its node's next read, and works as before; meanwhile
/// a post to it is refused for that node alone, the others' entries posted.
#[actix_rt::test]
async fn a_stream_key_written_over_with_another_type_is_recreated_by_the_next_read() {
    let redis = TestRedis::start(None).await;
    let m = RedisMailbox::open(&redis.url(), "aeon", 1_000).unwrap();
    assert!(m.receive("b", "c", 10, SHORT).await.unwrap().is_empty());
    redis.cli(&["SET", "aeon:mailbox:b", "garbage"]).expect("SET");

    let refused = m.post(vec![("a".into(), wake("x")), ("b".into(), wake("x"))]).await.unwrap_err();
    match &refused {
        MailboxError::Refused { nodes, reason } => {
            assert_eq!(nodes, &["b".to_string()]);
            assert!(reason.contains("WRONGTYPE"), "{reason}");
        }
        other => panic!("refused for b alone, not {other:?}"),
    }
    assert_eq!(m.receive("a", "c", 10, SHORT).await.unwrap().len(), 1, "a's entry was posted");
    assert_eq!(m.pending("b").await.unwrap(), 0, "no stream: nothing pending, no error");
    assert!(m.reclaim("b", "c", Duration::ZERO, 10).await.unwrap().is_empty());
    assert!(m.redeliver("b", "c", 10).await.unwrap().is_empty());

    assert!(m.receive("b", "c", 10, SHORT).await.unwrap().is_empty(), "the read recreates it");
    assert_eq!(redis.cli(&["TYPE", "aeon:mailbox:b"]).unwrap().trim(), "stream");
    m.post(vec![("b".into(), wake("x"))]).await.unwrap();
    assert_eq!(m.receive("b", "c", 10, SHORT).await.unwrap().len(), 1, "and works as before");
}
