//! `--format markdown`: a plan for a pull-request comment.
//!
//! The summary line comes first, then one collapsible `<details>` block per
//! group with its changes in a `diff` code block (`+` add, `!` change, `-`
//! remove, which GitHub highlights). The whole comment never exceeds
//! [`RenderOptions::markdown_limit`] characters: groups that do not fit are
//! left out (the last one may be cut inside) and a visible note says so.

use std::io::{self, Write};

use super::RenderOptions;
use super::partial_line;
use super::text::{Flavor, Style, stage_heading, worth_showing, write_group_body};
use crate::plan::{GroupPlan, GroupStatus, Plan};

/// GitHub's limit on a comment body is 65,536 characters; stay one under.
pub const MARKDOWN_LIMIT: usize = 65_535;

/// Writes the Markdown comment.
pub fn render_markdown(
    plan: &Plan,
    options: &RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let limit = options.markdown_limit;
    let mut doc = String::new();
    doc.push_str("### moat plan\n\n");
    if let Some(line) = partial_line(&plan.targets) {
        doc.push_str(&format!("> **{line}**\n\n"));
    }
    doc.push_str(&format!("**{}**\n\n", plan.summary_line()));
    let protected = plan.protected_count();
    if protected > 0 {
        doc.push_str(&format!(
            "> **Protected:** {protected} change(s) touch protected rules; `moat apply` refuses this plan without `--allow-protected`.\n\n"
        ));
    }
    let missing = plan.missing_groups().count();
    if missing > 0 {
        doc.push_str(&format!(
            "> **Missing:** {missing} security group(s) named in the policy do not exist; this plan cannot be applied.\n\n"
        ));
    }
    doc.push_str(&tests_note(plan));
    // With stages, a heading opens the first group of each stage shown.
    let mut shown: Vec<(Option<String>, &GroupPlan)> = Vec::new();
    for (stage, groups) in plan.groups_by_stage() {
        let groups: Vec<&GroupPlan> = groups.into_iter().filter(|g| worth_showing(g)).collect();
        let heading = (!plan.stages.is_empty() && !groups.is_empty())
            .then(|| format!("#### {}\n\n", stage_heading(stage, &groups)));
        for (i, g) in groups.into_iter().enumerate() {
            shown.push((if i == 0 { heading.clone() } else { None }, g));
        }
    }
    let total = shown.len();
    // The note is sized for the largest counts so the budget holds whatever
    // numbers end up in it.
    let note_room = chars(&cut_note(total, total, true));
    let mut used = chars(&doc);
    let mut complete = 0;
    let mut partial = false;
    for (heading, g) in &shown {
        let mut section = heading.clone().unwrap_or_default();
        section.push_str(&self::section(g)?);
        let len = chars(&section);
        if used + len + note_room <= limit {
            doc.push_str(&section);
            used += len;
            complete += 1;
            continue;
        }
        if let Some(cut) = cut_section(g, limit.saturating_sub(used + note_room))? {
            doc.push_str(&cut);
            partial = true;
        }
        break;
    }
    if complete < total {
        doc.push_str(&cut_note(complete, total, partial));
    }
    // A limit too small for even the header and the note still holds.
    let doc = match doc.char_indices().nth(limit) {
        Some((at, _)) => &doc[..at],
        None => &doc[..],
    };
    out.write_all(moat_policy::printable::escape_lines(doc).as_bytes())
}

