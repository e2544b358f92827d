//! The Supervisor's restart history: the latest restarts and give-ups of its workers,
//! oldest first, bounded. Operators read it in snapshots; a restore brings it back.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How many events the history keeps.
pub const HISTORY_LIMIT: usize = 100;

/// What the Supervisor did about a dead worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartOutcome {
    Restarted,
    /// Past the restart intensity limit: the worker is FAILED.
    GaveUp,
}

/// One restart (or give-up) of a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartEvent {
    pub worker_id: Uuid,
    pub at: DateTime<Utc>,
    /// The worker's deaths so far, this one included.
    pub failure_count: i32,
    pub outcome: RestartOutcome,
}

/// The latest [`HISTORY_LIMIT`] events.
#[derive(Debug, Clone, Default)]
pub struct RestartHistory(VecDeque<RestartEvent>);

impl RestartHistory {
    pub fn push(&mut self, event: RestartEvent) {
        self.0.push_back(event);
        while self.0.len() > HISTORY_LIMIT {
            self.0.pop_front();
        }
    }

    pub fn events(&self) -> Vec<RestartEvent> {
        self.0.iter().cloned().collect()
    }

    /// A history as a snapshot recorded it (the newest [`HISTORY_LIMIT`] kept).
    pub fn restored(events: Vec<RestartEvent>) -> Self {
        let mut history = Self::default();
        for event in events {
            history.push(event);
        }
        history
    }
}
