//! `--format csv`: one row per change, fixed columns, RFC 4180 quoting
//! (fields with a comma, quote, CR or LF are quoted, quotes doubled; rows end
//! with CRLF). A column that holds several values joins them with `; `.
//!
//! A plan that carries a blast radius (`moat plan --instances`) has three
//! more columns at the end ([`CSV_BLAST_COLUMNS`]), so a reviewer can sort
//! the changes by how many instances their group is on and filter those
//! that change reachability somewhere; plans without one keep the fixed
//! columns exactly.

use std::io::{self, Write};

use moat_policy::Mode;

use super::{RenderOptions, partial_line, rule_text};
use crate::plan::{Action, Change, GroupPlan, GroupStatus, Plan, UnmodeledAction, UnmodeledEntry};

/// The header row, in order. The list only ever grows at the end.
pub const CSV_COLUMNS: [&str; 24] = [
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
    "status",
    "template",
    "breaks_tests",
    "stage",
];

/// The columns after [`CSV_COLUMNS`] when the plan carries a blast radius:
/// the instances carrying the row's group (a count), the instances the
/// change has an effect on (every id, sorted), and those effects with their
/// counts (`new public exposure: tcp/3306 from 0.0.0.0/0 on 2 of 3
/// instances`).
pub const CSV_BLAST_COLUMNS: [&str; 3] =
    ["group_instances", "affected_instances", "instance_exposure"];

/// Writes the header, one row per change, one per live rule moat cannot
/// model (action `remove` when the plan revokes it, `keep` when it stays)
/// and one per missing group (action empty, status `missing`). With stages,
/// rows come stage by stage in rollout order (`stage` column). A partial plan
/// (`--group`) opens with one row saying so: no group, status `partial`.
pub fn render_csv(plan: &Plan, _options: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    let blast = plan.groups.iter().any(|g| g.blast_radius.is_some());
    let header = CSV_COLUMNS.iter().map(|c| (*c).to_owned());
    if blast {
        write_row(
            out,
            header.chain(CSV_BLAST_COLUMNS.iter().map(|c| (*c).to_owned())),
        )?;
    } else {
        write_row(out, header)?;
    }
    // The blast columns of a row: empty for a group that has none, the
    // group's count alone for a row that is not a change.
    let extra = |g: &GroupPlan, c: Option<&Change>| -> Vec<String> {
        if !blast {
            return Vec::new();
        }
        let Some(b) = &g.blast_radius else {
            return vec![String::new(); CSV_BLAST_COLUMNS.len()];
        };
        let Some(c) = c else {
            return vec![b.instance_count.to_string(), String::new(), String::new()];
        };
        let mut affected: Vec<&str> = b
            .notes
            .iter()
            .filter(|n| n.action == c.action && n.key == c.key)
            .flat_map(|n| n.instances.iter().map(String::as_str))
            .collect();
        affected.sort_unstable();
        affected.dedup();
        vec![
            b.instance_count.to_string(),
            affected.join("; "),
            // The ids are in their own column.
            super::blast_lines(b, c, false).join("; "),
        ]
    };
    if let Some(line) = partial_line(&plan.targets) {
        let empty = if blast { CSV_BLAST_COLUMNS.len() } else { 0 };
        write_row(out, partial_row(line).chain(vec![String::new(); empty]))?;
    }
    for g in plan
        .groups_by_stage()
        .into_iter()
        .flat_map(|(_, groups)| groups)
    {
        if g.status == GroupStatus::Missing {
            write_row(out, missing_row(g).chain(extra(g, None)))?;
            continue;
        }
        if let Some(note) = super::text::type_note(g) {
            write_row(out, group_row(g, note).chain(extra(g, None)))?;
        }
        for c in &g.changes {
            write_row(out, change_row(g, c).chain(extra(g, Some(c))))?;
        }
        for u in &g.unmodeled {
            write_row(out, unmodeled_row(g, u).chain(extra(g, None)))?;
        }
    }
    Ok(())
}

fn status(g: &GroupPlan) -> String {
    match g.status {
        GroupStatus::Present => "present",
        GroupStatus::Missing => "missing",
    }
    .to_owned()
}

fn missing_row(g: &GroupPlan) -> impl Iterator<Item = String> {
    let mut row: [String; 24] = Default::default();
    row[0] = g.id.clone();
    row[1] = g.region.clone();
    row[15] = g.origin.to_string();
    row[16] = "the group does not exist".to_owned();
    row[20] = status(g);
    row[23] = g.stage.clone().unwrap_or_default();
    row.into_iter()
}

/// The row a partial plan opens with: the groups it was limited to in
/// `reasons`, status `partial`, every other column empty.
fn partial_row(line: String) -> impl Iterator<Item = String> {
    let mut row: [String; 24] = Default::default();
    row[16] = line;
    row[20] = "partial".to_owned();
    row.into_iter()
}

/// A row about the group as a whole (a type the policy states wrongly):
/// no action, the note in `reasons`.
fn group_row(g: &GroupPlan, note: String) -> impl Iterator<Item = String> {
    let mut row: [String; 24] = Default::default();
    row[0] = g.id.clone();
    row[1] = g.region.clone();
    row[15] = g.origin.to_string();
    row[16] = note;
    row[20] = status(g);
    row[23] = g.stage.clone().unwrap_or_default();
    row.into_iter()
}

fn change_row(g: &GroupPlan, c: &Change) -> impl Iterator<Item = String> {
    let k = &c.key;
    let join = |items: Vec<String>| items.join("; ");
    let row: [String; 24] = [
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
        status(g),
        c.template.clone().unwrap_or_default(),
        join(c.breaks_tests.iter().map(ToString::to_string).collect()),
        g.stage.clone().unwrap_or_default(),
    ];
    row.into_iter()
}

/// `rule` holds the raw wire fields, since moat has no canonical form for
/// the rule.
fn unmodeled_row(g: &GroupPlan, u: &UnmodeledEntry) -> impl Iterator<Item = String> {
    let r = &u.rule;
    let mut row: [String; 24] = Default::default();
    row[0] = g.id.clone();
    row[1] = g.region.clone();
    row[2] = r.direction.to_string();
    row[3] = match u.action {
        UnmodeledAction::Remove => Action::Remove.to_string(),
        UnmodeledAction::Keep => "keep".to_owned(),
    };
    row[4] = r.summary.clone();
    row[12] = r.description.clone();
    row[14] = r.id.clone();
    row[16] = match (u.action, g.mode) {
        (UnmodeledAction::Keep, Mode::Authoritative) => format!(
            "unmodeled live rule: {}; drift: the authoritative policy does not hold it",
            r.reason
        ),
        _ => format!("unmodeled live rule: {}", r.reason),
    };
    row[17] = u
        .protection
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    row[20] = status(g);
    row[23] = g.stage.clone().unwrap_or_default();
    row.into_iter()
}

fn write_row(out: &mut dyn Write, fields: impl Iterator<Item = String>) -> io::Result<()> {
    let mut first = true;
    for f in fields {
        // Live data and file names may hold control characters: written
        // escaped, so a CSV opened in a terminal or a spreadsheet shows them
        // as text.
        let f = moat_policy::printable::escape(&f);
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
