//! Tests of single-group evaluation, address arithmetic and cells.

use std::net::IpAddr;

use super::*;
use crate::model::{Direction, NicType, Peer, PortRange, Protocol, Rule, RuleKey, Verdict};

fn rule(verdict: Verdict, protocol: Protocol, ports: PortRange, peer: &str, prio: u8) -> Rule {
    let peer = if peer.starts_with("sg-") {
        Peer::group(peer)
    } else if peer.starts_with("pl-") {
        Peer::PrefixList { id: peer.into() }
    } else {
        Peer::cidr(peer.parse().unwrap())
    };
    Rule {
        key: RuleKey {
            direction: Direction::Ingress,
            protocol,
            ports,
            peer,
            verdict,
            nic_type: NicType::Intranet,
            source_ports: None,
            local: None,
        },
        priority: prio,
        description: String::new(),
    }
}

fn tcp(port: u16) -> PortRange {
    PortRange::single(port)
}

fn ssh_from(addr: &str) -> Flow {
    Flow::new(
        Direction::Ingress,
        Protocol::Tcp,
        Some(22),
        addr.parse().unwrap(),
    )
}

#[test]
fn lowest_priority_number_wins_and_drop_wins_ties() {
    let accept = rule(Verdict::Accept, Protocol::Tcp, tcp(22), "0.0.0.0/0", 100);
    let drop1 = rule(
        Verdict::Drop,
        Protocol::All,
        PortRange::NotApplicable,
        "0.0.0.0/0",
        1,
    );
    let d = decide([&accept, &drop1], &ssh_from("8.8.8.8"));
    assert_eq!(d.verdict, Verdict::Drop);
    assert_eq!(d.rule, Some(&drop1));

    let drop_late = rule(Verdict::Drop, Protocol::Tcp, tcp(22), "0.0.0.0/0", 100);
    let accept_early = rule(Verdict::Accept, Protocol::Tcp, tcp(22), "0.0.0.0/0", 50);
    let d = decide([&drop_late, &accept_early], &ssh_from("8.8.8.8"));
    assert_eq!(d.rule, Some(&accept_early));

    // Equal priority: drop wins whatever the order.
    let d = decide([&accept, &drop_late], &ssh_from("8.8.8.8"));
    assert_eq!(d.rule, Some(&drop_late));
    let d = decide([&drop_late, &accept], &ssh_from("8.8.8.8"));
    assert_eq!(d.rule, Some(&drop_late));
}

#[test]
fn explain_names_overridden_rules_and_group_rules_it_cannot_check() {
    let office = rule(
        Verdict::Accept,
        Protocol::Tcp,
        tcp(22),
        "203.0.113.0/24",
        10,
    );
    let world = rule(Verdict::Accept, Protocol::Tcp, tcp(22), "0.0.0.0/0", 50);
    let mut bastion = rule(Verdict::Drop, Protocol::Tcp, tcp(22), "0.0.0.0/0", 1);
    bastion.key.peer = Peer::group("sg-bastion");
    let mut late_group = bastion.clone();
    late_group.priority = 90;
    let other_port = rule(Verdict::Accept, Protocol::Tcp, tcp(80), "0.0.0.0/0", 1);
    let rules = [&office, &world, &bastion, &late_group, &other_port];
    let e = explain(rules, &ssh_from("203.0.113.9"));
    assert_eq!(e.decision.rule, Some(&office));
    assert_eq!(e.overridden, [&world]);
    // Only the group rule evaluated before the decision could change it.
    assert_eq!(e.undecidable, [&bastion]);

    let e = explain(rules, &ssh_from("198.51.100.1"));
    assert_eq!(e.decision.rule, Some(&world));
    assert!(e.overridden.is_empty());
}

#[test]
fn defaults_deny_ingress_and_allow_egress() {
    let d = decide([], &ssh_from("8.8.8.8"));
    assert_eq!((d.verdict, d.rule), (Verdict::Drop, None));
    let mut flow = ssh_from("8.8.8.8");
    flow.direction = Direction::Egress;
    assert_eq!(decide([], &flow).verdict, Verdict::Accept);
}

#[test]
fn ipv6_all_protocols_and_port_ranges_match() {
    let v6 = rule(Verdict::Accept, Protocol::Tcp, tcp(22), "::/0", 1);
    assert_eq!(
        decide([&v6], &ssh_from("2001:db8::1")).verdict,
        Verdict::Accept
    );
    assert_eq!(decide([&v6], &ssh_from("8.8.8.8")).verdict, Verdict::Drop);
    let all = rule(
        Verdict::Accept,
        Protocol::All,
        PortRange::NotApplicable,
        "0.0.0.0/0",
        1,
    );
    let mut other = ssh_from("8.8.8.8");
    other.protocol = Protocol::All;
    other.port = None;
    assert_eq!(decide([&all], &other).verdict, Verdict::Accept);
    let wide = rule(
        Verdict::Accept,
        Protocol::Tcp,
        PortRange::Range { from: 1, to: 65535 },
        "0.0.0.0/0",
        1,
    );
    let mut mysql = ssh_from("8.8.8.8");
    mysql.port = Some(3306);
    assert_eq!(decide([&wide], &mysql).verdict, Verdict::Accept);
}

