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
//!
//! A handler registered as never blocking ([`crate::handler::Placement::Inline`]) runs
//! on the actors' runtime instead ([`run_inline`]): the hand-off to another thread and
//! back is two thread wake-ups per run, which for a short job costs the node more than
//! the job itself (docs/performance.md). Cancellation and panics are handled alike.

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

/// Runs `run` on the calling task until it returns, panics or `cancel` fires: for
/// handlers that never block (see the module's documentation).
pub async fn run_inline<F: Future>(run: F, cancel: CancellationToken) -> Ran<F::Output> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => Ran::Cancelled,
        ran = AssertUnwindSafe(run).catch_unwind() => match ran {
            Ok(value) => Ran::Returned(value),
            Err(panic) => Ran::Panicked(panic),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn a_cancelled_run_is_dropped_at_its_await_on_its_own_thread() {
        let dropped = Arc::new(AtomicBool::new(false));
        let (cancel, flag) = (CancellationToken::new(), Flag(dropped.clone()));
        let caller = std::thread::current().id();
        let run = run_isolated(
            async move {
                let _flag = flag;
                assert_ne!(std::thread::current().id(), caller, "not on the caller's thread");
                std::future::pending::<()>().await
            },
            cancel.clone(),
        );
        cancel.cancel();
        assert!(matches!(run.await, Ran::Cancelled));
        assert!(dropped.load(Ordering::SeqCst), "the run's future was dropped");
    }

    #[tokio::test]
    async fn an_inline_run_stays_on_the_callers_thread_and_is_contained_and_cancellable() {
        let caller = std::thread::current().id();
        let here = run_inline(async move { std::thread::current().id() == caller }, CancellationToken::new()).await;
        assert!(matches!(here, Ran::Returned(true)), "ran on the caller's thread");
        assert!(matches!(run_inline(async { panic!("boom") }, CancellationToken::new()).await, Ran::Panicked(_)));
        let cancel = CancellationToken::new();
        cancel.cancel();
        assert!(matches!(run_inline(std::future::pending::<()>(), cancel).await, Ran::Cancelled));
    }

    #[tokio::test]
    async fn a_panicking_run_is_contained() {
        let ran = run_isolated(async { panic!("boom") }, CancellationToken::new()).await;
        assert!(matches!(ran, Ran::Panicked(_)));
        assert!(matches!(run_isolated(async { 7 }, CancellationToken::new()).await, Ran::Returned(7)));
    }
}
