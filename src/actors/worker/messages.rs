//! Messages a Worker answers.

use actix::Message;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::job::Job;
use crate::store::{ClaimedJob, StoreResult};

/// Jobs the Supervisor claimed for this worker. Those beyond free capacity are queued, up
/// to `prefetch`; any beyond that are released.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Assign(pub Vec<ClaimedJob>);

/// Heartbeat now and check running jobs' deadlines (a timer sends it; tests too).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Tick;

/// How to crash a worker on purpose. Read from `{"mode": …}` with `ms` where the mode
/// takes it (`hang`, `slow`) and nowhere else: a field that does not apply is refused,
/// not dropped, so a request never means less than it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase", try_from = "CrashFields")]
pub enum CrashMode {
    /// The worker actor panics and dies; the Supervisor restarts it.
    Panic,
    /// The worker stops answering and heartbeating for `ms`, then goes on as before;
    /// without `ms`, until it is killed. A hang longer than `health.dead_after_ms`
    /// gets it declared dead, killed and restarted by its Supervisor.
    Hang {
        #[serde(skip_serializing_if = "Option::is_none")]
        ms: Option<u64>,
    },
    /// Every job waits `ms` before starting (`ms = 0` restores normal speed).
    Slow { ms: u64 },
    /// The whole node process aborts (node-level experiments).
    Exit,
}

/// A crash request as written; [`CrashMode`]'s `TryFrom` checks its fields agree.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CrashFields {
    mode: ModeName,
    #[serde(default, deserialize_with = "whole_ms")]
    ms: Option<u64>,
}

/// Milliseconds as JSON (and JSON Schema) count an integer: `25`, or `25.0` and `2.5e1`.
fn whole_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
    if let Some(ms) = n.as_u64() {
        return Ok(Some(ms));
    }
    match n.as_f64() {
        // Below 2^64, where the conversion is exact for a whole number.
        Some(f) if f.fract() == 0.0 && (0.0..1.844_674_407_370_955_2e19).contains(&f) => Ok(Some(f as u64)),
        _ => Err(D::Error::custom(format!("{n} is not a whole number of milliseconds (0 or more)"))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum ModeName {
    Panic,
    Hang,
    Slow,
    Exit,
}

impl TryFrom<CrashFields> for CrashMode {
    type Error = String;

    /// The messages begin as serde's own do, so the API names the field at fault.
    fn try_from(fields: CrashFields) -> Result<Self, String> {
        match (fields.mode, fields.ms) {
            (ModeName::Panic, None) => Ok(CrashMode::Panic),
            (ModeName::Exit, None) => Ok(CrashMode::Exit),
            (ModeName::Hang, ms) => Ok(CrashMode::Hang { ms }),
            (ModeName::Slow, Some(ms)) => Ok(CrashMode::Slow { ms }),
            (ModeName::Slow, None) => Err("missing field `ms`: mode `slow` needs it".into()),
            (ModeName::Panic | ModeName::Exit, Some(_)) => {
                Err("unknown field `ms`: only modes `hang` and `slow` take it".into())
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Crash(pub CrashMode);

/// Stop now, whatever the mode: the Supervisor's kill.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Terminate;

/// Give every running and queued claim back (drain). Answers how many there were.
#[derive(Debug, Clone, Message)]
#[rtype(result = "usize")]
pub struct ReleaseAll {
    pub reason: String,
}

/// Give queued claims back unrun, keeping the running ones (a drain's first step).
/// Answers how many went back.
#[derive(Debug, Clone, Message)]
#[rtype(result = "usize")]
pub struct ReleaseQueued {
    pub reason: String,
}

/// Cancel a job if it runs here; `None` if it does not.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Option<StoreResult<Job>>")]
pub struct CancelJob {
    pub job_id: Uuid,
}

/// Stop the runs of jobs a bulk cancel has already cancelled in the store: their
/// handlers see the cancellation (their results were fenced off already), and their
/// claims queued here leave the queue. Answers how many of them this worker held.
#[derive(Debug, Clone, Message)]
#[rtype(result = "usize")]
pub struct StopCancelled {
    pub job_ids: std::sync::Arc<std::collections::HashSet<Uuid>>,
}

/// Kill the Job actor running `job_id` here, as a bug in it would (see
/// [`crate::actors::job::Kill`]). Answers whether such a run was here.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "bool")]
pub struct KillJob {
    pub job_id: Uuid,
}

/// (current load, capacity). A hung worker never answers.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "(u32, u32)")]
pub struct GetLoad;

/// The claims this worker holds, for a snapshot. A hung worker never answers.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Held")]
pub struct GetHeld;

/// A claim a worker holds: its job and its execution (the fencing token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldClaim {
    pub job_id: Uuid,
    pub execution_id: Uuid,
}

/// The claims a worker holds: running (handler not ended) and queued for a slot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    pub running: Vec<HeldClaim>,
    pub queued: Vec<HeldClaim>,
}
