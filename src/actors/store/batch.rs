//! A buffer of requests that go to the database together, and the callers waiting on
//! them. The [`StoreActor`](super::StoreActor) keeps one per batched operation.

use actix::SpawnHandle;
use tokio::sync::oneshot;

use crate::store::{StoreError, StoreResult};

/// Items waiting to be flushed, each with the caller waiting for its answer.
#[derive(Debug)]
pub struct Batch<T, R> {
    items: Vec<T>,
    waiters: Vec<oneshot::Sender<StoreResult<R>>>,
    /// The timer that flushes this batch when its window ends.
    pub timer: Option<SpawnHandle>,
}

impl<T, R> Default for Batch<T, R> {
    fn default() -> Self {
        Self { items: Vec::new(), waiters: Vec::new(), timer: None }
    }
}

impl<T, R> Batch<T, R> {
    /// Adds `item`; the receiver gets its answer when the batch is flushed.
    pub fn push(&mut self, item: T) -> oneshot::Receiver<StoreResult<R>> {
        let (tx, rx) = oneshot::channel();
        self.items.push(item);
        self.waiters.push(tx);
        rx
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Takes the first `n` items (all, if fewer) with their waiters, leaving the rest.
    pub fn take_first(&mut self, n: usize) -> (Vec<T>, Waiters<R>) {
        if self.items.len() <= n {
            return self.take();
        }
        let rest = self.items.split_off(n);
        let waiting = self.waiters.split_off(n);
        (std::mem::replace(&mut self.items, rest), Waiters(std::mem::replace(&mut self.waiters, waiting)))
    }

    /// Empties the batch, handing back its items and their waiters.
    pub fn take(&mut self) -> (Vec<T>, Waiters<R>) {
        self.timer = None;
        (std::mem::take(&mut self.items), Waiters(std::mem::take(&mut self.waiters)))
    }
}

/// The callers of one flushed batch.
#[derive(Debug)]
pub struct Waiters<R>(Vec<oneshot::Sender<StoreResult<R>>>);

impl<R> Waiters<R> {
    /// Answers each caller with its own item's outcome, or all of them with the error.
    pub fn answer(self, outcome: StoreResult<Vec<R>>) {
        match outcome {
            Ok(results) if results.len() == self.0.len() => {
                for (tx, r) in self.0.into_iter().zip(results) {
                    let _ = tx.send(Ok(r)); // the caller may have given up waiting
                }
            }
            Ok(results) => {
                let message = format!("store answered {} items for a batch of {}", results.len(), self.0.len());
                self.fail_all(&message);
            }
            Err(e) => self.fail_all(&e.to_string()),
        }
    }

    /// Answers each caller with its own item's outcome, in order.
    pub fn answer_each(self, outcomes: Vec<StoreResult<R>>) {
        debug_assert_eq!(outcomes.len(), self.0.len());
        for (tx, outcome) in self.0.into_iter().zip(outcomes) {
            let _ = tx.send(outcome); // the caller may have given up waiting
        }
    }

    fn fail_all(self, message: &str) {
        for tx in self.0 {
            let _ = tx.send(Err(StoreError::Database(format!("batch failed: {message}").into())));
        }
    }
}
