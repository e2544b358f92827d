//! Retention: old finished jobs, dead letters and health logs deleted in bounded
//! batches. One node owns a SQLite file, so no lock between nodes is needed; the
//! single writer runs each pass as one short transaction between other writes.

use super::codec::time;
use super::{SqliteStore, sql};
use crate::store::{PrunePolicy, Pruned, StoreResult};

impl SqliteStore {
    pub(super) async fn prune_old_rows(&self, policy: PrunePolicy) -> StoreResult<Pruned> {
        let limit = i64::from(policy.batch);
        let mut pruned = Pruned::default();
        let mut tx = self.begin().await?;
        for (cutoff, statement, count) in [
            (policy.finished_before, sql::PRUNE_FINISHED, &mut pruned.finished),
            (policy.dead_letters_before, sql::PRUNE_DEAD_LETTERS, &mut pruned.dead_letters),
            (policy.health_logs_before, sql::PRUNE_HEALTH_LOGS, &mut pruned.health_logs),
            (policy.contexts_before, sql::PRUNE_CONTEXTS, &mut pruned.contexts),
        ] {
            if let Some(cutoff) = cutoff {
                *count = sqlx::query(statement).bind(time(cutoff)).bind(limit).execute(&mut *tx).await?.rows_affected();
                self.sent(1);
            }
        }
        self.commit(tx).await?;
        Ok(pruned)
    }
}
