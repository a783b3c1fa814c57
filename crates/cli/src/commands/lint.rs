//! `moat lint PATH... [--strict] [--format text|json]`: load and validate
//! policies, then report the risks and mistakes lint finds in them.
//!
//! Policies that do not validate are reported exactly as `moat validate`
//! reports them (stderr, exit 1) and are not linted. Otherwise the findings
//! are the requested output, on stdout: compiler-style lines with hints and a
//! closing count in text form, one object in JSON form (schema in
//! docs/lint.md). Exit 1 when an error counts (or, with `--strict`, a
//! warning); findings suppressed by `lint_ignore` never count.
//!
//! Today's date decides `expires` checks: `MOAT_TODAY` (`YYYY-MM-DD`) when
//! set, so that CI runs and tests are reproducible, else today in UTC.

use std::io::Write;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use moat_policy::lint::{Report, Summary, reports};
use serde_json::json;

use crate::args::PolicyPaths;
use crate::exit::Exit;
use crate::output::plural;
use crate::shared::{DiagnosticsForm, report_invalid};

/// Version of the JSON output's shape; bumped on any incompatible change.
const JSON_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub policies: PolicyPaths,
    /// Fail (exit 1) on warnings too, not only on errors.
    #[arg(long)]
    pub strict: bool,
    /// Output form: text for people, json for tools.
    #[arg(long, value_enum, default_value_t = LintFormat::Text)]
    pub format: LintFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    Text,
    Json,
}

pub fn run(args: &LintArgs) -> anyhow::Result<Exit> {
    let today = crate::context::today()?;
    let set = match moat_policy::load_policies(&args.policies.paths) {
        Ok(set) => set,
        Err(diags) => {
            let format = match args.format {
                LintFormat::Text => DiagnosticsForm::Text,
                LintFormat::Json => DiagnosticsForm::Json,
            };
            return report_invalid(&diags, format);
        }
    };
    let findings = moat_policy::lint::lint(&set, today);
    let reports = reports(&findings);
    let summary = Summary::of(reports.iter().map(|r| r.finding));
    let failed = summary.errors > 0 || (args.strict && summary.warnings > 0);
    match args.format {
        LintFormat::Text => text(&reports, summary, args.strict)?,
        LintFormat::Json => json(&reports, summary, args.strict, failed)?,
    }
    Ok(if failed { Exit::Error } else { Exit::Ok })
}

fn text(reports: &[Report<'_>], summary: Summary, strict: bool) -> anyhow::Result<()> {
    let mut out = crate::output::stdout();
    for r in reports {
        let f = r.finding;
        match &f.suppressed {
            Some(reason) => writeln!(out, "{} (ignored: {reason})", f.diagnostic)?,
            None => moat_policy::render_text([&f.diagnostic], &mut out)?,
        }
    }
    let mut line = format!(
        "{}, {}",
        plural(summary.errors, "error", "errors"),
        plural(summary.warnings, "warning", "warnings")
    );
    if summary.ignored > 0 {
        line.push_str(&format!(" ({} ignored)", summary.ignored));
    }
    if strict && summary.errors == 0 && summary.warnings > 0 {
        line.push_str("; warnings fail with --strict");
    }
    writeln!(out, "{line}").context("writing to stdout")?;
    Ok(())
}

fn json(
    reports: &[Report<'_>],
    summary: Summary,
    strict: bool,
    failed: bool,
) -> anyhow::Result<()> {
    let findings: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            let f = r.finding;
            let d = &f.diagnostic;
            json!({
                "code": d.code,
                "severity": d.severity,
                "message": d.message,
                "hint": d.hint,
                "file": &*d.origin.file,
                "line": d.origin.line,
                "column": d.origin.column,
                "group": f.group,
                "rules": r.keys.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
                "suppressed": f.suppressed.is_some(),
                "reason": f.suppressed,
            })
        })
        .collect();
    let value = json!({
        "schema_version": JSON_SCHEMA_VERSION,
        "valid": true,
        "strict": strict,
        "passed": !failed,
        "summary": summary,
        "findings": findings,
    });
    crate::shared::print_json(&serde_json::to_string_pretty(&value)?)?;
    Ok(())
}
