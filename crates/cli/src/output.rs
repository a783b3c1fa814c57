//! Output context: colour decision and tracing setup.

use std::io::IsTerminal;

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

/// Colour only when asked, or on a terminal without `NO_COLOR`.
pub fn use_color(choice: ColorChoice, is_terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

/// `1 rule`, `2 rules`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
