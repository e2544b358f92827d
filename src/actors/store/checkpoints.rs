//! The StoreActor as the handler API's checkpoint store: a handler's
//! `JobContext::checkpoint` reaches the database through the node's StoreActor.

use async_trait::async_trait;
use serde_json::Value;
use uuid::Uuid;

use super::{LastCheckpoint, SaveCheckpoint, StoreHandle};
use crate::handler::CheckpointStore;
use crate::store::{Applied, Checkpoint, ClaimRef};

#[async_trait]
impl CheckpointStore for StoreHandle {
    async fn save_checkpoint(&self, claim: ClaimRef, data: Value) -> Result<Applied, String> {
        self.send(SaveCheckpoint(crate::store::SaveCheckpointParams { claim, data }))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    async fn last_checkpoint(&self, job_id: Uuid) -> Result<Option<Checkpoint>, String> {
        self.send(LastCheckpoint(job_id)).await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())
    }
}
