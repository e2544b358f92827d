//! `state_snapshots`: written and read as given (see [`crate::store::SnapshotRow`]).
//! JSON travels as text both ways; Postgres checks that it is JSON on the way in.

use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{PgStore, sql};
use crate::store::Snapshots;
use crate::store::{SnapshotFilter, SnapshotRow, SnapshotSummary, SnapshotType, StoreError, StoreResult};
use async_trait::async_trait;

impl PgStore {
    pub(super) async fn insert_snapshot_row(&self, s: SnapshotRow) -> StoreResult<()> {
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

    pub(super) async fn select_snapshots(&self, filter: SnapshotFilter) -> StoreResult<Vec<SnapshotSummary>> {
        let found = sqlx::query(sql::LIST_SNAPSHOTS)
            .bind(filter.snapshot_type.map(|t| t.as_str()))
            .bind(filter.node_id)
            .bind(filter.before)
            .bind(i64::from(filter.limit))
            .fetch_all(&self.pool)
            .await?;
        self.sent(1);
        found
            .iter()
            .map(|row| {
                Ok(SnapshotSummary {
                    snapshot_id: row.try_get("snapshot_id")?,
                    snapshot_type: snapshot_type(row)?,
                    metadata: row.try_get("metadata")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    pub(super) async fn select_snapshot(&self, snapshot_id: Uuid) -> StoreResult<Option<SnapshotRow>> {
        let row = sqlx::query(sql::SELECT_SNAPSHOT).bind(snapshot_id).fetch_optional(&self.pool).await?;
        self.sent(1);
        row.as_ref().map(whole).transpose()
    }

    pub(super) async fn select_latest_snapshot(&self, node_id: Option<String>) -> StoreResult<Option<SnapshotRow>> {
        let row = sqlx::query(sql::LATEST_SNAPSHOT).bind(node_id).fetch_optional(&self.pool).await?;
        self.sent(1);
        row.as_ref().map(whole).transpose()
    }

    pub(super) async fn delete_snapshot_rows(&self, ids: Vec<Uuid>) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let done = sqlx::query(sql::DELETE_SNAPSHOTS).bind(&ids).execute(&self.pool).await?;
        self.sent(1);
        Ok(done.rows_affected())
    }
}

fn snapshot_type(row: &PgRow) -> StoreResult<SnapshotType> {
    row.try_get::<String, _>("snapshot_type")?
        .parse()
        .map_err(|e: crate::store::UnknownSnapshotType| StoreError::Corrupt(e.to_string()))
}

fn whole(row: &PgRow) -> StoreResult<SnapshotRow> {
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
