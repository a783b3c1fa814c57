//! `moat test PATH... [--format text|json]`: load the policies and evaluate
//! their `tests:` against the desired rules.
//!
//! Policies that do not validate are reported as `moat validate` reports
//! them (stderr, exit 1). Otherwise the report is the output, on stdout: a
//! line per test with a line per failing group in text form, one object in
//! JSON form. Exit 0 when every test passes (or there is none), 1 when one
//! fails. Evaluation is moat-policy's; this command loads, calls, renders.
//!
//! Today's date decides which rules have expired: `MOAT_TODAY`
//! (`YYYY-MM-DD`) when set, else today in UTC.

use std::io::Write;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use moat_policy::policy_tests::{TestReport, render_test_report, run_tests};
use serde_json::json;

use crate::args::{GroupArgs, PolicyPaths};
use crate::exit::Exit;
use crate::shared::{DiagnosticsForm, report_invalid};

/// Version of the JSON output's shape; bumped on any incompatible change.
const JSON_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub policies: PolicyPaths,
    /// Output form: text for people, json for tools.
    #[arg(long, value_enum, default_value_t = TestFormat::Text)]
    pub format: TestFormat,
    #[command(flatten)]
    pub group: GroupArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    Text,
    Json,
}

pub fn run(args: &TestArgs) -> anyhow::Result<Exit> {
    let today = crate::context::today()?;
    let set = match moat_policy::load_policies(&args.policies.paths) {
        Ok(set) => set,
        Err(diags) => {
            let format = match args.format {
                TestFormat::Text => DiagnosticsForm::Text,
                TestFormat::Json => DiagnosticsForm::Json,
            };
            return report_invalid(&diags, format);
        }
    };
    let (set, _) = args.group.select(set)?;
    let report = run_tests(&set, today);
    let mut out = crate::output::stdout();
    match args.format {
        TestFormat::Text => out
            .write_all(render_test_report(&report).as_bytes())
            .context("writing to stdout")?,
        TestFormat::Json => json(&mut out, &report)?,
    }
    Ok(if report.all_passed() {
        Exit::Ok
    } else {
        Exit::Error
    })
}

fn json(out: &mut impl Write, report: &TestReport) -> anyhow::Result<()> {
    let value = json!({
        "schema_version": JSON_SCHEMA_VERSION,
        "passed": report.all_passed(),
        "summary": {"tests": report.tests.len(), "passed": report.passed(), "failed": report.failed()},
        "tests": report.tests,
    });
    out.flush().context("writing to stdout")?;
    crate::shared::print_json(&serde_json::to_string_pretty(&value)?)
}
