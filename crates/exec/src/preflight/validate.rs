//! The checks a plan must pass on its own, before anything is read: it is
//! consistent (each action has what it needs), it names only groups that
//! exist, and every rule it would authorize or modify is one a policy could
//! have asked for.
//!
//! "As strictly as a policy" is meant literally: the rules are written out
//! as a policy and loaded with the policy loader, and the result must be
//! the same rules. Whatever the loader refuses (a priority of 0 or 101, a
//! description over 512 characters, a port on ICMP, a malformed group id, a
//! host address with host bits set, ...) a plan file cannot smuggle past
//! it, and a rule the loader would write differently is not canonical.

use std::collections::HashSet;

use moat_diff::{Action, Change, GroupPlan, GroupStatus, Plan, UnmodeledAction};
use moat_policy::{DesiredRule, GroupPolicy, Mode, Origin, Rule};

use super::guards::GuardProblem;

/// Problems of the plan alone (no live state needed).
pub(crate) fn check_plan(plan: &Plan, problems: &mut Vec<GuardProblem>) {
    let mut seen_groups: HashSet<(&str, &str)> = HashSet::new();
    for g in &plan.groups {
        if !seen_groups.insert((&g.id, &g.region)) {
            problems.push(GuardProblem::Malformed {
                group: g.id.clone(),
                detail: "the group is in the plan twice".to_owned(),
            });
        }
        if g.status == GroupStatus::Missing {
            problems.push(GuardProblem::MissingGroup {
                group: g.id.clone(),
                region: g.region.clone(),
            });
            continue;
        }
        if !g.has_changes() {
            continue;
        }
        check_consistency(g, problems);
        check_rules(g, problems);
    }
}

fn check_consistency(g: &GroupPlan, problems: &mut Vec<GuardProblem>) {
    let mut malformed = |detail: String| {
        problems.push(GuardProblem::Malformed {
            group: g.id.clone(),
            detail,
        });
    };
    if g.fingerprint.is_none() {
        malformed("the group has changes but no fingerprint of its live rules".to_owned());
    }
    let mut ids: HashSet<&str> = HashSet::new();
    let mut added = HashSet::new();
    for c in &g.changes {
        let key = &c.key;
        match c.action {
            Action::Add => {
                if c.after.is_none() {
                    malformed(format!("add of {key} has no attributes"));
                }
                if !c.live_ids.is_empty() {
                    malformed(format!("add of {key} names live rule ids"));
                }
                if !added.insert(key) {
                    malformed(format!("{key} is added twice"));
                }
            }
            Action::Change | Action::Replace => {
                if c.after.is_none() || c.live_ids.len() != 1 {
                    malformed(format!(
                        "{} of {key} needs attributes and exactly one rule id",
                        c.action
                    ));
                }
                if c.action == Action::Replace
                    && c.after.as_ref().is_some_and(|a| !a.description.is_empty())
                {
                    malformed(format!(
                        "replace of {key} keeps a description (only clearing one needs a replace)"
                    ));
                }
            }
            Action::Remove => {
                if c.live_ids.len() != 1 {
                    malformed(format!("removal of {key} needs exactly one rule id"));
                }
                if c.after.is_some() {
                    malformed(format!("removal of {key} has desired attributes"));
                }
            }
        }
        for id in &c.live_ids {
            if !ids.insert(id) {
                malformed(format!("rule id {id} is named by two changes"));
            }
        }
    }
    for u in g
        .unmodeled
        .iter()
        .filter(|u| u.action == UnmodeledAction::Remove)
    {
        if !ids.insert(&u.rule.id) {
            malformed(format!("rule id {} is named by two changes", u.rule.id));
        }
    }
}

/// The rule a change authorizes or modifies to, if any.
fn desired(c: &Change) -> Option<Rule> {
    match c.action {
        Action::Add | Action::Change | Action::Replace => c.after.as_ref().map(|a| Rule {
            key: c.key.clone(),
            priority: a.priority,
            description: a.description.clone(),
        }),
        Action::Remove => None,
    }
}

fn policy_of(g: &GroupPlan, rules: &[Rule]) -> GroupPolicy {
    let origin = Origin::whole(format!("plan:{}", g.id));
    GroupPolicy {
        id: g.id.clone(),
        region: g.region.clone(),
        name: None,
        // Additive: the loaded result is just these rules either way.
        mode: Mode::Additive,
        group_type: None,
        account: None,
        stage: None,
        origin: origin.clone(),
        rules: rules
            .iter()
            .map(|r| DesiredRule {
                rule: r.clone(),
                origin: origin.clone(),
                service_name: None,
                peer_name: None,
                protected: false,
                expires: None,
                lint_ignore: None,
            })
            .collect(),
    }
}

/// Writes `rules` as a policy of `g`, loads it, and says what the loader
/// refused, or `None` when it gives back exactly `rules`.
fn round_trip(g: &GroupPlan, rules: &[Rule]) -> Option<(String, String)> {
    let text = match moat_policy::render_policy_yaml(&[policy_of(g, rules)]) {
        Ok(t) => t,
        Err(e) => return Some(("MOAT-PLAN".to_owned(), e.to_string())),
    };
    match moat_policy::load_policy_str(&format!("plan:{}", g.id), &text) {
        Err(diags) => {
            let d = diags.0.first();
            Some((
                d.map_or("MOAT-PLAN", |d| d.code).to_owned(),
                d.map_or_else(|| "refused".to_owned(), |d| d.message.clone()),
            ))
        }
        Ok(set) => {
            let mut loaded: Vec<Rule> = set
                .groups
                .iter()
                .flat_map(|lg| lg.rules.iter().map(|d| d.rule.clone()))
                .collect();
            let mut given = rules.to_vec();
            loaded.sort();
            given.sort();
            let same_group = set.groups.len() == 1
                && set.groups[0].id == g.id
                && set.groups[0].region == g.region;
            (!same_group || loaded != given).then(|| {
                (
                    "MOAT-PLAN".to_owned(),
                    "not in the canonical form a policy gives".to_owned(),
                )
            })
        }
    }
}

