//! The Postgres statements of snapshot rows ([`Snapshots`](crate::store::Snapshots)).

statements! {
    /// $1 id, $2 type, $3 state (JSON text), $4 metadata (JSON text), $5 created_at.
    pub const INSERT_SNAPSHOT: &str = "
    INSERT INTO state_snapshots (snapshot_id, snapshot_type, state_data, metadata, created_at)
    VALUES ($1, $2, $3::jsonb, $4::jsonb, $5)";

    /// $1 type (nullable), $2 node id (nullable), $3 the previous page's last id (nullable),
    /// $4 limit. Newest first; no state.
    pub const LIST_SNAPSHOTS: &str = "
    SELECT snapshot_id, snapshot_type, metadata::text AS metadata, created_at
    FROM state_snapshots
    WHERE ($1::text IS NULL OR snapshot_type = $1::text)
      AND ($2::text IS NULL OR metadata ->> 'node_id' = $2::text)
      AND ($3::uuid IS NULL OR (created_at, snapshot_id) <
           (SELECT created_at, snapshot_id FROM state_snapshots WHERE snapshot_id = $3::uuid))
    ORDER BY created_at DESC, snapshot_id DESC
    LIMIT $4";

    /// $1 id.
    pub const SELECT_SNAPSHOT: &str =
        concat!("SELECT ", snapshot_columns!(), " FROM state_snapshots WHERE snapshot_id = $1");

    /// $1 node id (nullable). The newest snapshot, whole.
    pub const LATEST_SNAPSHOT: &str = concat!(
        "SELECT ",
        snapshot_columns!(),
        " FROM state_snapshots WHERE ($1::text IS NULL OR metadata ->> 'node_id' = $1::text)
         ORDER BY created_at DESC, snapshot_id DESC LIMIT 1"
    );

    /// $1 ids.
    pub const DELETE_SNAPSHOTS: &str = "DELETE FROM state_snapshots WHERE snapshot_id = ANY($1::uuid[])";
}
