//! `moat test PATH... [--live] [--stage NAME] [--shard K/N] [--format
//! text|json]`: load the policies and evaluate their `tests:` against the
//! desired rules, or with `--live` against the live rules of the groups the
//! tests name (each read once, through the read step plan uses).
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
use moat_policy::policy_tests::{TestReport, render_test_report, run_tests, run_tests_live};
use serde_json::json;

use crate::args::{CloudArgs, GroupArgs, PolicyPaths};
use crate::context::{Cloud, Reach, runtime};
use crate::exit::Exit;
use crate::planning::{ShardArgs, StageArgs, region_hint, select_groups};
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
    /// Evaluate against the live rules of the groups (read once each)
    /// instead of the policies' rules; takes the cloud options.
    #[arg(long)]
    pub live: bool,
    #[command(flatten)]
    pub stage: StageArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
    #[command(flatten)]
    pub group: GroupArgs,
    #[command(flatten)]
    pub cloud: CloudArgs,
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
    let hint = region_hint(&set).map(str::to_owned);
    // A new local cloud is seeded with every group of the policies.
    let whole = (args.group.limits() || args.stage.stage.is_some()).then(|| set.clone());
    let (set, _) = select_groups(&args.group, &args.stage, set)?;
    let (set, _) = args.shard.select(set);
    let report = if args.live {
        runtime()?.block_on(async {
            let cloud = Cloud::connect_to(
                &args.cloud,
                hint.as_deref(),
                Some(whole.as_ref().unwrap_or(&set)),
                &Reach::of_policies(&set),
            )
            .await?;
            let (reader, reading) = crate::progress::reading(cloud.reader(), "reading");
            let live = moat_exec::read_typed_groups(
                &reader,
                &tested_groups(&set),
                moat_exec::DEFAULT_READ_CONCURRENCY,
            )
            .await;
            drop(reading);
            let live = live?;
            anyhow::Ok(run_tests_live(&set, &live.groups))
        })?
    } else {
        run_tests(&set, today)
    };
    let mut out = crate::output::stdout();
    match args.format {
        TestFormat::Text => out
            .write_all(render_test_report(&report).as_bytes())
            .context("writing to stdout")?,
        TestFormat::Json => json(&mut out, &report, args.live)?,
    }
    Ok(if report.all_passed() {
        Exit::Ok
    } else {
        Exit::Error
    })
}

/// The groups the tests name, each once, in group order.
pub fn tested_groups(set: &moat_policy::PolicySet) -> Vec<moat_exec::GroupRef> {
    let named: std::collections::HashSet<&str> = set
        .tests
        .iter()
        .flat_map(|t| t.groups.iter().map(String::as_str))
        .collect();
    set.groups
        .iter()
        .filter(|g| named.contains(g.id.as_str()))
        .map(|g| moat_exec::GroupRef::new(&g.id, &g.region).in_account(g.account.as_deref()))
        .collect()
}

fn json(out: &mut impl Write, report: &TestReport, live: bool) -> anyhow::Result<()> {
    let value = json!({
        "schema_version": JSON_SCHEMA_VERSION,
        "against": if live { "live" } else { "policy" },
        "passed": report.all_passed(),
        "summary": {"tests": report.tests.len(), "passed": report.passed(), "failed": report.failed()},
        "tests": report.tests,
    });
    out.flush().context("writing to stdout")?;
    crate::shared::print_json(&serde_json::to_string_pretty(&value)?)
}
