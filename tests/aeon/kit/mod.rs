//! The testing kit, `aeon::testing`: each of its functions has a test here that fails
//! when it breaks, assertion helpers included (they must fail when they should).

mod assertions;
mod faults;
mod faulty_store;
mod node;
mod perform;
mod teardown;

use aeon::handler::Registry;
use aeon::testing::TestNode;

use crate::common::TestDb;
use crate::common::actors::{Gate, registry_with_gate};

/// A test node on `db` (either backend), the built-ins and `gate` as its handlers.
pub async fn gated_node(db: &TestDb) -> (TestNode, Gate) {
    let (registry, gate) = registry_with_gate();
    (node_on(db, registry).await, gate)
}

/// A test node running `registry` on `db`'s store, backoff exact (1 s, 2 s, …).
pub async fn node_on(db: &TestDb, registry: Registry) -> TestNode {
    TestNode::builder(registry).store(db.store(crate::common::exact_backoff()).shared()).start().await
}
