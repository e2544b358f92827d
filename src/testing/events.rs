//! Awaiting what the actors report on the probe: named events, with a timeout,
//! instead of sleeps.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;
use uuid::Uuid;

use super::TestNode;
use crate::actors::probe::Event;

/// Waits on a probe's receiver for the first event `wanted` accepts, skipping others;
/// panics after `within`, naming `what` and listing the events it skipped. For tests
/// that start actors themselves with [`Probe::channel`](crate::actors::probe::Probe::channel).
pub async fn expect_event(
    events: &mut UnboundedReceiver<Event>,
    within: Duration,
    what: &str,
    wanted: impl Fn(&Event) -> bool,
) -> Event {
    let mut skipped = Vec::new();
    let found = tokio::time::timeout(within, async {
        while let Some(event) = events.recv().await {
            if wanted(&event) {
                return Some(event);
            }
            skipped.push(event);
        }
        None
    })
    .await;
    match found {
        Ok(Some(event)) => event,
        Ok(None) => panic!("the probe closed while waiting for {what}; events before: {}", listed(&skipped)),
        Err(_) => panic!("no {what} within {within:?}; events meanwhile: {}", listed(&skipped)),
    }
}

/// The last events of a list, for a failure message.
fn listed(events: &[Event]) -> String {
    const SHOWN: usize = 20;
    let start = events.len().saturating_sub(SHOWN);
    let more = if start > 0 { format!("({start} earlier not shown) ") } else { String::new() };
    format!("{more}{:?}", &events[start..])
}

impl TestNode {
    /// Waits for the next event (after those already expected) that `wanted`
    /// accepts, and answers it; events before it are passed over. Panics after the
    /// node's patience ([`PATIENCE`](super::PATIENCE) by default), naming `what` and
    /// listing the events it saw.
    ///
    /// ```
    /// # use aeon::{actors::probe::Event, handler::Registry, testing::TestNode};
    /// # actix_rt::System::new().block_on(async {
    /// let mut node = TestNode::start(Registry::with_builtins()).await;
    /// let job_id = node.submit("echo", serde_json::json!("hi")).await;
    /// node.expect_event("the echo job settling", |e| matches!(e, Event::JobSettled { job_id: j } if *j == job_id)).await;
    /// node.shutdown().await;
    /// # });
    /// ```
    pub async fn expect_event(&mut self, what: &str, wanted: impl Fn(&Event) -> bool) -> Event {
        self.expect_event_within(self.patience, what, wanted).await
    }

    /// [`TestNode::expect_event`] with a timeout of its own.
    pub async fn expect_event_within(
        &mut self,
        within: Duration,
        what: &str,
        wanted: impl Fn(&Event) -> bool,
    ) -> Event {
        let from = self.read;
        match self.find_event(from, within, &wanted).await {
            Some(at) => {
                self.read = at + 1;
                self.journal[at].clone()
            }
            None => {
                let seen = &self.journal[from..];
                panic!("no {what} within {within:?}; events meanwhile: {}", listed(seen))
            }
        }
    }

    /// Waits until the run of `job_id` is settled (its outcome written).
    pub async fn expect_settled(&mut self, job_id: Uuid) {
        let what = format!("the settlement of job {job_id}");
        self.expect_event(&what, |e| matches!(e, Event::JobSettled { job_id: j } if *j == job_id)).await;
    }

    /// Every event the actors reported so far, oldest first (expected or not).
    pub fn events(&mut self) -> &[Event] {
        self.pump_ready();
        &self.journal
    }

    /// Moves the events already sent into the journal, without waiting.
    pub(super) fn pump_ready(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            self.journal.push(event);
        }
    }

    /// The journal index of the first event from `from` on that `wanted` accepts,
    /// waiting up to `within` for it to arrive; `None` if it does not.
    pub(super) async fn find_event(
        &mut self,
        from: usize,
        within: Duration,
        wanted: &impl Fn(&Event) -> bool,
    ) -> Option<usize> {
        let deadline = Instant::now() + within;
        let mut at = from;
        loop {
            self.pump_ready();
            if let Some(found) = self.journal[at.min(self.journal.len())..].iter().position(wanted) {
                return Some(at + found);
            }
            at = self.journal.len().max(at);
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(event)) => self.journal.push(event),
                Ok(None) | Err(_) => return None,
            }
        }
    }
}
