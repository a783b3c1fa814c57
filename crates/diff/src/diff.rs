//! `diff(desired, live) -> Plan`: the pure comparison of a policy with the
//! live groups.
//!
//! Per group, desired and live rules are hashed on their [`RuleKey`] (the
//! identity ECS itself uses), so the work is linear in the number of rules;
//! only the resulting changes are sorted. Nothing here reads the clock or any
//! other state: `today` comes in through [`DiffOptions`].

use std::collections::HashMap;

use jiff::civil::Date;
use moat_policy::{
    DesiredRule, GroupPolicy, LiveGroup, LiveRule, Mode, PolicySet, Rule, RuleKey, UnmodeledRule,
};

use crate::exposure;
use crate::plan::{
    Action, Attributes, Change, GroupPlan, GroupStatus, Plan, ProtectedRule, Reason,
    UnmodeledAction, UnmodeledEntry, sha256_hex,
};
use crate::protect::{protection_of, unmodeled_protection};
use moat_policy::eval::Defaults;

/// What the caller decides for a diff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffOptions {
    /// The date expiries are compared with. The caller reads the clock (or
    /// pins it in tests); the diff never does.
    pub today: Date,
    /// In authoritative groups, revoke live rules moat cannot model. Without
    /// it they are listed as "unmanaged, kept".
    pub remove_unmodeled: bool,
}

impl DiffOptions {
    pub fn new(today: Date) -> DiffOptions {
        DiffOptions {
            today,
            remove_unmodeled: false,
        }
    }
}

/// The sentence a `protected: true` rule gives as its protection reason.
pub const PROTECTED_RULE_REASON: &str = "the policy rule says protected: true";

/// Compares every group of `policy` with its live state in `live` (matched by
/// id and region) and returns the plan. Live groups the policy does not name
/// are ignored: moat manages only the groups it is given. A policy group with
/// no live counterpart becomes a [`GroupStatus::Missing`] entry with no
/// changes (apply refuses such a plan).
pub fn diff(policy: &PolicySet, live: &[LiveGroup], options: &DiffOptions) -> Plan {
    let by_id: HashMap<(&str, &str), &LiveGroup> = live
        .iter()
        .map(|g| ((g.id.as_str(), g.region.as_str()), g))
        .collect();
    let groups: Vec<GroupPlan> = policy
        .groups
        .iter()
        .map(
            |gp| match by_id.get(&(gp.id.as_str(), gp.region.as_str())) {
                Some(lg) => diff_group(policy, gp, lg, options),
                None => missing_group(gp),
            },
        )
        .collect();
    Plan::from_groups(policy, groups)
}

/// The plan of a policy group that does not exist live: no changes, status
/// missing.
pub fn missing_group(gp: &GroupPolicy) -> GroupPlan {
    GroupPlan {
        id: gp.id.clone(),
        region: gp.region.clone(),
        account: gp.account.clone(),
        name: gp.name.clone(),
        live_name: None,
        group_type: gp.group_type,
        live_type: None,
        mode: gp.mode,
        origin: gp.origin.clone(),
        stage: gp.stage.clone(),
        status: GroupStatus::Missing,
        fingerprint: None,
        changes: Vec::new(),
        unmodeled: Vec::new(),
        protected: Vec::new(),
        findings: Vec::new(),
        blast_radius: None,
    }
}

