//! Tests of network ACL evaluation: entries in order, both directions, the
//! stateless reply on ephemeral ports, and what the ACL never filters.

use std::net::IpAddr;

use super::*;
use crate::model::{Direction, PortRange, Protocol, Verdict};

fn entry(id: &str, verdict: Verdict, service: &str, cidr: &str) -> AclEntry {
    let (protocol, ports) = match service.split_once('/') {
        Some((p, ports)) => {
            let (from, to) = ports.split_once('-').unwrap_or((ports, ports));
            (
                Protocol::parse(p).unwrap(),
                PortRange::Range {
                    from: from.parse().unwrap(),
                    to: to.parse().unwrap(),
                },
            )
        }
        None => (Protocol::parse(service).unwrap(), PortRange::NotApplicable),
    };
    AclEntry {
        id: id.to_owned(),
        name: String::new(),
        verdict,
        protocol,
        ports,
        cidr: cidr.parse().unwrap(),
        description: String::new(),
    }
}

fn acl(ingress: Vec<AclEntry>, egress: Vec<AclEntry>) -> NetworkAcl {
    NetworkAcl {
        id: "nacl-test".into(),
        ingress,
        egress,
    }
}

fn ssh_in(from: &str) -> AclFlow {
    AclFlow {
        direction: Direction::Ingress,
        protocol: Protocol::Tcp,
        port: Some(22),
        address: from.parse().unwrap(),
        source_port: None,
    }
}

fn id_of<'a>(d: &AclDecision<'a>) -> Option<&'a str> {
    d.entry().map(|e| e.id.as_str())
}

const VSWITCH: &[&str] = &["10.0.1.0/24"];

fn vswitch() -> Vec<ipnet::IpNet> {
    VSWITCH.iter().map(|n| n.parse().unwrap()).collect()
}

#[test]
fn entries_decide_in_order_and_none_matching_denies() {
    let a = acl(
        vec![
            entry("nae-1", Verdict::Drop, "tcp/22", "192.168.0.0/24"),
            entry("nae-2", Verdict::Accept, "all", "192.168.0.0/16"),
        ],
        vec![],
    );
    let d = decide_acl_entries(
        &a.ingress,
        Protocol::Tcp,
        Some(22),
        "192.168.0.1".parse().unwrap(),
    );
    assert_eq!((d.verdict, id_of(&d)), (Verdict::Drop, Some("nae-1")));
    assert!(matches!(d.decider, AclDecider::Entry { position: 1, .. }));
    let d = decide_acl_entries(
        &a.ingress,
        Protocol::Tcp,
        Some(22),
        "192.168.1.1".parse().unwrap(),
    );
    assert_eq!((d.verdict, id_of(&d)), (Verdict::Accept, Some("nae-2")));
    assert!(matches!(d.decider, AclDecider::Entry { position: 2, .. }));
    let d = decide_acl_entries(
        &a.ingress,
        Protocol::Tcp,
        Some(22),
        "8.8.8.8".parse().unwrap(),
    );
    assert_eq!(
        d,
        AclDecision {
            verdict: Verdict::Drop,
            decider: AclDecider::NoEntry
        }
    );
    // An entry's family is its IP version: IPv6 traffic passes no IPv4 entry.
    let d = decide_acl_entries(
        &a.ingress,
        Protocol::Tcp,
        Some(22),
        "2001:db8::1".parse().unwrap(),
    );
    assert_eq!(d.decider, AclDecider::NoEntry);
}

