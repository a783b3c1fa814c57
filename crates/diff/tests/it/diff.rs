//! Behaviour of `diff` on small, hand-written cases.

use moat_diff::{
    Action, DiffOptions, GroupStatus, PROTECTED_RULE_REASON, ProtectionSource, Reason,
    UnmodeledAction, diff, fingerprint,
};
use moat_policy::{Direction, Mode};

use crate::support::*;

fn opts() -> DiffOptions {
    DiffOptions::new(TODAY)
}

#[test]
fn desired_rule_not_live_is_added_with_its_origin() {
    let p = policy(vec![group(
        "sg-1",
        Mode::Authoritative,
        vec![want("ingress accept tcp/443 from 0.0.0.0/0", 1, "web", 12)],
    )]);
    let plan = diff(&p, &[live("sg-1", vec![])], &opts());
    let g = &plan.groups[0];
    assert_eq!(g.changes.len(), 1);
    let c = &g.changes[0];
    assert_eq!(c.action, Action::Add);
    assert_eq!(c.reasons, vec![Reason::NotLive]);
    assert_eq!(c.origin.as_ref().map(|o| o.line), Some(12));
    assert_eq!(
        c.after.as_ref().map(|a| a.description.as_str()),
        Some("web")
    );
    assert!(c.live_ids.is_empty() && c.before.is_none() && c.protection.is_none());
    assert_eq!(
        plan.summary().to_string(),
        "Plan: 1 to add, 0 to change, 0 to remove."
    );
}

#[test]
fn authoritative_removes_rules_not_in_policy_and_additive_keeps_them() {
    let rules = vec![
        have("sgr-a", "ingress accept tcp/22 from 0.0.0.0/0", 1, ""),
        have("sgr-b", "ingress accept tcp/443 from 0.0.0.0/0", 1, "web"),
    ];
    let desired = vec![want("ingress accept tcp/443 from 0.0.0.0/0", 1, "web", 9)];
    let auth = policy(vec![group("sg-1", Mode::Authoritative, desired.clone())]);
    let plan = diff(&auth, &[live("sg-1", rules.clone())], &opts());
    let c = &plan.groups[0].changes;
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].action, Action::Remove);
    assert_eq!(c[0].live_ids, vec!["sgr-a".to_owned()]);
    assert_eq!(c[0].reasons, vec![Reason::NotInPolicy]);
    assert!(c[0].origin.is_none());

    let add = policy(vec![group("sg-1", Mode::Additive, desired)]);
    let plan = diff(&add, &[live("sg-1", rules)], &opts());
    assert!(plan.groups[0].changes.is_empty());
    assert_eq!(plan.summary().to_string(), "No changes.");
}

#[test]
fn priority_and_description_differences_are_one_change_by_rule_id() {
    let p = policy(vec![group(
        "sg-1",
        Mode::Authoritative,
        vec![want(
            "ingress accept tcp/22 from 10.8.0.0/16",
            5,
            "vpn ssh",
            4,
        )],
    )]);
    let l = live(
        "sg-1",
        vec![have(
            "sgr-a",
            "ingress accept tcp/22 from 10.8.0.0/16",
            1,
            "ssh",
        )],
    );
    let plan = diff(&p, &[l], &opts());
    let c = &plan.groups[0].changes;
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].action, Action::Change);
    assert_eq!(
        c[0].reasons,
        vec![Reason::PriorityDiffers, Reason::DescriptionDiffers]
    );
    assert_eq!(c[0].live_ids, vec!["sgr-a".to_owned()]);
    assert_eq!(c[0].before.as_ref().map(|a| a.priority), Some(1));
    assert_eq!(c[0].after.as_ref().map(|a| a.priority), Some(5));
}

#[test]
fn live_duplicates_collapse_onto_the_rule_that_already_matches() {
    let k = "ingress accept tcp/22 from 10.8.0.0/16";
    let p = policy(vec![group(
        "sg-1",
        Mode::Additive,
        vec![want(k, 5, "vpn", 4)],
    )]);
    let l = live(
        "sg-1",
        vec![
            have("sgr-a", k, 1, "old"),
            have("sgr-z", k, 5, "vpn"),
            have("sgr-m", k, 5, "x"),
        ],
    );
    let plan = diff(&p, &[l], &opts());
    let c = &plan.groups[0].changes;
    assert_eq!(c.len(), 2, "{c:#?}");
    for (change, id) in c.iter().zip(["sgr-a", "sgr-m"]) {
        assert_eq!(change.action, Action::Remove);
        assert_eq!(change.live_ids, vec![id.to_owned()]);
        assert_eq!(
            change.reasons,
            vec![Reason::Duplicate { of: "sgr-z".into() }]
        );
    }
}

