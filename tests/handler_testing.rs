//! Testing your handlers with `aeon::testing`: a test file to copy.
//!
//! The handlers below stand for your own (in your crate they would come from
//! `my_app::handlers()`). Each test shows one tool of the kit:
//!
//! - `perform_job` / `Perform`: one handler, no node, no store;
//! - `TestNode`: real actors on a fresh SQLite file (or a Postgres schema, with
//!   `TestDatabase::from_env()` and `AEON_TEST_DATABASE_URL`), a manual clock;
//!   `drain` runs what is ready, `advance` moves time;
//! - assertions that show what was there when they fail;
//! - faults: a worker that crashes mid-run, a store that fails a write.
//!
//! Run with `cargo test --test handler_testing`.

use std::time::Duration;

use aeon::actors::probe::Event;
use aeon::actors::worker::CrashMode;
use aeon::handler::{JobContext, Outcome, Registry};
use aeon::job::{JobRequest, JobStatus};
use aeon::testing::{Fault, FaultyStore, Gate, Op, Perform, TestDatabase, TestNode, perform_job};
use rstest::{fixture, rstest};
use serde::Deserialize;
use serde_json::json;

// ---- the code under test: your handlers ------------------------------------------

#[derive(Deserialize)]
struct Invoice {
    customer: String,
    cents: u64,
}

/// `invoice` charges a customer; a charge over 100,000 cents fails until a second
/// attempt (the payment provider asks for a retry). `mail` sends a receipt, and
/// waits at `gate` first (in a real app the gate would not be there: it lets the
/// tests act while a mail is being sent).
fn handlers(gate: Gate) -> Registry {
    let mut registry = Registry::new();
    registry
        .register_fn("invoice", |ctx: JobContext, invoice: Invoice| async move {
            if invoice.cents > 100_000 && ctx.attempt == 1 {
                return Outcome::Fail("the provider asked to retry".into());
            }
            Outcome::Complete(json!({ "charged": invoice.cents, "customer": invoice.customer }))
        })
        .expect("a valid job type");
    registry
        .register_fn("mail", move |ctx: JobContext, to: String| {
            let gate = gate.clone();
            async move {
                // Idempotent: a retry after a crash resumes from the checkpoint and
                // never sends the same mail twice.
                if ctx.resume_from::<String>().await.ok().flatten().as_deref() == Some("sent") {
                    return Outcome::Complete(json!({ "to": to, "resent": false }));
                }
                gate.pass().await;
                ctx.checkpoint("sent").await.expect("checkpoint saved");
                Outcome::Complete(json!({ "to": to }))
            }
        })
        .expect("a valid job type");
    registry
}

// ---- fixtures ---------------------------------------------------------------------

#[fixture]
fn gate() -> Gate {
    Gate::new()
}

/// A node running the handlers, on SQLite (or Postgres when `AEON_TEST_DATABASE_URL`
/// is set).
async fn node_with(gate: &Gate) -> TestNode {
    TestNode::builder(handlers(gate.clone())).database(TestDatabase::from_env()).start().await
}

// ---- one handler alone -------------------------------------------------------------

#[rstest]
#[actix_rt::test]
async fn an_invoice_is_charged(gate: Gate) {
    let outcome = perform_job(&handlers(gate), "invoice", json!({ "customer": "ada", "cents": 500 })).await;
    assert_eq!(outcome, Outcome::Complete(json!({ "charged": 500, "customer": "ada" })));
}

#[rstest]
#[actix_rt::test]
async fn a_large_invoice_is_retried_then_charged(gate: Gate) {
    let registry = handlers(gate);
    let payload = json!({ "customer": "ada", "cents": 200_000 });
    let first = Perform::new(&registry, "invoice", payload.clone()).run().await;
    assert!(matches!(first.outcome, Outcome::Fail(_)));
    let retry = Perform::new(&registry, "invoice", payload).attempt(2).run().await;
    assert!(matches!(retry.outcome, Outcome::Complete(_)));
}

#[rstest]
#[actix_rt::test]
async fn a_bad_invoice_is_refused_naming_the_field(gate: Gate) {
    let outcome = perform_job(&handlers(gate), "invoice", json!({ "customer": "ada", "cents": -1 })).await;
    assert!(matches!(&outcome, Outcome::FailPermanently(why) if why.contains("payload.cents")), "{outcome:?}");
}

