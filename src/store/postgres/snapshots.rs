//! `state_snapshots`: written and read as given (see [`crate::store::SnapshotRow`]);
//! the reads are in `reads.rs`, with every other read, and decode rows with [`whole`].
//! JSON travels as text both ways; Postgres checks that it is JSON on the way in.

use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{PgStore, sql};
use crate::store::Snapshots;
use crate::store::{SnapshotRow, SnapshotType, StoreError, StoreResult};
use async_trait::async_trait;

pub(super) fn snapshot_type(row: &PgRow) -> StoreResult<SnapshotType> {
    row.try_get::<String, _>("snapshot_type")?
        .parse()
        .map_err(|e: crate::store::UnknownSnapshotType| StoreError::Corrupt(e.to_string()))
}

pub(super) fn whole(row: &PgRow) -> StoreResult<SnapshotRow> {
    Ok(SnapshotRow {
        snapshot_id: row.try_get("snapshot_id")?,
        snapshot_type: snapshot_type(row)?,
        state_data: row.try_get("state_data")?,
        metadata: row.try_get("metadata")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl Snapshots for PgStore {
    async fn insert_snapshot(&self, s: SnapshotRow) -> StoreResult<()> {
        sqlx::query(sql::INSERT_SNAPSHOT)
            .bind(s.snapshot_id)
            .bind(s.snapshot_type.as_str())
            .bind(&s.state_data)
            .bind(&s.metadata)
            .bind(s.created_at)
            .execute(&self.pool)
            .await?;
        self.sent(1);
        Ok(())
    }

    async fn delete_snapshots(&self, ids: Vec<Uuid>) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let done = sqlx::query(sql::DELETE_SNAPSHOTS).bind(&ids).execute(&self.pool).await?;
        self.sent(1);
        Ok(done.rows_affected())
    }
}
