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

use std::collections::HashSet;
use std::io::Write;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use moat_exec::{GroupRef, Recorder};
use moat_policy::policy_tests::{TestReport, render_test_report, run_tests, run_tests_live};
use moat_policy::{Declared, DeclaredGroup, Diagnostics, TestTarget};
use serde_json::json;

use crate::args::{CloudArgs, GroupArgs, PolicyPaths};
use crate::context::runtime;
use crate::exit::Exit;
use crate::loading::group_ref;
use crate::planning::{Selection, ShardArgs, StageArgs, prepare_reading, select_groups};
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
    let form = match args.format {
        TestFormat::Text => DiagnosticsForm::Text,
        TestFormat::Json => DiagnosticsForm::Json,
    };
    let report = if args.live {
        match runtime()?.block_on(run_live(args))? {
            Ok(report) => report,
            Err(diags) => return report_invalid(&diags, form),
        }
    } else {
        let today = crate::context::today()?;
        let set = match moat_policy::load_policies(&args.policies.paths) {
            Ok(set) => set,
            Err(diags) => return report_invalid(&diags, form),
        };
        let (set, _) = select_groups(&args.group, &args.stage, set)?;
        let (set, _) = args.shard.select(set);
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

/// `--live`: loads the policies, reading early the groups the tests name
/// ([`Tested`]), and runs the tests on the live rules of the selected
/// groups they name, each read once.
async fn run_live(args: &TestArgs) -> anyhow::Result<Result<TestReport, Diagnostics>> {
    let selection = Selection {
        group: &args.group,
        stage: &args.stage,
        shard: &args.shard,
        all_stages: false,
        gated: false,
    };
    let chosen = args.shard.shard();
    let mut tested = Tested::default();
    let early =
        |declared: &Declared| tested.arrived(declared, |g| selection.wants(g, chosen.as_ref()));
    let recorder = Recorder::new();
    let prepared = match prepare_reading(
        &args.policies.paths,
        selection,
        &args.cloud,
        &recorder,
        early,
    )
    .await?
    {
        Ok(prepared) => prepared,
        Err(diags) => return Ok(Err(diags)),
    };
    let (reader, reading) = crate::progress::reading(prepared.reader.clone(), "reading");
    let live = moat_exec::read_typed_groups(
        &reader,
        &tested_groups(&prepared.set),
        moat_exec::DEFAULT_READ_CONCURRENCY,
        prepared.prefetch.as_deref(),
    )
    .await;
    drop(reading);
    let live = live?;
    Ok(Ok(run_tests_live(&prepared.set, &live.groups)))
}

/// The groups `test --live` reads while the policies load: a group a test
/// names by id, or one that uses a template a test names, once both the
/// group and the test have been read (in any order of files). A group
/// that has a tested template only through another template is read
/// after the load, with the rest of the tested groups.
#[derive(Default)]
struct Tested {
    ids: HashSet<String>,
    templates: HashSet<String>,
    /// Groups the run keeps that no test read so far names.
    waiting: Vec<DeclaredGroup>,
}

impl Tested {
    /// The groups to read now that `declared` has arrived; `keep`: whether
    /// the run keeps a group (`--group`, `--stage`, `--shard`).
    fn arrived(
        &mut self,
        declared: &Declared,
        keep: impl Fn(&DeclaredGroup) -> bool,
    ) -> Vec<GroupRef> {
        for t in &declared.tests {
            match t {
                TestTarget::Group(id) => self.ids.insert(id.clone()),
                TestTarget::Template(name) => self.templates.insert(name.clone()),
            };
        }
        let named = |g: &DeclaredGroup| {
            self.ids.contains(&g.id) || g.uses.iter().any(|t| self.templates.contains(t))
        };
        let mut now = Vec::new();
        // The groups that waited can only be named by a test of this file.
        if !declared.tests.is_empty() {
            let (named_now, later) = std::mem::take(&mut self.waiting)
                .into_iter()
                .partition::<Vec<_>, _>(|g| named(g));
            now.extend(named_now.iter().map(group_ref));
            self.waiting = later;
        }
        for g in declared.groups.iter().filter(|g| keep(g)) {
            if named(g) {
                now.push(group_ref(g));
            } else {
                self.waiting.push(g.clone());
            }
        }
        now
    }
}

/// The groups the tests name, each once, in group order.
pub fn tested_groups(set: &moat_policy::PolicySet) -> Vec<GroupRef> {
    let named: HashSet<&str> = set
        .tests
        .iter()
        .flat_map(|t| t.groups.iter().map(String::as_str))
        .collect();
    set.groups
        .iter()
        .filter(|g| named.contains(g.id.as_str()))
        .map(|g| GroupRef::new(&g.id, &g.region).in_account(g.account.as_deref()))
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
