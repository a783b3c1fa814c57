//! One module per subcommand; `run` dispatches.

pub mod apply;
pub mod drift;
pub mod emulator;
pub mod explain;
pub mod export;
pub mod import;
pub mod lint;
pub mod plan;
pub mod ram_policy;
pub mod report;
pub mod test;
pub mod unlock;
pub mod validate;

use std::io::Write as _;

use anyhow::Context as _;
use clap::CommandFactory;

use crate::args::{Cli, Command};
use crate::exit::Exit;

pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Lint(args) => lint::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Plan(args) => plan::run(&cli.global, &args),
        Command::Apply(args) => apply::run(&cli.global, &args),
        Command::Drift(args) => drift::run(&cli.global, &args),
        Command::Export(args) => export::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Unlock(args) => unlock::run(&args),
        Command::Emulator(args) => emulator::run(args),
        Command::RamPolicy(args) => ram_policy::run(&args),
        Command::Report(args) => report::run(&cli.global, &args),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "moat", &mut script);
            crate::output::stdout()
                .write_all(&script)
                .context("writing to stdout")?;
            Ok(Exit::Ok)
        }
    }
}
