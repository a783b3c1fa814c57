//! The drift report for `moat drift`: the same plan, summarised per group as
//! in sync, drifted or missing. The JSON form is what a nightly pipeline
//! reads; the text form is for its log.

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use moat_policy::printable::escape_lines;
use moat_policy::{GroupType, Mode};

use super::{RenderOptions, partial_line};
use crate::plan::{GroupStatus, PLAN_SCHEMA_VERSION, Plan, Summary, UnmodeledEntry};

/// The state of one group against its policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftStatus {
    InSync,
    Drift,
    Missing,
}

/// One group of the drift report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftGroup {
    pub id: String,
    pub region: String,
    pub status: DriftStatus,
    pub add: usize,
    pub change: usize,
    pub remove: usize,
    /// Live rules moat cannot model that the plan keeps. In an
    /// authoritative group they are drift; in an additive one they are not.
    pub unmanaged: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The `type:` the policy states, only when the live group has another
    /// (`live_type`): drift moat cannot fix, the policy must.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub group_type: Option<GroupType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_type: Option<GroupType>,
    /// Every live rule moat cannot model, with its raw fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmodeled: Vec<UnmodeledEntry>,
    /// The group's mode: whether its unmodeled live rules are drift. In
    /// the JSON so that a report read back (`moat report merge`) writes the
    /// same text as the run that made it; a report without it is read as
    /// authoritative.
    #[serde(default)]
    pub mode: Mode,
}

/// The drift report: in sync when no group has a change, is missing, or (in
/// an authoritative group) holds live rules moat cannot model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftReport {
    pub format: String,
    pub schema_version: u32,
    /// The share of the groups this report covers (`--shard`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::Shard>,
    /// The groups a partial report was limited to (`--group`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    pub in_sync: bool,
    pub summary: Summary,
    pub groups: Vec<DriftGroup>,
}

/// The `format` of a drift report.
pub const DRIFT_FORMAT: &str = "moat-drift";

impl DriftReport {
    pub fn from_plan(plan: &Plan) -> DriftReport {
        let groups: Vec<DriftGroup> = plan
            .groups
            .iter()
            .map(|g| {
                let s = g.summary();
                let status = match g.status {
                    GroupStatus::Missing => DriftStatus::Missing,
                    GroupStatus::Present if g.drifts() => DriftStatus::Drift,
                    GroupStatus::Present => DriftStatus::InSync,
                };
                DriftGroup {
                    id: g.id.clone(),
                    region: g.region.clone(),
                    status,
                    add: s.add,
                    change: s.change,
                    remove: s.remove,
                    unmanaged: g.kept_unmodeled().count(),
                    fingerprint: g.fingerprint.clone(),
                    group_type: g.type_mismatch().map(|(p, _)| p),
                    live_type: g.type_mismatch().map(|(_, l)| l),
                    unmodeled: g.unmodeled.clone(),
                    mode: g.mode,
                }
            })
            .collect();
        DriftReport {
            format: DRIFT_FORMAT.to_owned(),
            schema_version: PLAN_SCHEMA_VERSION,
            shard: plan.shard,
            targets: plan.targets.clone(),
            in_sync: groups.iter().all(|g| g.status == DriftStatus::InSync),
            summary: plan.summary(),
            groups,
        }
    }
}

/// Writes the drift report as pretty JSON with a trailing newline.
pub fn render_drift_json(
    plan: &Plan,
    _options: &RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let text =
        serde_json::to_string_pretty(&DriftReport::from_plan(plan)).map_err(io::Error::from)?;
    out.write_all(moat_policy::printable::escape_json(&text).as_bytes())?;
    out.write_all(b"\n")
}

/// Writes one line per group that is not in sync, each live rule moat
/// cannot model under its group (with its raw fields), then the verdict.
pub fn render_drift_text(
    plan: &Plan,
    _options: &RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    render_drift_report_text(&DriftReport::from_plan(plan), out)
}

/// The drift of `plan` as a pull-request or issue comment, headed as
/// drift (the same document `moat report merge` writes for drift reports).
pub fn render_drift_markdown(
    plan: &Plan,
    options: &RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    render_drift_report_markdown(&DriftReport::from_plan(plan), options.markdown_limit, out)
}

/// [`render_drift_text`] of a report, such as one read back or merged.
/// Live rule ids and summaries are printed escaped.
pub fn render_drift_report_text(report: &DriftReport, out: &mut dyn Write) -> io::Result<()> {
    let mut text = Vec::new();
    write_drift_report_text(report, &mut text)?;
    out.write_all(escape_lines(&String::from_utf8_lossy(&text)).as_bytes())
}

