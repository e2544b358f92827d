//! Layering, with `figment`: built-in defaults, then the file, then the conventional
//! variables, then `AEON__SECTION__KEY` variables, each layer merged over the one below;
//! then validation.
//!
//! figment does the merging, the extraction into [`Config`] (its errors carry the
//! dotted path of the bad key) and the bookkeeping of which layer set each value, which
//! names the variable behind a bad value. Two of its pieces are not used, each for a
//! pinned behaviour, and replaced by a thin adapter here:
//! - its `Toml` provider: it parses with an older `toml`, and its syntax errors quote the
//!   offending line, which may hold a secret. [`TomlFile`] is a `figment::Format` over
//!   the crate's own `toml` whose errors give only the position and the parser's words;
//!   figment's `Data` provider still reads the file.
//! - its `Env` provider: it reads the process environment (tests pass their own) and
//!   guesses each value's type from its text, so a token of digits would become a number
//!   and fail to load. [`Vars`] takes the variables it is given and reads each text as
//!   the type of its key's default: strings as they are, numbers and booleans with
//!   figment's own value parser.

use std::collections::BTreeMap;
use std::path::Path;

use figment::error::Kind;
use figment::providers::{Format, Serialized};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::redact::{SECRET_KEYS, URL_KEYS, shown};
use super::{Config, ConfigError};

/// The conventional variables, and the key each one sets.
const CONVENTIONAL: &[(&str, &str)] =
    &[("DATABASE_URL", "store.url"), ("REDIS_URL", "redis.url"), ("QDRANT_URL", "qdrant.url")];

/// The prefix of `AEON__SECTION__KEY` overrides.
const PREFIX: &str = "AEON__";

/// The name of the environment layers' figment metadata.
const FROM_ENV: &str = "environment";

/// What an error shows instead of a value that may be secret.
const HIDDEN: &str = "<hidden>";

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
        let defaults = Figment::from(Serialized::defaults(Config::default()));
        let mut env: Vec<(String, String)> = env.into_iter().collect();
        env.sort();
        let conventional = CONVENTIONAL.iter().filter_map(|(var, key)| {
            env.iter().find(|(name, _)| name == var).map(|(name, text)| (name.as_str(), key.to_string(), text.as_str()))
        });
        let overrides = env.iter().filter_map(|(name, text)| {
            let key = name.strip_prefix(PREFIX)?.to_ascii_lowercase().replace("__", ".");
            Some((name.as_str(), key, text.as_str()))
        });
        let conventional = Vars::typed(&defaults, conventional)?;
        let overrides = Vars::typed(&defaults, overrides)?;

        let mut figment = defaults;
        if let Some(path) = path {
            figment = figment.merge(TomlFile::file_exact(path));
        }
        let figment = figment.merge(conventional).merge(overrides);
        let config: Config = figment.extract().map_err(|e| to_config_error(&figment, path, e))?;
        config.validate().map_err(|e| with_source(&figment, e))?;
        Ok(config)
    }
}

/// One layer of environment variables as a figment provider: the values by key, and
/// the variable behind each key, which figment's metadata interpolation gives back for
/// an error message.
struct Vars {
    values: Dict,
    names: BTreeMap<String, String>,
}

impl Vars {
    /// The layer of `(variable, key, text)`; a key the defaults do not have is refused
    /// here, where the variable is known (a misspelt secret: its value is never shown).
    fn typed<'a>(
        defaults: &Figment,
        vars: impl Iterator<Item = (&'a str, String, &'a str)>,
    ) -> Result<Vars, ConfigError> {
        let mut layer = Vars { values: Dict::new(), names: BTreeMap::new() };
        for (var, key, text) in vars {
            let value = match defaults.find_value(&key) {
                Ok(Value::String(..)) => Value::from(text.to_string()),
                // A section, or no such key.
                Ok(Value::Dict(..)) | Err(_) => {
                    return Err(ConfigError::new(&key, HIDDEN, format!("unknown key (from {var})")));
                }
                // Text that is not of the key's type stays text, and extraction then
                // says what the key expects.
                Ok(_) => {
                    let Ok(value) = text.trim().parse::<Value>();
                    value
                }
            };
            insert(&mut layer.values, &key, value);
            layer.names.insert(key, var.to_string());
        }
        Ok(layer)
    }
}

/// Sets the dotted `key` in `dict`, making the sections on the way.
fn insert(dict: &mut Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_string(), value);
        }
        Some((section, rest)) => {
            if let Value::Dict(_, inner) = dict.entry(section.to_string()).or_insert_with(|| Dict::new().into()) {
                insert(inner, rest, value);
            }
        }
    }
}

