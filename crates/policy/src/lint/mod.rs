//! Lint: risks and mistakes in a valid policy, with stable `MOAT0xx` codes.
//!
//! Validation says whether a policy can be applied; lint says whether it
//! should be. Checks work on the effective rules of each group and
//! direction (expired rules excluded) under ECS evaluation ([`crate::eval`]):
//! an accept shadowed by a drop of better priority exposes nothing, and a
//! rule whose peer is a security group or a prefix list is never public.
//!
//! Every finding is about one expanded rule of one group and points at the
//! policy rule it came from. A rule's `lint_ignore: [CODE]` suppresses that
//! code for that rule: the finding is kept, marked with the policy's reason,
//! and does not count (see [`Finding::counts`]). The checks live in
//! submodules by theme: `exposure` (what the internet can reach), `overlap`
//! (rules that never decide anything) and `hygiene` (descriptions, expiry,
//! port ranges).

mod exposure;
mod hygiene;
mod overlap;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::codes;
use crate::diag::{Diagnostic, Severity};
use crate::eval::Defaults;
use crate::model::{DesiredRule, GroupPolicy, Origin, PolicySet, RuleKey};

pub use exposure::{DATA_PORTS, MANAGEMENT_PORTS, RISKY_PORTS, SensitivePort, WIDE_V4, WIDE_V6};
pub use hygiene::{EXPIRY_WARNING_DAYS, WIDE_PORT_RANGE_LIMIT};

/// One lint finding: the diagnostic (severity, code, message, hint and the
/// policy rule's location), the group and expanded rule it is about, and the
/// `lint_ignore` reason when the policy suppresses it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub diagnostic: Diagnostic,
    pub group: Option<String>,
    pub key: Option<RuleKey>,
    /// The `reason` of the rule's `lint_ignore` when it lists this code.
    pub suppressed: Option<String>,
}

impl Finding {
    /// The severity this finding counts with, or `None` when suppressed.
    pub fn counts(&self) -> Option<Severity> {
        match self.suppressed {
            Some(_) => None,
            None => Some(self.diagnostic.severity),
        }
    }

    fn sort_key(&self) -> (&Origin, &str, &str, Option<&str>, Option<&RuleKey>) {
        (
            &self.diagnostic.origin,
            self.diagnostic.code,
            &self.diagnostic.message,
            self.group.as_deref(),
            self.key.as_ref(),
        )
    }

    /// True when both say the same thing about the same place (they may be
    /// about different expanded rules of one policy rule).
    fn same_report(&self, other: &Finding) -> bool {
        self.diagnostic == other.diagnostic
            && self.group == other.group
            && self.suppressed == other.suppressed
    }
}

/// Lints every group of `set` as of `today` (for `expires`). Findings are
/// sorted by location, code, message, group and rule.
pub fn lint(set: &PolicySet, today: jiff::civil::Date) -> Vec<Finding> {
    let mut out = Vec::new();
    for group in &set.groups {
        lint_group(group, today, &mut out);
    }
    out.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    out.dedup();
    out
}

fn lint_group(group: &GroupPolicy, today: jiff::civil::Date, out: &mut Vec<Finding>) {
    let start = out.len();
    let mut emit = Emitter {
        group,
        out,
        by_peer: BTreeMap::new(),
    };
    hygiene::check(group, today, &mut emit);
    // Expired rules are no longer desired: the next plan removes them, so
    // they take no part in what the group exposes or shadows.
    let effective: Vec<&DesiredRule> = group
        .rules
        .iter()
        .filter(|r| !r.is_expired(today))
        .collect();
    let defaults = Defaults::of(group.group_type.unwrap_or_default());
    exposure::check(&effective, defaults, &mut emit);
    overlap::check(&effective, &mut emit);
    emit.flush();
    unused_ignores(group, today, start, &mut emit);
}

/// The text standing for the peer in messages given to
/// [`Emitter::emit_about_peer`].
const PEER: &str = "{peer}";

