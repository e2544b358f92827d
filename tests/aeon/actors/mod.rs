//! Actor-level tests: each actor alone, with stand-in neighbours and a probe.

mod health;
mod job;
mod supervisor;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use aeon::actors::health::{Heartbeat, RunMetric};
use aeon::actors::probe::{Event, Probe};
use aeon::actors::store::{StoreActor, StoreActorConfig, StoreHandle};
use aeon::actors::supervisor::SlotsFreed;
use aeon::actors::worker::{Worker, WorkerLinks, WorkerSpec};
use aeon::clock::{Clock, ManualClock};
use aeon::store::{ClaimRequest, ClaimedJob};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::common::actors::{Gate, recorder, registry_with_gate};
use crate::common::{AnyStore, TestDb, exact_backoff, shared};

/// One Worker on a real store, its other neighbours recorders.
pub struct WorkerRig {
    pub db: TestDb,
    pub store: AnyStore,
    pub store_addr: StoreHandle,
    pub worker: Addr<Worker>,
    pub worker_id: Uuid,
    pub token: CancellationToken,
    pub clock: ManualClock,
    pub gate: Gate,
    pub events: UnboundedReceiver<Event>,
    pub freed: UnboundedReceiver<SlotsFreed>,
    pub beats: UnboundedReceiver<Heartbeat>,
    pub metrics: UnboundedReceiver<RunMetric>,
}

pub async fn worker_rig(db: TestDb, capacity: u32) -> WorkerRig {
    worker_rig_with(db, capacity, 0, Duration::from_secs(2)).await
}

pub async fn worker_rig_with(db: TestDb, capacity: u32, prefetch: u32, prefetch_wait: Duration) -> WorkerRig {
    let store = db.store(exact_backoff());
    let clock = ManualClock::starting_now();
    let store_addr = StoreActor::new(
        store.shared(),
        shared(&clock),
        StoreActorConfig { window_ms: 1, max_size: 100, ..Default::default() },
    )
    .start();
    let (registry, gate) = registry_with_gate();
    let (probe, events) = Probe::channel();
    let (supervisor, freed) = recorder::<SlotsFreed>();
    let (heartbeats, beats) = recorder::<Heartbeat>();
    let (metrics_to, metrics) = recorder::<RunMetric>();
    let worker_id = Uuid::new_v4();
    let token = CancellationToken::new();
    let spec = WorkerSpec {
        worker_id,
        incarnation: 0,
        capacity,
        prefetch,
        prefetch_horizon: Some(aeon::actors::worker::prefetch::HORIZON),
        prefetch_wait,
        heartbeat_every: None,
        token: token.clone(),
        lease: Duration::from_secs(60),
    };
    let links = WorkerLinks {
        store: store_addr.clone(),
        supervisor,
        heartbeats,
        metrics: metrics_to,
        registry: Arc::new(registry),
        clock: shared(&clock),
        probe,
        contexts: None,
    };
    let worker = Worker::new(spec, links).start();
    WorkerRig { db, store, store_addr, worker, worker_id, token, clock, gate, events, freed, beats, metrics }
}

impl WorkerRig {
    /// Claims up to `limit` ready jobs of any type for this rig's worker.
    pub async fn claim(&self, limit: u32) -> Vec<ClaimedJob> {
        let job_types = ["cpu", "echo", "fail", "gate", "noop", "panic", "sleep"].map(String::from).into();
        let request = ClaimRequest::one(self.worker_id, limit, Duration::from_secs(60), job_types);
        self.store.claim(request, self.clock.now()).await.unwrap()
    }
}