#[test]
fn live_duplicates_without_a_match_keep_the_smallest_id_and_change_it() {
    let k = "egress accept all to 0.0.0.0/0";
    let p = policy(vec![group(
        "sg-1",
        Mode::Authoritative,
        vec![want(k, 1, "out", 20)],
    )]);
    let l = live(
        "sg-1",
        vec![have("sgr-b", k, 1, "b"), have("sgr-a", k, 1, "a")],
    );
    let plan = diff(&p, &[l], &opts());
    let c = &plan.groups[0].changes;
    assert_eq!(c.len(), 2, "{c:#?}");
    assert_eq!(
        (c[0].action, c[0].live_ids[0].as_str()),
        (Action::Change, "sgr-a")
    );
    assert_eq!(
        (c[1].action, c[1].live_ids[0].as_str()),
        (Action::Remove, "sgr-b")
    );
    assert_eq!(c[1].reasons, vec![Reason::Duplicate { of: "sgr-a".into() }]);
}

#[test]
fn expired_rules_are_removed_when_live_and_not_added_when_absent() {
    let mut live_expired = want(
        "ingress accept tcp/22 from 198.51.100.77/32",
        1,
        "vendor",
        30,
    );
    live_expired.expires = Some(jiff::civil::date(2026, 2, 28));
    let mut absent_expired = want("ingress accept tcp/23 from 198.51.100.77/32", 1, "old", 31);
    absent_expired.expires = Some(jiff::civil::date(2026, 1, 1));
    let mut last_day = want(
        "ingress accept tcp/24 from 198.51.100.77/32",
        1,
        "today",
        32,
    );
    last_day.expires = Some(TODAY);
    let p = policy(vec![group(
        "sg-1",
        Mode::Additive,
        vec![live_expired, absent_expired, last_day],
    )]);
    let l = live(
        "sg-1",
        vec![have(
            "sgr-v",
            "ingress accept tcp/22 from 198.51.100.77/32",
            1,
            "vendor",
        )],
    );
    let plan = diff(&p, &[l], &opts());
    let c = &plan.groups[0].changes;
    assert_eq!(c.len(), 2, "{c:#?}");
    assert_eq!(c[0].action, Action::Remove);
    assert_eq!(
        c[0].reasons,
        vec![Reason::Expired {
            on: jiff::civil::date(2026, 2, 28)
        }]
    );
    assert_eq!(c[0].reasons[0].to_string(), "expired on 2026-02-28");
    assert_eq!(c[0].origin.as_ref().map(|o| o.line), Some(30));
    // A rule is still desired on its `expires` day.
    assert_eq!(c[1].action, Action::Add);
    assert_eq!(c[1].origin.as_ref().map(|o| o.line), Some(32));
}

#[test]
fn unmodeled_rules_are_kept_unless_the_caller_asks_and_the_group_is_authoritative() {
    let mut l = live("sg-1", vec![]);
    l.unmodeled.push(unmodeled("sgr-u2", Direction::Egress, ""));
    l.unmodeled
        .push(unmodeled("sgr-u1", Direction::Ingress, "gre tunnel"));
    let auth = policy(vec![group("sg-1", Mode::Authoritative, vec![])]);
    let plan = diff(&auth, std::slice::from_ref(&l), &opts());
    let u = &plan.groups[0].unmodeled;
    assert_eq!(u.len(), 2);
    assert_eq!(u[0].rule.id, "sgr-u1", "sorted by direction, then id");
    assert!(u.iter().all(|e| e.action == UnmodeledAction::Keep));
    assert_eq!(plan.summary().to_string(), "No changes.");

    let mut removing = opts();
    removing.remove_unmodeled = true;
    let plan = diff(&auth, std::slice::from_ref(&l), &removing);
    assert!(
        plan.groups[0]
            .unmodeled
            .iter()
            .all(|e| e.action == UnmodeledAction::Remove)
    );
    assert_eq!(plan.summary().remove, 2);

    let add = policy(vec![group("sg-1", Mode::Additive, vec![])]);
    let plan = diff(&add, std::slice::from_ref(&l), &removing);
    assert!(
        plan.groups[0]
            .unmodeled
            .iter()
            .all(|e| e.action == UnmodeledAction::Keep)
    );
}