#[test]
fn group_and_prefix_list_peers_never_match_an_address() {
    let sg = rule(Verdict::Accept, Protocol::Tcp, tcp(22), "sg-bp1abc", 1);
    let pl = rule(Verdict::Accept, Protocol::Tcp, tcp(22), "pl-bp1abc", 1);
    let d = decide([&sg, &pl], &ssh_from("10.0.0.1"));
    assert_eq!((d.verdict, d.rule), (Verdict::Drop, None));
}

#[test]
fn quintuple_restrictions_need_the_flow_to_say() {
    let mut r = rule(Verdict::Accept, Protocol::Tcp, tcp(22), "0.0.0.0/0", 1);
    r.key.source_ports = Some(PortRange::single(1000));
    let mut flow = ssh_from("8.8.8.8");
    assert_eq!(decide([&r], &flow).verdict, Verdict::Drop);
    flow.source_port = Some(1000);
    assert_eq!(decide([&r], &flow).verdict, Verdict::Accept);
}

#[test]
fn public_parts_remove_private_ranges() {
    let all = AddrRange::of("0.0.0.0/0".parse().unwrap());
    let parts: Vec<String> = public_parts(all)
        .into_iter()
        .flat_map(AddrRange::to_cidrs)
        .map(|n| n.to_string())
        .collect();
    assert!(parts.contains(&"1.0.0.0/8".to_owned()), "{parts:?}");
    assert!(!parts.iter().any(|p| p.starts_with("10.")), "{parts:?}");
    for a in [
        "10.1.2.3",
        "192.168.0.1",
        "172.31.255.255",
        "fd00::1",
        "100.100.2.136",
        "::1",
    ] {
        assert!(!is_public(a.parse().unwrap()), "{a}");
    }
    for a in [
        "8.8.8.8",
        "172.32.0.0",
        "2001:db8::1",
        "203.0.113.4",
        "11.0.0.0",
    ] {
        assert!(is_public(a.parse().unwrap()), "{a}");
    }
    assert_eq!(
        public_count(AddrRange::of("10.0.0.0/8".parse().unwrap())),
        0
    );
    assert_eq!(
        public_count(AddrRange::of("203.0.113.0/28".parse().unwrap())),
        16
    );
    assert_eq!(
        public_count(AddrRange::of("::/0".parse().unwrap())),
        u128::MAX - (1u128 << 121) - (1u128 << 118) - 1
    );
}

#[test]
fn cells_split_and_decide_addresses() {
    let accept = rule(Verdict::Accept, Protocol::Tcp, tcp(22), "0.0.0.0/0", 100);
    let drop = rule(Verdict::Drop, Protocol::Tcp, tcp(22), "8.0.0.0/8", 1);
    let space = Space {
        direction: Direction::Ingress,
        nic_type: NicType::Intranet,
        protocol: Protocol::Tcp,
        ports: tcp(22),
        peer: "0.0.0.0/0".parse().unwrap(),
    };
    let cells = cells(&[&accept, &drop], &space, 100).unwrap();
    let summary: Vec<(String, Verdict)> = cells
        .iter()
        .map(|c| (c.addresses.to_cidrs()[0].to_string(), c.decision.verdict))
        .collect();
    assert_eq!(
        summary,
        [
            ("0.0.0.0/5".to_owned(), Verdict::Accept),
            ("8.0.0.0/8".to_owned(), Verdict::Drop),
            ("9.0.0.0/8".to_owned(), Verdict::Accept),
        ]
    );
    assert!(cells[0].matched_by(&accept, Direction::Ingress, NicType::Intranet));
    assert!(!cells[0].matched_by(&drop, Direction::Ingress, NicType::Intranet));
}

#[test]
fn cells_of_all_protocols_cover_every_protocol_and_port() {
    let all = rule(
        Verdict::Accept,
        Protocol::All,
        PortRange::NotApplicable,
        "0.0.0.0/0",
        1,
    );
    let drop = rule(
        Verdict::Drop,
        Protocol::Tcp,
        PortRange::Range { from: 20, to: 30 },
        "0.0.0.0/0",
        1,
    );
    let space = Space {
        direction: Direction::Ingress,
        nic_type: NicType::Intranet,
        protocol: Protocol::All,
        ports: PortRange::NotApplicable,
        peer: "0.0.0.0/0".parse().unwrap(),
    };
    let cells = cells(&[&all, &drop], &space, 100).unwrap();
    // tcp: 1-19, 20-30 (dropped), 31-65535; udp; icmp; icmpv6; gre; other.
    assert_eq!(cells.len(), 8, "{cells:#?}");
    assert_eq!(
        cells
            .iter()
            .filter(|c| c.decision.verdict == Verdict::Drop)
            .count(),
        1
    );
    assert!(super::cells(&[&all, &drop], &space, 3).is_err());
}

