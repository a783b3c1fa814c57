//! `--format csv`: one row per change, fixed columns, RFC 4180 quoting
//! (fields with a comma, quote, CR or LF are quoted, quotes doubled; rows end
//! with CRLF). A column that holds several values joins them with `; `.

use std::io::{self, Write};

use super::{RenderOptions, rule_text};
use crate::plan::{Action, Change, GroupPlan, Plan, UnmodeledAction, UnmodeledEntry};

/// The header row, in order. The list only ever grows at the end.
pub const CSV_COLUMNS: [&str; 20] = [
    "group",
    "region",
    "direction",
    "action",
    "rule",
    "protocol",
    "ports",
    "peer",
    "policy",
    "nic_type",
    "priority_before",
    "priority_after",
    "description_before",
    "description_after",
    "live_ids",
    "origin",
    "reasons",
    "protected",
    "exposure",
    "findings",
];

/// Writes the header and one row per change (unmodeled rules the plan
/// revokes included; kept ones are not changes and have no row).
pub fn render_csv(plan: &Plan, _options: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    write_row(out, CSV_COLUMNS.iter().map(|c| (*c).to_owned()))?;
    for g in &plan.groups {
        for c in &g.changes {
            write_row(out, change_row(g, c))?;
        }
        for u in g
            .unmodeled
            .iter()
            .filter(|u| u.action == UnmodeledAction::Remove)
        {
            write_row(out, unmodeled_row(g, u))?;
        }
    }
    Ok(())
}

fn change_row(g: &GroupPlan, c: &Change) -> impl Iterator<Item = String> {
    let k = &c.key;
    let join = |items: Vec<String>| items.join("; ");
    let row: [String; 20] = [
        g.id.clone(),
        g.region.clone(),
        k.direction.to_string(),
        c.action.to_string(),
        rule_text(k),
        k.protocol.to_string(),
        k.ports.to_wire(),
        k.peer.to_string(),
        k.verdict.to_string(),
        k.nic_type.to_string(),
        c.before
            .as_ref()
            .map(|a| a.priority.to_string())
            .unwrap_or_default(),
        c.after
            .as_ref()
            .map(|a| a.priority.to_string())
            .unwrap_or_default(),
        c.before
            .as_ref()
            .map(|a| a.description.clone())
            .unwrap_or_default(),
        c.after
            .as_ref()
            .map(|a| a.description.clone())
            .unwrap_or_default(),
        c.live_ids.join("; "),
        c.origin
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        join(c.reasons.iter().map(ToString::to_string).collect()),
        c.protection
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        join(c.exposure.iter().map(|e| e.note.clone()).collect()),
        join(c.findings.iter().map(ToString::to_string).collect()),
    ];
    row.into_iter()
}

fn unmodeled_row(g: &GroupPlan, u: &UnmodeledEntry) -> impl Iterator<Item = String> {
    let r = &u.rule;
    let mut row: [String; 20] = Default::default();
    row[0] = g.id.clone();
    row[1] = g.region.clone();
    row[2] = r.direction.to_string();
    row[3] = Action::Remove.to_string();
    row[4] = r.summary.clone();
    row[12] = r.description.clone();
    row[14] = r.id.clone();
    row[16] = format!("unmodeled live rule: {}", r.reason);
    row[17] = u
        .protection
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    row.into_iter()
}

fn write_row(out: &mut dyn Write, fields: impl Iterator<Item = String>) -> io::Result<()> {
    let mut first = true;
    for f in fields {
        if !first {
            out.write_all(b",")?;
        }
        first = false;
        if f.contains([',', '"', '\r', '\n']) {
            write!(out, "\"{}\"", f.replace('"', "\"\""))?;
        } else {
            out.write_all(f.as_bytes())?;
        }
    }
    out.write_all(b"\r\n")
}
