//! The SQLite statements of an operator's writes and retention ([`Operator`](crate::store::Operator)).

statements! {
    /// ?1 cutoff, ?2 limit. Finished jobs.
    pub const PRUNE_FINISHED: &str = prune_jobs!("('COMPLETED', 'CANCELLED')");

    /// ?1 cutoff, ?2 limit. Dead-lettered jobs.
    pub const PRUNE_DEAD_LETTERS: &str = prune_jobs!("('DEAD_LETTER')");

    /// ?1 cutoff, ?2 limit. Execution contexts of the embedded vector store, oldest first.
    pub const PRUNE_CONTEXTS: &str = "
    DELETE FROM execution_contexts WHERE execution_id IN (
        SELECT execution_id FROM execution_contexts WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)";

    /// ?1 cutoff, ?2 limit. Health logs, oldest first.
    pub const PRUNE_HEALTH_LOGS: &str = "
    DELETE FROM worker_health_logs WHERE log_id IN (
        SELECT log_id FROM worker_health_logs WHERE logged_at < ?1 ORDER BY logged_at LIMIT ?2)";
}
