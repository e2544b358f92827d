//! Checkpoints and the embedded vector store's points on Postgres.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;

use super::{PgStore, sql};
use crate::store::{Applied, Checkpoint, ClaimRef, StoreResult, decode_point, distinct_points, encode_point};
use crate::vector::{ContextPoint, Scored, SimilarQuery, TopK, matches};

impl PgStore {
    pub(super) async fn save_job_checkpoint(
        &self,
        claim: ClaimRef,
        data: Value,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied> {
        let written = sqlx::query(sql::SAVE_CHECKPOINT)
            .bind(claim.job_id)
            .bind(claim.execution_id)
            .bind(data.to_string())
            .bind(now)
            .execute(&self.pool)
            .await?;
        self.sent(1);
        Ok(if written.rows_affected() == 1 { Applied::Applied } else { Applied::Stale })
    }

    pub(super) async fn read_checkpoint(&self, job_id: Uuid) -> StoreResult<Option<Checkpoint>> {
        let row = sqlx::query(sql::SELECT_CHECKPOINT).bind(job_id).fetch_optional(&self.pool).await?;
        self.sent(1);
        row.map(|r| {
            Ok(Checkpoint {
                job_id: r.try_get(0)?,
                execution_id: r.try_get(1)?,
                attempt: r.try_get(2)?,
                data: r.try_get(3)?,
                saved_at: r.try_get(4)?,
            })
        })
        .transpose()
    }

    pub(super) async fn upsert_contexts(&self, points: Vec<ContextPoint>) -> StoreResult<()> {
        let points = distinct_points(points);
        if points.is_empty() {
            return Ok(());
        }
        let (mut ids, mut jobs, mut types, mut attempts, mut outcomes, mut vectors, mut contexts, mut at) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for point in &points {
            let c = &point.context;
            let (vector, context) = encode_point(point);
            ids.push(c.execution_id);
            jobs.push(c.job_id);
            types.push(c.job_type.clone());
            attempts.push(c.attempt);
            outcomes.push(c.outcome.clone());
            vectors.push(vector);
            contexts.push(context);
            at.push(c.recorded_at);
        }
        sqlx::query(sql::UPSERT_CONTEXTS)
            .bind(ids)
            .bind(jobs)
            .bind(types)
            .bind(attempts)
            .bind(outcomes)
            .bind(vectors)
            .bind(contexts)
            .bind(at)
            .execute(&self.pool)
            .await?;
        self.sent(1);
        Ok(())
    }

    pub(super) async fn scan_contexts(&self, query: SimilarQuery) -> StoreResult<Vec<Scored>> {
        let mut best = TopK::new(query.limit);
        let mut rows =
            sqlx::query(sql::SCAN_CONTEXTS).bind(query.failed_only).bind(query.exclude_job).fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            let (vector, context): (Vec<u8>, String) = (row.try_get(0)?, row.try_get(1)?);
            let point = decode_point(&vector, &context)?;
            if matches(&query, &point.context) {
                best.offer(&query.vector, point.context, &point.vector);
            }
        }
        self.sent(1);
        Ok(best.into_sorted())
    }

    pub(super) async fn read_job_contexts(&self, job_id: Uuid) -> StoreResult<Vec<ContextPoint>> {
        let found = sqlx::query(sql::SELECT_JOB_CONTEXTS).bind(job_id).fetch_all(&self.pool).await?;
        self.sent(1);
        found
            .iter()
            .map(|row| {
                let (vector, context): (Vec<u8>, String) = (row.try_get(0)?, row.try_get(1)?);
                decode_point(&vector, &context)
            })
            .collect()
    }
}
