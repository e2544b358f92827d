//! The ClusterLink: the actor through which a node's own actors reach the cluster.
//! Dependents released here ([`JobsReady`]) wake this node and the others; a retry or
//! a scheduled job coming due ([`DueAt`]) sets a timer for the earliest time known,
//! which wakes this node and the others when it fires, rather than waiting for a poll.

use chrono::{DateTime, Utc};

use actix::prelude::*;

use super::Cluster;
use crate::actors::store::{DueAt, JobsReady};
use crate::actors::supervisor::Wake;
use crate::clock::SharedClock;

pub struct ClusterLink {
    cluster: Cluster,
    supervisor: Recipient<Wake>,
    clock: SharedClock,
    /// The time the timer is set for, while it is set.
    next_due: Option<DateTime<Utc>>,
    /// Bumped whenever the timer is set again: an older timer that fires does nothing.
    generation: u64,
}

impl ClusterLink {
    pub fn new(cluster: Cluster, supervisor: Recipient<Wake>, clock: SharedClock) -> Self {
        Self { cluster, supervisor, clock, next_due: None, generation: 0 }
    }

    fn wake_all(&self) {
        self.supervisor.do_send(Wake);
        self.cluster.wake_peers();
    }
}

impl Actor for ClusterLink {
    type Context = Context<Self>;
}

impl Handler<JobsReady> for ClusterLink {
    type Result = ();

    fn handle(&mut self, _: JobsReady, _: &mut Self::Context) {
        self.wake_all();
    }
}

impl Handler<DueAt> for ClusterLink {
    type Result = ();

    fn handle(&mut self, DueAt(at): DueAt, ctx: &mut Self::Context) {
        let now = self.clock.now();
        if at <= now {
            self.wake_all();
            return;
        }
        if self.next_due.is_some_and(|due| due <= at) {
            return; // an earlier timer is set; it looks again for what is next
        }
        self.next_due = Some(at);
        self.generation += 1;
        let generation = self.generation;
        // A millisecond late, so that the claim's `scheduled_at <= now` holds.
        let wait = (at - now).to_std().unwrap_or_default() + std::time::Duration::from_millis(1);
        let sleep = self.clock.sleep(wait);
        ctx.spawn(sleep.into_actor(self).map(move |(), act, _| {
            if act.generation == generation {
                act.next_due = None;
                act.wake_all();
            }
        }));
    }
}

crate::actors::stops_on_shutdown!(ClusterLink);
