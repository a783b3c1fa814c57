//! The terminal preview, in the style of `terraform plan`.
//!
//! Groups that have something to say (changes, unmodeled live rules, a
//! missing group, a name mismatch, group findings) are shown in plan order,
//! each split by direction; every change starts with `+`, `~` or `-`, and the
//! output ends with the summary line, exactly `Plan: X to add, Y to change,
//! Z to remove.` or `No changes.`

use std::io::{self, Write};

use moat_policy::printable::escape as esc;
use moat_policy::{Direction, Mode};

use super::{
    RenderOptions, Run, blast_line, blast_lines, partial_line, quoted, rule_text,
    wants_inline_diff, word_diff,
};
use crate::blast::BlastRadius;
use crate::plan::{Action, Change, GroupPlan, GroupStatus, Plan, UnmodeledAction, UnmodeledEntry};

/// ANSI styles, or nothing when colour is off.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Style {
    pub(crate) color: bool,
}

/// How a group body is laid out: the terminal indents it under the group
/// title; the Markdown view puts it at the start of lines inside a `diff`
/// block, where the first character picks the highlight (so a change is `!`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flavor {
    pub(crate) style: Style,
    pub(crate) indent: &'static str,
    pub(crate) change_symbol: &'static str,
}

impl Flavor {
    fn symbol(self, action: Action) -> &'static str {
        match action {
            Action::Change => self.change_symbol,
            other => other.symbol(),
        }
    }
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn action(self, action: Action, text: &str) -> String {
        let code = match action {
            Action::Add => "32",
            Action::Change | Action::Replace => "33",
            Action::Remove => "31",
        };
        self.paint(code, text)
    }

    fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    fn warn(self, text: &str) -> String {
        self.paint("1;33", text)
    }

    fn danger(self, text: &str) -> String {
        self.paint("1;31", text)
    }
}

/// Writes the Terraform-style preview of `plan`.
pub fn render_text(plan: &Plan, options: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    let style = Style {
        color: options.color,
    };
    let summary = plan.summary();
    if let Some(line) = partial_line(&plan.targets) {
        writeln!(out, "{}", style.warn(&esc(&line)))?;
        writeln!(out)?;
    }
    if !summary.is_empty() {
        writeln!(out, "moat will perform the following actions:")?;
        writeln!(out)?;
    }
    for (stage, groups) in plan.groups_by_stage() {
        let shown: Vec<&GroupPlan> = groups.into_iter().filter(|g| worth_showing(g)).collect();
        if shown.is_empty() {
            continue;
        }
        if !plan.stages.is_empty() {
            writeln!(out, "{}", style.bold(&stage_heading(stage, &shown)))?;
            writeln!(out)?;
        }
        for group in shown {
            write_group(group, style, out)?;
            writeln!(out)?;
        }
    }
    write_tests(plan, style, out)?;
    let protected = plan.protected_count();
    if protected > 0 {
        let line = format!(
            "! {protected} change(s) touch protected rules: apply refuses this plan without --allow-protected."
        );
        writeln!(out, "{}", style.danger(&line))?;
    }
    let missing = plan.missing_groups().count();
    if missing > 0 {
        let line = format!(
            "! {missing} security group(s) named in the policy do not exist: this plan cannot be applied."
        );
        writeln!(out, "{}", style.danger(&line))?;
    }
    writeln!(out, "{}", style.bold(&plan.summary_line()))
}

/// `Stage test: 1 to add, 0 to change, 0 to remove` (or `no changes`).
pub(crate) fn stage_heading(stage: Option<&str>, groups: &[&GroupPlan]) -> String {
    let mut s = crate::plan::Summary::default();
    for g in groups {
        s += g.summary();
    }
    let name = match stage {
        Some(stage) => format!("Stage {stage}"),
        None => "No stage".to_owned(),
    };
    if s.is_empty() {
        format!("{name}: no changes")
    } else {
        format!(
            "{name}: {} to add, {} to change, {} to remove",
            s.add, s.change, s.remove
        )
    }
}

/// The policy tests on the planned result: a count when all pass, else
/// each failing test with its failures.
fn write_tests(plan: &Plan, style: Style, out: &mut dyn Write) -> io::Result<()> {
    if plan.tests.is_empty() {
        return Ok(());
    }
    let failing: Vec<_> = plan.failing_tests().collect();
    if failing.is_empty() {
        let n = plan.tests.len();
        writeln!(out, "Policy tests: {n} of {n} pass on the planned result.")?;
        return writeln!(out);
    }
    let line = format!(
        "! {} of {} policy test(s) fail on the planned result:",
        failing.len(),
        plan.tests.len()
    );
    writeln!(out, "{}", style.danger(&line))?;
    for t in failing {
        for l in moat_policy::policy_tests::render_outcome(t).lines() {
            writeln!(out, "  {l}")?;
        }
    }
    writeln!(out)
}

