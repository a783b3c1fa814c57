//! The checks that refuse a whole plan before the first mutating call.

use std::collections::HashSet;
use std::fmt;

use moat_diff::{Action, GroupPlan, GroupStatus, Plan, Protection, UnmodeledAction};
use moat_policy::{Direction, LiveGroup, Peer, RuleKey};

use super::ApplyOptions;

/// One reason to refuse a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuardProblem {
    /// The policy names a group that does not exist.
    MissingGroup { group: String, region: String },
    /// The plan removes or changes a protected rule and `allow_protected`
    /// is off.
    Protected {
        group: String,
        action: Action,
        rule: String,
        protection: Option<Protection>,
    },
    /// More removals than `max_destroy`.
    MaxDestroy { removals: usize, max: usize },
    /// An authorize would take the group over its rule quota. `peak` is the
    /// count after the largest authorize (removals run after additions),
    /// `end` the count when the plan is done.
    RuleQuota {
        group: String,
        peak: usize,
        end: usize,
        limit: usize,
    },
    /// An authorize would take the group over its group-reference quota.
    GroupRefQuota {
        group: String,
        peak: usize,
        end: usize,
        limit: usize,
    },
    /// The plan is inconsistent (an add without attributes, a change or
    /// removal without a live rule id): it was not made by `moat plan`.
    Malformed { group: String, detail: String },
    /// A group the plan changes was not in the live state given.
    NotRead { group: String, region: String },
}

impl fmt::Display for GuardProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuardProblem::MissingGroup { group, region } => write!(
                f,
                "security group {group} in region {region} does not exist (moat does not create groups)"
            ),
            GuardProblem::Protected {
                group,
                action,
                rule,
                protection,
            } => {
                let verb = match action {
                    Action::Change => "changes",
                    _ => "removes",
                };
                write!(f, "{group}: plan {verb} protected rule {rule}")?;
                if let Some(p) = protection {
                    write!(f, ": {p}")?;
                }
                f.write_str(" (use --allow-protected to allow)")
            }
            GuardProblem::MaxDestroy { removals, max } => write!(
                f,
                "plan removes {removals} rules, more than --max-destroy {max}"
            ),
            GuardProblem::RuleQuota {
                group,
                peak,
                end,
                limit,
            } => {
                write!(
                    f,
                    "{group}: would hold {peak} rules (both directions), more than the quota of {limit} per group"
                )?;
                if end != peak {
                    write!(
                        f,
                        "; the plan ends at {end}, but additions run before removals (make-before-break): split the plan"
                    )?;
                }
                Ok(())
            }
            GuardProblem::GroupRefQuota {
                group,
                peak,
                end,
                limit,
            } => {
                write!(
                    f,
                    "{group}: would hold {peak} rules that reference security groups, more than the quota of {limit}"
                )?;
                if end != peak {
                    write!(
                        f,
                        "; the plan ends at {end}, but additions run before removals (make-before-break): split the plan"
                    )?;
                }
                Ok(())
            }
            GuardProblem::Malformed { group, detail } => {
                write!(f, "{group}: the plan is malformed: {detail}")
            }
            GuardProblem::NotRead { group, region } => {
                write!(f, "{group} in region {region}: live rules not read")
            }
        }
    }
}

/// Apply refused: every problem found, each on its own line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct GuardError {
    pub problems: Vec<GuardProblem>,
}

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [one] => write!(f, "apply refused, nothing changed: {one}"),
            many => {
                write!(
                    f,
                    "apply refused, nothing changed: {} problems:",
                    many.len()
                )?;
                for p in many {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
        }
    }
}

/// Checks everything apply can know before it changes anything: missing
/// groups, protected rules, `max_destroy`, the rule and group-reference
/// quotas of each group at its fullest, and the plan's consistency. `live` holds the live groups the plan touches
/// (as read for the stale check). Every problem is listed, not only the
/// first.
pub fn check_guards(
    plan: &Plan,
    live: &[LiveGroup],
    options: &ApplyOptions,
) -> Result<(), GuardError> {
    let mut problems = Vec::new();
    for g in &plan.groups {
        if g.status == GroupStatus::Missing {
            problems.push(GuardProblem::MissingGroup {
                group: g.id.clone(),
                region: g.region.clone(),
            });
        }
    }
    for g in plan.groups.iter().filter(|g| g.has_changes()) {
        check_group(g, &mut problems, options);
        if g.status == GroupStatus::Missing {
            continue;
        }
        match live.iter().find(|l| l.id == g.id && l.region == g.region) {
            Some(l) => check_quotas(g, l, options, &mut problems),
            None => problems.push(GuardProblem::NotRead {
                group: g.id.clone(),
                region: g.region.clone(),
            }),
        }
    }
    let removals = plan.summary().remove;
    if removals > options.max_destroy {
        problems.push(GuardProblem::MaxDestroy {
            removals,
            max: options.max_destroy,
        });
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(GuardError { problems })
    }
}