#[test]
fn the_reply_of_an_accepted_inbound_flow_must_pass_the_egress_entries() {
    let ingress = vec![entry("nae-in", Verdict::Accept, "tcp/22", "0.0.0.0/0")];
    // Replies allowed on every ephemeral port: the flow works.
    let open = acl(
        ingress.clone(),
        vec![entry(
            "nae-out",
            Verdict::Accept,
            "tcp/1024-65535",
            "0.0.0.0/0",
        )],
    );
    let e = decide_acl(&open, &ssh_in("203.0.113.9"), &vswitch());
    assert_eq!(id_of(&e.request), Some("nae-in"));
    assert_eq!(e.reply.len(), 1);
    assert_eq!(e.reply[0].ports, EPHEMERAL_PORTS);
    assert_eq!(id_of(&e.reply[0].decision), Some("nae-out"));
    assert_eq!(e.verdict(), Verdict::Accept);

    // Egress allows only web traffic: the request passes, its reply does not.
    let web_only = acl(
        ingress.clone(),
        vec![entry("nae-web", Verdict::Accept, "tcp/80-80", "0.0.0.0/0")],
    );
    let e = decide_acl(&web_only, &ssh_in("203.0.113.9"), &vswitch());
    assert_eq!(e.request.verdict, Verdict::Accept);
    assert_eq!(e.reply_verdict(), Verdict::Drop);
    assert_eq!(e.verdict(), Verdict::Drop);
    let blocked = e.blocked_reply().unwrap();
    assert_eq!(blocked.decision.decider, AclDecider::NoEntry);
    assert_eq!(blocked.ports, EPHEMERAL_PORTS);

    // Linux's range only: replies to other ephemeral ports are dropped.
    let linux = acl(
        ingress.clone(),
        vec![entry(
            "nae-linux",
            Verdict::Accept,
            "tcp/32768-61000",
            "0.0.0.0/0",
        )],
    );
    let e = decide_acl(&linux, &ssh_in("203.0.113.9"), &vswitch());
    let spans: Vec<(PortRange, Verdict)> = e
        .reply
        .iter()
        .map(|s| (s.ports, s.decision.verdict))
        .collect();
    assert_eq!(
        spans,
        [
            (
                PortRange::Range {
                    from: 1024,
                    to: 32767
                },
                Verdict::Drop
            ),
            (
                PortRange::Range {
                    from: 32768,
                    to: 61000
                },
                Verdict::Accept
            ),
            (
                PortRange::Range {
                    from: 61001,
                    to: 65535
                },
                Verdict::Drop
            ),
        ]
    );
    // With the client's port known, only that port counts.
    let mut known = ssh_in("203.0.113.9");
    known.source_port = Some(40000);
    let e = decide_acl(&linux, &known, &vswitch());
    assert_eq!(e.verdict(), Verdict::Accept);
    assert_eq!(e.reply[0].ports, PortRange::single(40000));
}

#[test]
fn an_outbound_flow_replies_through_the_ingress_entries() {
    let a = acl(
        vec![entry("nae-back", Verdict::Drop, "all", "0.0.0.0/0")],
        vec![entry("nae-out", Verdict::Accept, "all", "0.0.0.0/0")],
    );
    let https = AclFlow {
        direction: Direction::Egress,
        protocol: Protocol::Tcp,
        port: Some(443),
        address: "8.8.8.8".parse().unwrap(),
        source_port: None,
    };
    let e = decide_acl(&a, &https, &vswitch());
    assert_eq!(id_of(&e.request), Some("nae-out"));
    assert_eq!(id_of(&e.reply[0].decision), Some("nae-back"));
    assert_eq!(e.verdict(), Verdict::Drop);
}

#[test]
fn icmp_replies_have_no_port() {
    let a = acl(
        vec![entry("nae-ping", Verdict::Accept, "icmp", "0.0.0.0/0")],
        vec![entry("nae-all", Verdict::Accept, "all", "0.0.0.0/0")],
    );
    let ping = AclFlow {
        direction: Direction::Ingress,
        protocol: Protocol::Icmp,
        port: None,
        address: "8.8.8.8".parse().unwrap(),
        source_port: None,
    };
    let e = decide_acl(&a, &ping, &vswitch());
    assert_eq!(e.verdict(), Verdict::Accept);
    assert_eq!(e.reply.len(), 1);
    assert_eq!(e.reply[0].ports, PortRange::NotApplicable);
    // A TCP flow passes no ICMP entry.
    assert_eq!(
        decide_acl(&a, &ssh_in("8.8.8.8"), &vswitch())
            .request
            .decider,
        AclDecider::NoEntry
    );
}

#[test]
fn the_same_vswitch_and_cloud_services_are_never_filtered() {
    let closed = acl(vec![], vec![]);
    let e = decide_acl(&closed, &ssh_in("10.0.1.20"), &vswitch());
    assert_eq!(e.request.decider, AclDecider::SameVSwitch);
    assert_eq!(e.verdict(), Verdict::Accept);
    for service in ["100.100.2.136", "100.100.2.114", "100.100.100.200"] {
        let mut dns = ssh_in(service);
        dns.direction = Direction::Egress;
        dns.protocol = Protocol::Udp;
        dns.port = Some(53);
        let e = decide_acl(&closed, &dns, &vswitch());
        assert_eq!(e.request.decider, AclDecider::CloudService, "{service}");
        assert_eq!(e.verdict(), Verdict::Accept);
    }
    // The next vSwitch of the VPC is filtered like anyone else.
    let e = decide_acl(&closed, &ssh_in("10.0.2.20"), &vswitch());
    assert_eq!(e.verdict(), Verdict::Drop);
    let addr: IpAddr = "100.100.2.200".parse().unwrap();
    assert_eq!(
        decide_acl(
            &closed,
            &AclFlow {
                address: addr,
                ..ssh_in("1.1.1.1")
            },
            &vswitch()
        )
        .verdict(),
        Verdict::Drop
    );
}
