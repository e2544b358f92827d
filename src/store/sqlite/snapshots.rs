//! `state_snapshots`: written and read as given (see [`crate::store::SnapshotRow`]).
//! The JSON texts are stored as they come, unchecked: SQLite has no JSON type, and a
//! snapshot's content is judged by [`crate::snapshot`], not by the store.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use super::codec::{time, uuid_list};
use super::{SqliteStore, rows, sql};
use crate::store::Snapshots;
use crate::store::{SnapshotFilter, SnapshotRow, SnapshotSummary, SnapshotType, StoreError, StoreResult};
use async_trait::async_trait;

impl SqliteStore {
    pub(super) async fn insert_snapshot_row(&self, s: SnapshotRow) -> StoreResult<()> {
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

    pub(super) async fn select_snapshots(&self, filter: SnapshotFilter) -> StoreResult<Vec<SnapshotSummary>> {
        let found = sqlx::query(sql::LIST_SNAPSHOTS)
            .bind(filter.snapshot_type.map(|t| t.as_str()))
            .bind(filter.node_id)
            .bind(filter.before.map(|id| id.to_string()))
            .bind(i64::from(filter.limit))
            .fetch_all(&self.readers)
            .await?;
        self.sent(1);
        found
            .iter()
            .map(|row| {
                Ok(SnapshotSummary {
                    snapshot_id: rows::uuid(row, "snapshot_id")?,
                    snapshot_type: snapshot_type(row)?,
                    metadata: row.try_get("metadata")?,
                    created_at: rows::time(row, "created_at")?,
                })
            })
            .collect()
    }

    pub(super) async fn select_snapshot(&self, snapshot_id: Uuid) -> StoreResult<Option<SnapshotRow>> {
        let row = sqlx::query(sql::SELECT_SNAPSHOT).bind(snapshot_id.to_string()).fetch_optional(&self.readers).await?;
        self.sent(1);
        row.as_ref().map(whole).transpose()
    }

    pub(super) async fn select_latest_snapshot(&self, node_id: Option<String>) -> StoreResult<Option<SnapshotRow>> {
        let row = sqlx::query(sql::LATEST_SNAPSHOT).bind(node_id).fetch_optional(&self.readers).await?;
        self.sent(1);
        row.as_ref().map(whole).transpose()
    }

    pub(super) async fn delete_snapshot_rows(&self, ids: Vec<Uuid>) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let done = sqlx::query(sql::DELETE_SNAPSHOTS).bind(uuid_list(ids)).execute(&self.writer).await?;
        self.sent(1);
        Ok(done.rows_affected())
    }
}

fn snapshot_type(row: &SqliteRow) -> StoreResult<SnapshotType> {
    row.try_get::<String, _>("snapshot_type")?
        .parse()
        .map_err(|e: crate::store::UnknownSnapshotType| StoreError::Corrupt(e.to_string()))
}

fn whole(row: &SqliteRow) -> StoreResult<SnapshotRow> {
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
    async fn insert_snapshot(&self, snapshot: SnapshotRow) -> StoreResult<()> {
        self.insert_snapshot_row(snapshot).await
    }

    async fn list_snapshots(&self, filter: SnapshotFilter) -> StoreResult<Vec<SnapshotSummary>> {
        self.select_snapshots(filter).await
    }

    async fn get_snapshot(&self, snapshot_id: Uuid) -> StoreResult<Option<SnapshotRow>> {
        self.select_snapshot(snapshot_id).await
    }

    async fn latest_snapshot(&self, node_id: Option<String>) -> StoreResult<Option<SnapshotRow>> {
        self.select_latest_snapshot(node_id).await
    }

    async fn delete_snapshots(&self, snapshot_ids: Vec<Uuid>) -> StoreResult<u64> {
        self.delete_snapshot_rows(snapshot_ids).await
    }
}