fn check_group(g: &GroupPlan, problems: &mut Vec<GuardProblem>, options: &ApplyOptions) {
    for c in &g.changes {
        let malformed = |detail: String| GuardProblem::Malformed {
            group: g.id.clone(),
            detail,
        };
        match c.action {
            Action::Add if c.after.is_none() => {
                problems.push(malformed(format!("add of {} has no attributes", c.key)));
            }
            Action::Change if c.after.is_none() || c.live_ids.is_empty() => problems.push(
                malformed(format!("change of {} has no attributes or rule id", c.key)),
            ),
            Action::Remove if c.live_ids.is_empty() => {
                problems.push(malformed(format!("removal of {} has no rule id", c.key)));
            }
            _ => {}
        }
        if c.action != Action::Add && c.protection.is_some() && !options.allow_protected {
            problems.push(GuardProblem::Protected {
                group: g.id.clone(),
                action: c.action,
                rule: rule_with_ids(&c.key, &c.live_ids),
                protection: c.protection.clone(),
            });
        }
    }
    for u in &g.unmodeled {
        if u.action == UnmodeledAction::Remove && u.protection.is_some() && !options.allow_protected
        {
            problems.push(GuardProblem::Protected {
                group: g.id.clone(),
                action: Action::Remove,
                rule: format!("{} {} ({})", u.rule.direction, u.rule.summary, u.rule.id),
                protection: u.protection.clone(),
            });
        }
    }
}

fn rule_with_ids(key: &RuleKey, ids: &[String]) -> String {
    if ids.is_empty() {
        key.to_string()
    } else {
        format!("{key} ({})", ids.join(", "))
    }
}

fn is_group_ref(key: &RuleKey) -> bool {
    matches!(key.peer, Peer::Group { .. })
}

/// Counts along the order apply runs in: per direction (ingress, then
/// egress) additions, then removals. A quota is broken when the count after
/// an authorize exceeds it; the largest such count is the peak.
fn check_quotas(
    g: &GroupPlan,
    live: &LiveGroup,
    options: &ApplyOptions,
    problems: &mut Vec<GuardProblem>,
) {
    let live_ids: HashSet<&str> = live
        .rules
        .iter()
        .map(|r| r.id.as_str())
        .chain(live.unmodeled.iter().map(|u| u.id.as_str()))
        .collect();
    let ref_ids: HashSet<&str> = live
        .rules
        .iter()
        .filter(|r| is_group_ref(&r.rule.key))
        .map(|r| r.id.as_str())
        .collect();

    let mut rules = live_ids.len();
    let mut refs = ref_ids.len();
    let (mut rule_peak, mut ref_peak) = (None::<usize>, None::<usize>);
    let mut removed: HashSet<&str> = HashSet::new();
    for direction in [Direction::Ingress, Direction::Egress] {
        let adds: Vec<&RuleKey> = g
            .changes_in(direction)
            .filter(|c| c.action == Action::Add)
            .map(|c| &c.key)
            .collect();
        if !adds.is_empty() {
            rules += adds.len();
            rule_peak = Some(rule_peak.map_or(rules, |p| p.max(rules)));
            let new_refs = adds.iter().filter(|k| is_group_ref(k)).count();
            if new_refs > 0 {
                refs += new_refs;
                ref_peak = Some(ref_peak.map_or(refs, |p| p.max(refs)));
            }
        }
        let ids = g
            .changes_in(direction)
            .filter(|c| c.action == Action::Remove)
            .flat_map(|c| c.live_ids.iter())
            .chain(
                g.unmodeled
                    .iter()
                    .filter(|u| {
                        u.action == UnmodeledAction::Remove && u.rule.direction == direction
                    })
                    .map(|u| &u.rule.id),
            );
        for id in ids {
            if live_ids.contains(id.as_str()) && removed.insert(id.as_str()) {
                rules = rules.saturating_sub(1);
                if ref_ids.contains(id.as_str()) {
                    refs = refs.saturating_sub(1);
                }
            }
        }
    }
    if let Some(peak) = rule_peak.filter(|p| *p > options.rules_per_group) {
        problems.push(GuardProblem::RuleQuota {
            group: g.id.clone(),
            peak,
            end: rules,
            limit: options.rules_per_group,
        });
    }
    if let Some(peak) = ref_peak.filter(|p| *p > options.max_group_refs) {
        problems.push(GuardProblem::GroupRefQuota {
            group: g.id.clone(),
            peak,
            end: refs,
            limit: options.max_group_refs,
        });
    }
}
