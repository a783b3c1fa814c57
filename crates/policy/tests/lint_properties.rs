//! Properties of ECS evaluation and lint over random rule sets: the cells
//! `eval::cells` decides agree with `eval::decide` on flows inside them (also
//! when split over two rule sets and decided against each, as plan exposure
//! notes do), the combined evaluation of an interface's groups decides one
//! basic group exactly as the single-group evaluation does and agrees with
//! the cells of all its groups' rules, and lint never panics and reports in
//! a stable order.

use ipnet::IpNet;
use moat_policy::eval::{self, Flow, GroupOnInterface, Interface, PeerGroups, Space};
use moat_policy::{
    DesiredRule, Direction, GroupPolicy, GroupType, LintIgnore, Mode, NicType, Origin, Peer,
    PolicySet, PortRange, Protocol, Rule, RuleKey, Verdict,
};
use proptest::prelude::*;

/// A small universe of networks so that rules overlap often, public and
/// private, IPv4 only (cells are per family).
const NETS: &[&str] = &[
    "0.0.0.0/0",
    "0.0.0.0/1",
    "8.0.0.0/8",
    "8.8.0.0/16",
    "8.8.8.0/24",
    "10.0.0.0/8",
    "10.1.0.0/16",
    "128.0.0.0/2",
    "198.51.100.0/24",
    "203.0.113.0/28",
];

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        3 => Just(Protocol::Tcp),
        1 => Just(Protocol::Udp),
        1 => Just(Protocol::Icmp),
        2 => Just(Protocol::All),
    ]
}

fn ports() -> impl Strategy<Value = PortRange> {
    prop_oneof![
        Just(PortRange::single(22)),
        Just(PortRange::single(3306)),
        Just(PortRange::ALL_PORTS),
        (1u16..4000, 0u16..2000).prop_map(|(from, w)| PortRange::Range {
            from,
            to: from.saturating_add(w)
        }),
    ]
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        protocol(),
        ports(),
        0..NETS.len(),
        any::<bool>(),
        1u8..=4,
        any::<bool>(),
    )
        .prop_map(|(protocol, ports, net, accept, priority, ingress)| Rule {
            key: RuleKey {
                direction: if ingress {
                    Direction::Ingress
                } else {
                    Direction::Egress
                },
                protocol,
                ports: if protocol.takes_ports() {
                    ports
                } else {
                    PortRange::NotApplicable
                },
                peer: Peer::cidr(NETS[net].parse().expect("valid network")),
                verdict: if accept {
                    Verdict::Accept
                } else {
                    Verdict::Drop
                },
                nic_type: NicType::Intranet,
                source_ports: None,
                local: None,
            },
            priority,
            description: String::new(),
        })
}

fn addr_of(v: u128) -> std::net::IpAddr {
    std::net::IpAddr::V4(std::net::Ipv4Addr::from(
        u32::try_from(v).unwrap_or(u32::MAX),
    ))
}

/// A rule of [`rule`], or now and then one whose peer is a security group.
fn rule_or_group_rule() -> impl Strategy<Value = Rule> {
    (rule(), 0u8..6).prop_map(|(mut r, g)| {
        if g == 0 {
            r.key.peer = Peer::group("sg-app");
        }
        r
    })
}

/// Addresses in and around [`NETS`], and IPv4-mapped forms of some.
const ADDRS: &[&str] = &[
    "0.0.0.1",
    "8.8.8.8",
    "8.8.9.1",
    "9.0.0.1",
    "10.1.2.3",
    "10.2.0.1",
    "130.0.0.1",
    "198.51.100.7",
    "203.0.113.5",
    "203.0.113.20",
    "::ffff:8.8.8.8",
    "::ffff:10.1.2.3",
    "2001:db8::1",
];