/// The failing policy tests on the planned result, as a quote with a line
/// per failure; a count when they all pass.
fn tests_note(plan: &Plan) -> String {
    if plan.tests.is_empty() {
        return String::new();
    }
    let failing: Vec<_> = plan.failing_tests().collect();
    if failing.is_empty() {
        let n = plan.tests.len();
        return format!("Policy tests: {n} of {n} pass on the planned result.\n\n");
    }
    let mut s = format!(
        "> **Tests:** {} of {} policy test(s) fail on the planned result:\n",
        failing.len(),
        plan.tests.len()
    );
    for t in failing {
        for l in moat_policy::policy_tests::render_outcome(t).lines() {
            match l.strip_prefix("  ") {
                Some(failure) => s.push_str(&format!(">   - {failure}\n")),
                None => s.push_str(&format!("> - {l}\n")),
            }
        }
    }
    s.push('\n');
    s
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn cut_note(complete: usize, total: usize, partial: bool) -> String {
    let partly = if partial {
        ", the next one in part"
    } else {
        ""
    };
    format!(
        "> **Cut:** this comment shows {complete} of {total} security groups in full{partly}, to stay under GitHub's comment size limit. Run `moat plan` for the whole plan.\n"
    )
}

/// The lines of a group's `diff` block.
fn body_lines(g: &GroupPlan) -> io::Result<Vec<String>> {
    let mut buf = Vec::new();
    let flavor = Flavor {
        style: Style { color: false },
        indent: "",
        change_symbol: "!",
    };
    if g.name_differs()
        && let Some(live) = &g.live_name
    {
        writeln!(buf, "warning: the live group is named {live:?}")?;
    }
    if let Some(note) = super::text::type_note(g) {
        writeln!(buf, "warning: {note}")?;
    }
    for f in &g.findings {
        writeln!(buf, "lint: {f} ({})", f.origin)?;
    }
    if let Some(b) = &g.blast_radius {
        writeln!(buf, "{}", super::blast_line(b))?;
    }
    write_group_body(g, flavor, &mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    Ok(text
        .lines()
        .skip_while(|l| l.is_empty())
        .map(str::to_owned)
        .collect())
}

fn summary_line(g: &GroupPlan) -> String {
    let mut s = format!("<code>{}</code>", html(&g.id));
    if let Some(name) = &g.name {
        s.push_str(&format!(" {}", html(name)));
    }
    s.push_str(&format!(" ({}, {})", html(&g.region), g.mode));
    if g.status == GroupStatus::Missing {
        s.push_str(": status: missing");
    }
    let counts = g.summary();
    if !counts.is_empty() {
        s.push_str(&format!(
            ": {} to add, {} to change, {} to remove",
            counts.add, counts.change, counts.remove
        ));
    }
    if let Some(b) = &g.blast_radius {
        s.push_str(&format!(
            ", on {}",
            crate::blast::instances_phrase(b.instance_count)
        ));
    }
    s
}

fn open(g: &GroupPlan, fence: &str) -> String {
    format!(
        "<details><summary>{}</summary>\n\n{fence}diff\n",
        summary_line(g)
    )
}

fn close(fence: &str) -> String {
    format!("{fence}\n\n</details>\n\n")
}

/// A fence longer than any run of backticks inside the block, so a
/// description cannot end the code block early.
fn fence_for(lines: &[String]) -> String {
    let longest = lines
        .iter()
        .flat_map(|l| l.split(|c| c != '`'))
        .map(str::len)
        .max()
        .unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

fn section(g: &GroupPlan) -> io::Result<String> {
    let lines = body_lines(g)?;
    let fence = fence_for(&lines);
    let mut s = open(g, &fence);
    for l in &lines {
        s.push_str(l);
        s.push('\n');
    }
    s.push_str(&close(&fence));
    Ok(s)
}

/// As many whole lines of the group's block as fit in `budget` characters,
/// with a marker line; `None` when not even the frame fits.
fn cut_section(g: &GroupPlan, budget: usize) -> io::Result<Option<String>> {
    const MARKER: &str = "... (cut)\n";
    let lines = body_lines(g)?;
    let fence = fence_for(&lines);
    let head = open(g, &fence);
    let tail = format!("{MARKER}{}", close(&fence));
    let mut used = chars(&head) + chars(&tail);
    if used > budget {
        return Ok(None);
    }
    let mut s = head;
    for l in &lines {
        let len = chars(l) + 1;
        if used + len > budget {
            break;
        }
        s.push_str(l);
        s.push('\n');
        used += len;
    }
    s.push_str(&tail);
    Ok(Some(s))
}

/// Escapes text for HTML inside `<summary>`.
fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in moat_policy::printable::escape(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}
