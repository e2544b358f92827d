//! Handlers every node has, for smoke tests, experiments and benchmarks.
//!
//! | type | payload | does |
//! |---|---|---|
//! | `noop` | anything | completes with `null` |
//! | `echo` | anything | completes with the payload |
//! | `sleep` | `{"ms": u64}` | waits, then completes |
//! | `block` | `{"ms": u64}` | blocks its thread (`std::thread::sleep`, never yields), then completes |
//! | `cpu` | `{"iterations": u64}` | burns CPU, completes with a checksum |
//! | `fail` | `{"times": i32, "message"?: str}` | fails its first `times` attempts, then completes |
//! | `panic` | `{"times": i32}` | panics in its first `times` attempts, then completes |
//! | `collect` | anything | completes with its dependencies' outcomes and results (fan-in) |

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{JobContext, Outcome, Registry};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SleepPayload {
    pub ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuPayload {
    pub iterations: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailPayload {
    pub times: i32,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanicPayload {
    pub times: i32,
}

/// Registers every built-in handler. Those that never block run inline (see
/// [`super::Placement`]); `block` and `cpu` hold their thread, so they get their own.
pub fn register_all(registry: &mut Registry) {
    let valid = "built-in job types are valid";
    registry
        .register_inline_fn("noop", |_: JobContext, _: Value| async { Outcome::Complete(Value::Null) })
        .expect(valid);
    registry
        .register_inline_fn("echo", |_: JobContext, payload: Value| async move { Outcome::Complete(payload) })
        .expect(valid);
    registry
        .register_inline_fn("sleep", |_: JobContext, p: SleepPayload| async move {
            tokio::time::sleep(Duration::from_millis(p.ms)).await;
            Outcome::Complete(json!({ "slept_ms": p.ms }))
        })
        .expect(valid);
    registry
        .register_fn("block", |_: JobContext, p: SleepPayload| async move {
            // Deliberately blocking, for tests and crash experiments: a handler that never
            // yields costs its own slot and thread, not the node (see actors/job/runner.rs).
            std::thread::sleep(Duration::from_millis(p.ms));
            Outcome::Complete(json!({ "blocked_ms": p.ms }))
        })
        .expect(valid);
    registry
        .register_fn("cpu", |_: JobContext, p: CpuPayload| async move {
            // Off the actors' thread: a long loop must not stall heartbeats and leases.
            match tokio::task::spawn_blocking(move || burn(p.iterations)).await {
                Ok(checksum) => Outcome::Complete(json!({ "checksum": checksum })),
                Err(e) => Outcome::Fail(format!("cpu task failed: {e}")),
            }
        })
        .expect(valid);
    registry
        .register_inline_fn("fail", |ctx: JobContext, p: FailPayload| async move {
            if ctx.attempt <= p.times {
                Outcome::Fail(p.message.unwrap_or_else(|| format!("failed on purpose (attempt {})", ctx.attempt)))
            } else {
                Outcome::Complete(json!({ "succeeded_on_attempt": ctx.attempt }))
            }
        })
        .expect(valid);
    registry
        .register_inline_fn("collect", |ctx: JobContext, _: Value| async move {
            Outcome::Complete(json!({ "dependencies": ctx.dependencies }))
        })
        .expect(valid);
    registry
        .register_inline_fn("panic", |ctx: JobContext, p: PanicPayload| async move {
            if ctx.attempt <= p.times {
                panic!("panicked on purpose (attempt {})", ctx.attempt);
            }
            Outcome::Complete(json!({ "succeeded_on_attempt": ctx.attempt }))
        })
        .expect(valid);
}

/// A loop the optimiser cannot remove: xorshift over `iterations` steps.
fn burn(iterations: u64) -> u64 {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..iterations {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    std::hint::black_box(x)
}
