//! The SQLite statements that write and prune snapshot rows ([`Snapshots`](crate::store::Snapshots)).

statements! {
    /// ?1 id, ?2 type, ?3 state (JSON text), ?4 metadata (JSON text), ?5 created_at.
    pub const INSERT_SNAPSHOT: &str = "
    INSERT INTO state_snapshots (snapshot_id, snapshot_type, state_data, metadata, created_at)
    VALUES (?1, ?2, ?3, ?4, ?5)";

    /// ?1 ids (JSON array).
    pub const DELETE_SNAPSHOTS: &str = "DELETE FROM state_snapshots WHERE snapshot_id IN (SELECT value FROM json_each(?1))";
}