/// The diff of one group, both directions (the key carries the direction).
pub fn diff_group(
    policy: &PolicySet,
    gp: &GroupPolicy,
    live: &LiveGroup,
    options: &DiffOptions,
) -> GroupPlan {
    let mut desired: HashMap<&RuleKey, &DesiredRule> = HashMap::with_capacity(gp.rules.len());
    for d in &gp.rules {
        // A loaded policy has unique identities per group. Should two ever
        // share one, keep the smaller (origin, rule) so the result does not
        // depend on input order.
        desired
            .entry(&d.rule.key)
            .and_modify(|kept| {
                if (&d.origin, &d.rule) < (&kept.origin, &kept.rule) {
                    *kept = d;
                }
            })
            .or_insert(d);
    }
    let mut by_key: HashMap<&RuleKey, Vec<&LiveRule>> = HashMap::with_capacity(live.rules.len());
    for lr in &live.rules {
        by_key.entry(&lr.rule.key).or_default().push(lr);
    }

    let mut changes = Vec::new();
    for (key, rules) in &mut by_key {
        rules.sort_by(|a, b| a.id.cmp(&b.id));
        match desired.get(*key) {
            Some(d) if d.is_expired(options.today) => {
                let on = d.expires.unwrap_or(options.today);
                for lr in rules.iter() {
                    changes.push(removal(Some(d), lr, Reason::Expired { on }));
                }
            }
            Some(d) => reconcile(d, rules, &mut changes),
            None if gp.mode == Mode::Authoritative => {
                for lr in rules.iter() {
                    changes.push(removal(None, lr, Reason::NotInPolicy));
                }
            }
            None => {}
        }
    }
    for d in desired.values() {
        if !d.is_expired(options.today) && !by_key.contains_key(&d.rule.key) {
            changes.push(Change {
                action: Action::Add,
                reasons: vec![Reason::NotLive],
                key: d.rule.key.clone(),
                before: None,
                after: Some(attributes(&d.rule)),
                live_ids: Vec::new(),
                origin: Some(d.origin.clone()),
                protection: None,
                exposure: Vec::new(),
                findings: Vec::new(),
                template: None,
                breaks_tests: Vec::new(),
            });
        }
    }
    changes.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    // Reviewers see which template a change comes from.
    for c in &mut changes {
        c.template = desired
            .get(&c.key)
            .and_then(|d| policy.template_of(d))
            .map(|t| t.name.clone());
    }

    // The rules `protected: true` guards that a change touches go into the
    // plan, so apply can derive the same protections from the live rules.
    let mut protected: Vec<ProtectedRule> = changes
        .iter()
        .filter(|c| c.action.touches_live())
        .filter_map(|c| desired.get(&c.key).filter(|d| d.protected))
        .map(|d| ProtectedRule {
            key: d.rule.key.clone(),
            origin: d.origin.clone(),
        })
        .collect();
    protected.sort();
    protected.dedup();
    let live_rules: HashMap<&str, &Rule> = live
        .rules
        .iter()
        .map(|r| (r.id.as_str(), &r.rule))
        .collect();
    for c in changes.iter_mut().filter(|c| c.action.touches_live()) {
        c.protection = c
            .live_ids
            .iter()
            .filter_map(|id| live_rules.get(id.as_str()))
            .find_map(|r| protection_of(&policy.protect, &protected, &gp.id, r));
    }

    let mut unmodeled: Vec<UnmodeledEntry> = live
        .unmodeled
        .iter()
        .map(|u| unmodeled_entry(policy, gp, u, options))
        .collect();
    unmodeled.sort_by(|a, b| (a.rule.direction, &a.rule.id).cmp(&(b.rule.direction, &b.rule.id)));

    let mut plan = GroupPlan {
        id: gp.id.clone(),
        region: gp.region.clone(),
        account: gp.account.clone(),
        name: gp.name.clone(),
        live_name: Some(live.name.clone()),
        group_type: gp.group_type,
        live_type: live.group_type,
        mode: gp.mode,
        origin: gp.origin.clone(),
        stage: gp.stage.clone(),
        status: GroupStatus::Present,
        fingerprint: Some(fingerprint(live)),
        changes,
        unmodeled,
        protected,
        findings: Vec::new(),
        blast_radius: None,
    };
    // What ECS does with a flow no rule decides depends on the group's
    // type: a basic group allows egress, an enterprise group denies it. The
    // live type is the truth; the policy's stands in when it was not read.
    let group_type = live.group_type.or(gp.group_type).unwrap_or_default();
    exposure::annotate(&mut plan, live, Defaults::of(group_type));
    plan
}

