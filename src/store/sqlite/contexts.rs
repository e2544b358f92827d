//! The embedded vector store's points ([`Contexts`](crate::store::Contexts)) on SQLite. Writes go through
//! the one writer; the exact search streams candidates from a reader.

use futures::TryStreamExt;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use super::codec::{parse_uuid, time};
use super::{SqliteStore, sql};
use crate::store::Contexts;
use crate::store::{PointKeys, StoreResult, decode_point, distinct_points, encode_point};
use crate::vector::{ContextPoint, Scored, SimilarQuery, TopK, matches};
use async_trait::async_trait;

/// A point from a row of [`sql::SEARCH_CONTEXTS`] or [`sql::JOB_CONTEXTS`].
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
    async fn put_contexts(&self, points: Vec<ContextPoint>) -> StoreResult<()> {
        let points = distinct_points(points);
        if points.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for point in &points {
            let c = &point.context;
            let (vector, context) = encode_point(point);
            sqlx::query(sql::PUT_CONTEXTS)
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

    async fn search_contexts(&self, query: SimilarQuery) -> StoreResult<Vec<Scored>> {
        let mut best = TopK::new(query.limit);
        let exclude = query.exclude_job.map(|id| id.to_string());
        let mut rows = sqlx::query(sql::SEARCH_CONTEXTS).bind(query.failed_only).bind(exclude).fetch(&self.readers);
        while let Some(row) = rows.try_next().await? {
            let point = point(&row)?;
            if matches(&query, &point.context) {
                best.offer(&query.vector, point.context, &point.vector);
            }
        }
        self.sent(1);
        Ok(best.into_sorted())
    }

    async fn job_contexts(&self, job_id: Uuid) -> StoreResult<Vec<ContextPoint>> {
        let found = sqlx::query(sql::JOB_CONTEXTS).bind(job_id.to_string()).fetch_all(&self.readers).await?;
        self.sent(1);
        found.iter().map(point).collect()
    }
}
