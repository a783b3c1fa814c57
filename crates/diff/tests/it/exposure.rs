//! Exposure notes under ECS evaluation: priority first, drop over accept at
//! equal priority, ingress denied and egress allowed by default.

use moat_diff::{Change, DiffOptions, ExposureKind, diff};
use moat_policy::{DesiredRule, LiveRule, Mode};

use crate::support::*;

/// The notes of the change for `k` when the policy is `desired` and the
/// live group `live_rules` (authoritative).
fn notes(
    k: &str,
    desired: Vec<DesiredRule>,
    live_rules: Vec<LiveRule>,
) -> Vec<(ExposureKind, String)> {
    let p = policy(vec![group("sg-1", Mode::Authoritative, desired)]);
    let plan = diff(&p, &[live("sg-1", live_rules)], &DiffOptions::new(TODAY));
    let target = key(k);
    let change: &Change = plan.groups[0]
        .changes
        .iter()
        .find(|c| c.key == target)
        .unwrap_or_else(|| panic!("no change for {k}: {}", plan.to_json()));
    change
        .exposure
        .iter()
        .map(|e| (e.kind.clone(), e.note.clone()))
        .collect()
}

#[test]
fn public_accept_is_new_public_exposure() {
    let k = "ingress accept tcp/3306 from 0.0.0.0/0";
    assert_eq!(
        notes(k, vec![want(k, 10, "", 1)], vec![]),
        vec![(
            ExposureKind::NewPublicExposure,
            "new public exposure: tcp/3306 from 0.0.0.0/0".into()
        )]
    );
}

#[test]
fn private_accept_opens_without_public_exposure() {
    let k = "ingress accept tcp/22 from 10.0.0.0/8";
    assert_eq!(
        notes(k, vec![want(k, 1, "", 1)], vec![]),
        vec![(ExposureKind::Opens, "opens tcp/22 from 10.0.0.0/8".into())]
    );
}

#[test]
fn accept_behind_a_higher_priority_drop_has_no_effect() {
    let k = "ingress accept tcp/3306 from 0.0.0.0/0";
    let drop_all = "ingress drop all from 0.0.0.0/0";
    assert_eq!(
        notes(
            k,
            vec![want(k, 10, "", 1), want(drop_all, 1, "", 2)],
            vec![have("sgr-d", drop_all, 1, "")]
        ),
        vec![(
            ExposureKind::NoEffect,
            "no effect: shadowed by drop all from 0.0.0.0/0 (priority 1)".into()
        )]
    );
}

#[test]
fn drop_wins_over_accept_at_equal_priority() {
    let accept = "ingress accept tcp/22 from 0.0.0.0/0";
    let deny = "ingress drop tcp/22 from 0.0.0.0/0";
    assert_eq!(
        notes(
            deny,
            vec![want(accept, 1, "", 1), want(deny, 1, "", 2)],
            vec![have("sgr-a", accept, 1, "")]
        ),
        vec![(ExposureKind::Closes, "closes tcp/22 for 0.0.0.0/0".into())]
    );
}

#[test]
fn removing_an_accept_closes_it() {
    let k = "ingress accept tcp/22 from 203.0.113.0/24";
    assert_eq!(
        notes(k, vec![], vec![have("sgr-a", k, 1, "")]),
        vec![(
            ExposureKind::Closes,
            "closes tcp/22 for 203.0.113.0/24".into()
        )]
    );
}

#[test]
fn a_partly_shadowed_accept_opens_only_the_rest() {
    let k = "ingress accept tcp/3306 from 0.0.0.0/0";
    let deny_private = "ingress drop tcp/3306 from 10.0.0.0/8";
    let n = notes(
        k,
        vec![want(k, 10, "", 1), want(deny_private, 1, "", 2)],
        vec![have("sgr-d", deny_private, 1, "")],
    );
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].0, ExposureKind::NewPublicExposure);
    assert_eq!(
        n[0].1,
        "new public exposure: tcp/3306 from 0.0.0.0/5, 8.0.0.0/7, 11.0.0.0/8, 12.0.0.0/6, and 4 more blocks"
    );
}

#[test]
fn all_protocols_are_summarised_as_all() {
    let k = "ingress accept all from ::/0";
    assert_eq!(
        notes(k, vec![want(k, 100, "", 1)], vec![]),
        vec![(
            ExposureKind::NewPublicExposure,
            "new public exposure: all from ::/0".into()
        )]
    );
}

#[test]
fn a_priority_change_that_overtakes_a_drop_opens() {
    let accept = "ingress accept tcp/22 from 10.8.0.0/16";
    let deny = "ingress drop tcp/22 from 0.0.0.0/0";
    assert_eq!(
        notes(
            accept,
            vec![want(accept, 1, "", 1), want(deny, 3, "", 2)],
            vec![have("sgr-a", accept, 5, ""), have("sgr-d", deny, 3, "")]
        ),
        vec![(ExposureKind::Opens, "opens tcp/22 from 10.8.0.0/16".into())]
    );
}

#[test]
fn a_description_change_has_no_exposure_note() {
    let k = "ingress accept tcp/22 from 10.8.0.0/16";
    assert!(
        notes(
            k,
            vec![want(k, 1, "new", 1)],
            vec![have("sgr-a", k, 1, "old")]
        )
        .is_empty()
    );
}

#[test]
fn egress_drop_closes_what_the_default_allowed() {
    let k = "egress drop tcp/25 to 0.0.0.0/0";
    assert_eq!(
        notes(k, vec![want(k, 1, "", 1)], vec![]),
        vec![(ExposureKind::Closes, "closes tcp/25 to 0.0.0.0/0".into())]
    );
}