/// A desired rule that is live (possibly several times): keep one rule, fix
/// its attributes in place (or replace it, to clear its description), and
/// revoke the extras.
fn reconcile(d: &DesiredRule, rules: &[&LiveRule], changes: &mut Vec<Change>) {
    // Prefer a rule that already matches (nothing to modify); among equals,
    // the smallest id, so the choice does not depend on the API's order.
    // `rules` is sorted by id and never empty (it comes from a map entry).
    let Some(keeper) = rules
        .iter()
        .find(|lr| lr.rule == d.rule)
        .or_else(|| rules.first())
    else {
        return;
    };
    for lr in rules {
        if lr.id != keeper.id {
            let of = keeper.id.clone();
            changes.push(removal(Some(d), lr, Reason::Duplicate { of }));
        }
    }
    let mut reasons = Vec::new();
    if keeper.rule.priority != d.rule.priority {
        reasons.push(Reason::PriorityDiffers);
    }
    if keeper.rule.description != d.rule.description {
        reasons.push(Reason::DescriptionDiffers);
    }
    if !reasons.is_empty() {
        // ECS cannot clear a field in place (reference 2.5): a description
        // that must go takes a revoke and a new authorize.
        let clears = d.rule.description.is_empty() && !keeper.rule.description.is_empty();
        let action = if clears {
            reasons.push(Reason::CannotClearInPlace);
            Action::Replace
        } else {
            Action::Change
        };
        changes.push(Change {
            action,
            reasons,
            key: d.rule.key.clone(),
            before: Some(attributes(&keeper.rule)),
            after: Some(attributes(&d.rule)),
            live_ids: vec![keeper.id.clone()],
            origin: Some(d.origin.clone()),
            protection: None,
            exposure: Vec::new(),
            findings: Vec::new(),
            template: None,
            breaks_tests: Vec::new(),
        });
    }
}

/// A removal; its protection is filled in by the caller.
fn removal(desired: Option<&DesiredRule>, lr: &LiveRule, reason: Reason) -> Change {
    Change {
        action: Action::Remove,
        reasons: vec![reason],
        key: lr.rule.key.clone(),
        before: Some(attributes(&lr.rule)),
        after: None,
        live_ids: vec![lr.id.clone()],
        origin: desired.map(|d| d.origin.clone()),
        protection: None,
        exposure: Vec::new(),
        findings: Vec::new(),
        template: None,
        breaks_tests: Vec::new(),
    }
}

fn attributes(rule: &Rule) -> Attributes {
    Attributes {
        priority: rule.priority,
        description: rule.description.clone(),
    }
}

fn unmodeled_entry(
    policy: &PolicySet,
    gp: &GroupPolicy,
    u: &UnmodeledRule,
    options: &DiffOptions,
) -> UnmodeledEntry {
    let remove = options.remove_unmodeled && gp.mode == Mode::Authoritative;
    if !remove {
        return UnmodeledEntry {
            action: UnmodeledAction::Keep,
            rule: u.clone(),
            protection: None,
        };
    }
    let protection = unmodeled_protection(&policy.protect, &gp.id, u);
    UnmodeledEntry {
        action: UnmodeledAction::Remove,
        rule: u.clone(),
        protection,
    }
}

/// Fingerprint of a live group: `sha256:` over its rules sorted by key and
/// id, each with priority, description and rule id, then its unmodeled rules
/// sorted by id.
///
/// Descriptions and rule ids are hashed, not only the identities, because a
/// saved plan must go stale whenever what it was computed from changes: a
/// description edited in the console would otherwise be silently overwritten
/// by a plan reviewed before the edit, and a rule deleted and re-created has
/// a new id, so a plan that modifies or revokes by the old id would fail
/// halfway (or, worse, hit a rule nobody reviewed).
pub fn fingerprint(live: &LiveGroup) -> String {
    let mut rules: Vec<&LiveRule> = live.rules.iter().collect();
    rules.sort_by(|a, b| (&a.rule.key, &a.id).cmp(&(&b.rule.key, &b.id)));
    let mut unmodeled: Vec<&UnmodeledRule> = live.unmodeled.iter().collect();
    unmodeled.sort_by(|a, b| a.id.cmp(&b.id));
    let mut buf = Vec::with_capacity(rules.len() * 160);
    for lr in rules {
        let entry = (&lr.rule.key, lr.rule.priority, &lr.rule.description, &lr.id);
        // Serialising plain data into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut buf, &entry);
        buf.push(b'\n');
    }
    for u in unmodeled {
        let entry = ("unmodeled", &u.id, u.direction, &u.summary, &u.description);
        let _ = serde_json::to_writer(&mut buf, &entry);
        buf.push(b'\n');
    }
    sha256_hex(&buf)
}
