//! Recovery time of a fault: how long, from the moment it fired, until the cluster is
//! back to work (`docs/experiments.md`, *Recovery*). The longest of:
//!
//! 1. **the interrupted work moved on**: every attempt that was running on the fault's
//!    target when it fired — the worker for a worker fault, the node's workers for a
//!    node fault, every worker for a fault of a shared component — has ended, or its
//!    job has started again;
//! 2. **work resumed**: the first attempt anywhere that started or ended at or after
//!    the end of the fault's window (its `duration_ms`: a hang, a pause, a lock, an
//!    outage; an instant for a panic, a kill, a disconnect or a flush) — claims or
//!    completions going again;
//! 3. **the component is back**: for `redis_restart`, `redis_flush` and
//!    `qdrant_down`, the last moment a node that reported the component degraded on
//!    `/readyz` reported it healthy again.
//!
//! A part that does not apply is left out (nothing was running on the target; no
//! attempt started or ended after the window because the work was done; no node
//! reported the outage). A fault none of them applies to — or one that was skipped or failed to
//! fire — has no recovery time: it is counted, and shown as `-`.

use std::collections::BTreeMap;

use super::check::{ExecutionRow, Observed};
use super::harness::{FaultState, FiredFault, node_id};
use super::scenario::FaultKind;

/// What a fault hit, for part 1.
enum Target<'a> {
    Worker(&'a str),
    Node(String),
    Cluster,
}

fn target(f: &FiredFault) -> Target<'_> {
    match f.kind {
        FaultKind::WorkerPanic | FaultKind::WorkerHang | FaultKind::WorkerSlow => match &f.worker_id {
            Some(w) => Target::Worker(w),
            None => Target::Node(node_id(f.node)),
        },
        FaultKind::NodeKill
        | FaultKind::WorkerExit
        | FaultKind::NodePause
        | FaultKind::LateDrain
        | FaultKind::NodeTwin
        | FaultKind::DbDisconnect => Target::Node(node_id(f.node)),
        FaultKind::DbLock | FaultKind::RedisRestart | FaultKind::RedisFlush | FaultKind::QdrantDown => Target::Cluster,
    }
}

/// Whether the fault took effect (neither skipped nor failed).
pub fn fired(f: &FiredFault) -> bool {
    f.state == FaultState::Fired
}

/// The recovery time of `f` in milliseconds, or `None` (see the module docs).
pub fn recovery_ms(o: &Observed, f: &FiredFault) -> Option<i64> {
    if !fired(f) {
        return None;
    }
    let at = f.fired_ms;
    let window_end = at + f.duration_ms as i64;
    let node_of: BTreeMap<&str, &str> = o.workers.iter().map(|w| (w.worker_id.as_str(), w.node_id.as_str())).collect();
    let target = target(f);
    let hit = |e: &ExecutionRow| {
        let worker = e.worker_id.as_deref().unwrap_or("");
        match &target {
            Target::Worker(w) => worker == *w,
            Target::Node(n) => node_of.get(worker).is_some_and(|on| on == n),
            Target::Cluster => true,
        }
    };
    let mut by_job: BTreeMap<&str, Vec<&ExecutionRow>> = BTreeMap::new();
    for e in &o.executions {
        by_job.entry(e.job_id.as_str()).or_default().push(e);
    }
    let mut parts: Vec<i64> = Vec::new();

    // 1. The interrupted attempts moved on.
    for es in by_job.values() {
        let interrupted = es
            .iter()
            .any(|e| hit(e) && e.started_ms.is_some_and(|s| s <= at) && e.finished_ms.is_none_or(|end| end > at));
        if !interrupted {
            continue;
        }
        let moved_on = es.iter().flat_map(|e| [e.finished_ms, e.started_ms]).flatten().filter(|&t| t > at).min();
        // A job that never moved on is a lost job: the checks report it.
        if let Some(t) = moved_on {
            parts.push(t - at);
        }
    }

    // 2. Work resumed.
    let next =
        o.executions.iter().flat_map(|e| [e.started_ms, e.finished_ms]).flatten().filter(|&t| t >= window_end).min();
    if let Some(t) = next {
        parts.push(t - at);
    }

    // 3. The component is back.
    if let Some(t) = f.healthy_again_ms {
        parts.push(t - at);
    }
    parts.into_iter().max()
}
