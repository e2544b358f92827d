//! Dependency bookkeeping inside the transactions that submit and settle jobs.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::{PgStore, sql};
use crate::job::NewJob;
use crate::store::answers::outside_dependencies;
use crate::store::{StoreError, StoreResult};

pub(super) use crate::store::answers::Settled;

impl PgStore {
    /// Locks the dependencies that already exist and refuses the submit if one does
    /// not (a dependency inside the batch is new and needs no lock).
    pub(super) async fn lock_dependencies(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        jobs: &[NewJob],
    ) -> StoreResult<()> {
        let outside = outside_dependencies(jobs);
        if outside.is_empty() {
            return Ok(());
        }
        let found: HashSet<Uuid> = sqlx::query_scalar(sql::ENQUEUE_LOCK_DEPENDENCIES)
            .bind(&outside)
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .collect();
        self.sent(1);
        match outside.iter().find(|d| !found.contains(d)) {
            Some(missing) => Err(StoreError::unknown_dependency(jobs, *missing)),
            None => Ok(()),
        }
    }

    /// Writes the edges of the jobs that were inserted, then decides each one's
    /// starting state (ready, cancelled, or waiting).
    pub(super) async fn insert_edges(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        jobs: &[&NewJob],
        now: DateTime<Utc>,
    ) -> StoreResult<Settled> {
        let (mut dependents, mut dependencies, mut policies) = (Vec::new(), Vec::new(), Vec::new());
        for job in jobs {
            for dep in &job.depends_on {
                dependents.push(job.job_id);
                dependencies.push(*dep);
                policies.push(job.dependency_policy.as_str());
            }
        }
        if dependents.is_empty() {
            return Ok(Settled::default());
        }
        sqlx::query(sql::ENQUEUE_EDGES)
            .bind(&dependents)
            .bind(&dependencies)
            .bind(&policies)
            .bind(now)
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
        tx: &mut Transaction<'_, Postgres>,
        finished: &[Uuid],
        now: DateTime<Utc>,
    ) -> StoreResult<Settled> {
        if finished.is_empty() {
            return Ok(Settled::default());
        }
        let waiting: Vec<Uuid> =
            sqlx::query_scalar(sql::LOCK_WAITING_DEPENDENTS).bind(finished).fetch_all(&mut **tx).await?;
        self.sent(1);
        self.resolve_waiting(tx, waiting, now).await
    }

    /// Cancels the doomed among `waiting` (and theirs, transitively), then releases
    /// whatever is ready, including `continue` dependents of the newly cancelled.
    async fn resolve_waiting(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        mut waiting: Vec<Uuid>,
        now: DateTime<Utc>,
    ) -> StoreResult<Settled> {
        if waiting.is_empty() {
            return Ok(Settled::default());
        }
        let cancelled: Vec<Uuid> =
            sqlx::query_scalar(sql::CANCEL_DOOMED).bind(&waiting).bind(now).fetch_all(&mut **tx).await?;
        self.sent(1);
        if !cancelled.is_empty() {
            let more: Vec<Uuid> =
                sqlx::query_scalar(sql::LOCK_WAITING_DEPENDENTS).bind(&cancelled).fetch_all(&mut **tx).await?;
            self.sent(1);
            waiting.extend(more);
        }
        let released: Vec<Uuid> =
            sqlx::query_scalar(sql::RELEASE_READY).bind(&waiting).bind(now).fetch_all(&mut **tx).await?;
        self.sent(1);
        Ok(Settled { released: released.into_iter().collect(), cancelled: cancelled.into_iter().collect() })
    }
}
