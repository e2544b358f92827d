//! Dependency bookkeeping inside the transactions that submit and settle jobs, as in
//! `PgStore`: a dependent is released (or cancelled) in the same transaction as the
//! completion (or failure, or cancel) of its last dependency, so no crash can come
//! between the two. The write lock `BEGIN IMMEDIATE` takes stands in for Postgres's
//! row locks: no other write can interleave.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::{Sqlite, Transaction};
use uuid::Uuid;

use super::codec::{parse_uuid, time, uuid_list};
use super::{SqliteStore, sql};
use crate::job::NewJob;
use crate::store::answers::outside_dependencies;
use crate::store::{StoreError, StoreResult};

pub(super) use crate::store::answers::Settled;

impl SqliteStore {
    /// Refuses the submit if a dependency outside the batch does not exist (one inside
    /// it is new and exists once the batch is inserted).
    pub(super) async fn lock_dependencies(&self, tx: &mut Transaction<'_, Sqlite>, jobs: &[NewJob]) -> StoreResult<()> {
        let outside = outside_dependencies(jobs);
        if outside.is_empty() {
            return Ok(());
        }
        let found: Vec<String> = sqlx::query_scalar(sql::ENQUEUE_LOCK_DEPENDENCIES)
            .bind(uuid_list(outside.iter().copied()))
            .fetch_all(&mut **tx)
            .await?;
        self.sent(1);
        let found: HashSet<Uuid> = found.iter().map(|id| parse_uuid(id)).collect::<StoreResult<_>>()?;
        match outside.iter().find(|d| !found.contains(d)) {
            Some(missing) => Err(StoreError::unknown_dependency(jobs, *missing)),
            None => Ok(()),
        }
    }

    /// Writes the edges of the jobs that were inserted, then decides each one's
    /// starting state (ready, cancelled, or waiting).
    pub(super) async fn insert_edges(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        jobs: &[&NewJob],
        now: DateTime<Utc>,
    ) -> StoreResult<Settled> {
        let edges: Vec<Value> = jobs
            .iter()
            .flat_map(|job| {
                job.depends_on
                    .iter()
                    .map(|dep| json!({ "job": job.job_id, "dep": dep, "policy": job.dependency_policy.as_str() }))
            })
            .collect();
        if edges.is_empty() {
            return Ok(Settled::default());
        }
        sqlx::query(sql::ENQUEUE_EDGES)
            .bind(Value::Array(edges).to_string())
            .bind(time(now))
            .execute(&mut **tx)
            .await?;
        self.sent(1);
        let waiting: Vec<Uuid> = jobs.iter().filter(|j| !j.depends_on.is_empty()).map(|j| j.job_id).collect();
        self.resolve_waiting(tx, waiting, now).await
    }

    /// Settles the waiting dependents of jobs that just finished (completed,
    /// dead-lettered or cancelled), in the caller's transaction.
    pub(super) async fn settle_dependents(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        finished: &[Uuid],
        now: DateTime<Utc>,
    ) -> StoreResult<Settled> {
        if finished.is_empty() {
            return Ok(Settled::default());
        }
        let waiting = self.waiting_dependents(tx, finished).await?;
        self.resolve_waiting(tx, waiting, now).await
    }

    async fn waiting_dependents(&self, tx: &mut Transaction<'_, Sqlite>, of: &[Uuid]) -> StoreResult<Vec<Uuid>> {
        let found: Vec<String> = sqlx::query_scalar(sql::LOCK_WAITING_DEPENDENTS)
            .bind(uuid_list(of.iter().copied()))
            .fetch_all(&mut **tx)
            .await?;
        self.sent(1);
        found.iter().map(|id| parse_uuid(id)).collect()
    }

    /// Cancels the doomed among `waiting` (and theirs, transitively), then releases
    /// whatever is ready, including `continue` dependents of the newly cancelled.
    async fn resolve_waiting(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        mut waiting: Vec<Uuid>,
        now: DateTime<Utc>,
    ) -> StoreResult<Settled> {
        if waiting.is_empty() {
            return Ok(Settled::default());
        }
        let cancelled: Vec<String> = sqlx::query_scalar(sql::CANCEL_DOOMED)
            .bind(uuid_list(waiting.iter().copied()))
            .bind(time(now))
            .fetch_all(&mut **tx)
            .await?;
        self.sent(1);
        let cancelled: Vec<Uuid> = cancelled.iter().map(|id| parse_uuid(id)).collect::<StoreResult<_>>()?;
        if !cancelled.is_empty() {
            let more = self.waiting_dependents(tx, &cancelled).await?;
            waiting.extend(more);
        }
        let released: Vec<String> = sqlx::query_scalar(sql::RELEASE_READY)
            .bind(uuid_list(waiting.iter().copied()))
            .bind(time(now))
            .fetch_all(&mut **tx)
            .await?;
        self.sent(1);
        Ok(Settled {
            released: released.iter().map(|id| parse_uuid(id)).collect::<StoreResult<_>>()?,
            cancelled: cancelled.into_iter().collect(),
        })
    }
}
