//! SIGINT and SIGTERM during `moat apply`.
//!
//! Before the first change (planning, checking, the prompt), the first
//! signal ends the process at once: nothing was changed, and it says so.
//! Once changes have started, the first signal raises the run's stop
//! signal: no new batch starts, calls in flight finish, and apply prints
//! what was done and what was not, then exits 130. A second signal exits at
//! once.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use moat_exec::{StopReason, StopSignal};
use tokio::signal::unix::{SignalKind, signal};

use crate::exit::Exit;

/// The handler of one command, installed on its runtime.
#[derive(Debug, Clone)]
pub struct Interrupts {
    changing: Arc<AtomicBool>,
}

impl Interrupts {
    /// Listens for SIGINT and SIGTERM until the process ends. `before`
    /// is what to say when a signal comes before any change.
    pub fn install(stop: StopSignal, before: &'static str) -> anyhow::Result<Interrupts> {
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let changing = Arc::new(AtomicBool::new(false));
        let flag = changing.clone();
        tokio::spawn(async move {
            let mut seen = 0;
            loop {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                seen += 1;
                if seen == 1 && flag.load(Ordering::SeqCst) {
                    stop.stop(StopReason::Interrupted);
                    let mut err = crate::output::stderr();
                    let _ = writeln!(
                        err,
                        "\ninterrupted: no new changes start; waiting for the calls in flight (interrupt again to exit at once)"
                    );
                    continue;
                }
                let message = if seen == 1 {
                    before
                } else {
                    "interrupted again: exiting now; run moat plan to see what was done"
                };
                exit_now(message);
            }
        });
        Ok(Interrupts { changing })
    }

    /// From now on a signal stops the run gracefully instead of ending the
    /// process.
    pub fn changes_started(&self) {
        self.changing.store(true, Ordering::SeqCst);
    }
}

/// Flushes what was printed, says why, and exits 130.
fn exit_now(message: &str) -> ! {
    let _ = std::io::stdout().lock().flush();
    let mut err = crate::output::stderr();
    let _ = writeln!(err, "\n{message}");
    let _ = err.flush();
    std::process::exit(Exit::Interrupted as i32)
}
