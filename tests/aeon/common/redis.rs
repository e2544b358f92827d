//! A Redis server of the test's own: `redis-server` on a free port, no persistence,
//! killed when dropped. Tests that kill, restart or flush Redis, or need a password,
//! never touch a Redis another test uses.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestRedis {
    pub port: u16,
    password: Option<String>,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl TestRedis {
    /// Starts a server; `password`: it requires one (`requirepass`).
    pub async fn start(password: Option<&str>) -> TestRedis {
        let mut redis = TestRedis { port: free_port(), password: password.map(str::to_string), child: None };
        redis.restart().await;
        redis
    }

    /// `redis://[:password@]127.0.0.1:<port>`.
    pub fn url(&self) -> String {
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
        command.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
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
    }
}
