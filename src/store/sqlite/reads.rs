//! The reads of the contract: a job, its attempts, listings, dead letters and counts.
//! They run on the read-only connections, beside the writer (WAL): a read never waits
//! for a write, and each sees every write committed before it began.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::codec::time;
use super::{SqliteStore, rows, sql};
use crate::job::{Execution, Job, JobStatus};
use crate::store::{DeadLetter, JobFilter, StoreResult};

impl SqliteStore {
    pub(super) async fn read_job(&self, job_id: Uuid) -> StoreResult<Option<Job>> {
        let row = sqlx::query(sql::SELECT_JOB).bind(job_id.to_string()).fetch_optional(&self.readers).await?;
        self.sent(1);
        row.as_ref().map(rows::job).transpose()
    }

    pub(super) async fn read_executions(&self, job_id: Uuid) -> StoreResult<Vec<Execution>> {
        let found = sqlx::query(sql::SELECT_EXECUTIONS).bind(job_id.to_string()).fetch_all(&self.readers).await?;
        self.sent(1);
        found.iter().map(rows::execution).collect()
    }

    pub(super) async fn read_jobs(&self, filter: JobFilter) -> StoreResult<Vec<Job>> {
        let found = sqlx::query(sql::LIST_JOBS)
            .bind(filter.status.map(|s| s.as_str()))
            .bind(filter.job_type)
            .bind(filter.before.map(|id| id.to_string()))
            .bind(i64::from(filter.limit))
            .fetch_all(&self.readers)
            .await?;
        self.sent(1);
        found.iter().map(rows::job).collect()
    }

    pub(super) async fn read_dead_letters(&self, limit: u32, before: Option<i64>) -> StoreResult<Vec<DeadLetter>> {
        let found =
            sqlx::query(sql::SELECT_DEAD_LETTERS).bind(i64::from(limit)).bind(before).fetch_all(&self.readers).await?;
        self.sent(1);
        found.iter().map(rows::dead_letter).collect()
    }

    pub(super) async fn count_completed_since(&self, since: DateTime<Utc>) -> StoreResult<i64> {
        let n = sqlx::query_scalar(sql::COMPLETED_SINCE).bind(time(since)).fetch_one(&self.readers).await?;
        self.sent(1);
        Ok(n)
    }

    pub(super) async fn count_jobs_by_status(&self) -> StoreResult<Vec<(JobStatus, i64)>> {
        let found: Vec<(String, i64)> = sqlx::query_as(sql::COUNT_BY_STATUS).fetch_all(&self.readers).await?;
        self.sent(1);
        found.into_iter().map(|(s, n)| Ok((s.parse()?, n))).collect()
    }
}