fn flow() -> impl Strategy<Value = Flow> {
    (
        any::<bool>(),
        protocol(),
        prop_oneof![
            Just(None),
            Just(Some(22)),
            Just(Some(3306)),
            (1u16..5000).prop_map(Some)
        ],
        0..ADDRS.len(),
    )
        .prop_map(|(ingress, protocol, port, a)| {
            let direction = if ingress {
                Direction::Ingress
            } else {
                Direction::Egress
            };
            let port = if protocol.takes_ports() { port } else { None };
            Flow::new(
                direction,
                protocol,
                port,
                ADDRS[a].parse().expect("valid address"),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn one_basic_group_on_an_interface_decides_like_the_group(
        rules in proptest::collection::vec(rule_or_group_rule(), 0..12),
        flow in flow(),
        peer_known in any::<bool>(),
    ) {
        let refs: Vec<&Rule> = rules.iter().collect();
        let iface = Interface::single_basic("sg-web", refs.iter().copied());
        // An other end that is not an instance of the group, known or not.
        let others = ["sg-other".to_owned()];
        let peer = if peer_known { PeerGroups::Known(&others) } else { PeerGroups::Unknown };
        let single = eval::decide(refs.iter().copied(), &flow);
        let combined = eval::decide_interface(&iface, &flow, peer);
        prop_assert_eq!(combined.verdict, single.verdict, "{:?}", flow);
        prop_assert!(
            match (combined.rule(), single.rule) {
                (Some(a), Some(b)) => std::ptr::eq(a, b),
                (None, None) => true,
                _ => false,
            },
            "{:?}: {:?} vs {:?}", flow, combined, single
        );
        prop_assert_eq!(combined.group(), single.rule.map(|_| "sg-web"));

        let e = eval::explain(refs.iter().copied(), &flow);
        let ce = eval::explain_interface(&iface, &flow, PeerGroups::Unknown);
        let rules_of = |v: &[eval::GroupRule<'_>]| v.iter().map(|gr| gr.rule.clone()).collect::<Vec<_>>();
        let plain = |v: &[&Rule]| v.iter().map(|r| (*r).clone()).collect::<Vec<_>>();
        prop_assert_eq!(rules_of(&ce.overridden), plain(&e.overridden));
        prop_assert_eq!(rules_of(&ce.undecidable), plain(&e.undecidable));
    }

    #[test]
    fn cells_of_an_interface_agree_with_its_combined_decision(
        a in proptest::collection::vec(rule(), 0..6),
        b in proptest::collection::vec(rule(), 0..6),
        enterprise in any::<bool>(),
        all in any::<bool>(),
        ingress in any::<bool>(),
    ) {
        let group_type = if enterprise { GroupType::Enterprise } else { GroupType::Normal };
        let iface = Interface::new(vec![
            GroupOnInterface::new("sg-a", group_type, &a),
            GroupOnInterface::new("sg-b", group_type, &b),
        ]).expect("one type");
        let direction = if ingress { Direction::Ingress } else { Direction::Egress };
        let space = Space {
            direction,
            nic_type: NicType::Intranet,
            protocol: if all { Protocol::All } else { Protocol::Tcp },
            ports: PortRange::NotApplicable,
            peer: "0.0.0.0/0".parse::<IpNet>().expect("valid network"),
        };
        let cells = eval::cells_under(&iface.all_rules(), &space, 100_000, iface.defaults())
            .expect("small input");
        for cell in &cells {
            let port_points = match cell.ports {
                PortRange::Range { from, to } => vec![Some(from), Some(to)],
                PortRange::NotApplicable => vec![None],
            };
            for port in port_points {
                for addr in [cell.addresses.first, cell.addresses.last] {
                    let flow = Flow::new(direction, cell.protocol, port, addr_of(addr));
                    let d = eval::decide_interface(&iface, &flow, PeerGroups::Unknown);
                    prop_assert_eq!(d.verdict, cell.decision.verdict, "{:?} {:?}", flow, cell);
                    prop_assert_eq!(d.rule().map(|r| r.priority), cell.decision.rule.map(|r| r.priority));
                }
            }
        }
    }

    #[test]
    fn cells_agree_with_decide(
        rules in proptest::collection::vec(rule(), 0..10),
        all in any::<bool>(),
        ingress in any::<bool>(),
    ) {
        let refs: Vec<&Rule> = rules.iter().collect();
        let direction = if ingress { Direction::Ingress } else { Direction::Egress };
        let space = Space {
            direction,
            nic_type: NicType::Intranet,
            protocol: if all { Protocol::All } else { Protocol::Tcp },
            ports: PortRange::NotApplicable,
            peer: "0.0.0.0/0".parse::<IpNet>().expect("valid network"),
        };
        let cells = eval::cells(&refs, &space, 100_000).expect("small input");
        for cell in &cells {
            let port_points = match cell.ports {
                PortRange::Range { from, to } => vec![Some(from), Some(to)],
                PortRange::NotApplicable => vec![None],
            };
            for port in port_points {
                for a in [cell.addresses.first, cell.addresses.last] {
                    let flow = Flow::new(direction, cell.protocol, port, addr_of(a));
                    let d = eval::decide(refs.iter().copied(), &flow);
                    prop_assert_eq!(d.verdict, cell.decision.verdict, "{:?} {:?}", flow, cell);
                    prop_assert_eq!(
                        d.rule.map(|r| r.priority),
                        cell.decision.rule.map(|r| r.priority)
                    );
                }
            }
        }
    }

    #[test]
    fn one_split_decides_both_of_two_rule_sets(
        before in proptest::collection::vec(rule(), 0..8),
        after in proptest::collection::vec(rule(), 0..8),
        all in any::<bool>(),
        ingress in any::<bool>(),
    ) {
        let direction = if ingress { Direction::Ingress } else { Direction::Egress };
        let space = Space {
            direction,
            nic_type: NicType::Intranet,
            protocol: if all { Protocol::All } else { Protocol::Tcp },
            ports: PortRange::NotApplicable,
            peer: "0.0.0.0/0".parse::<IpNet>().expect("valid network"),
        };
        let both: Vec<&Rule> = before.iter().chain(&after).collect();
        let cells = eval::cells(&both, &space, 100_000).expect("small input");
        for cell in &cells {
            let port_points = match cell.ports {
                PortRange::Range { from, to } => vec![Some(from), Some(to)],
                PortRange::NotApplicable => vec![None],
            };
            for rules in [&before, &after] {
                let d = cell.decide_against(rules.iter(), direction, NicType::Intranet);
                for port in &port_points {
                    for a in [cell.addresses.first, cell.addresses.last] {
                        let flow = Flow::new(direction, cell.protocol, *port, addr_of(a));
                        let e = eval::decide(rules.iter(), &flow);
                        prop_assert_eq!(d.verdict, e.verdict, "{:?} {:?}", flow, cell);
                        prop_assert_eq!(d.rule.map(|r| r.priority), e.rule.map(|r| r.priority));
                    }
                }
            }
        }
    }

    #[test]
    fn lint_never_panics_and_is_sorted(
        rules in proptest::collection::vec((rule(), any::<bool>(), 0u8..4), 0..24),
        day in 0i8..28,
    ) {
        let mut desired: Vec<DesiredRule> = Vec::new();
        for (i, (rule, described, extra)) in rules.into_iter().enumerate() {
            if desired.iter().any(|d| d.rule.key == rule.key) {
                continue;
            }
            let mut rule = rule;
            if described {
                rule.description = format!("rule {i}");
            }
            desired.push(DesiredRule {
                rule,
                origin: Origin { file: "p.yaml".into(), line: u32::try_from(i).unwrap_or(0) + 1, column: 9 },
                service_name: None,
                peer_name: (extra == 1).then(|| "set".into()),
                protected: false,
                expires: (extra == 2).then(|| jiff::civil::date(2026, 6, 10)),
                lint_ignore: (extra == 3).then(|| LintIgnore {
                    codes: vec!["MOAT001".into(), "MOAT005".into(), "MOAT042".into()],
                    reason: "test".into(),
                }),
            });
        }
        desired.sort_by(|a, b| a.rule.key.cmp(&b.rule.key));
        let set = PolicySet {
            groups: vec![GroupPolicy {
                id: "sg-bp1prop000000001".into(),
                region: "cn-hangzhou".into(),
                name: None,
                mode: Mode::Authoritative,
                group_type: None,
                account: None,
                stage: None,
                origin: Origin { file: "p.yaml".into(), line: 1, column: 3 },
                rules: desired,
            }],
            protect: Vec::new(),
            ..Default::default()
        };
        let today = jiff::civil::date(2026, 6, 1 + day);
        let findings = moat_policy::lint::lint(&set, today);
        let again = moat_policy::lint::lint(&set, today);
        prop_assert_eq!(&findings, &again);
        for pair in findings.windows(2) {
            let key = |f: &moat_policy::lint::Finding| {
                (f.diagnostic.origin.clone(), f.diagnostic.code, f.diagnostic.message.clone())
            };
            prop_assert!(key(&pair[0]) <= key(&pair[1]));
        }
        for f in &findings {
            prop_assert!(moat_policy::codes::lint_severity(f.diagnostic.code).is_some());
            prop_assert!(f.diagnostic.hint.is_some());
        }
    }
}
