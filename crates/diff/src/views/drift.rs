//! The drift report for `moat drift`: the same plan, summarised per group as
//! in sync, drifted or missing. The JSON form is what a nightly pipeline
//! reads; the text form is for its log.

use std::io::{self, Write};

use serde::Serialize;

use super::RenderOptions;
use crate::plan::{GroupStatus, PLAN_SCHEMA_VERSION, Plan, Summary, UnmodeledAction};

/// The state of one group against its policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftStatus {
    InSync,
    Drift,
    Missing,
}

/// One group of the drift report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DriftGroup {
    pub id: String,
    pub region: String,
    pub status: DriftStatus,
    pub add: usize,
    pub change: usize,
    pub remove: usize,
    /// Live rules moat cannot model that the plan keeps.
    pub unmanaged: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// The drift report: in sync when no group has a change or is missing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DriftReport {
    pub format: &'static str,
    pub schema_version: u32,
    pub in_sync: bool,
    pub summary: Summary,
    pub groups: Vec<DriftGroup>,
}

impl DriftReport {
    pub fn from_plan(plan: &Plan) -> DriftReport {
        let groups: Vec<DriftGroup> = plan
            .groups
            .iter()
            .map(|g| {
                let s = g.summary();
                let status = match (g.status, s.is_empty()) {
                    (GroupStatus::Missing, _) => DriftStatus::Missing,
                    (GroupStatus::Present, true) => DriftStatus::InSync,
                    (GroupStatus::Present, false) => DriftStatus::Drift,
                };
                DriftGroup {
                    id: g.id.clone(),
                    region: g.region.clone(),
                    status,
                    add: s.add,
                    change: s.change,
                    remove: s.remove,
                    unmanaged: g
                        .unmodeled
                        .iter()
                        .filter(|u| u.action == UnmodeledAction::Keep)
                        .count(),
                    fingerprint: g.fingerprint.clone(),
                }
            })
            .collect();
        DriftReport {
            format: "moat-drift",
            schema_version: PLAN_SCHEMA_VERSION,
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
    serde_json::to_writer_pretty(&mut *out, &DriftReport::from_plan(plan))
        .map_err(io::Error::from)?;
    out.write_all(b"\n")
}

/// Writes one line per group that is not in sync, then the verdict.
pub fn render_drift_text(
    plan: &Plan,
    _options: &RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let report = DriftReport::from_plan(plan);
    let total = report.groups.len();
    for g in &report.groups {
        match g.status {
            DriftStatus::InSync => {}
            DriftStatus::Missing => writeln!(out, "{} ({}): missing", g.id, g.region)?,
            DriftStatus::Drift => writeln!(
                out,
                "{} ({}): drift: {} to add, {} to change, {} to remove",
                g.id, g.region, g.add, g.change, g.remove
            )?,
        }
    }
    if report.in_sync {
        writeln!(out, "In sync: {total} security group(s) match the policy.")
    } else {
        let off = report
            .groups
            .iter()
            .filter(|g| g.status != DriftStatus::InSync)
            .count();
        writeln!(
            out,
            "Drift: {off} of {total} security group(s) differ from the policy. {}",
            report.summary
        )
    }
}
