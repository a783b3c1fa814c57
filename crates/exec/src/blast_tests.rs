//! The blast radius computed from interfaces and groups already read: the
//! combined decision per interface, the groups' type, and the counting.

use std::collections::BTreeMap;

use moat_aliyun::InterfaceInfo;
use moat_diff::{DiffOptions, ExposureKind, Plan};
use moat_policy::{
    Direction, GroupType, LiveGroup, LiveRule, NicType, Peer, PortRange, Protocol, Rule, RuleKey,
    Verdict,
};

use super::{BlastError, compute_blast_radius};

const REGION: &str = "cn-hangzhou";
const DB: &str = "sg-bp1blastdb0000001";
const FIREWALL: &str = "sg-bp1blastfw0000001";
const EGRESS: &str = "sg-bp1blasteg0000001";

fn rule(direction: Direction, port: u16, cidr: &str, verdict: Verdict, priority: u8) -> Rule {
    Rule {
        key: RuleKey {
            direction,
            protocol: Protocol::Tcp,
            ports: PortRange::single(port),
            peer: Peer::cidr(cidr.parse().expect("a cidr")),
            verdict,
            nic_type: NicType::Intranet,
            source_ports: None,
            local: None,
        },
        priority,
        description: String::new(),
    }
}

fn group(id: &str, group_type: GroupType, rules: Vec<Rule>) -> LiveGroup {
    LiveGroup {
        rules: rules
            .into_iter()
            .enumerate()
            .map(|(n, rule)| LiveRule {
                id: format!("sgr-{id}-{n}"),
                rule,
                create_time: String::new(),
            })
            .collect(),
        group_type: Some(group_type),
        ..LiveGroup::empty(id, REGION)
    }
}

fn interface(id: &str, instance: &str, groups: &[&str]) -> InterfaceInfo {
    InterfaceInfo {
        id: id.to_owned(),
        name: String::new(),
        status: "InUse".to_owned(),
        kind: "Primary".to_owned(),
        vpc_id: "vpc-blast".to_owned(),
        vswitch_id: "vsw-blast".to_owned(),
        instance_id: instance.to_owned(),
        private_addresses: Vec::new(),
        public_address: None,
        security_group_ids: groups.iter().map(|g| (*g).to_owned()).collect(),
    }
}

/// The plan of `policy` (one file) against `live`.
fn plan_of(policy: &str, live: &[LiveGroup]) -> Plan {
    let set = moat_policy::load_policy_str("blast.yaml", policy)
        .unwrap_or_else(|d| panic!("the policy loads: {d:?}"));
    moat_diff::diff(
        &set,
        live,
        &DiffOptions::new(jiff::civil::date(2026, 11, 25)),
    )
}

/// The database group gains MySQL from anywhere, at priority 10.
const OPEN_MYSQL: &str = "\
version: 1
security_groups:
  - id: sg-bp1blastdb0000001
    region: cn-hangzhou
    mode: additive
    ingress:
      - description: MySQL for everyone
        allow: tcp/3306
        from: 0.0.0.0/0
        priority: 10
";

fn carried(index: usize, interfaces: Vec<InterfaceInfo>) -> BTreeMap<usize, Vec<InterfaceInfo>> {
    BTreeMap::from([(index, interfaces)])
}

#[test]
fn a_drop_of_another_group_at_a_higher_priority_keeps_that_instance_out_of_the_note() {
    let db = group(DB, GroupType::Normal, Vec::new());
    let firewall = group(
        FIREWALL,
        GroupType::Normal,
        vec![rule(
            Direction::Ingress,
            3306,
            "0.0.0.0/0",
            Verdict::Drop,
            1,
        )],
    );
    let mut plan = plan_of(OPEN_MYSQL, std::slice::from_ref(&db));
    // The group alone: a new public exposure.
    let change = &plan.groups[0].changes[0];
    assert_eq!(change.exposure[0].kind, ExposureKind::NewPublicExposure);
    let interfaces = vec![
        interface("eni-1", "i-guarded", &[DB, FIREWALL]),
        interface("eni-2", "i-open-b", &[DB]),
        interface("eni-3", "i-open-a", &[FIREWALL, DB]),
        interface("eni-4", "i-open-c", &[DB]),
    ];
    // eni-3 carries the firewall too: it is guarded as well, whatever the
    // order the interface lists its groups in.
    compute_blast_radius(&mut plan, &[db, firewall], &carried(0, interfaces)).expect("computed");
    let b = plan.groups[0]
        .blast_radius
        .as_ref()
        .expect("a blast radius");
    assert_eq!(b.instance_count, 4);
    assert_eq!(b.interfaces, 4);
    assert_eq!(
        b.instances,
        ["i-guarded", "i-open-a", "i-open-b", "i-open-c"]
    );
    assert_eq!(b.notes.len(), 1, "{:?}", b.notes);
    let note = &b.notes[0];
    assert_eq!(note.kind, ExposureKind::NewPublicExposure);
    assert_eq!(note.note, "new public exposure: tcp/3306 from 0.0.0.0/0");
    assert_eq!(note.key, plan.groups[0].changes[0].key);
    assert_eq!(note.instances, ["i-open-b", "i-open-c"]);
    assert_eq!(note.instance_count, 2);
    assert_eq!(note.interfaces, 2);
}

#[test]
fn a_drop_at_a_lower_priority_does_not_stop_the_opening() {
    let db = group(DB, GroupType::Normal, Vec::new());
    let firewall = group(
        FIREWALL,
        GroupType::Normal,
        vec![rule(
            Direction::Ingress,
            3306,
            "0.0.0.0/0",
            Verdict::Drop,
            50,
        )],
    );
    let mut plan = plan_of(OPEN_MYSQL, std::slice::from_ref(&db));
    let interfaces = vec![interface("eni-1", "i-1", &[DB, FIREWALL])];
    compute_blast_radius(&mut plan, &[db, firewall], &carried(0, interfaces)).expect("computed");
    let b = plan.groups[0]
        .blast_radius
        .as_ref()
        .expect("a blast radius");
    assert_eq!(b.notes.len(), 1);
    assert_eq!(b.notes[0].instances, ["i-1"]);
}

