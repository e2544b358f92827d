//! The actix System to run async tests in:
//! `#[actix_rt::test(system = "aeon::testing::TestSystem")]`.
//!
//! When a test ends, its System is dropped with whatever its actors were doing: a
//! HealthMonitor sweep or a gauge refresh may hold a pooled database connection just
//! then. sqlx returns a dropped connection to its pool by spawning a task, which needs
//! a tokio runtime to be current — and the System's own is already gone while its
//! tasks are dropped, so that spawn would panic inside a destructor and abort the whole
//! test binary. A spare runtime is made current around the System's end: such a spawn
//! lands there, harmlessly, and is dropped with it. (A node process never meets this:
//! `aeon node` drains, then exits without tearing its runtime down.)

use std::future::Future;

/// Makes a [`TestRunner`]; stands where the macro expects `actix_rt::System`:
///
/// ```
/// #[actix_rt::test(system = "aeon::testing::TestSystem")]
/// async fn runs_in_a_test_system() {
///     assert_eq!(1 + 1, 2);
/// }
/// # fn main() {}
/// ```
pub struct TestSystem;

impl TestSystem {
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> TestRunner {
        let spare = tokio::runtime::Builder::new_current_thread().build().expect("a spare runtime");
        TestRunner { system: actix_rt::System::new(), spare }
    }
}

/// A System and the spare runtime made current while it ends.
pub struct TestRunner {
    system: actix_rt::SystemRunner,
    spare: tokio::runtime::Runtime,
}

impl TestRunner {
    /// Runs `test` to its end in the System, then drops the System with the spare
    /// runtime current.
    pub fn block_on<F: Future>(self, test: F) -> F::Output {
        let TestRunner { system, spare } = self;
        let _current = spare.enter();
        let output = system.block_on(test);
        drop(system); // its tasks are dropped while the spare runtime is current
        output
    }
}
