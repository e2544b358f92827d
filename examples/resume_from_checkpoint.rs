//! A handler that saves its progress and, after a crash, resumes where it left off.
//!
//! `import` copies `items` records one by one and saves a checkpoint after each. Its
//! first attempt panics half-way (a bug, a dying worker: anything that ends an attempt
//! without a result). The runtime retries the job; the next attempt reads the
//! checkpoint and starts at the first record not yet done, instead of from zero.
//! Checkpoints live in the job store, so this works with or without Qdrant.
//!
//! ```sh
//! cargo run --example resume_from_checkpoint
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --example resume_from_checkpoint
//! ```

use std::sync::Arc;
use std::time::Duration;

use aeon::actors::probe::Probe;
use aeon::clock::SystemClock;
use aeon::config::{Config, StoreConfig};
use aeon::handler::{JobContext, Outcome, Registry};
use aeon::job::JobRequest;
use aeon::node::Node;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Deserialize)]
struct Import {
    items: u32,
    /// The first attempt dies after this many records.
    crash_after: u32,
}

/// What the handler saves: the records done so far.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Progress {
    done: u32,
}

async fn import(ctx: JobContext, job: Import) -> Outcome {
    // Where an earlier attempt got to, if one did.
    let start = match ctx.resume_from::<Progress>().await {
        Ok(progress) => progress.unwrap_or_default().done,
        Err(e) => return Outcome::Fail(format!("cannot read the checkpoint: {e}")),
    };
    println!("attempt {}: starting at record {start} of {}", ctx.attempt, job.items);
    for record in start..job.items {
        // ... copy record `record` here ...
        if let Err(e) = ctx.checkpoint(Progress { done: record + 1 }).await {
            // Lost: another attempt owns the job now. Unavailable: try again later.
            return Outcome::Fail(format!("checkpoint not saved: {e}"));
        }
        if ctx.attempt == 1 && record + 1 == job.crash_after {
            panic!("crashed after record {}", record + 1);
        }
    }
    Outcome::Complete(json!({ "imported": job.items, "resumed_at": start, "attempt": ctx.attempt }))
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    actix::System::new().block_on(async {
        let mut config = Config::load(None)?;
        config.retry.base_ms = 100; // a quick retry for the demo
        let scratch = std::env::temp_dir().join(format!("aeon-example-{}", std::process::id()));
        if config.store.url == StoreConfig::EMBEDDED_URL {
            config.store.url = format!("sqlite://{}", scratch.join("aeon.db").display());
        }

        let mut registry = Registry::with_builtins();
        registry.register_fn("import", import)?;
        let node = Node::start(config, registry, Arc::new(SystemClock), Probe::none()).await?;
        let job = node.submit(vec![JobRequest::new("import", json!({"items": 10, "crash_after": 6}))]).await?[0].job_id;

        let done = loop {
            let stored = node.store().get_job(job).await?.expect("submitted job exists");
            if stored.status.is_terminal() {
                break stored;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        for run in node.store().executions(job).await? {
            println!("attempt {}: {} {}", run.attempt, run.execution_status, run.error.unwrap_or_default());
        }
        println!("{} {:?}", done.status, done.result);
        node.shutdown().await;
        let _ = std::fs::remove_dir_all(scratch);
        Ok(())
    })
}