#[test]
fn protected_rules_are_marked_on_change_and_removal_but_not_on_add() {
    let mut ssh = want("ingress accept tcp/22 from 10.8.0.0/16", 1, "vpn ssh", 8);
    ssh.protected = true;
    let mut expired = want("ingress accept tcp/22 from 10.9.0.0/16", 1, "old vpn", 9);
    expired.protected = true;
    expired.expires = Some(jiff::civil::date(2025, 1, 1));
    let mut new_rule = want("ingress accept tcp/22 from 10.7.0.0/16", 1, "new", 10);
    new_rule.protected = true;
    let mut p = policy(vec![group(
        "sg-1",
        Mode::Authoritative,
        vec![ssh, expired, new_rule],
    )]);
    let mut sel = selector("bastion access must never be cut by automation", 2);
    sel.group = Some("sg-1".into());
    sel.description_prefix = Some("[core]".into());
    p.protect.push(sel);
    let l = live(
        "sg-1",
        vec![
            have("sgr-a", "ingress accept tcp/22 from 10.8.0.0/16", 1, "ssh"),
            have(
                "sgr-b",
                "ingress accept tcp/22 from 10.9.0.0/16",
                1,
                "old vpn",
            ),
            have(
                "sgr-c",
                "ingress accept tcp/3389 from 10.0.0.0/8",
                1,
                "[core] rdp",
            ),
            have("sgr-d", "ingress accept tcp/80 from 10.0.0.0/8", 1, "plain"),
        ],
    );
    let plan = diff(&p, &[l], &opts());
    let by_id = |id: &str| {
        plan.groups[0]
            .changes
            .iter()
            .find(|c| c.live_ids.first().is_some_and(|l| l == id))
            .unwrap_or_else(|| panic!("no change for {id}"))
    };
    let a = by_id("sgr-a")
        .protection
        .clone()
        .expect("change of a protected rule");
    assert_eq!(
        (a.source, a.reason.as_str()),
        (ProtectionSource::Rule, PROTECTED_RULE_REASON)
    );
    assert_eq!(a.origin.line, 8);
    let b = by_id("sgr-b")
        .protection
        .clone()
        .expect("removal of an expired protected rule");
    assert_eq!(b.origin.line, 9);
    let c = by_id("sgr-c")
        .protection
        .clone()
        .expect("selector matches a rule not in policy");
    assert_eq!(c.source, ProtectionSource::Selector);
    assert_eq!(c.reason, "bastion access must never be cut by automation");
    assert!(by_id("sgr-d").protection.is_none());
    let add = plan.groups[0]
        .changes
        .iter()
        .find(|c| c.action == Action::Add);
    assert!(add.is_some_and(|c| c.protection.is_none()));
    assert_eq!(plan.protected_changes().count(), 3);
}

#[test]
fn selector_protects_unmodeled_rules_the_plan_would_revoke() {
    let mut l = live("sg-1", vec![]);
    l.unmodeled
        .push(unmodeled("sgr-u1", Direction::Ingress, "[core] gre"));
    l.unmodeled
        .push(unmodeled("sgr-u2", Direction::Ingress, "other"));
    let mut p = policy(vec![group("sg-1", Mode::Authoritative, vec![])]);
    let mut sel = selector("core tunnels", 4);
    sel.description_prefix = Some("[core]".into());
    p.protect.push(sel);
    let mut o = opts();
    o.remove_unmodeled = true;
    let plan = diff(&p, &[l], &o);
    let u = &plan.groups[0].unmodeled;
    assert!(u[0].protection.is_some());
    assert!(u[1].protection.is_none());
}

#[test]
fn a_group_missing_live_is_an_entry_and_a_typed_error() {
    let p = policy(vec![
        group(
            "sg-1",
            Mode::Authoritative,
            vec![want("ingress accept icmp from 10.0.0.0/8", 1, "", 5)],
        ),
        group("sg-2", Mode::Authoritative, vec![]),
    ]);
    // Same id in another region does not count; unrelated live groups are ignored.
    let mut other_region = live("sg-1", vec![]);
    other_region.region = "cn-hangzhou".into();
    let plan = diff(
        &p,
        &[other_region, live("sg-2", vec![]), live("sg-9", vec![])],
        &opts(),
    );
    assert_eq!(plan.groups.len(), 2);
    assert_eq!(plan.groups[0].status, GroupStatus::Missing);
    assert!(plan.groups[0].changes.is_empty() && plan.groups[0].fingerprint.is_none());
    assert_eq!(plan.groups[1].status, GroupStatus::Present);
    let missing: Vec<&str> = plan.missing_groups().map(|g| g.id.as_str()).collect();
    assert_eq!(missing, ["sg-1"]);
    assert!(plan.drifts(), "a missing group is drift");
}

