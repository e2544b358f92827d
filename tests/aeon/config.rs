//! Configuration: layering, validation with the key, the value and the reason, and
//! secrets kept out of messages.

use std::io::Write;

use aeon::config::Config;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn file(text: &str) -> tempfile_path::TempFile {
    tempfile_path::TempFile::with(text)
}

/// A config file that removes itself.
mod tempfile_path {
    pub struct TempFile(pub std::path::PathBuf);
    impl TempFile {
        pub fn with(text: &str) -> Self {
            let path = std::env::temp_dir().join(format!("aeon-config-{}.toml", uuid::Uuid::new_v4()));
            let mut f = std::fs::File::create(&path).unwrap();
            super::Write::write_all(&mut f, text.as_bytes()).unwrap();
            Self(path)
        }
    }
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[test]
fn the_repository_config_file_is_valid_and_equals_the_defaults() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let loaded = Config::load_with_env(Some(&path), env(&[])).expect("config.toml loads");
    assert_eq!(loaded, Config::default(), "config.toml documents the defaults");
    assert_eq!(loaded.api.bind, "127.0.0.1:8080");
}

#[test]
fn environment_overrides_the_file_and_aeon_vars_beat_conventional_ones() {
    let f = file("[workers]\ncount = 2\n[api]\nbind = \"127.0.0.1:7000\"\n");
    let config = Config::load_with_env(
        Some(&f.0),
        env(&[
            ("AEON__API__BIND", "127.0.0.1:9001"),
            ("AEON__WORKERS__CAPACITY", "25"),
            ("AEON__EXPERIMENTS__ALLOW_CRASH", "true"),
            ("DATABASE_URL", "postgres://a@db:5432/x"),
            ("REDIS_URL", "redis://:pw@cache:6379"),
            ("AEON__QDRANT__URL", "http://vectors:6334"),
            ("QDRANT_URL", "http://ignored:6334"),
        ]),
    )
    .unwrap();
    assert_eq!(config.api.bind, "127.0.0.1:9001");
    assert_eq!((config.workers.count, config.workers.capacity), (2, 25));
    assert!(config.experiments.allow_crash);
    assert_eq!(config.store.url, "postgres://a@db:5432/x");
    assert_eq!(config.redis.url, "redis://:pw@cache:6379");
    assert_eq!(config.qdrant.url, "http://vectors:6334");
}

