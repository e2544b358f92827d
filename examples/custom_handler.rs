//! Registers a handler of your own beside the built-ins, runs a node (on the embedded
//! SQLite store unless `DATABASE_URL` or `store.url` names another),
//! submits a few jobs and waits for their results, then shuts the node down.
//!
//! ```sh
//! cargo run --example custom_handler
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --example custom_handler
//! ```

use std::sync::Arc;
use std::time::Duration;

use aeon::actors::probe::Probe;
use aeon::clock::SystemClock;
use aeon::config::Config;
use aeon::handler::{JobContext, JobHandler, Outcome, Registry};
use aeon::job::JobRequest;
use aeon::node::Node;
use serde::Deserialize;
use serde_json::json;

/// The typed payload of a `resize` job. A payload that does not fit is refused
/// before the handler runs: the job is dead-lettered with the reason.
#[derive(Debug, Deserialize)]
struct Resize {
    width: u32,
    height: u32,
}

/// A handler as a type, with its own state.
struct Resizer {
    max_side: u32,
}

#[async_trait::async_trait]
impl JobHandler for Resizer {
    type Payload = Resize;

    async fn run(&self, ctx: JobContext, payload: Resize) -> Outcome {
        if payload.width > self.max_side || payload.height > self.max_side {
            return Outcome::FailPermanently(format!("{}x{} is over {}", payload.width, payload.height, self.max_side));
        }
        if ctx.attempt == 1 && payload.width % 2 == 1 {
            return Outcome::Fail("odd widths fail once, to show a retry".into());
        }
        Outcome::Complete(json!({ "pixels": payload.width * payload.height, "attempt": ctx.attempt }))
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    actix::System::new().block_on(async {
        let mut config = Config::load(None)?;
        config.retry.base_ms = 100; // quick retries for the demo

        let mut registry = Registry::with_builtins();
        registry.register("resize", Resizer { max_side: 4096 })?;
        // A handler as an async function.
        registry.register_fn("greet", |_ctx: JobContext, name: String| async move {
            Outcome::Complete(json!(format!("hello, {name}")))
        })?;

        let node = Node::start(config, registry, Arc::new(SystemClock), Probe::none()).await?;
        let requests = vec![
            JobRequest::new("resize", json!({"width": 640, "height": 480})),
            JobRequest::new("resize", json!({"width": 641, "height": 480})),
            JobRequest::new("resize", json!({"width": 9000, "height": 10})),
            JobRequest::new("greet", json!("aeon")),
        ];
        let submitted = node.submit(requests).await?;

        for job in &submitted {
            loop {
                let stored = node.store().get_job(job.job_id).await?.expect("submitted job exists");
                if stored.status.is_terminal() {
                    println!(
                        "{} {:<6} {:<11} result={:?} error={:?}",
                        stored.job_id, stored.job_type, stored.status, stored.result, stored.error
                    );
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        node.shutdown().await;
        Ok(())
    })
}
