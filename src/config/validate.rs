//! Checks that every value is usable, so a node fails at start, not in the small hours.

use std::net::SocketAddr;

use super::redact::shown;
use super::{Config, ConfigError};

fn check(ok: bool, key: &str, value: impl ToString, reason: &str) -> Result<(), ConfigError> {
    if ok { Ok(()) } else { Err(ConfigError::new(key, shown(key, &value.to_string()), reason)) }
}

fn url_with_scheme(key: &str, value: &str, schemes: &[&str], optional: bool) -> Result<(), ConfigError> {
    if value.is_empty() && optional {
        return Ok(());
    }
    let parsed =
        url::Url::parse(value).map_err(|e| ConfigError::new(key, shown(key, value), format!("not a URL: {e}")))?;
    check(schemes.contains(&parsed.scheme()), key, value, &format!("the scheme must be one of {}", schemes.join(", ")))
}

/// `host[:port]` split in two; an IPv6 address keeps its brackets. `None` when it is
/// not of that shape.
pub fn split_host_port(text: &str) -> Option<(&str, Option<u16>)> {
    let (name, port) = if text.starts_with('[') {
        let end = text.find(']')?;
        let rest = &text[end + 1..];
        (&text[..=end], if rest.is_empty() { None } else { Some(rest.strip_prefix(':')?) })
    } else {
        match text.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (text, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().ok()?),
        Some(_) => return None,
    };
    (!name.is_empty()).then_some((name, port))
}

/// `name[:port]`: a DNS name (letters, digits, '-', '.'), an IPv4 address, or an
/// IPv6 one in brackets.
fn is_host(text: &str) -> bool {
    let Some((name, _)) = split_host_port(text) else { return false };
    if let Some(ip) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return ip.parse::<std::net::Ipv6Addr>().is_ok();
    }
    name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len()) && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// An origin exactly as a browser writes it in `Origin`.
fn is_origin(text: &str) -> bool {
    url::Url::parse(text)
        .is_ok_and(|u| ["http", "https"].contains(&u.scheme()) && u.origin().ascii_serialization() == text)
}