/// A group in sync with nothing to report is left out, as Terraform leaves
/// out unchanged resources.
pub(crate) fn worth_showing(g: &GroupPlan) -> bool {
    g.status == GroupStatus::Missing
        || !g.changes.is_empty()
        || !g.unmodeled.is_empty()
        || !g.findings.is_empty()
        || g.name_differs()
        || g.type_mismatch().is_some()
}

fn write_group(g: &GroupPlan, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let mut title = format!("# {}", g.id);
    if let Some(name) = &g.name {
        title.push_str(&format!(" {}", quoted(name)));
    }
    title.push_str(&format!(" ({}, {})", g.region, g.mode));
    let counts = g.summary();
    if !counts.is_empty() {
        title.push_str(&format!(
            ": {} to add, {} to change, {} to remove",
            counts.add, counts.change, counts.remove
        ));
    }
    writeln!(out, "{}", style.bold(&esc(&title)))?;
    writeln!(out, "#   policy: {}", esc(&g.origin.to_string()))?;
    if g.name_differs()
        && let Some(live) = &g.live_name
    {
        writeln!(
            out,
            "{}",
            style.warn(&format!(
                "#   warning: the live group is named {}",
                quoted(live)
            ))
        )?;
    }
    if let Some(note) = type_note(g) {
        writeln!(out, "{}", style.warn(&format!("#   warning: {note}")))?;
    }
    for f in &g.findings {
        writeln!(out, "#   lint: {}", esc(&format!("{f} ({})", f.origin)))?;
    }
    if let Some(b) = &g.blast_radius {
        writeln!(out, "#   {}", esc(&blast_line(b)))?;
    }
    let flavor = Flavor {
        style,
        indent: "  ",
        change_symbol: "~",
    };
    write_group_body(g, flavor, out)
}

/// Everything of a group below its title: the missing-group note, the
/// changes per direction and the unmodeled live rules. Sections are
/// separated by blank lines; the first section starts without one.
pub(crate) fn write_group_body(
    g: &GroupPlan,
    flavor: Flavor,
    out: &mut dyn Write,
) -> io::Result<()> {
    let (style, indent) = (flavor.style, flavor.indent);
    if g.status == GroupStatus::Missing {
        let line = format!(
            "! status: missing: the group does not exist in {}; moat does not create groups, so nothing is planned for it",
            g.region
        );
        writeln!(out, "{indent}{}", style.danger(&esc(&line)))?;
        return Ok(());
    }
    for direction in Direction::ALL {
        let mut changes = g.changes_in(direction).peekable();
        if changes.peek().is_none() {
            continue;
        }
        writeln!(out)?;
        writeln!(out, "{indent}{direction}:")?;
        for c in changes {
            write_change(c, g.blast_radius.as_ref(), flavor, out)?;
        }
    }
    if !g.unmodeled.is_empty() {
        writeln!(out)?;
        writeln!(out, "{indent}live rules moat cannot model:")?;
        for u in &g.unmodeled {
            write_unmodeled(u, g.mode, flavor, out)?;
        }
    }
    Ok(())
}

