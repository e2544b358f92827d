//! Headless Chromium driven over WebDriver (chromedriver on a free port), for the
//! dashboard's browser tests. Each [`Browser`] has a fresh profile folder and its own
//! chromedriver process, both removed when it closes. Only one runs at a time (two
//! Chromiums on a small CI machine make both slow); [`Browser::start`] waits its turn.
//!
//! The binaries are `/usr/bin/chromedriver` and `/usr/bin/chromium` (Debian's
//! `chromium-driver` and `chromium` packages), or `AEON_CHROMEDRIVER` / `AEON_CHROMIUM`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::sync::{Mutex, MutexGuard};

/// How long a page may take to show what a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(20);

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
    base: String,
    _turn: MutexGuard<'static, ()>,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session for pages under `base`
    /// (`http://127.0.0.1:port`). Panics, naming what is missing, if either binary is
    /// absent: CI installs both, and a browser test never passes by skipping.
    pub async fn start(base: &str) -> Browser {
        let turn = ONE_AT_A_TIME.lock().await;
        let driver_path = std::env::var("AEON_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chromium = std::env::var("AEON_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        for (what, path) in [("chromedriver", &driver_path), ("chromium", &chromium)] {
            assert!(
                std::path::Path::new(path).exists(),
                "{what} not found at {path}: apt-get install -y chromium chromium-driver"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = std::env::temp_dir().join(format!("aeon-chromium-{}", uuid::Uuid::new_v4().simple()));
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1440,1000",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), json!({ "binary": chromium, "args": args }));
        let webdriver = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector).capabilities(capabilities.clone()).connect(&webdriver).await {
                Ok(client) => break client,
                Err(e) if start.elapsed() < PATIENCE => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session from chromedriver at {webdriver}: {e}"),
            }
        };
        Browser { client, driver, profile, base: base.to_string(), _turn: turn }
    }

    /// Opens `path` (`/ui#/jobs`, …) on the node.
    pub async fn open(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.expect("open the page");
    }

    /// Evaluates a JavaScript expression in the page.
    pub async fn eval(&self, expression: &str) -> Value {
        self.client.execute(&format!("return ({expression});"), vec![]).await.expect("run a script in the page")
    }

    /// Waits until `expression` is truthy in the page; answers its value.
    pub async fn until(&self, what: &str, expression: &str) -> Value {
        let start = Instant::now();
        loop {
            let value = self.client.execute(&format!("return ({expression});"), vec![]).await.unwrap_or(Value::Null);
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            assert!(start.elapsed() < PATIENCE, "waited {PATIENCE:?} for {what}: `{expression}` is {value}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element `css` names (a real WebDriver click).
    pub async fn click(&self, css: &str) {
        let element = self.client.wait().at_most(PATIENCE).for_element(Locator::Css(css)).await.expect(css);
        element.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Replaces the text of the input `css` names.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.client.wait().at_most(PATIENCE).for_element(Locator::Css(css)).await.expect(css);
        element.clear().await.expect("clear the input");
        element.send_keys(text).await.expect("type");
    }

    /// How many elements `css` names.
    pub async fn count(&self, css: &str) -> u64 {
        self.eval(&format!("document.querySelectorAll({css:?}).length")).await.as_u64().unwrap_or(0)
    }

    /// Saves a screenshot of the window as `name` under `folder`.
    pub async fn screenshot(&self, folder: &std::path::Path, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(folder).expect("screenshot folder");
        std::fs::write(folder.join(name), png).expect("write the screenshot");
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Browser {
    /// A failed test still stops its chromedriver (which stops its Chromium).
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
