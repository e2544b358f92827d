//! Build script: two facts the compiler cannot see by itself.
//!
//! - `sqlx::migrate!` embeds `migrations/`: a new migration file must rebuild the crate.
//! - The integration tests' Postgres cases run when `AEON_TEST_DATABASE_URL` names a
//!   database (`cfg(aeon_postgres_tests)`); without it they show as ignored, with the
//!   command that runs them, and the SQLite cases run alone.

fn main() {
    println!("cargo::rerun-if-changed=migrations");
    println!("cargo::rerun-if-env-changed=AEON_TEST_DATABASE_URL");
    println!("cargo::rustc-check-cfg=cfg(aeon_postgres_tests)");
    if std::env::var_os("AEON_TEST_DATABASE_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=aeon_postgres_tests");
    }
}
