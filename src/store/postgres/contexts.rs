//! The embedded vector store's points ([`Contexts`](crate::store::Contexts)) on Postgres.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{PgStore, sql};
use crate::store::Contexts;
use crate::store::{PointKeys, StoreResult, decode_point, distinct_points, encode_point};
use crate::vector::{ContextPoint, Scored, SimilarQuery, TopK, matches};
use async_trait::async_trait;

/// The columns of a batch of points, in the order of [`sql::PUT_CONTEXTS`]'s binds.
type ContextColumns =
    (Vec<Uuid>, Vec<Uuid>, Vec<String>, Vec<i32>, Vec<String>, Vec<Vec<u8>>, Vec<String>, Vec<DateTime<Utc>>);

impl PgStore {
    async fn put_contexts_with(&self, statement: &'static str, columns: &ContextColumns) -> Result<(), sqlx::Error> {
        let (ids, jobs, types, attempts, outcomes, vectors, contexts, at) = columns;
        self.sent(1);
        sqlx::query(statement)
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
        Ok(())
    }
}

/// A point from a row of [`sql::SEARCH_CONTEXTS`] or [`sql::JOB_CONTEXTS`].
fn point(row: &PgRow) -> StoreResult<ContextPoint> {
    let keys = PointKeys {
        execution_id: row.try_get(2)?,
        job_id: row.try_get(3)?,
        job_type: row.try_get(4)?,
        attempt: row.try_get(5)?,
        outcome: row.try_get(6)?,
    };
    let (vector, context): (Vec<u8>, String) = (row.try_get(0)?, row.try_get(1)?);
    decode_point(keys, &vector, &context)
}

#[async_trait]
impl Contexts for PgStore {
    async fn put_contexts(&self, points: Vec<ContextPoint>) -> StoreResult<()> {
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
        // A plain insert first: almost every write is new points, and `ON CONFLICT`
        // would make each row a speculative insertion (an index probe and one more WAL
        // record). Only a batch written again (its first write's answer was lost)
        // conflicts, and goes through the upsert.
        let columns = (ids, jobs, types, attempts, outcomes, vectors, contexts, at);
        let inserted = self.put_contexts_with(sql::PUT_CONTEXTS, &columns).await;
        match inserted {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                self.put_contexts_with(sql::PUT_CONTEXTS_UPSERT, &columns).await?;
            }
            other => other?,
        }
        Ok(())
    }

    async fn search_contexts(&self, query: SimilarQuery) -> StoreResult<Vec<Scored>> {
        let mut best = TopK::new(query.limit);
        let mut rows =
            sqlx::query(sql::SEARCH_CONTEXTS).bind(query.failed_only).bind(query.exclude_job).fetch(&self.pool);
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
        let found = sqlx::query(sql::JOB_CONTEXTS).bind(job_id).fetch_all(&self.pool).await?;
        self.sent(1);
        found.iter().map(point).collect()
    }
}
