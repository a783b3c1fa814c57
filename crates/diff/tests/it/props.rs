//! Properties of the diff that must hold for any input:
//! - planning a policy exported from the live state plans nothing;
//! - applying a plan to a model of the live state, then planning, plans nothing;
//! - the order of live and desired rules (and of groups) does not matter.

use std::collections::{BTreeMap, BTreeSet};

use moat_diff::{Action, DiffOptions, Plan, Reason, UnmodeledAction, diff};
use moat_policy::{
    DesiredRule, Direction, GroupPolicy, LiveGroup, LiveRule, Mode, NicType, PolicySet, PortRange,
    Protocol, Rule, RuleKey, Verdict,
};
use proptest::prelude::*;

use crate::support::*;

/// A small key space, so that live and desired collide often and live
/// duplicates are common.
fn arb_key() -> impl Strategy<Value = RuleKey> {
    let service = prop_oneof![
        Just((Protocol::Tcp, PortRange::single(22))),
        Just((Protocol::Tcp, PortRange::single(443))),
        Just((Protocol::Udp, PortRange::Range { from: 53, to: 54 })),
        Just((Protocol::All, PortRange::NotApplicable)),
    ];
    let peers = prop_oneof![
        Just("0.0.0.0/0"),
        Just("10.8.0.0/16"),
        Just("2001:db8::/32"),
        Just("sg-peer01"),
        Just("pl-list01"),
    ];
    (
        prop_oneof![Just(Direction::Ingress), Just(Direction::Egress)],
        service,
        peers,
        prop_oneof![Just(Verdict::Accept), Just(Verdict::Drop)],
    )
        .prop_map(|(direction, (protocol, ports), p, verdict)| RuleKey {
            direction,
            protocol,
            ports,
            peer: peer(p),
            verdict,
            nic_type: NicType::Intranet,
            source_ports: None,
            local: None,
        })
}

fn arb_rule() -> impl Strategy<Value = Rule> {
    (
        arb_key(),
        1u8..=3,
        prop_oneof![Just(""), Just("ssh"), Just("web ünïcode"), Just("x")],
    )
        .prop_map(|(key, priority, d)| Rule {
            key,
            priority,
            description: d.to_owned(),
        })
}

fn arb_live(max: usize) -> impl Strategy<Value = Vec<LiveRule>> {
    prop::collection::vec(arb_rule(), 0..max).prop_map(|rules| {
        rules
            .into_iter()
            .enumerate()
            .map(|(i, rule)| LiveRule {
                // Ids deliberately not in key order.
                id: format!("sgr-{:03}", (i * 37) % 101),
                rule,
                create_time: String::new(),
            })
            .collect()
    })
}

fn arb_desired(max: usize) -> impl Strategy<Value = Vec<DesiredRule>> {
    let one = (
        arb_rule(),
        any::<bool>(),
        prop_oneof![
            3 => Just(None),
            1 => (-3i8..=3).prop_map(Some),
        ],
        1u32..200,
    )
        .prop_map(|(rule, protected, expires, line)| DesiredRule {
            rule,
            origin: origin("policies/p.yaml", line, 7),
            service_name: None,
            peer_name: None,
            protected,
            expires: expires.map(|d| {
                TODAY
                    .checked_add(jiff::Span::new().days(i64::from(d)))
                    .unwrap_or(TODAY)
            }),
            lint_ignore: None,
        });
    prop::collection::vec(one, 0..max).prop_map(|rules| {
        // A loaded policy has one rule per identity.
        let mut by_key = BTreeMap::new();
        for d in rules {
            by_key.entry(d.rule.key.clone()).or_insert(d);
        }
        by_key.into_values().collect()
    })
}

fn arb_mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Authoritative), Just(Mode::Additive)]
}

fn with_unmodeled(mut g: LiveGroup, n: usize) -> LiveGroup {
    for i in 0..n {
        let dir = if i % 2 == 0 {
            Direction::Ingress
        } else {
            Direction::Egress
        };
        g.unmodeled.push(unmodeled(&format!("sgr-u{i}"), dir, ""));
    }
    g
}

fn group_with(id: &str, mode: Mode, rules: Vec<DesiredRule>) -> GroupPolicy {
    group(id, mode, rules)
}

