//! Keeping secrets out of logs and error messages.

use super::Config;

/// Keys whose values are secrets in full.
pub(super) const SECRET_KEYS: &[&str] = &["api.token", "qdrant.api_key"];

/// Keys holding URLs that may carry a password.
pub(super) const URL_KEYS: &[&str] = &["store.url", "redis.url", "qdrant.url"];

/// `url` with any password replaced by `***`. Text that does not parse as a URL is
/// hidden whole, since it may still hold a secret.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) if url.is_empty() => String::new(),
        Err(_) => "<unparseable, hidden>".to_string(),
    }
}

/// The value of `key` as it may be shown.
pub(super) fn shown(key: &str, value: &str) -> String {
    if SECRET_KEYS.contains(&key) {
        if value.is_empty() { "\"\"".into() } else { "<redacted>".into() }
    } else if URL_KEYS.contains(&key) {
        format!("{:?}", redact_url(value))
    } else {
        format!("{value:?}")
    }
}

impl Config {
    /// The configuration as TOML, with secrets redacted: safe to print or log.
    pub fn to_redacted_toml(&self) -> String {
        let mut copy = self.clone();
        for s in [&mut copy.store.url, &mut copy.redis.url, &mut copy.qdrant.url] {
            *s = redact_url(s);
        }
        for s in [&mut copy.api.token, &mut copy.qdrant.api_key] {
            if !s.is_empty() {
                *s = "<redacted>".into();
            }
        }
        toml::to_string(&copy).unwrap_or_else(|e| format!("<config not printable: {e}>"))
    }
}