fn write_drift_report_text(report: &DriftReport, out: &mut dyn Write) -> io::Result<()> {
    if let Some(line) = partial_line(&report.targets) {
        writeln!(out, "{line}")?;
    }
    let total = report.groups.len();
    let mut unmanaged_drift = 0;
    for g in &report.groups {
        match g.status {
            DriftStatus::Missing => writeln!(out, "{} ({}): status: missing", g.id, g.region)?,
            DriftStatus::Drift => {
                write!(
                    out,
                    "{} ({}): drift: {} to add, {} to change, {} to remove",
                    g.id, g.region, g.add, g.change, g.remove
                )?;
                if g.mode == Mode::Authoritative && g.unmanaged > 0 {
                    unmanaged_drift += g.unmanaged;
                    write!(out, ", {} unmodeled live rule(s) kept", g.unmanaged)?;
                }
                if let (Some(policy), Some(live)) = (g.group_type, g.live_type) {
                    write!(out, ", the policy says type: {policy} but it is {live}")?;
                }
                writeln!(out)?;
            }
            DriftStatus::InSync if g.unmodeled.is_empty() => continue,
            DriftStatus::InSync => writeln!(
                out,
                "{} ({}): in sync (additive), {} unmodeled live rule(s) kept",
                g.id, g.region, g.unmanaged
            )?,
        }
        for u in &g.unmodeled {
            let r = &u.rule;
            writeln!(
                out,
                "  ? {} {} {} ({}; {})",
                r.direction,
                r.id,
                r.summary,
                r.reason,
                match u.action {
                    crate::plan::UnmodeledAction::Keep => "kept",
                    crate::plan::UnmodeledAction::Remove => "the plan removes it",
                }
            )?;
        }
    }
    if report.in_sync {
        return writeln!(out, "In sync: {total} security group(s) match the policy.");
    }
    let off = report
        .groups
        .iter()
        .filter(|g| g.status != DriftStatus::InSync)
        .count();
    write!(
        out,
        "Drift: {off} of {total} security group(s) differ from the policy."
    )?;
    if !report.summary.is_empty() {
        write!(out, " {}", report.summary)?;
    }
    if unmanaged_drift > 0 {
        write!(
            out,
            " {unmanaged_drift} live rule(s) moat cannot model are in authoritative groups."
        )?;
    }
    writeln!(out)
}

/// A drift report as a pull-request or issue comment: the verdict, then a
/// table of the groups that are not in sync, cut to `limit` characters
/// with a visible note when they do not all fit.
pub fn render_drift_report_markdown(
    report: &DriftReport,
    limit: usize,
    out: &mut dyn Write,
) -> io::Result<()> {
    let total = report.groups.len();
    let off: Vec<&DriftGroup> = report
        .groups
        .iter()
        .filter(|g| g.status != DriftStatus::InSync)
        .collect();
    let mut doc = String::from("### moat drift\n\n");
    if let Some(line) = partial_line(&report.targets) {
        doc.push_str(&format!("> {line}\n\n"));
    }
    if off.is_empty() {
        doc.push_str(&format!(
            "**In sync:** {total} security group(s) match the policy.\n"
        ));
        return out.write_all(escape_lines(&doc).as_bytes());
    }
    doc.push_str(&format!(
        "**Drift:** {} of {total} security group(s) differ from the policy. {}\n\n",
        off.len(),
        report.summary
    ));
    doc.push_str("| group | region | status | add | change | remove |\n| --- | --- | --- | --- | --- | --- |\n");
    let note_room = 120;
    for (i, g) in off.iter().enumerate() {
        let status = match (g.status, g.group_type, g.live_type) {
            (DriftStatus::Missing, ..) => "missing".to_owned(),
            (DriftStatus::Drift, Some(policy), Some(live)) => {
                format!("drift (policy type: {policy}, live: {live})")
            }
            (DriftStatus::Drift, ..) => "drift".to_owned(),
            (DriftStatus::InSync, ..) => "in sync".to_owned(),
        };
        let row = format!(
            "| {} | {} | {status} | {} | {} | {} |\n",
            g.id, g.region, g.add, g.change, g.remove
        );
        if doc.len() + row.len() + note_room > limit {
            doc.push_str(&format!(
                "\n> {} more group(s) not shown: the comment size limit was reached.\n",
                off.len() - i
            ));
            break;
        }
        doc.push_str(&row);
    }
    out.write_all(escape_lines(&doc).as_bytes())
}
