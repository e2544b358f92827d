//! Group commit for single submits: a submit that arrives while the writers are busy
//! (up to [`WRITERS`] writes in flight) waits for one of them and goes out with every
//! submit that arrived meanwhile, as one statement and one commit. A lone submit goes
//! out at once, so one client pays no window; many concurrent clients share commits,
//! as completions do. Two writers rather than one: the next group is on its way while
//! the previous one waits for its commit (measured: docs/performance.md).
//!
//! Each caller is answered only once its own job is durable (or refused). A group the
//! database refuses is written again item by item (see [`super::batch_or_each`]), so
//! one bad submit (a dependency that does not exist, say) fails only itself.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::StoreWatch;
use super::batch::Batch;
use crate::clock::SharedClock;
use crate::job::NewJob;
use crate::store::{Enqueued, Store, StoreError, StoreResult};

/// Writers at most at once: with two, one group is being written while the next is
/// already on its way.
const WRITERS: usize = 2;

/// The submits waiting for a writer, and how many writers run.
#[derive(Default)]
struct Queue {
    waiting: Batch<NewJob, Enqueued>,
    writing: usize,
}

/// Shared by the StoreActor (which queues submits) and the writer task it starts
/// (which drains them). The writer is detached from the actor, so a stopping
/// StoreActor does not strand the submits already queued.
#[derive(Clone)]
pub struct GroupCommit {
    queue: Arc<Mutex<Queue>>,
    store: Arc<dyn Store>,
    clock: SharedClock,
    watch: StoreWatch,
    /// The most submits one write carries; the rest go in the next.
    max_size: usize,
}

impl GroupCommit {
    pub fn new(store: Arc<dyn Store>, clock: SharedClock, watch: StoreWatch, max_size: usize) -> Self {
        Self { queue: Arc::default(), store, clock, watch, max_size: max_size.max(1) }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `job`; starts a writer if none runs. The receiver gets the job's answer
    /// once it is written.
    pub fn submit(&self, job: NewJob) -> oneshot::Receiver<StoreResult<Enqueued>> {
        let (answer, start) = {
            let mut queue = self.queue();
            let answer = queue.waiting.push(job);
            let start = queue.writing < WRITERS;
            queue.writing += usize::from(start);
            (answer, start)
        };
        if start {
            actix::spawn(self.clone().write_until_empty());
        }
        answer
    }

    /// Writes the queued submits, a group at a time, until none is left.
    async fn write_until_empty(self) {
        let _unstuck = Unstuck(self.queue.clone());
        loop {
            let (jobs, waiters) = {
                let mut queue = self.queue();
                if queue.waiting.len() == 0 {
                    queue.writing -= 1;
                    return;
                }
                queue.waiting.take_first(self.max_size)
            };
            let store = self.store.clone();
            let now = self.clock.now();
            let answers = super::batch_or_each(&self.watch, jobs, |jobs| {
                let store = store.clone();
                Box::pin(async move { store.enqueue(jobs, now).await.map(|enqueued| (enqueued, 0)) })
            })
            .await;
            waiters.answer_each(answers.each);
        }
    }
}

/// Should a writer die mid-write (a panic in a store), the next submit starts a new
/// one rather than queueing behind it forever; those it left queued are answered
/// `Unavailable` (their senders dropped) rather than left waiting.
struct Unstuck(Arc<Mutex<Queue>>);

impl Drop for Unstuck {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut queue = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            queue.writing = queue.writing.saturating_sub(1);
            drop(queue.waiting.take());
        }
    }
}

/// A submit's answer, or `Unavailable` if its writer was dropped unanswered.
pub async fn answer(receiver: oneshot::Receiver<StoreResult<Enqueued>>) -> StoreResult<Enqueued> {
    receiver.await.unwrap_or(Err(StoreError::Unavailable))
}