#[test]
fn fingerprint_covers_descriptions_and_ids_but_not_order() {
    let a = have("sgr-a", "ingress accept tcp/22 from 10.0.0.0/8", 1, "ssh");
    let b = have("sgr-b", "egress accept all to 0.0.0.0/0", 1, "");
    let base = fingerprint(&live("sg-1", vec![a.clone(), b.clone()]));
    assert!(base.starts_with("sha256:") && base.len() == 7 + 64);
    assert_eq!(base, fingerprint(&live("sg-1", vec![b.clone(), a.clone()])));
    let mut described = a.clone();
    described.rule.description = "ssh!".into();
    assert_ne!(base, fingerprint(&live("sg-1", vec![described, b.clone()])));
    let mut recreated = a.clone();
    recreated.id = "sgr-a2".into();
    assert_ne!(base, fingerprint(&live("sg-1", vec![recreated, b.clone()])));
    let mut reprioritised = a.clone();
    reprioritised.rule.priority = 2;
    assert_ne!(
        base,
        fingerprint(&live("sg-1", vec![reprioritised, b.clone()]))
    );
    let mut with_unmodeled = live("sg-1", vec![a, b]);
    with_unmodeled
        .unmodeled
        .push(unmodeled("sgr-u", Direction::Ingress, ""));
    assert_ne!(base, fingerprint(&with_unmodeled));
}

#[test]
fn group_name_mismatch_is_reported_not_planned() {
    let p = policy(vec![group("sg-1", Mode::Authoritative, vec![])]);
    let mut l = live("sg-1", vec![]);
    l.name = "web-old".into();
    let plan = diff(&p, &[l], &opts());
    assert!(plan.groups[0].name_differs());
    assert!(!plan.has_changes());
}

#[test]
fn findings_attach_by_group_and_key_only_to_touched_rules() {
    use moat_diff::{FindingRef, FindingSeverity};
    use moat_policy::Diagnostic;

    let k = "ingress accept tcp/3306 from 0.0.0.0/0";
    let p = policy(vec![
        group("sg-1", Mode::Authoritative, vec![want(k, 1, "", 5)]),
        group("sg-2", Mode::Authoritative, vec![want(k, 1, "", 5)]),
    ]);
    let l2 = live("sg-2", vec![have("sgr-x", k, 1, "")]);
    let mut plan = diff(&p, &[live("sg-1", vec![]), l2], &opts());
    let d = Diagnostic::error(
        origin("policies/web.yaml", 5, 7),
        "MOAT002",
        "database port open",
    );
    let g = Diagnostic::warning(origin("policies/web.yaml", 3, 5), "MOAT030", "group-wide");
    let key = key(k);
    plan.attach_findings([
        FindingRef {
            diagnostic: &d,
            group: Some("sg-1"),
            key: Some(&key),
            suppressed: None,
        },
        // sg-2's rule is unchanged, so the finding has no change to sit on.
        FindingRef {
            diagnostic: &d,
            group: Some("sg-2"),
            key: Some(&key),
            suppressed: None,
        },
        FindingRef {
            diagnostic: &g,
            group: Some("sg-2"),
            key: None,
            suppressed: Some("known"),
        },
    ]);
    let f = &plan.groups[0].changes[0].findings;
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].code.as_str(), f[0].severity),
        ("MOAT002", FindingSeverity::Error)
    );
    assert!(plan.groups[1].changes.is_empty());
    assert_eq!(plan.groups[1].findings.len(), 1);
    assert_eq!(
        plan.groups[1].findings[0].suppressed.as_deref(),
        Some("known")
    );
    let before = plan.hash();
    plan.groups[0].changes[0].findings.clear();
    assert_eq!(plan.hash(), before, "findings explain, they do not decide");
}

#[test]
fn lint_findings_attach_to_the_changes_of_their_rules() {
    use moat_diff::FindingRef;

    let text = "version: 1\nsecurity_groups:\n  - id: sg-bp1web0000000001\n    region: ap-southeast-1\n    \
                ingress:\n      - allow: tcp/22\n        from: 0.0.0.0/0\n        \
                lint_ignore: [MOAT007]\n        reason: demo host\n";
    let set = moat_policy::load_policy_str("web.yaml", text).expect("valid policy");
    let findings = moat_policy::lint::lint(&set, jiff::civil::date(2026, 6, 1));
    let mut plan = diff(&set, &[live("sg-bp1web0000000001", vec![])], &opts());
    plan.attach_findings(findings.iter().map(FindingRef::from));
    let f = &plan.groups[0].changes[0].findings;
    let seen: Vec<(&str, Option<&str>)> = f
        .iter()
        .map(|f| (f.code.as_str(), f.suppressed.as_deref()))
        .collect();
    assert_eq!(seen, [("MOAT001", None), ("MOAT007", Some("demo host"))]);
}
