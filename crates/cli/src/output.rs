//! Output context: colour decision and tracing setup.

use std::ffi::OsStr;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::EnvFilter;

use crate::args::{ColorChoice, GlobalArgs};

/// Logs go to stderr; `-v` raises and `-q` lowers the level, `RUST_LOG`
/// overrides both.
pub fn init_tracing(global: &GlobalArgs) {
    let level = match i16::from(global.verbose) - i16::from(global.quiet) {
        i16::MIN..=-1 => "error",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(use_color(global.color, std::io::stderr().is_terminal()))
        .try_init();
}

/// Colour only when asked, or on a terminal that can show it: not when
/// `NO_COLOR` is set to anything, nor when `TERM` is `dumb`.
pub fn use_color(choice: ColorChoice, is_terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            is_terminal
                && environment_allows_color(
                    std::env::var_os("NO_COLOR").as_deref(),
                    std::env::var_os("TERM").as_deref(),
                )
        }
    }
}

fn environment_allows_color(no_color: Option<&OsStr>, term: Option<&OsStr>) -> bool {
    no_color.is_none_or(OsStr::is_empty) && term.is_none_or(|t| t != "dumb")
}

/// Whether the reader of standard output has gone away.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Standard output for a command's results. A reader that goes away
/// (`moat plan | head -1`) is not an error: what is left to print is
/// dropped, and the command finishes and exits with its own code, so that
/// `drift | head` still exits 2 on drift.
pub fn stdout() -> Stdout {
    Stdout(std::io::stdout().lock())
}

/// See [`stdout`].
pub struct Stdout(std::io::StdoutLock<'static>);

impl Stdout {
    fn guard<T>(
        &mut self,
        done: T,
        op: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return Ok(done);
        }
        match op(&mut self.0) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                STDOUT_CLOSED.store(true, Ordering::Relaxed);
                tracing::debug!("standard output was closed by its reader");
                Ok(done)
            }
            other => other,
        }
    }
}

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.guard(buf.len(), |out| out.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.guard((), |out| out.flush())
    }
}

/// `1 rule`, `2 rules`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::environment_allows_color;

    #[test]
    fn no_color_and_a_dumb_terminal_turn_colour_off() {
        let s = |v: &'static str| Some(OsStr::new(v));
        assert!(environment_allows_color(None, None));
        assert!(environment_allows_color(None, s("xterm-256color")));
        assert!(environment_allows_color(s(""), s("xterm")));
        assert!(!environment_allows_color(s("1"), s("xterm")));
        assert!(!environment_allows_color(None, s("dumb")));
    }
}
