//! A store that cannot be used says once what failed, where (host, port, database, or
//! the file), and what to check — never the password, never the same cause twice.

use std::process::Command;

use crate::common::{TestDb, postgres_only};

/// `aeon migrate` against `url`; answers its stderr (it must fail).
fn migrate(url: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_aeon"))
        .arg("migrate")
        .current_dir(std::env::temp_dir())
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(!out.status.success(), "migrate against {url} must fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_closed_port_is_named_with_its_place_and_what_to_check_once() {
    let said = migrate("postgres://aeon:pg-s3cret@127.0.0.1:1/jobs");
    assert!(said.contains("127.0.0.1:1/jobs"), "names where: {said}");
    assert!(said.contains("is PostgreSQL running"), "says what to check: {said}");
    assert!(!said.contains("s3cret"), "no password: {said}");
    assert_eq!(said.matches("refused").count(), 1, "the cause once: {said}");
    assert_eq!(said.lines().filter(|l| !l.trim().is_empty()).count(), 1, "one line: {said}");
}

async fn a_missing_database_is_named_once_with_the_fix(_db: TestDb) {
    let url = crate::common::database_url();
    let missing = format!("{}/aeon_no_such_database", url.rsplit_once('/').unwrap().0);
    let said = migrate(&missing);
    assert!(said.contains("aeon_no_such_database"), "{said}");
    assert_eq!(said.matches("does not exist").count(), 1, "the cause once: {said}");
    assert!(said.contains("create it"), "{said}");
    assert!(!said.contains("at line"), "no server source lines: {said}");
}

postgres_only!(a_missing_database_is_named_once_with_the_fix);

#[test]
fn a_sqlite_file_that_cannot_be_made_is_named() {
    let said = migrate("sqlite:///proc/aeon-cannot-write-here/aeon.db");
    assert!(said.contains("/proc/aeon-cannot-write-here"), "{said}");
    assert_eq!(said.lines().filter(|l| !l.trim().is_empty()).count(), 1, "one line: {said}");
}
