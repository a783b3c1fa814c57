//! Tests of the combined evaluation of an interface's groups, and of
//! IPv4-mapped IPv6 addresses in single-group evaluation.

use std::net::IpAddr;

use super::*;
use crate::model::{
    Direction, GroupType, InnerAccessPolicy, NicType, Peer, PortRange, Protocol, Rule, RuleKey,
    Verdict,
};

fn rule(direction: Direction, verdict: Verdict, service: &str, peer: &str, prio: u8) -> Rule {
    let (protocol, ports) = match service.split_once('/') {
        Some((p, port)) => (
            Protocol::parse(p).unwrap(),
            PortRange::single(port.parse().unwrap()),
        ),
        None => (Protocol::parse(service).unwrap(), PortRange::NotApplicable),
    };
    let peer = if peer.starts_with("sg-") {
        Peer::group(peer)
    } else {
        Peer::cidr(peer.parse().unwrap())
    };
    Rule {
        key: RuleKey {
            direction,
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

fn ingress(verdict: Verdict, service: &str, peer: &str, prio: u8) -> Rule {
    rule(Direction::Ingress, verdict, service, peer, prio)
}

fn flow(direction: Direction, port: u16, addr: &str) -> Flow {
    Flow::new(direction, Protocol::Tcp, Some(port), addr.parse().unwrap())
}

fn ssh_from(addr: &str) -> Flow {
    flow(Direction::Ingress, 22, addr)
}

fn basic<'a>(id: &'a str, rules: &'a [Rule]) -> GroupOnInterface<'a> {
    GroupOnInterface::new(id, GroupType::Normal, rules)
}

fn enterprise<'a>(id: &'a str, rules: &'a [Rule]) -> GroupOnInterface<'a> {
    GroupOnInterface::new(id, GroupType::Enterprise, rules)
}

fn iface<'a>(groups: Vec<GroupOnInterface<'a>>) -> Interface<'a> {
    Interface::new(groups).unwrap()
}

#[test]
fn priorities_order_the_rules_of_all_groups_together() {
    // Group A opens SSH to everyone late; group B closes 8.0.0.0/8 early.
    let a = [ingress(Verdict::Accept, "tcp/22", "0.0.0.0/0", 50)];
    let b = [ingress(Verdict::Drop, "tcp/22", "8.0.0.0/8", 10)];
    let i = iface(vec![basic("sg-a", &a), basic("sg-b", &b)]);
    let d = decide_interface(&i, &ssh_from("8.8.8.8"), PeerGroups::Unknown);
    assert_eq!(d.verdict, Verdict::Drop);
    assert_eq!(d.group(), Some("sg-b"));
    assert_eq!(d.rule(), Some(&b[0]));
    let d = decide_interface(&i, &ssh_from("9.9.9.9"), PeerGroups::Unknown);
    assert_eq!((d.verdict, d.group()), (Verdict::Accept, Some("sg-a")));
    // A better accept in the other group wins over the drop.
    let c = [ingress(Verdict::Accept, "tcp/22", "8.8.8.0/24", 5)];
    let i = iface(vec![
        basic("sg-a", &a),
        basic("sg-b", &b),
        basic("sg-c", &c),
    ]);
    let d = decide_interface(&i, &ssh_from("8.8.8.8"), PeerGroups::Unknown);
    assert_eq!((d.verdict, d.group()), (Verdict::Accept, Some("sg-c")));
}

#[test]
fn a_drop_wins_a_tie_across_groups_in_either_order() {
    let a = [ingress(Verdict::Accept, "tcp/22", "0.0.0.0/0", 5)];
    let b = [ingress(Verdict::Drop, "tcp/22", "0.0.0.0/0", 5)];
    for i in [
        iface(vec![basic("sg-a", &a), basic("sg-b", &b)]),
        iface(vec![basic("sg-b", &b), basic("sg-a", &a)]),
    ] {
        let d = decide_interface(&i, &ssh_from("8.8.8.8"), PeerGroups::Unknown);
        assert_eq!((d.verdict, d.group()), (Verdict::Drop, Some("sg-b")));
        let e = explain_interface(&i, &ssh_from("8.8.8.8"), PeerGroups::Unknown);
        assert_eq!(
            e.overridden,
            [GroupRule {
                group: "sg-a",
                rule: &a[0]
            }]
        );
    }
    // The same rule in two groups: the group listed first is named.
    let twin = a.clone();
    let i = iface(vec![basic("sg-b", &twin), basic("sg-a", &a)]);
    let d = decide_interface(&i, &ssh_from("8.8.8.8"), PeerGroups::Unknown);
    assert_eq!(d.group(), Some("sg-b"));
}

#[test]
fn enterprise_groups_deny_both_directions_by_default() {
    let none: [Rule; 0] = [];
    let i = iface(vec![enterprise("sg-e", &none)]);
    for direction in Direction::ALL {
        let d = decide_interface(&i, &flow(direction, 443, "8.8.8.8"), PeerGroups::Unknown);
        assert_eq!(
            d,
            InterfaceDecision {
                verdict: Verdict::Drop,
                decider: Decider::Default {
                    group_type: GroupType::Enterprise
                }
            },
            "{direction}"
        );
    }
    // A basic group allows egress by default and denies ingress.
    let i = iface(vec![basic("sg-b", &none)]);
    let out = decide_interface(
        &i,
        &flow(Direction::Egress, 443, "8.8.8.8"),
        PeerGroups::Unknown,
    );
    assert_eq!(out.verdict, Verdict::Accept);
    let inbound = decide_interface(&i, &ssh_from("8.8.8.8"), PeerGroups::Unknown);
    assert_eq!(inbound.verdict, Verdict::Drop);
    // An enterprise egress rule opens what it names, nothing else.
    let out = [rule(
        Direction::Egress,
        Verdict::Accept,
        "tcp/443",
        "0.0.0.0/0",
        1,
    )];
    let i = iface(vec![enterprise("sg-e", &out)]);
    let https = decide_interface(
        &i,
        &flow(Direction::Egress, 443, "8.8.8.8"),
        PeerGroups::Unknown,
    );
    assert_eq!(
        (https.verdict, https.group()),
        (Verdict::Accept, Some("sg-e"))
    );
    let http = decide_interface(
        &i,
        &flow(Direction::Egress, 80, "8.8.8.8"),
        PeerGroups::Unknown,
    );
    assert_eq!(http.verdict, Verdict::Drop);
    assert_eq!(i.defaults(), Defaults::ENTERPRISE);
}

#[test]
fn groups_of_both_types_cannot_share_an_interface() {
    let none: [Rule; 0] = [];
    let err = Interface::new(vec![basic("sg-b", &none), enterprise("sg-e", &none)]).unwrap_err();
    assert_eq!(
        err,
        MixedGroupTypes {
            normal: "sg-b".into(),
            enterprise: "sg-e".into()
        }
    );
}

#[test]
fn inner_access_accept_lets_members_in_before_any_rule() {
    let deny_all = [ingress(Verdict::Drop, "all", "0.0.0.0/0", 1)];
    let members = ["sg-a".to_owned(), "sg-x".to_owned()];
    let i = iface(vec![basic("sg-a", &deny_all)]);
    let d = decide_interface(&i, &ssh_from("10.0.0.5"), PeerGroups::Known(&members));
    assert_eq!(
        d,
        InterfaceDecision {
            verdict: Verdict::Accept,
            decider: Decider::InnerAccess { group: "sg-a" }
        }
    );
    // Members reach each other outbound too, whatever the rules say.
    let deny_out = [rule(
        Direction::Egress,
        Verdict::Drop,
        "all",
        "0.0.0.0/0",
        1,
    )];
    let i = iface(vec![basic("sg-a", &deny_out)]);
    let d = decide_interface(
        &i,
        &flow(Direction::Egress, 5432, "10.0.0.5"),
        PeerGroups::Known(&members),
    );
    assert_eq!(d.decider, Decider::InnerAccess { group: "sg-a" });

    // Not a member, or not known to be one: the rules decide.
    let i = iface(vec![basic("sg-a", &deny_all)]);
    let others = ["sg-x".to_owned()];
    for peer in [PeerGroups::Known(&others), PeerGroups::Unknown] {
        let d = decide_interface(&i, &ssh_from("10.0.0.5"), peer);
        assert_eq!((d.verdict, d.rule()), (Verdict::Drop, Some(&deny_all[0])));
    }
    // Over the internet NIC there is no inner access.
    let mut public = ssh_from("10.0.0.5");
    public.nic_type = NicType::Internet;
    let d = decide_interface(&i, &public, PeerGroups::Known(&members));
    assert_eq!(d.verdict, Verdict::Drop);

    // InnerAccessPolicy=Drop isolates members: only rules let them in.
    let none: [Rule; 0] = [];
    let i = iface(vec![
        basic("sg-a", &none).with_inner_access(InnerAccessPolicy::Drop),
    ]);
    let d = decide_interface(&i, &ssh_from("10.0.0.5"), PeerGroups::Known(&members));
    assert_eq!(
        d.decider,
        Decider::Default {
            group_type: GroupType::Normal
        }
    );
    let own = [ingress(Verdict::Accept, "tcp/22", "sg-a", 1)];
    let i = iface(vec![
        basic("sg-a", &own).with_inner_access(InnerAccessPolicy::Drop),
    ]);
    let d = decide_interface(&i, &ssh_from("10.0.0.5"), PeerGroups::Known(&members));
    assert_eq!((d.verdict, d.rule()), (Verdict::Accept, Some(&own[0])));

    // An enterprise group never admits its members, whatever was read.
    let i = iface(vec![
        enterprise("sg-a", &none).with_inner_access(InnerAccessPolicy::Accept),
    ]);
    let d = decide_interface(&i, &ssh_from("10.0.0.5"), PeerGroups::Known(&members));
    assert_eq!(d.verdict, Verdict::Drop);
}

#[test]
fn explain_says_what_an_unknown_other_end_could_change() {
    let app = [ingress(Verdict::Accept, "tcp/3306", "sg-app", 1)];
    let i = iface(vec![basic("sg-db", &app)]);
    let mysql = flow(Direction::Ingress, 3306, "10.0.0.7");
    let e = explain_interface(&i, &mysql, PeerGroups::Unknown);
    assert_eq!(e.decision.verdict, Verdict::Drop);
    assert_eq!(
        e.undecidable,
        [GroupRule {
            group: "sg-db",
            rule: &app[0]
        }]
    );
    // A private address could be an instance of sg-db itself.
    assert_eq!(e.if_member, ["sg-db"]);
    // A public one cannot, and a known other end is decided exactly.
    let e = explain_interface(
        &i,
        &flow(Direction::Ingress, 3306, "8.8.8.8"),
        PeerGroups::Unknown,
    );
    assert!(e.if_member.is_empty());
    let app_members = ["sg-app".to_owned()];
    let e = explain_interface(&i, &mysql, PeerGroups::Known(&app_members));
    assert_eq!(
        (e.decision.verdict, e.decision.group()),
        (Verdict::Accept, Some("sg-db"))
    );
    assert!(e.undecidable.is_empty() && e.if_member.is_empty());
}

#[test]
fn an_interface_splits_into_cells_with_its_groups_defaults() {
    let out = [rule(
        Direction::Egress,
        Verdict::Accept,
        "tcp/443",
        "8.0.0.0/8",
        1,
    )];
    let i = iface(vec![enterprise("sg-e", &out)]);
    let space = Space {
        direction: Direction::Egress,
        nic_type: NicType::Intranet,
        protocol: Protocol::Tcp,
        ports: PortRange::single(443),
        peer: "0.0.0.0/0".parse().unwrap(),
    };
    let split = cells_under(&i.all_rules(), &space, 100, i.defaults()).unwrap();
    let verdicts: Vec<Verdict> = split.iter().map(|c| c.decision.verdict).collect();
    assert_eq!(verdicts, [Verdict::Drop, Verdict::Accept, Verdict::Drop]);
    let d = split[0].decide_against_under([], Direction::Egress, NicType::Intranet, i.defaults());
    assert_eq!(d.verdict, Verdict::Drop);
    // The basic default for the same space accepts the rest.
    let split = cells(&i.all_rules(), &space, 100).unwrap();
    assert!(split.iter().all(|c| c.decision.verdict == Verdict::Accept));
}

#[test]
fn ipv4_mapped_ipv6_stands_for_the_ipv4_it_maps_to() {
    let net = |s: &str| s.parse::<ipnet::IpNet>().unwrap();
    let addr = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(unmap_net(net("::ffff:0:0/96")), net("0.0.0.0/0"));
    assert_eq!(unmap_net(net("::ffff:10.0.0.0/104")), net("10.0.0.0/8"));
    assert_eq!(unmap_net(net("::ffff:8.8.8.8/128")), net("8.8.8.8/32"));
    // Wider networks and other IPv6 stay what they are.
    for n in ["::/0", "::ffff:0:0/95", "2001:db8::/32", "::1:0:0/96"] {
        assert_eq!(unmap_net(net(n)), net(n), "{n}");
    }
    assert_eq!(unmap(addr("::ffff:8.8.8.8")), addr("8.8.8.8"));
    assert_eq!(unmap(addr("2001:db8::1")), addr("2001:db8::1"));
    assert!(!is_public(addr("::ffff:10.1.2.3")));
    assert!(is_public(addr("::ffff:8.8.8.8")));
    assert_eq!(
        AddrRange::of(net("::ffff:0:0/96")),
        AddrRange::of(net("0.0.0.0/0"))
    );

    let mapped = ingress(Verdict::Accept, "tcp/22", "::ffff:0.0.0.0/96", 1);
    let v4 = ingress(Verdict::Accept, "tcp/22", "0.0.0.0/0", 1);
    let v6 = ingress(Verdict::Accept, "tcp/22", "::/0", 1);
    assert_eq!(decide([&mapped], &ssh_from("8.8.8.8")).rule, Some(&mapped));
    assert_eq!(decide([&v4], &ssh_from("::ffff:8.8.8.8")).rule, Some(&v4));
    // An IPv4 flow is never matched by a plain IPv6 rule.
    assert_eq!(decide([&v6], &ssh_from("8.8.8.8")).rule, None);
    let e = explain([&mapped, &v6], &ssh_from("::ffff:8.8.8.8"));
    assert_eq!(e.decision.rule, Some(&mapped));
}