/// Every rule the group's changes authorize or modify to, checked as a
/// policy: all at once (one load for the group), and one by one only when
/// that fails, to name each rule that is wrong.
fn check_rules(g: &GroupPlan, problems: &mut Vec<GuardProblem>) {
    if let Some((code, message)) = round_trip(g, &[]) {
        problems.push(GuardProblem::InvalidGroup {
            group: g.id.clone(),
            region: g.region.clone(),
            code,
            message,
        });
        return;
    }
    let rules: Vec<Rule> = g.changes.iter().filter_map(desired).collect();
    if rules.is_empty() || round_trip(g, &rules).is_none() {
        return;
    }
    let before = problems.len();
    for r in &rules {
        if let Some((code, message)) = round_trip(g, std::slice::from_ref(r)) {
            problems.push(GuardProblem::InvalidRule {
                group: g.id.clone(),
                rule: r.key.to_string(),
                code,
                message,
            });
        }
    }
    if problems.len() == before {
        // Each rule is fine alone; together they are not (two with one
        // identity, say). Name the group.
        problems.push(GuardProblem::Malformed {
            group: g.id.clone(),
            detail: "its rules do not load together as a policy".to_owned(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_diff::{Attributes, Reason};
    use moat_policy::{Direction, NicType, Peer, PortRange, Protocol, RuleKey, Verdict};

    fn group(changes: Vec<Change>) -> GroupPlan {
        GroupPlan {
            id: "sg-bp1check000000001".into(),
            region: "cn-hangzhou".into(),
            account: None,
            name: None,
            live_name: Some("x".into()),
            group_type: None,
            live_type: None,
            mode: Mode::Authoritative,
            origin: Origin::whole("p.yaml"),
            stage: None,
            status: GroupStatus::Present,
            fingerprint: Some("sha256:00".into()),
            changes,
            unmodeled: Vec::new(),
            protected: Vec::new(),
            findings: Vec::new(),
            blast_radius: None,
        }
    }

    fn add(port: u16, priority: u8, description: &str) -> Change {
        Change {
            action: Action::Add,
            reasons: vec![Reason::NotLive],
            key: RuleKey {
                direction: Direction::Ingress,
                protocol: Protocol::Tcp,
                ports: PortRange::single(port),
                peer: Peer::cidr("10.0.0.0/8".parse().unwrap()),
                verdict: Verdict::Accept,
                nic_type: NicType::Intranet,
                source_ports: None,
                local: None,
            },
            before: None,
            after: Some(Attributes {
                priority,
                description: description.into(),
            }),
            live_ids: Vec::new(),
            origin: None,
            protection: None,
            exposure: Vec::new(),
            findings: Vec::new(),
            template: None,
            breaks_tests: Vec::new(),
        }
    }

    fn problems(g: GroupPlan) -> Vec<GuardProblem> {
        let mut out = Vec::new();
        check_plan(&Plan::new(vec![g]), &mut out);
        out
    }

    #[test]
    fn rules_a_policy_would_refuse_are_refused_by_name() {
        assert!(problems(group(vec![add(22, 1, "ok"), add(80, 100, "")])).is_empty());
        let p = problems(group(vec![
            add(22, 0, ""),
            add(23, 101, ""),
            add(24, 1, &"x".repeat(10_000)),
            add(25, 1, "fine"),
        ]));
        let codes: Vec<(&str, &str)> = p
            .iter()
            .map(|p| match p {
                GuardProblem::InvalidRule { rule, code, .. } => (rule.as_str(), code.as_str()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            codes,
            [
                ("ingress accept tcp/22 from 10.0.0.0/8", "MOAT111"),
                ("ingress accept tcp/23 from 10.0.0.0/8", "MOAT111"),
                ("ingress accept tcp/24 from 10.0.0.0/8", "MOAT112"),
            ]
        );
        let mut icmp = add(1, 1, "");
        icmp.key.protocol = Protocol::Icmp;
        let mut host_bits = add(2, 1, "");
        host_bits.key.peer = Peer::Cidr {
            cidr: "10.0.0.1/8".parse().unwrap(),
        };
        let p = problems(group(vec![icmp, host_bits]));
        assert_eq!(p.len(), 2, "{p:?}");
    }

    #[test]
    fn a_malformed_group_id_is_one_problem() {
        let mut g = group(vec![add(22, 1, "")]);
        g.id = "sg-NOT_AN_ID".into();
        let p = problems(g);
        assert!(
            matches!(&p[..], [GuardProblem::InvalidGroup { code, .. }] if code == "MOAT115"),
            "{p:?}"
        );
    }

    #[test]
    fn inconsistent_changes_are_malformed() {
        let mut change = add(22, 1, "");
        change.action = Action::Remove;
        let twice = vec![add(80, 1, ""), add(80, 1, "")];
        let mut replace = add(443, 1, "kept");
        replace.action = Action::Replace;
        replace.live_ids = vec!["sgr-1".into()];
        let p = problems(group([vec![change, replace], twice].concat()));
        let text: Vec<String> = p.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|t| t.contains("needs exactly one rule id")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.contains("is added twice")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.contains("keeps a description")),
            "{text:?}"
        );
    }
}
