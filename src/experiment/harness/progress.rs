//! The progress of a run while it goes: jobs finished of those planned, faults fired,
//! elapsed time. A bar (indicatif) when stderr is a terminal; a plain line every few
//! seconds when it is not (a log); nothing with `--quiet`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Counter;

/// How often the finished jobs are counted.
const TICK: Duration = Duration::from_millis(250);
/// How often a plain line is written when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// A progress display that counts finished jobs in the database by itself; the run
/// tells it each fault it fires.
pub struct Progress {
    fired: Arc<AtomicUsize>,
    task: Option<tokio::task::JoinHandle<()>>,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts the display for `jobs` jobs and `faults` faults (none when `quiet`).
    pub(super) fn start(quiet: bool, jobs: usize, faults: usize, counter: Counter) -> Progress {
        let fired = Arc::new(AtomicUsize::new(0));
        if quiet {
            return Progress { fired, task: None, bar: None };
        }
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(jobs as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} jobs done, {msg}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.set_message(format!("0/{faults} faults fired"));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let (task_bar, task_fired) = (bar.clone(), fired.clone());
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut last_plain = Instant::now();
            loop {
                tokio::time::sleep(TICK).await;
                let done = match tokio::time::timeout(Duration::from_secs(1), counter.unfinished_and_done()).await {
                    Ok(Ok((_, done))) => Some(done.max(0) as u64),
                    _ => None, // a locked table or a lost connection: keep the last count
                };
                let fired = task_fired.load(Ordering::Relaxed);
                match &task_bar {
                    Some(bar) => {
                        if let Some(done) = done {
                            bar.set_position(done);
                        }
                        bar.set_message(format!("{fired}/{faults} faults fired"));
                    }
                    None if last_plain.elapsed() >= PLAIN_EVERY => {
                        last_plain = Instant::now();
                        let done = done.map_or("?".into(), |d| d.to_string());
                        eprintln!(
                            "  {done}/{jobs} jobs done, {fired}/{faults} faults fired, {:.0} s",
                            start.elapsed().as_secs_f64()
                        );
                    }
                    None => {}
                }
            }
        });
        Progress { fired, task: Some(task), bar }
    }

    /// One more fault took effect (a skipped one is not counted).
    pub fn fault_fired(&self) {
        self.fired.fetch_add(1, Ordering::Relaxed);
    }

    /// Stops the display, leaving the bar's last state on the terminal.
    pub fn finish(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(bar) = self.bar.take() {
            bar.abandon();
            eprintln!();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