impl Config {
    /// Checks every value; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let id = &self.node.id;
        check(
            id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)),
            "node.id",
            id,
            "must be at most 128 characters of letters, digits, '_', '.', '-'",
        )?;
        url_with_scheme("store.url", &self.store.url, &["postgres", "postgresql", "sqlite"], false)?;
        if let Some(path) = self.store.url.strip_prefix("sqlite://") {
            check(
                !path.is_empty() && !path.contains('?'),
                "store.url",
                &self.store.url,
                "must name a file: sqlite://path/to/aeon.db",
            )?;
        }
        let s = &self.store;
        check((1..=1000).contains(&s.max_connections), "store.max_connections", s.max_connections, "must be 1..=1000")?;
        url_with_scheme("redis.url", &self.redis.url, &["redis", "rediss"], true)?;
        let c = &self.cluster;
        check((50..=60_000).contains(&c.heartbeat_ms), "cluster.heartbeat_ms", c.heartbeat_ms, "must be 50..=60000")?;
        check(
            c.node_dead_after_ms >= 2 * c.heartbeat_ms && c.node_dead_after_ms <= 600_000,
            "cluster.node_dead_after_ms",
            c.node_dead_after_ms,
            "must be at least twice cluster.heartbeat_ms, and at most 600000",
        )?;
        check(
            (100..=10_000_000).contains(&c.mailbox_max_len),
            "cluster.mailbox_max_len",
            c.mailbox_max_len,
            "must be 100..=10000000",
        )?;
        check(
            (1_000..=3_600_000).contains(&c.reclaim_idle_ms),
            "cluster.reclaim_idle_ms",
            c.reclaim_idle_ms,
            "must be 1000..=3600000",
        )?;
        check(
            (10..=600_000).contains(&c.request_timeout_ms),
            "cluster.request_timeout_ms",
            c.request_timeout_ms,
            "must be 10..=600000",
        )?;
        url_with_scheme("qdrant.url", &self.qdrant.url, &["http", "https"], true)?;
        let q = &self.qdrant;
        check(
            !q.collection.is_empty()
                && q.collection.len() <= 255
                && q.collection.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "qdrant.collection",
            &q.collection,
            "must be 1 to 255 letters, digits, '_' or '-'",
        )?;
        check((100..=600_000).contains(&q.timeout_ms), "qdrant.timeout_ms", q.timeout_ms, "must be 100..=600000")?;
        check(
            (1..=1_000_000).contains(&q.queue_capacity),
            "qdrant.queue_capacity",
            q.queue_capacity,
            "must be 1..=1000000",
        )?;
        check(
            (1..=3_600_000).contains(&q.retry_initial_ms),
            "qdrant.retry_initial_ms",
            q.retry_initial_ms,
            "must be 1..=3600000",
        )?;
        check(
            q.retry_max_ms >= q.retry_initial_ms && q.retry_max_ms <= 3_600_000,
            "qdrant.retry_max_ms",
            q.retry_max_ms,
            "must be at least qdrant.retry_initial_ms and at most 3600000",
        )?;
        check(
            self.api.bind.parse::<SocketAddr>().is_ok(),
            "api.bind",
            &self.api.bind,
            "must be an address like 127.0.0.1:8080",
        )?;
        let open_to_the_network = self.api.bind.parse::<SocketAddr>().is_ok_and(|a| !a.ip().is_loopback());
        check(
            !open_to_the_network || !self.api.token.is_empty() || self.api.allow_unauthenticated,
            "api.bind",
            &self.api.bind,
            "listens beyond this machine with no api.token, so anyone who can reach it could submit, cancel and \
             requeue jobs: set api.token (AEON__API__TOKEN), or api.allow_unauthenticated = true to run open on purpose",
        )?;
        check(
            self.api.token.trim() == self.api.token,
            "api.token",
            &self.api.token,
            "must not start or end with whitespace",
        )?;
        check(
            self.api.read_token.trim() == self.api.read_token,
            "api.read_token",
            &self.api.read_token,
            "must not start or end with whitespace",
        )?;
        check(
            self.api.read_token.is_empty() || !self.api.token.is_empty(),
            "api.read_token",
            &self.api.read_token,
            "needs api.token: without it every call may already write",
        )?;
        check(
            self.api.read_token.is_empty() || self.api.read_token != self.api.token,
            "api.read_token",
            &self.api.read_token,
            "must differ from api.token",
        )?;

        check(
            (1024..=256 * 1024 * 1024).contains(&self.api.max_body_bytes),
            "api.max_body_bytes",
            self.api.max_body_bytes,
            "must be 1024..=268435456",
        )?;

        for host in &self.api.allowed_hosts {
            check(
                is_host(host),
                "api.allowed_hosts",
                host,
                "each must be a host name or IP, with an optional port (aeon.internal, aeon.internal:8443, [fd00::1])",
            )?;
        }
        for origin in &self.api.allowed_origins {
            check(
                is_origin(origin),
                "api.allowed_origins",
                origin,
                "each must be an origin as browsers send it: http or https, host and port only, no path \
                 (https://ops.example.com, http://localhost:3000)",
            )?;
        }

        let w = &self.workers;
        check((1..=1024).contains(&w.count), "workers.count", w.count, "must be 1..=1024")?;
        check((1..=10_000).contains(&w.capacity), "workers.capacity", w.capacity, "must be 1..=10000")?;
        check(w.prefetch <= 10_000, "workers.prefetch", w.prefetch, "must be 0..=10000")?;
        check(
            w.prefetch_horizon_ms <= 60_000,
            "workers.prefetch_horizon_ms",
            w.prefetch_horizon_ms,
            "must be 0..=60000",
        )?;
        check(w.prefetch_wait_ms >= 100, "workers.prefetch_wait_ms", w.prefetch_wait_ms, "must be at least 100")?;
        check((1..=100_000).contains(&w.backlog), "workers.backlog", w.backlog, "must be 1..=100000")?;
        check(w.lease_ms >= 1_000, "workers.lease_ms", w.lease_ms, "must be at least 1000")?;

        let j = &self.jobs;
        check(
            (1..=64 * 1024 * 1024).contains(&j.max_payload_bytes),
            "jobs.max_payload_bytes",
            j.max_payload_bytes,
            "must be 1..=67108864",
        )?;
        check(j.default_timeout_ms > 0, "jobs.default_timeout_ms", j.default_timeout_ms, "must be positive")?;
        check(j.max_retries_limit >= 0, "jobs.max_retries_limit", j.max_retries_limit, "must not be negative")?;
        check(
            (0..=j.max_retries_limit).contains(&j.default_max_retries),
            "jobs.default_max_retries",
            j.default_max_retries,
            "must be 0..=jobs.max_retries_limit",
        )?;

        let r = &self.retry;
        check(r.base_ms > 0, "retry.base_ms", r.base_ms, "must be positive")?;
        check(r.max_ms >= r.base_ms, "retry.max_ms", r.max_ms, "must be at least retry.base_ms")?;
        check((0.0..=1.0).contains(&r.jitter), "retry.jitter", r.jitter, "must be 0..=1")?;

        let n = &self.node;
        check(n.drain_grace_ms <= 3_600_000, "node.drain_grace_ms", n.drain_grace_ms, "must be at most 3600000")?;
        check((10..=60_000).contains(&n.poll_ms), "node.poll_ms", n.poll_ms, "must be 10..=60000")?;

        let h = &self.health;
        check((10..=60_000).contains(&h.heartbeat_ms), "health.heartbeat_ms", h.heartbeat_ms, "must be 10..=60000")?;
        check(
            h.dead_after_ms >= 2 * h.heartbeat_ms,
            "health.dead_after_ms",
            h.dead_after_ms,
            "must be at least twice health.heartbeat_ms",
        )?;
        check(
            h.dead_after_ms < w.lease_ms,
            "health.dead_after_ms",
            h.dead_after_ms,
            "must be under workers.lease_ms, so a dead worker's jobs are rescued before its leases run out",
        )?;
        check((10..=60_000).contains(&h.sweep_ms), "health.sweep_ms", h.sweep_ms, "must be 10..=60000")?;
        check((0.0..=1.0).contains(&h.unhealthy_below), "health.unhealthy_below", h.unhealthy_below, "must be 0..=1")?;
        check(h.latency_ref_ms > 0, "health.latency_ref_ms", h.latency_ref_ms, "must be positive")?;
        check((1..=10_000).contains(&h.window), "health.window", h.window, "must be 1..=10000")?;
        check(h.probation_ms >= h.sweep_ms, "health.probation_ms", h.probation_ms, "must be at least health.sweep_ms")?;
        check(h.store_stall_ms >= 100, "health.store_stall_ms", h.store_stall_ms, "must be at least 100")?;
        check(h.store_read_slow_ms >= 10, "health.store_read_slow_ms", h.store_read_slow_ms, "must be at least 10")?;
        check(h.log_every_ms >= h.sweep_ms, "health.log_every_ms", h.log_every_ms, "must be at least health.sweep_ms")?;
        check(self.restarts.window_ms > 0, "restarts.window_ms", self.restarts.window_ms, "must be positive")?;

        let r = &self.retention;
        check((1..=86_400).contains(&r.every_s), "retention.every_s", r.every_s, "must be 1..=86400")?;
        check((1..=10_000).contains(&r.batch), "retention.batch", r.batch, "must be 1..=10000")?;
        for (key, age) in [
            ("retention.finished_after_s", r.finished_after_s),
            ("retention.dead_letter_after_s", r.dead_letter_after_s),
            ("retention.health_logs_after_s", r.health_logs_after_s),
            ("retention.contexts_after_s", r.contexts_after_s),
        ] {
            check(age <= 100 * 365 * 86_400, key, age, "must be at most 100 years (0 keeps forever)")?;
        }

        let sn = &self.snapshots;
        check(
            sn.auto_interval_s == 0 || (10..=7 * 86_400).contains(&sn.auto_interval_s),
            "snapshots.auto_interval_s",
            sn.auto_interval_s,
            "must be 0 (off) or 10..=604800",
        )?;
        check((1..=10_000).contains(&sn.keep_last), "snapshots.keep_last", sn.keep_last, "must be 1..=10000")?;
        check((1..=1_000).contains(&sn.full_every), "snapshots.full_every", sn.full_every, "must be 1..=1000")?;

        let b = &self.batch;
        check(b.window_ms <= 1_000, "batch.window_ms", b.window_ms, "must be at most 1000")?;
        check((1..=10_000).contains(&b.max_size), "batch.max_size", b.max_size, "must be 1..=10000")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::split_host_port;

    #[test]
    fn hosts_and_ports_split() {
        assert_eq!(split_host_port("127.0.0.1:8080"), Some(("127.0.0.1", Some(8080))));
        assert_eq!(split_host_port("[::1]:80"), Some(("[::1]", Some(80))));
        assert_eq!(split_host_port("[::1]"), Some(("[::1]", None)));
        assert_eq!(split_host_port("localhost"), Some(("localhost", None)));
        assert_eq!(split_host_port("a:b"), None);
        assert_eq!(split_host_port("a:99999"), None);
        assert_eq!(split_host_port(":80"), None);
        assert_eq!(split_host_port("[::1]x"), None);
    }
}