#[rstest]
#[actix_rt::test]
async fn a_mail_already_sent_is_not_sent_again(gate: Gate) {
    let retry = Perform::new(&handlers(gate), "mail", json!("ada@example.com")).attempt(2).checkpoint(json!("sent"));
    assert_eq!(retry.run().await.outcome, Outcome::Complete(json!({ "to": "ada@example.com", "resent": false })));
}

// ---- a node in the test ------------------------------------------------------------

#[rstest]
#[actix_rt::test]
async fn invoices_run_and_retries_wait_for_their_backoff(gate: Gate) {
    let mut node = node_with(&gate).await;
    let small = node.submit("invoice", json!({ "customer": "ada", "cents": 500 })).await;
    let large = node.submit("invoice", json!({ "customer": "bob", "cents": 200_000 })).await;

    node.drain().await;
    node.assert_status(small, JobStatus::Completed).await;
    node.assert_status(large, JobStatus::Pending).await; // waits out its backoff
    node.assert_enqueued("invoice", json!({ "customer": "bob" })).await;

    node.advance(Duration::from_secs(1)).await; // the first retry's backoff
    node.drain().await;
    node.assert_status(large, JobStatus::Completed).await;
    node.assert_attempts(large, 2).await;
    node.refute_enqueued("invoice", json!({ "customer": "bob" })).await;
    node.shutdown().await;
}

#[rstest]
#[actix_rt::test]
async fn a_receipt_follows_its_invoice(gate: Gate) {
    let mut node = node_with(&gate).await;
    let invoice = node.submit("invoice", json!({ "customer": "ada", "cents": 500 })).await;
    let mut receipt = JobRequest::new("mail", json!("ada@example.com"));
    receipt.depends_on = Some(vec![invoice.to_string()]);
    let receipt = node.submit_request(receipt).await;

    gate.open(1);
    node.drain().await; // runs the invoice, then the receipt it released
    node.assert_status(invoice, JobStatus::Completed).await;
    node.assert_status(receipt, JobStatus::Completed).await;
    // The clock stood still, so timestamps cannot tell the order: the node's events
    // can. The receipt started only once its invoice's result was written.
    let events = node.events();
    let position = |wanted: &dyn Fn(&Event) -> bool| events.iter().position(wanted).expect("the event");
    let invoice_settled = position(&|e| matches!(e, Event::JobSettled { job_id } if *job_id == invoice));
    let receipt_started = position(&|e| matches!(e, Event::JobStarted { job_id, .. } if *job_id == receipt));
    assert!(invoice_settled < receipt_started, "the receipt ran after its invoice: {events:#?}");
    node.shutdown().await;
}

// ---- faults ------------------------------------------------------------------------

#[rstest]
#[actix_rt::test]
async fn a_mail_whose_worker_crashes_mid_send_is_retried(gate: Gate) {
    let mut node = node_with(&gate).await;
    let mail = node.submit("mail", json!("ada@example.com")).await;
    gate.arrived(1).await; // the handler is running
    node.crash_worker_running(mail, CrashMode::Panic).await;
    node.assert_status(mail, JobStatus::Pending).await; // recorded CRASHED, retried after 1 s

    node.advance(Duration::from_secs(1)).await;
    gate.open(1);
    node.drain().await;
    node.assert_status(mail, JobStatus::Completed).await;
    node.assert_attempts(mail, 2).await;
    node.shutdown().await;
}

#[rstest]
#[actix_rt::test]
async fn a_charge_whose_write_fails_is_recorded_once(gate: Gate) {
    let faults = FaultyStore::detached();
    let mut node =
        TestNode::builder(handlers(gate)).database(TestDatabase::from_env()).wrap_store(faults.wrapper()).start().await;
    faults.inject(Fault::on(Op::Complete).once());
    let invoice = node.submit("invoice", json!({ "customer": "ada", "cents": 500 })).await;

    faults.until_injected(Op::Complete, 1).await; // the result's write failed ...
    node.advance(Duration::from_secs(1)).await; // ... and is written again
    node.drain().await;
    let job = node.assert_status(invoice, JobStatus::Completed).await;
    assert_eq!(job.attempts, 1, "the handler ran once; its result was recorded once");
    node.shutdown().await;
}
