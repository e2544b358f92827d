//! The store: the contract every database backend fulfils.
//!
//! This module is the contract alone: the [`Store`] trait, split by concern into
//! [`Queue`], [`Reads`], [`Operator`], [`Membership`], [`Snapshots`] and [`Contexts`]
//! (`contract/`), and the values that cross it ([`types`]), in the runtime's own
//! types, with no driver and no actor in sight. Each
//! backend lives in its own folder: [`postgres`] (production, several nodes) and
//! [`sqlite`] (the embedded default, one node); [`open`] picks one from a URL. Both
//! pass one conformance suite (`tests/aeon/`). Inside a node every actor's call, and
//! every write, goes through the [`StoreActor`](crate::actors::store::StoreActor)
//! (batched, watched for stalls: readiness). The API's, the dashboard's and snapshots'
//! reads go through [`StoreReads`](crate::actors::store::StoreReads), a read-only
//! `&dyn Reads` timed by a watch of its own (`Node::reads`). Only the gauges, readiness's
//! ping, the start (taking the node id, choosing a snapshot) and the shutdown's close
//! call the store directly, outside any actor (docs/architecture.md).
//!
//! One name per operation: the trait method (`requeue_dead_letter`), its StoreActor
//! message (`RequeueDeadLetter`), its FaultyStore `Op` (`Op::RequeueDeadLetter`) and
//! the statement that is the operation (`REQUEUE_DEAD_LETTER`; a statement that is one
//! step of it is named after it: `REQUEUE_DEAD_LETTER_ENTRY`). An operation that takes
//! more than two values takes a params struct (`ReleaseParams`) and `now`.
//!
//! Every method takes `now` from the caller's injected clock: scheduling, leases and
//! backoff follow simulated time in tests.

#[macro_use]
mod statements;

pub mod answers;
mod cluster;
mod contexts;
mod contract;
mod driver_error;
mod failure;
mod open;
pub mod postgres;
mod snapshots;
pub mod sqlite;
mod types;

pub use cluster::{Fence, NodeRecord, NodeStatus, RESCUE_LEASE, RESTARTED};
pub use contexts::{Checkpoint, MAX_CHECKPOINT_BYTES, PointKeys, decode_point, distinct_points, encode_point};
pub use contract::{
    AcquireLeaseParams, ApplyBulkParams, HealthHistoryParams, ReleaseParams, RescueNodeParams, SaveCheckpointParams,
    TakeNodeParams,
};
pub use contract::{Contexts, Membership, Operator, Queue, Reads, Snapshots, Store};
pub use failure::{FailureDecision, UNSTARTED, decide_failure, gives_back_unstarted};
pub use open::{Backend, open};
pub use snapshots::*;
pub use types::*;

use uuid::Uuid;

use crate::job::{JobStatus, NewJob, ValidationError};

/// Every part of the store contract, for a caller that uses several:
/// `use aeon::store::prelude::*;`.
pub mod prelude {
    pub use super::contract::{Contexts, Membership, Operator, Queue, Reads, Snapshots, Store};
}

/// Why a store operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("job {0} not found")]
    NotFound(Uuid),
    #[error("job {job_id} is {status}: {reason}")]
    Conflict { job_id: Uuid, status: JobStatus, reason: &'static str },
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A row that this build cannot read (an unknown status, say).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database refused or could not be reached.
    /// (Its text carries the driver's message; it is not also reported as a source, so
    /// an error chain prints it once.)
    #[error("database error: {0}")]
    Database(Box<dyn std::error::Error + Send + Sync>),
    /// The database refused a write for want of space: its disk (or, on SQLite, its
    /// size limit) is full. Nothing of the write was kept. The driver's message.
    #[error("the database's disk is full: {0}")]
    DiskFull(String),
    /// The StoreActor has stopped; the request was not delivered.
    #[error("store actor unavailable")]
    Unavailable,
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// A submit naming a dependency that does not exist, refused whole. The field is
    /// `depends_on` for a single job and `jobs[i].depends_on` for the first job of a
    /// batch that names it, as the submitter numbered them.
    pub fn unknown_dependency(jobs: &[NewJob], missing: Uuid) -> StoreError {
        let field = match jobs.iter().position(|j| j.depends_on.contains(&missing)) {
            Some(i) if jobs.len() > 1 => format!("jobs[{i}].depends_on"),
            _ => "depends_on".to_string(),
        };
        StoreError::Invalid(ValidationError::new(field, format!("job {missing} does not exist")))
    }
}

impl From<crate::job::ParseStatusError> for StoreError {
    fn from(e: crate::job::ParseStatusError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}