/// Findings waiting for their peer text: (policy rule, code, message with
/// [`PEER`], hint, set name) -> the expanded rules.
type ByPeer<'g> =
    BTreeMap<(&'g Origin, &'static str, String, String, Option<&'g str>), Vec<&'g DesiredRule>>;

/// Builds findings for one group, applying each rule's `lint_ignore`.
struct Emitter<'g, 'o> {
    group: &'g GroupPolicy,
    out: &'o mut Vec<Finding>,
    by_peer: ByPeer<'g>,
}

impl<'g> Emitter<'g, '_> {
    /// Records a finding about `rule`, at the policy rule's location, with the
    /// severity its code has.
    fn emit(&mut self, rule: &DesiredRule, code: &'static str, message: String, hint: String) {
        let severity = codes::lint_severity(code).unwrap_or(Severity::Warning);
        let diagnostic = Diagnostic {
            origin: rule.origin.clone(),
            severity,
            code,
            message,
            hint: Some(hint),
        };
        let suppressed = rule
            .lint_ignore
            .as_ref()
            .filter(|li| li.codes.iter().any(|c| c == code))
            .map(|li| li.reason.clone());
        self.out.push(Finding {
            diagnostic,
            group: Some(self.group.id.clone()),
            key: Some(rule.rule.key.clone()),
            suppressed,
        });
    }

    /// Like [`Emitter::emit`] for a message naming the rule's peer where it
    /// says [`PEER`]. The expanded rules of one policy rule and address set
    /// that get the same message share one text naming all their peers
    /// (`0.0.0.0/0 and ::/0 (set "internet")`), so a person reads it once.
    fn emit_about_peer(
        &mut self,
        rule: &'g DesiredRule,
        code: &'static str,
        message: String,
        hint: String,
    ) {
        self.by_peer
            .entry((&rule.origin, code, message, hint, rule.peer_name.as_deref()))
            .or_default()
            .push(rule);
    }

    fn flush(&mut self) {
        for ((_, code, message, hint, set), rules) in std::mem::take(&mut self.by_peer) {
            let mut peers: Vec<String> =
                rules.iter().map(|r| r.rule.key.peer.to_string()).collect();
            peers.dedup();
            let mut text = match peers.len() {
                0..=4 => join_and(&peers),
                n => format!("{} and {} more", peers[..3].join(", "), n - 3),
            };
            if let Some(set) = set {
                text.push_str(&format!(" (set \"{set}\")"));
            }
            let message = message.replace(PEER, &text);
            for rule in rules {
                self.emit(rule, code, message.clone(), hint.clone());
            }
        }
    }
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(items: &[String]) -> String {
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => items.join(""),
    }
}

/// MOAT010: `lint_ignore` entries of this group's policy rules that suppress
/// nothing, or that name no lint code. `findings[start..]` are the group's.
///
/// Codes that depend on the date (MOAT008, MOAT009) are left alone: an
/// ignore written for an expiry is legitimately idle until the date nears.
fn unused_ignores(
    group: &GroupPolicy,
    today: jiff::civil::Date,
    start: usize,
    emit: &mut Emitter<'_, '_>,
) {
    // Policy rule (by origin) -> its first expanded rule and the codes its
    // expanded rules had suppressed.
    let mut by_origin: BTreeMap<&Origin, (&DesiredRule, Vec<&'static str>)> = BTreeMap::new();
    for rule in &group.rules {
        if rule.lint_ignore.is_some() && !rule.is_expired(today) {
            by_origin.entry(&rule.origin).or_insert((rule, Vec::new()));
        }
    }
    if by_origin.is_empty() {
        return;
    }
    for f in &emit.out[start..] {
        if f.suppressed.is_some()
            && let Some(entry) = by_origin.get_mut(&f.diagnostic.origin)
        {
            entry.1.push(f.diagnostic.code);
        }
    }
    let mut found = Vec::new();
    for (rule, used) in by_origin.values() {
        let Some(li) = &rule.lint_ignore else {
            continue;
        };
        for code in &li.codes {
            let text = code.as_str();
            if codes::lint_severity(text).is_none() {
                found.push((
                    *rule,
                    format!("`lint_ignore` names {text}, which is not a lint code"),
                    "remove it; the lint codes are listed in docs/lint.md".to_owned(),
                ));
            } else if ![codes::EXPIRES_SOON, codes::EXPIRED, codes::UNUSED_IGNORE].contains(&text)
                && !used.contains(&text)
            {
                found.push((
                    *rule,
                    format!("`lint_ignore` lists {text} but the rule has no {text} finding"),
                    format!(
                        "remove {text} from `lint_ignore`: an ignore that suppresses nothing would hide the next real finding"
                    ),
                ));
            }
        }
    }
    for (rule, message, hint) in found {
        emit.emit(rule, codes::UNUSED_IGNORE, message, hint);
    }
}

/// Counts of findings by how they count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    /// Suppressed by `lint_ignore`; they count as neither.
    pub ignored: usize,
}

impl Summary {
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Summary {
        let mut s = Summary::default();
        for f in findings {
            match f.counts() {
                Some(Severity::Error) => s.errors += 1,
                Some(Severity::Warning) => s.warnings += 1,
                None => s.ignored += 1,
            }
        }
        s
    }
}

/// One finding as a person reads it: findings that say the same thing about
/// the same policy rule (one per expanded rule of it) merged, with the
/// rules they are about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report<'a> {
    pub finding: &'a Finding,
    pub keys: Vec<&'a RuleKey>,
}

/// Merges findings of [`lint`] (which are sorted) that differ only in the
/// expanded rule they are about.
pub fn reports(findings: &[Finding]) -> Vec<Report<'_>> {
    let mut out: Vec<Report<'_>> = Vec::new();
    for f in findings {
        match out.last_mut() {
            Some(last) if last.finding.same_report(f) => last.keys.extend(f.key.as_ref()),
            _ => out.push(Report {
                finding: f,
                keys: f.key.iter().collect(),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests;
