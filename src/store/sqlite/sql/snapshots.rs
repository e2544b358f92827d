//! The SQLite statements of snapshot rows ([`Snapshots`](crate::store::Snapshots)).

statements! {
    /// ?1 id, ?2 type, ?3 state (JSON text), ?4 metadata (JSON text), ?5 created_at.
    pub const INSERT_SNAPSHOT: &str = "
    INSERT INTO state_snapshots (snapshot_id, snapshot_type, state_data, metadata, created_at)
    VALUES (?1, ?2, ?3, ?4, ?5)";

    /// ?1 type (nullable), ?2 node id (nullable), ?3 the previous page's last id (nullable),
    /// ?4 limit. Newest first; no state.
    pub const LIST_SNAPSHOTS: &str = concat!(
        "SELECT snapshot_id, snapshot_type, metadata, created_at
    FROM state_snapshots
    WHERE (?1 IS NULL OR snapshot_type = ?1)
      AND (?2 IS NULL OR ",
        snapshot_node!(),
        " = ?2)
      AND (?3 IS NULL OR (created_at, snapshot_id) <
           (SELECT created_at, snapshot_id FROM state_snapshots WHERE snapshot_id = ?3))
    ORDER BY created_at DESC, snapshot_id DESC
    LIMIT ?4"
    );

    /// ?1 id.
    pub const SELECT_SNAPSHOT: &str =
        "SELECT snapshot_id, snapshot_type, state_data, metadata, created_at FROM state_snapshots WHERE snapshot_id = ?1";

    /// ?1 node id (nullable). The newest snapshot, whole.
    pub const LATEST_SNAPSHOT: &str = concat!(
        "SELECT snapshot_id, snapshot_type, state_data, metadata, created_at FROM state_snapshots
    WHERE (?1 IS NULL OR ",
        snapshot_node!(),
        " = ?1)
    ORDER BY created_at DESC, snapshot_id DESC LIMIT 1"
    );

    /// ?1 ids (JSON array).
    pub const DELETE_SNAPSHOTS: &str = "DELETE FROM state_snapshots WHERE snapshot_id IN (SELECT value FROM json_each(?1))";
}