/// Applies a plan to a model of the live state, the way apply will: revoke
/// by id, modify by id, replace (revoke, then authorize with a fresh id),
/// authorize new rules (which get fresh ids).
fn apply(plan: &Plan, live: &[LiveGroup]) -> Vec<LiveGroup> {
    let mut next_id = 0;
    live.iter()
        .map(|lg| {
            let Some(gp) = plan.groups.iter().find(|g| g.id == lg.id) else {
                return lg.clone();
            };
            let mut out = lg.clone();
            let removed: BTreeSet<&str> = gp
                .changes
                .iter()
                .filter(|c| c.action == Action::Remove)
                .flat_map(|c| c.live_ids.iter().map(String::as_str))
                .collect();
            out.rules.retain(|r| !removed.contains(r.id.as_str()));
            for c in gp.changes.iter().filter(|c| c.action == Action::Change) {
                let after = c.after.clone().expect("a change has new attributes");
                for r in out.rules.iter_mut().filter(|r| c.live_ids.contains(&r.id)) {
                    r.rule.priority = after.priority;
                    r.rule.description = after.description.clone();
                }
            }
            out.rules.retain(|r| {
                !gp.changes
                    .iter()
                    .any(|c| c.action == Action::Replace && c.live_ids.contains(&r.id))
            });
            for c in gp
                .changes
                .iter()
                .filter(|c| matches!(c.action, Action::Add | Action::Replace))
            {
                let after = c.after.clone().expect("an add has attributes");
                next_id += 1;
                out.rules.push(LiveRule {
                    id: format!("sgr-new{next_id}"),
                    rule: Rule {
                        key: c.key.clone(),
                        priority: after.priority,
                        description: after.description,
                    },
                    create_time: String::new(),
                });
            }
            out.unmodeled.retain(|u| {
                !gp.unmodeled
                    .iter()
                    .any(|e| e.action == UnmodeledAction::Remove && e.rule.id == u.id)
            });
            out
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn exported_policy_plans_nothing_but_duplicate_collapse(
        live_rules in arb_live(24),
        mode in arb_mode(),
    ) {
        // Export: one desired rule per live identity, from the first live
        // rule of that identity.
        let mut seen = BTreeMap::new();
        for lr in &live_rules {
            seen.entry(lr.rule.key.clone()).or_insert_with(|| DesiredRule {
                rule: lr.rule.clone(),
                origin: origin("exported.yaml", 1, 1),
                service_name: None,
                peer_name: None,
                protected: false,
                expires: None,
                lint_ignore: None,
            });
        }
        let distinct = seen.len();
        let p = PolicySet {
            groups: vec![group_with("sg-1", mode, seen.into_values().collect())],
            protect: Vec::new(),
            ..Default::default()
        };
        let plan = diff(&p, &[live("sg-1", live_rules.clone())], &DiffOptions::new(TODAY));
        let changes = &plan.groups[0].changes;
        prop_assert_eq!(changes.len(), live_rules.len() - distinct);
        for c in changes {
            prop_assert_eq!(c.action, Action::Remove);
            let is_duplicate = matches!(c.reasons.as_slice(), [Reason::Duplicate { .. }]);
            prop_assert!(is_duplicate, "{:?}", c.reasons);
        }
        if live_rules.len() == distinct {
            prop_assert_eq!(plan.summary().to_string(), "No changes.");
        }
    }

    #[test]
    fn applying_the_plan_then_planning_again_plans_nothing(
        live_a in arb_live(20),
        live_b in arb_live(20),
        desired_a in arb_desired(16),
        desired_b in arb_desired(16),
        mode_a in arb_mode(),
        mode_b in arb_mode(),
        unmodeled_n in 0usize..3,
        remove_unmodeled in any::<bool>(),
    ) {
        let p = PolicySet {
            groups: vec![
                group_with("sg-a", mode_a, desired_a),
                group_with("sg-b", mode_b, desired_b),
            ],
            protect: Vec::new(),
            ..Default::default()
        };
        let live_groups = vec![
            with_unmodeled(live("sg-a", live_a), unmodeled_n),
            live("sg-b", live_b),
        ];
        let options = DiffOptions { today: TODAY, remove_unmodeled };
        let plan = diff(&p, &live_groups, &options);
        let after = apply(&plan, &live_groups);
        let again = diff(&p, &after, &options);
        prop_assert!(!again.has_changes(), "second plan: {}", again.to_json());
        if plan.has_changes() {
            prop_assert_ne!(plan.hash(), again.hash());
        }
    }

    #[test]
    fn input_order_does_not_change_the_plan(
        (live_a, live_a_shuffled) in arb_live(24).prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        (desired_a, desired_a_shuffled) in arb_desired(16).prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        live_b in arb_live(8),
        mode in arb_mode(),
    ) {
        let options = DiffOptions { today: TODAY, remove_unmodeled: true };
        let straight = diff(
            &PolicySet {
                groups: vec![group_with("sg-a", mode, desired_a), group_with("sg-b", mode, vec![])],
                protect: Vec::new(),
                ..Default::default()
            },
            &[with_unmodeled(live("sg-a", live_a), 2), live("sg-b", live_b.clone())],
            &options,
        );
        let mut shuffled_group = group_with("sg-a", mode, vec![]);
        shuffled_group.rules = desired_a_shuffled;
        let mut unmodeled_reversed = with_unmodeled(live("sg-a", live_a_shuffled), 2);
        unmodeled_reversed.unmodeled.reverse();
        let shuffled = diff(
            &PolicySet {
                groups: vec![group_with("sg-b", mode, vec![]), shuffled_group],
                protect: Vec::new(),
                ..Default::default()
            },
            &[live("sg-b", live_b), unmodeled_reversed],
            &options,
        );
        prop_assert_eq!(straight.to_json(), shuffled.to_json());
    }
}
