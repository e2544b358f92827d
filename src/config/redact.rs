//! Keeping secrets out of logs and error messages.

use super::Config;

/// Keys whose values are secrets in full.
pub(super) const SECRET_KEYS: &[&str] = &["api.token", "api.read_token", "qdrant.api_key"];

/// Keys holding URLs that may carry a password.
pub(super) const URL_KEYS: &[&str] = &["store.url", "redis.url", "qdrant.url"];

/// Query parameters that carry a credential in some client's URL form
/// (`postgres://host/db?password=…`, `…?sslpassword=…`, an API key or token).
const SECRET_PARAMS: &[&str] =
    &["password", "pass", "passwd", "pwd", "sslpassword", "secret", "token", "api_key", "apikey", "api-key", "key"];

/// `url` with every credential replaced by `***`: the userinfo password and any
/// query parameter named like one. Text that does not parse as a URL is hidden
/// whole, since it may still hold a secret.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            let secret = |name: &str| SECRET_PARAMS.iter().any(|p| name.eq_ignore_ascii_case(p));
            if parsed.query_pairs().any(|(name, _)| secret(&name)) {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(name, value)| {
                        let value = if secret(&name) { "***".to_string() } else { value.into_owned() };
                        (name.into_owned(), value)
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        Err(_) if url.is_empty() => String::new(),
        Err(_) => "<unparseable, hidden>".to_string(),
    }
}

/// The credentials `url` carries (its password, the values of query parameters named
/// like one), as written and decoded: what must not appear in any message about it.
pub fn url_secrets(url: &str) -> Vec<String> {
    let Ok(parsed) = url::Url::parse(url) else { return Vec::new() };
    let secret = |name: &str| SECRET_PARAMS.iter().any(|p| name.eq_ignore_ascii_case(p));
    let mut found: Vec<String> = parsed.password().map(str::to_string).into_iter().collect();
    // Query values as written (an error quotes the URL as written), then decoded below.
    let raw_pairs = parsed.query().unwrap_or_default().split('&').filter_map(|pair| pair.split_once('='));
    found.extend(raw_pairs.filter(|(name, _)| secret(name)).map(|(_, value)| value.to_string()));
    let decoded: Vec<String> = found
        .iter()
        .filter_map(|s| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()))
        .collect();
    found.extend(decoded);
    found.retain(|s| !s.is_empty());
    found.sort();
    found.dedup();
    found
}

/// `text` with each of `secrets` replaced by `***`.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_string(), |text, secret| text.replace(secret.as_str(), "***"))
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
        toml::to_string(&self.redacted()).unwrap_or_else(|e| format!("<config not printable: {e}>"))
    }

    /// A copy with every secret redacted: safe to print or log in any format.
    pub fn redacted(&self) -> Config {
        let mut copy = self.clone();
        for s in [&mut copy.store.url, &mut copy.redis.url, &mut copy.qdrant.url] {
            *s = redact_url(s);
        }
        for s in [&mut copy.api.token, &mut copy.api.read_token, &mut copy.qdrant.api_key] {
            if !s.is_empty() {
                *s = "<redacted>".into();
            }
        }
        copy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_urls_secrets_are_found_as_written_and_decoded_and_scrubbed() {
        let url = "http://user:p%40ss@host:1/?api_key=ab%2Fc&x=visible";
        let secrets = url_secrets(url);
        for secret in ["p%40ss", "p@ss", "ab%2Fc", "ab/c"] {
            assert!(secrets.iter().any(|s| s == secret), "{secret} in {secrets:?}");
        }
        let said = scrub(&format!("failed to connect to {url}"), &secrets);
        assert_eq!(said, "failed to connect to http://user:***@host:1/?api_key=***&x=visible");
    }
}