/// The notes of the change whose key is `target` (for keys the plan-like
/// text cannot spell: NIC type, quintuple restrictions).
fn notes_of(
    target: &moat_policy::RuleKey,
    desired: Vec<DesiredRule>,
    live_rules: Vec<LiveRule>,
) -> Vec<(ExposureKind, String)> {
    let p = policy(vec![group("sg-1", Mode::Authoritative, desired)]);
    let plan = diff(&p, &[live("sg-1", live_rules)], &DiffOptions::new(TODAY));
    let change = plan.groups[0]
        .changes
        .iter()
        .find(|c| c.key == *target)
        .unwrap_or_else(|| panic!("no change for {target}: {}", plan.to_json()));
    change
        .exposure
        .iter()
        .map(|e| (e.kind.clone(), e.note.clone()))
        .collect()
}

#[test]
fn a_drop_on_the_other_nic_type_does_not_shadow() {
    let k = "ingress accept tcp/22 from 0.0.0.0/0";
    let drop_all = "ingress drop all from 0.0.0.0/0";
    let mut internet_drop = want(drop_all, 1, "", 2);
    internet_drop.rule.key.nic_type = moat_policy::NicType::Internet;
    let live_drop = LiveRule {
        id: "sgr-d".to_owned(),
        rule: internet_drop.rule.clone(),
        create_time: String::new(),
    };
    // The drop applies to the internet NIC only; the accept is intranet.
    assert_eq!(
        notes(k, vec![want(k, 10, "", 1), internet_drop], vec![live_drop]),
        vec![(
            ExposureKind::NewPublicExposure,
            "new public exposure: tcp/22 from 0.0.0.0/0".into()
        )]
    );
}

#[test]
fn quintuple_accept_counts_as_opening_and_drop_is_not_checked() {
    let mut accept = want("ingress accept tcp/22 from 0.0.0.0/0", 10, "", 1);
    accept.rule.key.source_ports = Some(moat_policy::PortRange::single(1000));
    assert_eq!(
        notes_of(&accept.rule.key.clone(), vec![accept], vec![]),
        vec![(
            ExposureKind::NewPublicExposure,
            "new public exposure: tcp/22 from 0.0.0.0/0".into()
        )]
    );
    let mut drop = want("ingress drop tcp/22 from 0.0.0.0/0", 1, "", 1);
    drop.rule.key.source_ports = Some(moat_policy::PortRange::single(1000));
    let open = "ingress accept tcp/22 from 0.0.0.0/0";
    assert_eq!(
        notes_of(
            &drop.rule.key.clone(),
            vec![drop, want(open, 10, "", 2)],
            vec![have("sgr-a", open, 10, "")]
        ),
        vec![(
            ExposureKind::Unknown,
            "closes tcp/22 for 0.0.0.0/0 only for the source ports or local address it \
             names; the other end can pick others, so the effect is not checked"
                .into()
        )]
    );
}

#[test]
fn a_group_peer_is_not_checked() {
    let k = "ingress accept tcp/22 from sg-bastion";
    assert_eq!(
        notes(k, vec![want(k, 1, "", 1)], vec![]),
        vec![(
            ExposureKind::Unknown,
            "opens tcp/22 from security group sg-bastion; its addresses are not known to \
             moat, so shadowing is not checked"
                .into()
        )]
    );
}

#[test]
fn this_network_is_not_public() {
    let k = "ingress accept tcp/22 from 0.0.0.0/8";
    assert_eq!(
        notes(k, vec![want(k, 1, "", 1)], vec![]),
        vec![(ExposureKind::Opens, "opens tcp/22 from 0.0.0.0/8".into())]
    );
}

/// The notes of the change for `k` in a group whose policy states
/// `type: enterprise`.
fn enterprise_notes(k: &str, desired: Vec<DesiredRule>) -> Vec<(ExposureKind, String)> {
    let mut g = group("sg-1", Mode::Authoritative, desired);
    g.group_type = Some(moat_policy::GroupType::Enterprise);
    let p = policy(vec![g]);
    let plan = diff(&p, &[live("sg-1", vec![])], &DiffOptions::new(TODAY));
    let target = key(k);
    plan.groups[0]
        .changes
        .iter()
        .find(|c| c.key == target)
        .unwrap_or_else(|| panic!("no change for {k}: {}", plan.to_json()))
        .exposure
        .iter()
        .map(|e| (e.kind.clone(), e.note.clone()))
        .collect()
}

/// Issue 11: an enterprise group denies egress by default, so an egress
/// accept opens what a basic group already allowed, and an egress drop
/// closes nothing.
#[test]
fn an_enterprise_group_denies_egress_by_default() {
    let accept = "egress accept tcp/443 to 0.0.0.0/0";
    assert_eq!(
        notes(accept, vec![want(accept, 1, "", 1)], vec![]),
        vec![(
            ExposureKind::NoEffect,
            "no effect: already allowed by default".into()
        )],
        "a basic group allows egress"
    );
    assert_eq!(
        enterprise_notes(accept, vec![want(accept, 1, "", 1)]),
        vec![(ExposureKind::Opens, "opens tcp/443 to 0.0.0.0/0".into())]
    );
    let drop = "egress drop tcp/25 to 0.0.0.0/0";
    assert_eq!(
        enterprise_notes(drop, vec![want(drop, 1, "", 1)]),
        vec![(
            ExposureKind::NoEffect,
            "no effect: already denied by default".into()
        )]
    );
}