#[test]
fn bad_values_fail_with_the_key_the_value_and_the_reason() {
    // (variables, the key the error names, words the reason holds)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (&[("AEON__WORKERS__COUNT", "0")], "workers.count", "1..=1024"),
        (&[("AEON__WORKERS__COUNT", "four")], "workers.count", "integer"),
        (&[("AEON__WORKERS__BACKLOG", "0")], "workers.backlog", "1..=100000"),
        (&[("AEON__WORKERS__PREFETCH", "20000")], "workers.prefetch", "0..=10000"),
        (&[("AEON__WORKERS__PREFETCH_WAIT_MS", "10")], "workers.prefetch_wait_ms", "at least 100"),
        (&[("AEON__API__BIND", "localhost")], "api.bind", "address"),
        (&[("AEON__API__BIND", "0.0.0.0:8080")], "api.bind", "no api.token"),
        (&[("AEON__API__BIND", "192.168.1.5:8080")], "api.bind", "allow_unauthenticated = true"),
        (&[("AEON__STORE__URL", "mysql://x")], "store.url", "scheme"),
        (&[("AEON__RETRY__JITTER", "2.5")], "retry.jitter", "0..=1"),
        (&[("AEON__EXPERIMENTS__ALLOW_CRASH", "yes")], "experiments.allow_crash", "true or false"),
        (&[("AEON__NOPE__KEY", "1")], "nope.key", "unknown key"),
        (&[("AEON__JOBS__DEFAULT_MAX_RETRIES", "-1")], "jobs.default_max_retries", "0..="),
        (&[("AEON__API__ALLOWED_HOSTS", r#"["aeon.internal/x"]"#)], "api.allowed_hosts", "host name or IP"),
        (&[("AEON__API__ALLOWED_HOSTS", r#"["a:99999"]"#)], "api.allowed_hosts", "optional port"),
        (&[("AEON__API__ALLOWED_HOSTS", r#"[""]"#)], "api.allowed_hosts", "host name or IP"),
        (&[("AEON__API__ALLOWED_HOSTS", "aeon.internal")], "api.allowed_hosts", "sequence"),
        (&[("AEON__API__ALLOWED_ORIGINS", r#"["https://ops.example/"]"#)], "api.allowed_origins", "no path"),
        (&[("AEON__API__ALLOWED_ORIGINS", r#"["ftp://ops.example"]"#)], "api.allowed_origins", "http or https"),
        (&[("AEON__API__ALLOWED_ORIGINS", r#"["https://OPS.example:443"]"#)], "api.allowed_origins", "as browsers"),
        (&[("AEON__API__ALLOWED_ORIGINS", r#"["*"]"#)], "api.allowed_origins", "origin"),
    ];
    for (vars, key, reason) in cases {
        let err = Config::load_with_env(None, env(vars)).expect_err(key);
        assert_eq!(err.key, *key, "{err}");
        assert!(err.to_string().contains(reason), "{err} should say {reason:?}");
        assert!(err.to_string().contains(key), "{err}");
    }
}

#[test]
fn bad_files_name_the_key() {
    let unknown = file("[workers]\ncount = 2\nthreads = 4\n");
    let err = Config::load_with_env(Some(&unknown.0), env(&[])).unwrap_err();
    assert_eq!((err.key.as_str(), err.reason.as_str()), ("workers.threads", "unknown key"));

    let wrong_type = file("[workers]\ncount = \"many\"\n");
    let err = Config::load_with_env(Some(&wrong_type.0), env(&[])).unwrap_err();
    assert_eq!(err.key, "workers.count", "{err}");

    let negative = file("[workers]\ncapacity = -3\n");
    assert_eq!(Config::load_with_env(Some(&negative.0), env(&[])).unwrap_err().key, "workers.capacity");

    let broken = file("[workers\n");
    assert!(Config::load_with_env(Some(&broken.0), env(&[])).unwrap_err().reason.contains("not valid TOML"));
    let missing = std::path::Path::new("/nonexistent/aeon.toml");
    assert_eq!(Config::load_with_env(Some(missing), env(&[])).unwrap_err().key, "--config");
}

#[test]
fn secrets_never_reach_messages_or_debug_output() {
    let config = Config::load_with_env(
        None,
        env(&[
            ("AEON__API__TOKEN", "tok-s3cret-value"),
            ("DATABASE_URL", "postgres://aeon:pg-s3cret@db:5432/aeon"),
            ("REDIS_URL", "redis://:redis-s3cret@cache:6379"),
        ]),
    )
    .unwrap();
    let shown = format!("{config:?}");
    for secret in ["tok-s3cret-value", "pg-s3cret", "redis-s3cret"] {
        assert!(!shown.contains(secret), "{secret} leaked into {shown}");
    }
    assert!(shown.contains("postgres://aeon:***@db:5432/aeon"), "{shown}");

    let err = Config::load_with_env(None, env(&[("AEON__API__TOKEN", " tok-s3cret-value ")])).unwrap_err();
    assert_eq!(err.key, "api.token");
    assert!(!err.to_string().contains("s3cret"), "{err}");
    let err = Config::load_with_env(None, env(&[("AEON__STORE__URL", "mysql://u:pg-s3cret@h/db")])).unwrap_err();
    assert!(!err.to_string().contains("pg-s3cret"), "{err}");
}

#[test]
fn credentials_in_every_url_form_are_redacted() {
    use aeon::config::redact_url;
    let cases = [
        ("postgres://aeon:pg-s3cret@db:5432/aeon", "postgres://aeon:***@db:5432/aeon"),
        (
            "postgres://aeon@db:5432/aeon?password=pg-s3cret&sslmode=require",
            "postgres://aeon@db:5432/aeon?password=***&sslmode=require",
        ),
        ("postgres://db/aeon?sslpassword=pg-s3cret", "postgres://db/aeon?sslpassword=***"),
        ("redis://:redis-s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://cache:6379?password=redis-s3cret", "redis://cache:6379?password=***"),
        ("https://vectors:6334/?api_key=qd-s3cret", "https://vectors:6334/?api_key=***"),
        ("host=db password=pg-s3cret", "<unparseable, hidden>"),
        ("sqlite://aeon-data/aeon.db", "sqlite://aeon-data/aeon.db"),
    ];
    for (url, shown) in cases {
        assert_eq!(redact_url(url), shown, "{url}");
    }
    let config = Config::load_with_env(
        None,
        env(&[
            ("DATABASE_URL", "postgres://aeon@db:5432/aeon?password=pg-s3cret"),
            ("REDIS_URL", "redis://cache:6379?password=redis-s3cret"),
            ("QDRANT_URL", "http://vectors:6334/?api_key=qd-s3cret"),
        ]),
    )
    .unwrap();
    for shown in [format!("{config:?}"), config.to_redacted_toml()] {
        assert!(!shown.contains("s3cret"), "a credential leaked: {shown}");
    }
}

#[test]
fn misspelt_keys_and_broken_files_do_not_echo_secrets() {
    let err = Config::load_with_env(None, env(&[("AEON__API__TOKN", "tok-s3cret-value")])).unwrap_err();
    assert_eq!((err.key.as_str(), err.reason.as_str()), ("api.tokn", "unknown key (from AEON__API__TOKN)"));
    assert!(!err.to_string().contains("s3cret"), "{err}");
    let typo = file("[api]\ntokn = \"tok-s3cret-value\"\n");
    assert!(!Config::load_with_env(Some(&typo.0), env(&[])).unwrap_err().to_string().contains("s3cret"));
    let broken = file("[api]\ntoken = \"tok-s3cret-value\n");
    let err = Config::load_with_env(Some(&broken.0), env(&[])).unwrap_err();
    assert!(err.reason.contains("line 2"), "{err}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
    let wrong_type = file("[api]\ntoken = 12345678\n");
    let err = Config::load_with_env(Some(&wrong_type.0), env(&[])).unwrap_err();
    assert_eq!(err.key, "api.token");
    assert!(!err.to_string().contains("12345678"), "{err}");
}

#[test]
fn aeon_config_prints_toml_or_with_json_json_and_never_a_password() {
    let run = |json: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_aeon"));
        command.arg("config").current_dir(std::env::temp_dir());
        if json {
            command.arg("--json");
        }
        let out = command.env("DATABASE_URL", "postgres://aeon@db:5432/aeon?password=pg-s3cret").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let json: serde_json::Value = serde_json::from_str(&run(true)).expect("--json prints JSON");
    assert_eq!(json["store"]["url"], "postgres://aeon@db:5432/aeon?password=***");
    let toml = run(false);
    assert!(toml.contains("[store]") && toml.contains("password=***"), "{toml}");
    assert!(!toml.contains("s3cret"));
}

#[test]
fn a_node_open_to_the_network_needs_a_token_or_an_explicit_choice() {
    let open = env(&[("AEON__API__BIND", "0.0.0.0:8080")]);
    assert!(Config::load_with_env(None, open.clone()).is_err(), "no token, no choice: refused");
    let mut with_token = open.clone();
    with_token.push(("AEON__API__TOKEN".into(), "tok-s3cret-value".into()));
    assert!(Config::load_with_env(None, with_token).is_ok());
    let mut on_purpose = open;
    on_purpose.push(("AEON__API__ALLOW_UNAUTHENTICATED".into(), "true".into()));
    assert!(Config::load_with_env(None, on_purpose).is_ok());
    assert!(Config::load_with_env(None, env(&[("AEON__API__BIND", "[::1]:8080")])).is_ok(), "loopback is fine");
}

#[test]
fn variables_are_read_as_the_type_of_their_key_and_errors_name_the_variable() {
    // A token or an id of digits stays text; numbers and booleans parse from text.
    let config = Config::load_with_env(
        None,
        env(&[
            ("AEON__API__TOKEN", "12345678"),
            ("AEON__NODE__ID", "42"),
            ("AEON__WORKERS__COUNT", " 8 "),
            ("AEON__RETRY__JITTER", "0"),
            ("AEON__API__ALLOW_UNAUTHENTICATED", "false"),
        ]),
    )
    .unwrap();
    assert_eq!((config.api.token.as_str(), config.node.id.as_str()), ("12345678", "42"));
    assert_eq!((config.workers.count, config.retry.jitter), (8, 0.0));
    let lists = env(&[
        ("AEON__API__ALLOWED_HOSTS", r#"["aeon.internal", "proxy.internal:8443", "[fd00::1]"]"#),
        ("AEON__API__ALLOWED_ORIGINS", r#"["https://ops.example.com", "http://localhost:3000"]"#),
    ]);
    let config = Config::load_with_env(None, lists).unwrap();
    assert_eq!(config.api.allowed_hosts, ["aeon.internal", "proxy.internal:8443", "[fd00::1]"]);
    assert_eq!(config.api.allowed_origins, ["https://ops.example.com", "http://localhost:3000"]);

    let err = Config::load_with_env(None, env(&[("AEON__WORKERS__COUNT", "four")])).unwrap_err();
    assert_eq!((err.key.as_str(), err.value.as_str()), ("workers.count", "\"four\""));
    assert!(err.reason.contains("integer") && err.reason.ends_with("(from AEON__WORKERS__COUNT)"), "{err}");
    let err = Config::load_with_env(None, env(&[("AEON__WORKERS__COUNT", "0")])).unwrap_err();
    assert_eq!(err.reason, "must be 1..=1024 (from AEON__WORKERS__COUNT)");
    // The AEON__ variable is the one named when it beats the conventional one.
    let err = Config::load_with_env(
        None,
        env(&[("DATABASE_URL", "postgres://db/aeon"), ("AEON__STORE__URL", "mysql://u:pg-s3cret@h/db")]),
    )
    .unwrap_err();
    assert!(err.reason.ends_with("(from AEON__STORE__URL)"), "{err}");
    let err = Config::load_with_env(None, env(&[("REDIS_URL", "http://cache:6379")])).unwrap_err();
    assert_eq!(err.key, "redis.url");
    assert!(err.reason.ends_with("(from REDIS_URL)"), "{err}");
    // A section is not a key.
    let err = Config::load_with_env(None, env(&[("AEON__WORKERS", "4")])).unwrap_err();
    assert_eq!((err.key.as_str(), err.reason.as_str()), ("workers", "unknown key (from AEON__WORKERS)"));
}

#[test]
fn file_errors_show_the_value_and_what_the_key_expects() {
    let wrong_type = file("[workers]\ncount = \"many\"\n");
    let err = Config::load_with_env(Some(&wrong_type.0), env(&[])).unwrap_err();
    assert_eq!((err.key.as_str(), err.value.as_str()), ("workers.count", "\"many\""));
    assert!(err.reason.contains("integer") && !err.reason.contains("(from"), "{err}");
    let flag = file("[experiments]\nallow_crash = \"yes\"\n");
    let err = Config::load_with_env(Some(&flag.0), env(&[])).unwrap_err();
    assert_eq!((err.key.as_str(), err.reason.as_str()), ("experiments.allow_crash", "expected true or false"));
    let not_a_section = file("workers = 3\n");
    let err = Config::load_with_env(Some(&not_a_section.0), env(&[])).unwrap_err();
    assert_eq!((err.key.as_str(), err.reason.as_str()), ("workers", "expected a section ([...] table)"));
    let unknown_section = file("[nope]\nkey = 1\n");
    assert_eq!(Config::load_with_env(Some(&unknown_section.0), env(&[])).unwrap_err().key, "nope");
    let format = file("[log]\nformat = \"xml\"\n");
    let err = Config::load_with_env(Some(&format.0), env(&[])).unwrap_err();
    assert_eq!((err.key.as_str(), err.reason.as_str()), ("log.format", "expected one of text, json"));
    let broken = file("[workers]\ncount = 2\ncapacity = \n");
    let err = Config::load_with_env(Some(&broken.0), env(&[])).unwrap_err();
    assert_eq!(err.key, "--config");
    assert!(err.reason.starts_with("not valid TOML at line 3, column 12: "), "{err}");
    // The variables still beat the file, and the file the defaults.
    let both = file("[workers]\ncount = 2\ncapacity = 3\n");
    let config = Config::load_with_env(Some(&both.0), env(&[("AEON__WORKERS__COUNT", "5")])).unwrap();
    assert_eq!((config.workers.count, config.workers.capacity, config.workers.lease_ms), (5, 3, 30_000));
}
