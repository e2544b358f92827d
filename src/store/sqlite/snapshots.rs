//! `state_snapshots`: written and read as given (see [`crate::store::SnapshotRow`]);
//! the reads are in `reads.rs`, with every other read, and decode rows with [`whole`].
//! The JSON texts are stored as they come, unchecked: SQLite has no JSON type, and a
//! snapshot's content is judged by [`crate::snapshot`], not by the store.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use super::codec::{time, uuid_list};
use super::{SqliteStore, rows, sql};
use crate::store::Snapshots;
use crate::store::{SnapshotRow, SnapshotType, StoreError, StoreResult};
use async_trait::async_trait;

pub(super) fn snapshot_type(row: &SqliteRow) -> StoreResult<SnapshotType> {
    row.try_get::<String, _>("snapshot_type")?
        .parse()
        .map_err(|e: crate::store::UnknownSnapshotType| StoreError::Corrupt(e.to_string()))
}

pub(super) fn whole(row: &SqliteRow) -> StoreResult<SnapshotRow> {
    Ok(SnapshotRow {
        snapshot_id: rows::uuid(row, "snapshot_id")?,
        snapshot_type: snapshot_type(row)?,
        state_data: row.try_get("state_data")?,
        metadata: row.try_get("metadata")?,
        created_at: rows::time(row, "created_at")?,
    })
}

#[async_trait]
impl Snapshots for SqliteStore {
    async fn insert_snapshot(&self, s: SnapshotRow) -> StoreResult<()> {
        sqlx::query(sql::INSERT_SNAPSHOT)
            .bind(s.snapshot_id.to_string())
            .bind(s.snapshot_type.as_str())
            .bind(&s.state_data)
            .bind(&s.metadata)
            .bind(time(s.created_at))
            .execute(&self.writer)
            .await?;
        self.sent(1);
        Ok(())
    }

    async fn delete_snapshots(&self, ids: Vec<Uuid>) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let done = sqlx::query(sql::DELETE_SNAPSHOTS).bind(uuid_list(ids)).execute(&self.writer).await?;
        self.sent(1);
        Ok(done.rows_affected())
    }
}
