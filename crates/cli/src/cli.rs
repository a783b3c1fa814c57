//! The command line as a whole: the subcommands, the arguments as written
//! (cloud options hoisted after the subcommand), and `run`, which hands
//! each subcommand to its module. Commands know the shared argument types
//! in `args` and never this module.

use std::ffi::OsString;
use std::io::Write as _;

use anyhow::Context as _;
use clap::{Args as _, CommandFactory, Parser, Subcommand};

use crate::args::{CloudArgs, GlobalArgs};
use crate::commands::{
    apply, doctor, drift, emulator, explain, export, import, lint, plan, ram_policy, report, show,
    test, unlock, validate,
};
use crate::exit::Exit;

#[derive(Debug, Parser)]
#[command(
    name = "moat",
    version,
    about = "Alibaba Cloud ECS security group rules as code",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check policies: syntax, names and values, and expand every rule.
    Validate(validate::ValidateArgs),
    /// Find risky and useless rules: public exposure, shadowing, expiry, descriptions.
    Lint(lint::LintArgs),
    /// Show what would change: live rules against the policies.
    Plan(plan::PlanArgs),
    /// Carry out a plan: from policies (planned now) or a saved plan file.
    Apply(apply::ApplyArgs),
    /// Show a saved plan in any view, without calling the API.
    Show(show::ShowArgs),
    /// Check live rules against the policies: exit 0 in sync, 2 drift, 1 error.
    Drift(drift::DriftArgs),
    /// Check the policies' tests: does every flow get the expected answer?
    Test(test::TestArgs),
    /// Would ECS allow this flow, and which rule decides it?
    Explain(explain::ExplainArgs),
    /// Walk the runbook for a flow to or from an instance: where does it stop?
    Doctor(doctor::DoctorArgs),
    /// Write live groups as a policy, Terraform HCL, a ROS template or CSV.
    Export(export::ExportArgs),
    /// Turn rules kept in Terraform, ROS or a CSV whitelist into a policy.
    Import(import::ImportArgs),
    /// Remove the lease an apply left on security groups (like terraform force-unlock).
    Unlock(unlock::UnlockArgs),
    /// Run the ECS security group API emulator as a server.
    Emulator(emulator::EmulatorArgs),
    /// Print the least-privilege RAM policy (JSON) for the groups in the policies.
    RamPolicy(ram_policy::RamPolicyArgs),
    /// Work on saved reports: `merge` the shards of a run (`--shard K/N`).
    Report(report::ReportArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Lint(args) => lint::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Plan(args) => plan::run(&cli.global, &args),
        Command::Apply(args) => apply::run(&cli.global, &args),
        Command::Drift(args) => drift::run(&cli.global, &args),
        Command::Show(args) => show::run(&cli.global, &args),
        Command::Export(args) => export::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Doctor(args) => doctor::run(&args),
        Command::Unlock(args) => unlock::run(&args),
        Command::Emulator(args) => emulator::run(args),
        Command::RamPolicy(args) => ram_policy::run(&args),
        Command::Report(args) => report::run(&cli.global, &args),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "moat", &mut script);
            crate::output::stdout_raw()
                .write_all(&script)
                .context("writing to stdout")?;
            Ok(Exit::Ok)
        }
    }
}

