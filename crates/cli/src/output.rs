//! Output context: colour decision and tracing setup.

use std::ffi::OsStr;
use std::io::{IsTerminal, Write};
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
///
/// Text is written through [`Escaping`], so control characters from live
/// data or file names never reach the terminal raw. A view that escapes
/// what it prints itself and colours it (the plan's text view), and
/// outputs that are data (completion scripts, exported files), use
/// [`stdout_raw`].
pub fn stdout() -> Escaping<Stdout> {
    Escaping::new(stdout_raw())
}

/// [`stdout`] without the escaping: the caller has escaped what needs it.
pub fn stdout_raw() -> Stdout {
    Stdout(std::io::stdout().lock())
}

/// Standard error for messages, escaped as [`stdout`] is.
pub fn stderr() -> Escaping<std::io::StderrLock<'static>> {
    Escaping::new(std::io::stderr().lock())
}

/// See [`stdout_raw`].
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

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.guard(buf.len(), |out| out.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.guard((), |out| out.flush())
    }
}

/// A writer that escapes what it is given with
/// `moat_policy::printable::escape_lines`: every control character but
/// the line break. A character split across two writes is held back until
/// it is whole.
pub struct Escaping<W: Write> {
    inner: W,
    /// The start of a UTF-8 sequence the last write ended inside.
    pending: Vec<u8>,
}

impl<W: Write> Escaping<W> {
    pub fn new(inner: W) -> Escaping<W> {
        Escaping {
            inner,
            pending: Vec::new(),
        }
    }

    fn emit(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let text = String::from_utf8_lossy(bytes);
        self.inner
            .write_all(moat_policy::printable::escape_lines(&text).as_bytes())
    }
}

impl<W: Write> Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut bytes = std::mem::take(&mut self.pending);
        bytes.extend_from_slice(buf);
        let whole = match std::str::from_utf8(&bytes) {
            Ok(_) => bytes.len(),
            // Cut inside a character: keep its start for the next write.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            // Not UTF-8 at all: written as replacement characters.
            Err(_) => bytes.len(),
        };
        self.emit(&bytes[..whole])?;
        self.pending = bytes[whole..].to_vec();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            self.emit(&rest)?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for Escaping<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// `1 rule`, `2 rules`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use std::io::Write as _;

    use super::{Escaping, environment_allows_color};

    #[test]
    fn escaping_writes_controls_as_text_even_when_split_across_writes() {
        let mut out = Escaping::new(Vec::new());
        out.write_all(b"file \x1b[2J\x07name\n").unwrap();
        // "é" (c3 a9) and U+202E (e2 80 ae) cut in the middle.
        out.write_all(b"caf\xc3").unwrap();
        out.write_all(b"\xa9 \xe2\x80").unwrap();
        out.write_all(b"\xae!\n").unwrap();
        out.flush().unwrap();
        let text = String::from_utf8(std::mem::take(&mut out.inner)).unwrap();
        assert_eq!(text, "file \\u{1b}[2J\\u{7}name\ncafé \\u{202e}!\n");
    }

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
