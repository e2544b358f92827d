//! Layering: defaults, then the file, then the environment, then validation.

use std::path::Path;

use toml::{Table, Value};

use super::redact::{SECRET_KEYS, URL_KEYS, shown};
use super::{Config, ConfigError};

/// The conventional variables, and the key each one sets.
const CONVENTIONAL: &[(&str, &str)] =
    &[("DATABASE_URL", "store.url"), ("REDIS_URL", "redis.url"), ("QDRANT_URL", "qdrant.url")];

/// The prefix of `AEON__SECTION__KEY` overrides.
const PREFIX: &str = "AEON__";

impl Config {
    /// Loads the configuration from `path` (if any) and the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// Loads the configuration from `path` (if any) and the given environment, so tests
    /// need not touch the process's.
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut merged = defaults();
        if let Some(path) = path {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::new("--config", format!("{:?}", path.display()), e.to_string()))?;
            let file: Table = text.parse().map_err(|e: toml::de::Error| {
                // Only the position and the parser's message: the offending line may
                // hold a secret.
                let at = e.span().map(|span| {
                    let before = &text[..span.start.min(text.len())];
                    format!(
                        " at line {}, column {}",
                        before.lines().count().max(1),
                        before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1
                    )
                });
                ConfigError::new(
                    "--config",
                    format!("{:?}", path.display()),
                    format!("not valid TOML{}: {}", at.unwrap_or_default(), e.message()),
                )
            })?;
            merge_file(&mut merged, file, "")?;
        }
        let env: Vec<(String, String)> = env.into_iter().collect();
        for (var, key) in CONVENTIONAL {
            if let Some((_, value)) = env.iter().find(|(name, _)| name == var) {
                set_from_text(&mut merged, key, value)?;
            }
        }
        let mut overrides: Vec<&(String, String)> = env.iter().filter(|(name, _)| name.starts_with(PREFIX)).collect();
        overrides.sort();
        for (name, value) in overrides {
            let key = name[PREFIX.len()..].to_ascii_lowercase().replace("__", ".");
            set_from_text(&mut merged, &key, value).map_err(|mut e| {
                e.reason = format!("{} (from {name})", e.reason);
                e
            })?;
        }
        let config = from_table(merged)?;
        config.validate()?;
        Ok(config)
    }
}

fn defaults() -> Table {
    match Value::try_from(Config::default()) {
        Ok(Value::Table(table)) => table,
        other => unreachable!("the default config serializes to a table, not {other:?}"),
    }
}

/// Merges the file's values into `base`, refusing keys that `base` does not have.
fn merge_file(base: &mut Table, file: Table, prefix: &str) -> Result<(), ConfigError> {
    for (name, value) in file {
        let key = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        match (base.get_mut(&name), value) {
            (Some(Value::Table(inner)), Value::Table(file_inner)) => merge_file(inner, file_inner, &key)?,
            (Some(Value::Table(_)), other) => {
                return Err(ConfigError::new(&key, other.to_string(), "must be a section ([...] table)"));
            }
            (Some(slot), value) => *slot = value,
            // An unknown key may be a misspelt secret: its value is never shown.
            (None, _) => return Err(ConfigError::new(&key, HIDDEN, "unknown key")),
        }
    }
    Ok(())
}

/// Sets the dotted `key` from text, parsed as the type its default has.
fn set_from_text(base: &mut Table, key: &str, text: &str) -> Result<(), ConfigError> {
    let unknown = || ConfigError::new(key, HIDDEN, "unknown key");
    let (section, field) = key.split_once('.').ok_or_else(unknown)?;
    let slot =
        base.get_mut(section).and_then(Value::as_table_mut).and_then(|t| t.get_mut(field)).ok_or_else(unknown)?;
    let bad = |what: &str| ConfigError::new(key, shown(key, text), format!("expected {what}"));
    *slot = match slot {
        Value::String(_) => Value::String(text.to_string()),
        Value::Integer(_) => Value::Integer(text.trim().parse().map_err(|_| bad("an integer"))?),
        Value::Float(_) => Value::Float(text.trim().parse().map_err(|_| bad("a number"))?),
        Value::Boolean(_) => Value::Boolean(text.trim().parse().map_err(|_| bad("true or false"))?),
        _ => return Err(bad("a scalar value")),
    };
    Ok(())
}

fn from_table(table: Table) -> Result<Config, ConfigError> {
    serde_path_to_error::deserialize(Value::Table(table)).map_err(|e| {
        let key = e.path().to_string();
        // serde's message may quote the value: not for a secret.
        let reason = if SECRET_KEYS.contains(&key.as_str()) || URL_KEYS.contains(&key.as_str()) {
            "has the wrong type".to_string()
        } else {
            e.into_inner().to_string()
        };
        ConfigError::new(&key, "(as given)", reason)
    })
}

/// What an error shows instead of a value that may be secret.
const HIDDEN: &str = "<hidden>";