#[test]
fn another_group_opening_part_of_the_range_first_narrows_the_note() {
    let db = group(DB, GroupType::Normal, Vec::new());
    let partial = group(
        FIREWALL,
        GroupType::Normal,
        vec![rule(
            Direction::Ingress,
            3306,
            "0.0.0.0/1",
            Verdict::Accept,
            1,
        )],
    );
    let mut plan = plan_of(OPEN_MYSQL, std::slice::from_ref(&db));
    let interfaces = vec![interface("eni-1", "i-1", &[DB, FIREWALL])];
    compute_blast_radius(&mut plan, &[db, partial], &carried(0, interfaces)).expect("computed");
    let b = plan.groups[0]
        .blast_radius
        .as_ref()
        .expect("a blast radius");
    assert_eq!(
        b.notes[0].note,
        "new public exposure: tcp/3306 from 128.0.0.0/1"
    );
}

/// The egress group loses its only rule, https to anywhere.
const CLOSE_HTTPS_OUT: &str = "\
version: 1
security_groups:
  - id: sg-bp1blasteg0000001
    region: cn-hangzhou
    mode: authoritative
    egress: []
";

fn egress_case(group_type: GroupType, other: Option<LiveGroup>) -> moat_diff::BlastRadius {
    let eg = group(
        EGRESS,
        group_type,
        vec![rule(
            Direction::Egress,
            443,
            "0.0.0.0/0",
            Verdict::Accept,
            1,
        )],
    );
    let mut plan = plan_of(CLOSE_HTTPS_OUT, std::slice::from_ref(&eg));
    let mut groups = vec![eg];
    let mut on = vec![EGRESS];
    if let Some(o) = other {
        on.push(FIREWALL);
        groups.push(o);
    }
    let interfaces = vec![interface("eni-1", "i-1", &on)];
    compute_blast_radius(&mut plan, &groups, &carried(0, interfaces)).expect("computed");
    plan.groups[0].blast_radius.clone().expect("a blast radius")
}

#[test]
fn removing_an_egress_accept_closes_it_on_an_enterprise_interface_only() {
    // Basic: egress no rule matches is allowed anyway.
    let basic = egress_case(GroupType::Normal, None);
    assert_eq!(basic.instance_count, 1);
    assert!(basic.notes.is_empty(), "{:?}", basic.notes);

    // Enterprise: what no rule allows is denied both ways.
    let enterprise = egress_case(GroupType::Enterprise, None);
    assert_eq!(enterprise.notes.len(), 1, "{:?}", enterprise.notes);
    assert_eq!(enterprise.notes[0].kind, ExposureKind::Closes);
    assert_eq!(enterprise.notes[0].note, "closes tcp/443 to 0.0.0.0/0");
    assert_eq!(enterprise.notes[0].instances, ["i-1"]);

    // Another enterprise group of the interface still allows it.
    let allowed = egress_case(
        GroupType::Enterprise,
        Some(group(
            FIREWALL,
            GroupType::Enterprise,
            vec![rule(
                Direction::Egress,
                443,
                "0.0.0.0/0",
                Verdict::Accept,
                1,
            )],
        )),
    );
    assert!(allowed.notes.is_empty(), "{:?}", allowed.notes);
}

#[test]
fn interfaces_without_an_instance_count_as_interfaces_only() {
    let db = group(DB, GroupType::Normal, Vec::new());
    let mut plan = plan_of(OPEN_MYSQL, std::slice::from_ref(&db));
    let interfaces = vec![
        interface("eni-1", "i-1", &[DB]),
        interface("eni-2", "i-1", &[DB]),
        interface("eni-3", "", &[DB]),
    ];
    compute_blast_radius(&mut plan, &[db], &carried(0, interfaces)).expect("computed");
    let b = plan.groups[0]
        .blast_radius
        .as_ref()
        .expect("a blast radius");
    assert_eq!((b.instance_count, b.interfaces), (1, 3));
    assert_eq!(b.notes[0].instances, ["i-1"]);
    assert_eq!(b.notes[0].interfaces, 3);
}

#[test]
fn a_group_of_an_interface_that_was_not_read_is_an_error() {
    let db = group(DB, GroupType::Normal, Vec::new());
    let mut plan = plan_of(OPEN_MYSQL, std::slice::from_ref(&db));
    let interfaces = vec![interface("eni-1", "i-1", &[DB, FIREWALL])];
    let e = compute_blast_radius(&mut plan, &[db], &carried(0, interfaces)).unwrap_err();
    assert!(
        matches!(&e, BlastError::MissingGroup { group, interface } if group == FIREWALL && interface == "eni-1"),
        "{e:?}"
    );
    assert!(plan.groups[0].blast_radius.is_none(), "nothing half set");
}

#[test]
fn mixed_group_types_on_one_interface_are_an_error() {
    let db = group(DB, GroupType::Normal, Vec::new());
    let other = group(FIREWALL, GroupType::Enterprise, Vec::new());
    let mut plan = plan_of(OPEN_MYSQL, std::slice::from_ref(&db));
    let interfaces = vec![interface("eni-1", "i-1", &[DB, FIREWALL])];
    let e = compute_blast_radius(&mut plan, &[db, other], &carried(0, interfaces)).unwrap_err();
    assert!(matches!(e, BlastError::Mixed { .. }), "{e:?}");
}
