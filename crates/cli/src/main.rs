//! moat-cli: the `moat` command.
//!
//! This crate owns the command line (clap), wiring the library crates
//! together, the choice of view, colour and width, the `yes` prompt, tracing
//! setup and exit codes. Business rules live in the library crates; this one
//! only decides what to call and where output goes.

mod args;
mod cli;
mod commands;
mod context;
mod exit;
mod interrupt;
mod loading;
mod local;
mod local_network;
mod output;
mod planning;
mod progress;
mod shared;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse_from(cli::hoist(std::env::args_os().collect())) {
        Ok(cli) => cli,
        Err(err) => return exit::usage(&err),
    };
    output::init_tracing(&cli.global);
    tracing::debug!("moat started");
    let code = match cli::run(cli) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    };
    ExitCode::from(code as u8)
}