#[test]
fn ranges_become_the_fewest_cidrs() {
    let nets = |a: &str, b: &str| {
        let (a, b): (IpAddr, IpAddr) = (a.parse().unwrap(), b.parse().unwrap());
        let n = |x: IpAddr| match x {
            IpAddr::V4(v) => u128::from(u32::from(v)),
            IpAddr::V6(v) => u128::from(v),
        };
        AddrRange {
            v6: a.is_ipv6(),
            first: n(a),
            last: n(b),
        }
        .to_cidrs()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
    };
    assert_eq!(nets("0.0.0.0", "255.255.255.255"), ["0.0.0.0/0"]);
    assert_eq!(nets("10.0.0.0", "10.0.1.255"), ["10.0.0.0/23"]);
    assert_eq!(
        nets("10.0.0.1", "10.0.0.6"),
        ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
    );
    assert_eq!(
        nets("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ["::/0"]
    );
    assert_eq!(nets("11.0.0.0", "11.255.255.255"), ["11.0.0.0/8"]);
}

#[test]
fn one_split_over_two_rule_sets_decides_each() {
    // Before: SSH from everywhere. After: a drop of 8.0.0.0/8 in front.
    let accept = rule(Verdict::Accept, Protocol::Tcp, tcp(22), "0.0.0.0/0", 100);
    let drop = rule(Verdict::Drop, Protocol::Tcp, tcp(22), "8.0.0.0/8", 1);
    let space = Space {
        direction: Direction::Ingress,
        nic_type: NicType::Intranet,
        protocol: Protocol::Tcp,
        ports: tcp(22),
        peer: "0.0.0.0/0".parse().unwrap(),
    };
    let before = [&accept];
    let after = [&accept, &drop];
    let cells = cells(&[&accept, &drop], &space, 100).unwrap();
    let flips: Vec<(String, Verdict, Verdict)> = cells
        .iter()
        .map(|c| {
            let was = c.decide_against(before, Direction::Ingress, NicType::Intranet);
            let now = c.decide_against(after, Direction::Ingress, NicType::Intranet);
            // Against the rules it was split on, it agrees with `cells`.
            assert_eq!(now, c.decision);
            (
                c.addresses.to_cidrs()[0].to_string(),
                was.verdict,
                now.verdict,
            )
        })
        .collect();
    assert_eq!(
        flips,
        [
            ("0.0.0.0/5".to_owned(), Verdict::Accept, Verdict::Accept),
            ("8.0.0.0/8".to_owned(), Verdict::Accept, Verdict::Drop),
            ("9.0.0.0/8".to_owned(), Verdict::Accept, Verdict::Accept),
        ]
    );
    // No rules: the direction's default.
    let d = cells[0].decide_against([], Direction::Egress, NicType::Intranet);
    assert_eq!((d.verdict, d.rule), (Verdict::Accept, None));
}

#[test]
fn touches_only_rules_that_can_decide_the_space() {
    let space = Space {
        direction: Direction::Ingress,
        nic_type: NicType::Intranet,
        protocol: Protocol::Tcp,
        ports: tcp(22),
        peer: "10.0.0.0/8".parse().unwrap(),
    };
    let all = rule(
        Verdict::Drop,
        Protocol::All,
        PortRange::NotApplicable,
        "0.0.0.0/0",
        1,
    );
    assert!(space.touches(&all));
    assert!(space.touches(&rule(
        Verdict::Accept,
        Protocol::Tcp,
        PortRange::Range { from: 20, to: 30 },
        "10.1.0.0/16",
        1
    )));
    for other in [
        rule(Verdict::Accept, Protocol::Tcp, tcp(80), "10.0.0.0/8", 1),
        rule(Verdict::Accept, Protocol::Udp, tcp(22), "10.0.0.0/8", 1),
        rule(Verdict::Accept, Protocol::Tcp, tcp(22), "11.0.0.0/8", 1),
        rule(Verdict::Accept, Protocol::Tcp, tcp(22), "::/0", 1),
        rule(Verdict::Accept, Protocol::Tcp, tcp(22), "sg-bp1abc", 1),
    ] {
        assert!(!space.touches(&other), "{}", other.key);
    }
    let mut internet = all.clone();
    internet.key.nic_type = NicType::Internet;
    let mut egress = all.clone();
    egress.key.direction = Direction::Egress;
    // A drop the other end can get around by picking its source port.
    let mut sourced = all.clone();
    sourced.key.source_ports = Some(PortRange::single(1000));
    for other in [internet, egress, sourced] {
        assert!(!space.touches(&other), "{}", other.key);
    }
}

#[test]
fn merge_joins_touching_ranges() {
    let r = |a, b| AddrRange {
        v6: false,
        first: a,
        last: b,
    };
    assert_eq!(
        merge(vec![r(5, 9), r(0, 4), r(20, 30), r(25, 26)]),
        [r(0, 9), r(20, 30)]
    );
}
