//! Checkpoints and the embedded vector store's points on SQLite. Writes go through
//! the one writer; the exact search streams candidates from a reader.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use super::codec::{parse_json, parse_time, parse_uuid, time};
use super::{SqliteStore, sql};
use crate::store::Contexts;
use crate::store::{
    Applied, Checkpoint, ClaimRef, PointKeys, StoreResult, decode_point, distinct_points, encode_point,
};
use crate::vector::{ContextPoint, Scored, SimilarQuery, TopK, matches};
use async_trait::async_trait;

impl SqliteStore {
    pub(super) async fn save_job_checkpoint(
        &self,
        claim: ClaimRef,
        data: Value,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied> {
        let written = sqlx::query(sql::SAVE_CHECKPOINT)
            .bind(claim.job_id.to_string())
            .bind(claim.execution_id.to_string())
            .bind(data.to_string())
            .bind(time(now))
            .execute(&self.writer)
            .await?;
        self.sent(1);
        Ok(if written.rows_affected() == 1 { Applied::Applied } else { Applied::Stale })
    }

    pub(super) async fn read_checkpoint(&self, job_id: Uuid) -> StoreResult<Option<Checkpoint>> {
        let row = sqlx::query(sql::SELECT_CHECKPOINT).bind(job_id.to_string()).fetch_optional(&self.readers).await?;
        self.sent(1);
        row.map(|r| {
            Ok(Checkpoint {
                job_id: parse_uuid(&r.try_get::<String, _>(0)?)?,
                execution_id: parse_uuid(&r.try_get::<String, _>(1)?)?,
                attempt: r.try_get(2)?,
                data: parse_json(&r.try_get::<String, _>(3)?)?,
                saved_at: parse_time(&r.try_get::<String, _>(4)?)?,
            })
        })
        .transpose()
    }

    pub(super) async fn upsert_contexts(&self, points: Vec<ContextPoint>) -> StoreResult<()> {
        let points = distinct_points(points);
        if points.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for point in &points {
            let c = &point.context;
            let (vector, context) = encode_point(point);
            sqlx::query(sql::UPSERT_CONTEXT)
                .bind(c.execution_id.to_string())
                .bind(c.job_id.to_string())
                .bind(&c.job_type)
                .bind(c.attempt)
                .bind(&c.outcome)
                .bind(vector)
                .bind(context)
                .bind(time(c.recorded_at))
                .execute(&mut *tx)
                .await?;
        }
        self.sent(1);
        self.commit(tx).await
    }

    pub(super) async fn scan_contexts(&self, query: SimilarQuery) -> StoreResult<Vec<Scored>> {
        let mut best = TopK::new(query.limit);
        let exclude = query.exclude_job.map(|id| id.to_string());
        let mut rows = sqlx::query(sql::SCAN_CONTEXTS).bind(query.failed_only).bind(exclude).fetch(&self.readers);
        while let Some(row) = rows.try_next().await? {
            let point = point(&row)?;
            if matches(&query, &point.context) {
                best.offer(&query.vector, point.context, &point.vector);
            }
        }
        self.sent(1);
        Ok(best.into_sorted())
    }

    pub(super) async fn read_job_contexts(&self, job_id: Uuid) -> StoreResult<Vec<ContextPoint>> {
        let found = sqlx::query(sql::SELECT_JOB_CONTEXTS).bind(job_id.to_string()).fetch_all(&self.readers).await?;
        self.sent(1);
        found.iter().map(point).collect()
    }
}

/// A point from a row of [`sql::SCAN_CONTEXTS`] or [`sql::SELECT_JOB_CONTEXTS`].
fn point(row: &SqliteRow) -> StoreResult<ContextPoint> {
    let keys = PointKeys {
        execution_id: parse_uuid(&row.try_get::<String, _>(2)?)?,
        job_id: parse_uuid(&row.try_get::<String, _>(3)?)?,
        job_type: row.try_get(4)?,
        attempt: row.try_get(5)?,
        outcome: row.try_get(6)?,
    };
    let (vector, context): (Vec<u8>, String) = (row.try_get(0)?, row.try_get(1)?);
    decode_point(keys, &vector, &context)
}

#[async_trait]
impl Contexts for SqliteStore {
    async fn put_contexts(&self, points: Vec<crate::vector::ContextPoint>) -> StoreResult<()> {
        self.upsert_contexts(points).await
    }

    async fn search_contexts(&self, query: crate::vector::SimilarQuery) -> StoreResult<Vec<crate::vector::Scored>> {
        self.scan_contexts(query).await
    }

    async fn job_contexts(&self, job_id: Uuid) -> StoreResult<Vec<crate::vector::ContextPoint>> {
        self.read_job_contexts(job_id).await
    }
}
