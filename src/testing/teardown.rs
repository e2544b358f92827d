//! A test's end, checked.
//!
//! A test ends with its node shut down ([`TestNode::shutdown`](super::TestNode::shutdown),
//! `Node::shutdown`): the actors stop, their last writes are recorded, and the store's
//! pools close, so the test's actix System ends with no actor left mid-work and no
//! connection in use. A [`Teardown`] guard holds a test to that: a `TestNode` carries
//! one, and a test of `Node`s can arm its own.
//!
//! A test that fails before its shutdown is not made worse by it: the System then
//! drops its tasks with whatever they hold. A pooled connection dropped there has no
//! runtime to go back through, and sqlx's attempt panics, but inside the dropped task,
//! where tokio contains it (`tests/aeon/kit/teardown.rs` holds a connection in a
//! handler and fails on purpose: only that test fails). The guard adds no second panic
//! to a test that is already failing.

/// Armed while a test's node runs; [`Teardown::disarm`] once it is shut down. Dropped
/// armed while the test is not already failing, it fails the test, saying to end it
/// with the node's shutdown.
#[derive(Debug)]
#[must_use = "a guard dropped at once guards nothing"]
pub struct Teardown {
    armed: bool,
}

impl Teardown {
    pub fn arm() -> Teardown {
        Teardown { armed: true }
    }

    /// The node was shut down: nothing is left to check.
    pub fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Teardown {
    fn drop(&mut self) {
        if self.armed && !std::thread::panicking() {
            panic!(
                "a test node was dropped before it was shut down: end the test with \
                 `node.shutdown().await` (its actors would be left mid-work)"
            );
        }
    }
}