impl Provider for Vars {
    fn metadata(&self) -> Metadata {
        let names = self.names.clone();
        Metadata::named(FROM_ENV).interpolater(move |_, keys| names.get(&keys.join(".")).cloned().unwrap_or_default())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.values.clone()))
    }
}

/// TOML for figment's `Data` file provider, parsed by the crate's `toml`. A syntax
/// error gives the position and the parser's message but never the offending line,
/// which may hold a secret.
struct TomlFile;

impl Format for TomlFile {
    type Error = FileError;
    const NAME: &'static str = "TOML";

    fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, FileError> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            let at = e.span().map(|span| {
                let before = &text[..span.start.min(text.len())];
                format!(
                    " at line {}, column {}",
                    before.lines().count().max(1),
                    before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1
                )
            });
            FileError(format!("not valid TOML{}: {}", at.unwrap_or_default(), e.message()))
        })
    }
}

/// Why the file could not be read or parsed.
#[derive(Debug)]
struct FileError(String);

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FileError {}

impl serde::de::Error for FileError {
    /// figment's `Data` reports a file it cannot read through this.
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        FileError(msg.to_string())
    }
}

/// figment's error as ours: the dotted key, its value as it may be shown, the reason.
fn to_config_error(figment: &Figment, path: Option<&Path>, e: figment::Error) -> ConfigError {
    let file = |reason: String| {
        let shown = path.map(|p| format!("{:?}", p.display())).unwrap_or_default();
        ConfigError::new("--config", shown, reason)
    };
    let mut key = e.path.join(".");
    let value = || {
        let text = match figment.find_value(&key) {
            Ok(Value::String(_, s)) => s,
            Ok(other) => serde_json::to_string(&other).unwrap_or_default(),
            Err(_) => return HIDDEN.to_string(),
        };
        shown(&key, &text)
    };
    let error = match e.kind {
        // Only the file's provider fails before extraction: unreadable or not TOML.
        Kind::Message(reason) if e.path.is_empty() && e.metadata.as_ref().is_some_and(is_file) => return file(reason),
        Kind::UnknownField(field, _) => {
            // figment's path usually ends with the unknown field already.
            if e.path.last() != Some(&field) {
                key = if key.is_empty() { field } else { format!("{key}.{field}") };
            }
            ConfigError::new(&key, HIDDEN, "unknown key")
        }
        Kind::InvalidType(_, expected) | Kind::InvalidValue(_, expected) => {
            ConfigError::new(&key, value(), format!("expected {}", expecting(&expected)))
        }
        Kind::UnknownVariant(_, variants) => {
            ConfigError::new(&key, value(), format!("expected one of {}", variants.join(", ")))
        }
        // serde's words may quote the value: not a secret's.
        _ if SECRET_KEYS.contains(&key.as_str()) || URL_KEYS.contains(&key.as_str()) => {
            ConfigError::new(&key, value(), "cannot be read")
        }
        other => ConfigError::new(&key, value(), other.to_string()),
    };
    with_source(figment, error)
}

fn is_file(metadata: &Metadata) -> bool {
    metadata.source.as_ref().is_some_and(|s| s.file_path().is_some())
}

/// serde's name for what a key expects, in the words of the documentation.
fn expecting(serde: &str) -> String {
    fn integer(min: impl std::fmt::Display, max: impl std::fmt::Display) -> String {
        format!("an integer in {min}..={max}")
    }
    match serde {
        "a boolean" => "true or false".into(),
        "u8" => integer(0, u8::MAX),
        "u16" => integer(0, u16::MAX),
        "u32" => integer(0, u32::MAX),
        "u64" => integer(0, u64::MAX),
        "usize" => integer(0, usize::MAX),
        "i8" => integer(i8::MIN, i8::MAX),
        "i16" => integer(i16::MIN, i16::MAX),
        "i32" => integer(i32::MIN, i32::MAX),
        "i64" => integer(i64::MIN, i64::MAX),
        "isize" => integer(isize::MIN, isize::MAX),
        "f32" | "f64" => "a number".into(),
        s if s.starts_with("struct ") => "a section ([...] table)".into(),
        other => other.into(),
    }
}

/// `error`, naming the variable that set its key when one did.
fn with_source(figment: &Figment, mut error: ConfigError) -> ConfigError {
    if let Some(metadata) = figment.find_metadata(&error.key).filter(|m| m.name == FROM_ENV) {
        let keys: Vec<&str> = error.key.split('.').collect();
        error.reason = format!("{} (from {})", error.reason, metadata.interpolate(&Profile::Default, &keys));
    }
    error
}
