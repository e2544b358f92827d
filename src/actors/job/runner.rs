//! Where handlers run: each on a thread of its own, never on the actors' thread.
//!
//! Every actor of a node shares one thread. A handler that blocks without yielding (a
//! CPU loop, `std::thread::sleep`, a blocking client) would stall heartbeats, claims and
//! the HTTP API with it, and nothing could interrupt it. So a run is handed to a thread
//! of tokio's blocking pool, which drives it with a current-thread runtime of that
//! thread's own (made once per thread, reused by the runs that thread takes later):
//! a blocking handler costs its own slot and its own thread, nothing else.
//!
//! Cancelling a run (timeout, cancel, release, a dead worker) drops the handler's
//! future at its next `.await`. A handler that never yields cannot be dropped: its run
//! is abandoned — the Job actor settles it and the slot is free at once, fencing
//! refuses anything it might still write — and its thread stays busy until the handler
//! returns by itself; then the thread goes back to the pool. The pool grows past such
//! threads (up to tokio's limit of 512), so they cost memory, not throughput.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// How a run ended on its thread.
pub enum Ran<T> {
    Returned(T),
    Panicked(Box<dyn Any + Send>),
    /// Cancelled at an `.await`, or the thread could not be had.
    Cancelled,
}

thread_local! {
    /// The runtime that drives the runs of this (blocking-pool) thread.
    static RUNTIME: Option<tokio::runtime::Runtime> =
        tokio::runtime::Builder::new_current_thread().enable_all().build().ok();
}

/// Runs `run` on a thread of its own until it returns, panics or `cancel` fires.
/// Must be called inside a tokio runtime (the actors' own).
pub fn run_isolated<F>(run: F, cancel: CancellationToken) -> impl Future<Output = Ran<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let ran = RUNTIME.with(|runtime| {
            let Some(runtime) = runtime else {
                return Ran::Panicked(Box::new("no runtime could be built for the handler's thread"));
            };
            runtime.block_on(async {
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => Ran::Cancelled,
                    ran = AssertUnwindSafe(run).catch_unwind() => match ran {
                        Ok(value) => Ran::Returned(value),
                        Err(panic) => Ran::Panicked(panic),
                    },
                }
            })
        });
        let _ = tx.send(ran); // the Job actor may have settled and gone already
    });
    async move { rx.await.unwrap_or(Ran::Cancelled) }
}
