//! A Redis server of the test's own: `redis-server` on a free port, no persistence,
//! killed when dropped. Tests that kill, restart or flush Redis, or need a password,
//! never touch a Redis another test uses.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestRedis {
    pub port: u16,
    password: Option<String>,
    child: Option<Child>,
    /// A TLS-only server: the directory of its self-signed certificate.
    tls: Option<std::path::PathBuf>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl TestRedis {
    /// Starts a server; `password`: it requires one (`requirepass`).
    pub async fn start(password: Option<&str>) -> TestRedis {
        let mut redis = TestRedis { port: free_port(), password: password.map(str::to_string), child: None, tls: None };
        redis.restart().await;
        redis
    }

    /// A server that speaks TLS only, with a self-signed certificate (made with
    /// `openssl`) for 127.0.0.1.
    pub async fn start_tls() -> TestRedis {
        let dir = std::env::temp_dir().join(format!("aeon-redis-tls-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", "key.pem", "-out", "cert.pem"])
            .current_dir(&dir)
            .stderr(Stdio::null())
            .status()
            .expect("openssl makes the test certificate");
        assert!(made.success());
        let mut redis = TestRedis { port: free_port(), password: None, child: None, tls: Some(dir) };
        redis.restart().await;
        redis
    }

    /// `redis://[:password@]127.0.0.1:<port>`; `rediss://…/#insecure` for a TLS server
    /// (its certificate is self-signed).
    pub fn url(&self) -> String {
        if self.tls.is_some() {
            return format!("rediss://127.0.0.1:{}/#insecure", self.port);
        }
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// The same server with `password` instead of its own.
    pub fn url_with_password(&self, password: &str) -> String {
        format!("redis://default:{password}@127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL): every connection drops, its data is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on its port (empty), and waits until it answers.
    pub async fn restart(&mut self) {
        self.kill();
        let mut command = Command::new("redis-server");
        command.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        match &self.tls {
            None => command.args(["--port", &self.port.to_string()]),
            Some(dir) => {
                command.args(["--port", "0", "--tls-port", &self.port.to_string(), "--tls-auth-clients", "no"]).args([
                    "--tls-cert-file",
                    &dir.join("cert.pem").to_string_lossy(),
                    "--tls-key-file",
                    &dir.join("key.pem").to_string_lossy(),
                    "--tls-ca-cert-file",
                    &dir.join("cert.pem").to_string_lossy(),
                ])
            }
        };
        if let Some(p) = &self.password {
            command.args(["--requirepass", p]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server) for the cluster tests");
        self.child = Some(child);
        let start = Instant::now();
        while self.cli(&["PING"]).is_none_or(|out| !out.contains("PONG")) {
            assert!(start.elapsed() < Duration::from_secs(10), "redis-server on {} did not start", self.port);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs a `redis-cli` command against the server; its output, if it ran.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let mut command = Command::new("redis-cli");
        command.args(["-p", &self.port.to_string(), "--no-auth-warning"]);
        if self.tls.is_some() {
            command.args(["--tls", "--insecure"]);
        }
        if let Some(p) = &self.password {
            command.args(["-a", p]);
        }
        let out = command.args(args).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = &self.tls {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
