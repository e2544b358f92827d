//! Build script: facts the compiler cannot see by itself.
//!
//! - `sqlx::migrate!` embeds `migrations/`: a new migration file must rebuild the crate.
//! - The integration tests' Postgres cases run when `AEON_TEST_DATABASE_URL` names a
//!   database (`cfg(aeon_postgres_tests)`); without it they show as ignored, with the
//!   command that runs them, and the SQLite cases run alone.
//! - The dashboard's browser tests run (`cfg(aeon_browser_tests)`) when chromedriver
//!   was found at build time (`/usr/bin/chromedriver`, or `AEON_CHROMEDRIVER`), or when
//!   `AEON_BROWSER_TESTS=1` demands them (CI: they then fail if the browser is
//!   missing); otherwise they show as ignored, with the packages to install.
//! - The vector-store conformance suite's Qdrant cases run when `AEON_TEST_QDRANT_URL`
//!   names a Qdrant (gRPC, `http://127.0.0.1:6334`): `cfg(aeon_qdrant_tests)`; without
//!   it they show as ignored, with the command that runs them. The embedded store always
//!   runs. (Not `QDRANT_URL`: every node the tests start would inherit that one and move
//!   its contexts to that Qdrant, as `DATABASE_URL` would move its jobs.)
//! - The experiment that kills a real Qdrant server runs when `AEON_QDRANT_BIN` names
//!   the server's binary (the harness starts its own from it):
//!   `cfg(aeon_qdrant_server_tests)`; without it, it shows as ignored, with the command.

fn main() {
    println!("cargo::rerun-if-changed=migrations");
    println!("cargo::rerun-if-env-changed=AEON_TEST_DATABASE_URL");
    println!("cargo::rustc-check-cfg=cfg(aeon_postgres_tests)");
    if std::env::var_os("AEON_TEST_DATABASE_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=aeon_postgres_tests");
    }

    println!("cargo::rerun-if-env-changed=AEON_BROWSER_TESTS");
    println!("cargo::rerun-if-env-changed=AEON_CHROMEDRIVER");
    println!("cargo::rustc-check-cfg=cfg(aeon_browser_tests)");
    let driver = std::env::var("AEON_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let demanded = std::env::var_os("AEON_BROWSER_TESTS").is_some_and(|v| !v.is_empty() && v != "0");
    if std::path::Path::new(&driver).exists() {
        println!("cargo::rerun-if-changed={driver}");
        println!("cargo::rustc-cfg=aeon_browser_tests");
    } else if demanded {
        println!("cargo::rustc-cfg=aeon_browser_tests");
    }

    println!("cargo::rerun-if-env-changed=AEON_TEST_QDRANT_URL");
    println!("cargo::rustc-check-cfg=cfg(aeon_qdrant_tests)");
    if std::env::var_os("AEON_TEST_QDRANT_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=aeon_qdrant_tests");
    }

    println!("cargo::rerun-if-env-changed=AEON_QDRANT_BIN");
    println!("cargo::rustc-check-cfg=cfg(aeon_qdrant_server_tests)");
    if std::env::var_os("AEON_QDRANT_BIN").is_some_and(|bin| !bin.is_empty()) {
        println!("cargo::rustc-cfg=aeon_qdrant_server_tests");
    }
}