fn write_change(
    c: &Change,
    blast: Option<&BlastRadius>,
    flavor: Flavor,
    out: &mut dyn Write,
) -> io::Result<()> {
    let (style, indent) = (flavor.style, flavor.indent);
    let field = |out: &mut dyn Write, label: &str, value: &str| field(out, indent, label, value);
    let mut head = format!("{} {}", flavor.symbol(c.action), rule_text(&c.key));
    let shown_priority = match c.action {
        Action::Add => c.after.as_ref(),
        Action::Remove => c.before.as_ref(),
        Action::Change | Action::Replace => None,
    };
    if let Some(a) = shown_priority {
        head.push_str(&format!(", priority {}", a.priority));
    }
    if !c.live_ids.is_empty() {
        head.push_str(&format!(" ({})", c.live_ids.join(", ")));
    }
    writeln!(out, "{indent}{}", style.action(c.action, &esc(&head)))?;

    match (c.action, &c.before, &c.after) {
        (Action::Change | Action::Replace, Some(before), Some(after)) => {
            if before.priority != after.priority {
                field(
                    out,
                    "priority",
                    &format!("{} -> {}", before.priority, after.priority),
                )?;
            }
            if before.description != after.description {
                let text = description_change(&before.description, &after.description, style);
                field(out, "description", &text)?;
            } else if !after.description.is_empty() {
                field(out, "description", &quoted(&after.description))?;
            }
        }
        (_, before, after) => {
            if let Some(a) = after.as_ref().or(before.as_ref())
                && !a.description.is_empty()
            {
                field(out, "description", &quoted(&a.description))?;
            }
        }
    }
    if let Some(origin) = &c.origin {
        field(out, "origin", &esc(&origin.to_string()))?;
    }
    if let Some(template) = &c.template {
        field(out, "template", template)?;
    }
    let reasons: Vec<String> = c.reasons.iter().map(ToString::to_string).collect();
    field(out, "reason", &esc(&reasons.join(", ")))?;
    for e in &c.exposure {
        field(out, "exposure", &esc(&e.note))?;
    }
    if let Some(b) = blast {
        for line in blast_lines(b, c, true) {
            field(out, "instances", &esc(&line))?;
        }
    }
    for f in &c.findings {
        field(out, "lint", &esc(&f.to_string()))?;
        if let Some(hint) = &f.hint {
            field(out, "  hint", &esc(hint))?;
        }
    }
    if let Some(p) = &c.protection {
        let text = style.danger(&esc(&p.to_string()));
        field(out, "protected", &text)?;
    }
    for t in &c.breaks_tests {
        field(out, "breaks test", &style.danger(&t.to_string()))?;
    }
    Ok(())
}

fn field(out: &mut dyn Write, indent: &str, label: &str, value: &str) -> io::Result<()> {
    writeln!(out, "{indent}    {:<12} {value}", format!("{label}:"))
}

/// `"old" -> "new"`, or for long descriptions an inline word diff with
/// removed words in `[-...-]` and added words in `{+...+}` (also coloured
/// when colour is on, so the markers survive a copy and paste).
fn description_change(old: &str, new: &str, style: Style) -> String {
    if !wants_inline_diff(old, new) {
        return format!("{} -> {}", quoted(old), quoted(new));
    }
    let mut text = String::from("\"");
    for run in word_diff(old, new) {
        match run {
            Run::Same(s) => text.push_str(&escape_inner(&s)),
            Run::Removed(s) => {
                text.push_str(&style.paint("31", &format!("[-{}-]", escape_inner(&s))))
            }
            Run::Added(s) => {
                text.push_str(&style.paint("32", &format!("{{+{}+}}", escape_inner(&s))))
            }
        }
    }
    text.push('"');
    text
}

/// The inside of a quoted string, escaped the way [`quoted`] escapes.
fn escape_inner(s: &str) -> String {
    let q = quoted(s);
    q[1..q.len() - 1].to_owned()
}

fn write_unmodeled(
    u: &UnmodeledEntry,
    mode: Mode,
    flavor: Flavor,
    out: &mut dyn Write,
) -> io::Result<()> {
    let (style, indent) = (flavor.style, flavor.indent);
    let field = |out: &mut dyn Write, label: &str, value: &str| field(out, indent, label, value);
    let r = &u.rule;
    let (head, verdict) = match u.action {
        UnmodeledAction::Keep if mode == Mode::Authoritative => (
            esc(&format!("? {} {} {}", r.direction, r.id, r.summary)).into_owned(),
            "unmanaged, kept: drift, the authoritative policy does not hold it",
        ),
        UnmodeledAction::Keep => (
            esc(&format!("? {} {} {}", r.direction, r.id, r.summary)).into_owned(),
            "unmanaged, kept",
        ),
        UnmodeledAction::Remove => (
            style.action(
                Action::Remove,
                &esc(&format!("- {} {} {}", r.direction, r.id, r.summary)),
            ),
            "removed: the group is authoritative and unmodeled rules were asked to go",
        ),
    };
    writeln!(out, "{indent}{head}")?;
    if !r.description.is_empty() {
        field(out, "description", &quoted(&r.description))?;
    }
    field(out, "why", &esc(&r.reason))?;
    field(out, "plan", verdict)?;
    if let Some(p) = &u.protection {
        field(out, "protected", &style.danger(&esc(&p.to_string())))?;
    }
    Ok(())
}

/// The warning of a group whose policy states another type than the live
/// one, shared by the views.
pub(crate) fn type_note(g: &GroupPlan) -> Option<String> {
    g.type_mismatch().map(|(policy, live)| {
        format!(
            "the policy says type: {policy}, the live group is {live}; \
             exposure notes use {live} defaults"
        )
    })
}