/// The arguments with every cloud option written before the subcommand
/// moved after it, so that `moat --region X plan p.yaml` reads as
/// `moat plan p.yaml --region X`. Options of the top level (colour,
/// logging, help, version) stay where they are; anything else is left for
/// clap to judge.
pub fn hoist(argv: Vec<OsString>) -> Vec<OsString> {
    let top = Cli::command();
    let cloud = CloudArgs::augment_args(clap::Command::new("cloud"));
    let mut out = Vec::with_capacity(argv.len());
    let mut moved = Vec::new();
    let mut args = argv.into_iter();
    if let Some(program) = args.next() {
        out.push(program);
    }
    while let Some(arg) = args.next() {
        let Some(text) = arg
            .to_str()
            .filter(|t| t.starts_with('-') && *t != "-" && *t != "--")
        else {
            // The subcommand (or `--`, or something clap will refuse).
            out.push(arg);
            break;
        };
        let (name, inline_value) = match text.split_once('=') {
            Some((name, _)) => (name, true),
            None => (text, false),
        };
        let find = |cmd: &clap::Command| -> Option<bool> {
            cmd.get_arguments()
                .find(|a| match name.strip_prefix("--") {
                    Some(long) => a.get_long() == Some(long),
                    None => {
                        let mut chars = name.chars().skip(1);
                        a.get_short().is_some() && chars.next() == a.get_short()
                    }
                })
                .map(|a| a.get_action().takes_values())
        };
        let (into, takes_value) = match (find(&top), find(&cloud)) {
            (Some(takes_value), _) => (&mut out, takes_value),
            (None, Some(takes_value)) => (&mut moved, takes_value),
            (None, None) => (&mut out, false),
        };
        into.push(arg);
        if takes_value && !inline_value {
            into.extend(args.next());
        }
    }
    // At the end, where the deepest subcommand (`import terraform`) reads
    // them, but before a `--` that makes everything after it a path.
    let rest: Vec<OsString> = args.collect();
    let end = rest.iter().position(|a| a == "--").unwrap_or(rest.len());
    let mut rest = rest.into_iter();
    out.extend(rest.by_ref().take(end));
    out.append(&mut moved);
    out.extend(rest);
    out
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use clap::Parser as _;

    use super::{Cli, Command, hoist};

    #[test]
    fn the_secret_flag_never_shows_in_debug_output() {
        let cli = Cli::try_parse_from([
            "moat",
            "plan",
            "p.yaml",
            "--access-key-id",
            "LTAI5tSomeKeyId",
            "--access-key-secret",
            "planted-secret-value",
        ])
        .expect("valid flags");
        let debug = format!("{cli:?}");
        assert!(debug.contains("LTAI5tSomeKeyId"), "{debug}");
        assert!(!debug.contains("planted-secret-value"), "{debug}");
    }

    #[test]
    fn global_flags_work_after_the_subcommand_and_its_paths() {
        let cli = Cli::try_parse_from([
            "moat",
            "drift",
            "p.yaml",
            "--region",
            "cn-shanghai",
            "--max-rps",
            "5",
        ])
        .expect("valid flags");
        let Command::Drift(drift) = cli.command else {
            panic!("parsed as drift")
        };
        assert_eq!(drift.cloud.region.as_deref(), Some("cn-shanghai"));
        assert_eq!(drift.cloud.max_rps, Some(5.0));
    }

    fn hoisted(args: &[&str]) -> Vec<String> {
        let argv = std::iter::once("moat")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        hoist(argv)
            .into_iter()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn cloud_options_before_the_subcommand_move_after_it() {
        assert_eq!(
            hoisted(&["--region", "cn-shanghai", "-v", "plan", "p.yaml"]),
            ["-v", "plan", "p.yaml", "--region", "cn-shanghai"]
        );
        // Values inline or apart, flags without a value, and the top
        // level's own options (with their values) left in place.
        assert_eq!(
            hoisted(&["--color", "never", "--local", "--max-rps=5", "drift", "d/"]),
            ["--color", "never", "drift", "d/", "--local", "--max-rps=5"]
        );
        // Nested subcommands read them at the end; `--` keeps its paths.
        assert_eq!(
            hoisted(&["--region", "r", "import", "csv", "f.csv"]),
            ["import", "csv", "f.csv", "--region", "r"]
        );
        assert_eq!(
            hoisted(&["--local", "plan", "--", "-odd.yaml"]),
            ["plan", "--local", "--", "-odd.yaml"]
        );
        // Nothing to move, or something clap will refuse: left alone.
        assert_eq!(hoisted(&["plan", "p.yaml"]), ["plan", "p.yaml"]);
        assert_eq!(
            hoisted(&["--no-such", "plan", "p.yaml"]),
            ["--no-such", "plan", "p.yaml"]
        );
    }

    #[test]
    fn commands_that_do_not_talk_to_the_cloud_refuse_cloud_options() {
        for args in [
            &["validate", "p.yaml", "--region", "cn-hangzhou"][..],
            &["lint", "p.yaml", "--local"],
            &["completions", "bash", "--endpoint", "http://127.0.0.1:1"],
            &["emulator", "--access-key-id", "x"],
            &["emulator", "--local"],
        ] {
            let argv = std::iter::once("moat")
                .chain(args.iter().copied())
                .map(OsString::from)
                .collect();
            assert!(Cli::try_parse_from(hoist(argv)).is_err(), "{args:?}");
        }
        let argv = ["moat", "--local", "validate", "p.yaml"]
            .into_iter()
            .map(OsString::from)
            .collect();
        assert!(Cli::try_parse_from(hoist(argv)).is_err());
    }
}
