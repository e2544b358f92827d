//! How a backend declares its SQL: `statements! { /// doc
//! pub const NAME: &str = "…"; … }` makes each a `pub const` and lists every one of
//! them, by name, in the file's `STATEMENTS`, which the backend's `sql::all()` chains
//! and the schema tests prepare against the live schema. A statement cannot be
//! declared without being listed: there is no hand-kept list to forget.

macro_rules! statements {
    ($( $(#[$meta:meta])* pub const $name:ident: &str = $sql:expr; )*) => {
        $( $(#[$meta])* pub const $name: &str = $sql; )*

        /// Every statement of this file, by name.
        pub(super) const STATEMENTS: &[(&str, &str)] = &[$((stringify!($name), $name)),*];
    };
}

/// A backend's `sql/` module: its statement files, each declared once here, re-exported
/// (`sql::NAME`), and chained by `all()`, so a file cannot be added without its
/// statements being listed.
macro_rules! statement_files {
    ($($file:ident),* $(,)?) => {
        $( mod $file; )*
        $( pub use $file::*; )*

        /// Every statement of this backend, by name: what the schema tests prepare.
        pub fn all() -> impl Iterator<Item = (&'static str, &'static str)> {
            [$($file::STATEMENTS),*].into_iter().flatten().copied()
        }
    };
}
