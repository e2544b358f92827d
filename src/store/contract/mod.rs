//! The store contract, split by concern. [`Store`] is their sum: a backend implements
//! each part in a file of the same name (`postgres/queue.rs`, `sqlite/queue.rs`, …),
//! and a caller imports the parts it uses, or [`prelude`](super::prelude) for all.
//!
//! | part | what | who calls it |
//! |---|---|---|
//! | [`Queue`] | the fenced hot path: submit, claim, settle, renew, rescue | workers, the Supervisor, the HealthMonitor (through the StoreActor) |
//! | [`Reads`] | reads, snapshot rows included; nothing written | the API, the dashboard, the CLI, snapshots (through `Node::reads`) |
//! | [`Operator`] | cancel, requeue, bulk actions, retention | the API and the Pruner (through the StoreActor) |
//! | [`Membership`] | nodes, incarnations, the rescue lease, workers' rows | the membership loop, the HealthMonitor |
//! | [`Snapshots`] | snapshot rows written and pruned | snapshot/ (through the StoreActor) |
//! | [`Contexts`] | the embedded vector store | `actors/store/vectors.rs` (through the StoreActor) |

mod contexts;
mod membership;
mod operator;
mod queue;
mod reads;
mod snapshots;

pub use contexts::Contexts;
pub use membership::{AcquireLeaseParams, Membership, RescueNodeParams, TakeNodeParams};
pub use operator::{ApplyBulkParams, Operator};
pub use queue::{Queue, ReleaseParams, SaveCheckpointParams};
pub use reads::{HealthHistoryParams, Reads};
pub use snapshots::Snapshots;

use async_trait::async_trait;

use super::StoreResult;

/// Everything the runtime asks of a database: the parts above, and the schema. Batch
/// methods take many items and run each as one statement (or one transaction of a
/// few), whatever the batch size.
#[async_trait]
pub trait Store: Queue + Reads + Operator + Membership + Snapshots + Contexts {
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;

    /// Whether the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Closes the connection pools: waits for the connections in use to come back,
    /// then closes every one. Later calls fail. Part of `Node::shutdown`: a pooled
    /// connection dropped after its runtime is gone would have nowhere to go back to.
    async fn close(&self) -> StoreResult<()>;
}
