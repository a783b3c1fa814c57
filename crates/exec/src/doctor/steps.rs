//! The steps of a doctor run, each a function of what was read and the
//! question, returning its outcome for the runner to time.

use std::net::IpAddr;
use std::time::Instant;

use moat_policy::eval::{
    AclDecider, AclFlow, Decider, Flow, Interface, PeerGroups, decide_acl, explain_interface,
    is_public,
};
use moat_policy::{Direction, GroupType, PortRange, Protocol, Rule, Verdict};

use super::{Question, StepId, StepStatus};
use crate::network::InterfaceView;

/// What a step's function returns before it is timed.
pub(super) struct Outcome {
    pub id: StepId,
    pub status: StepStatus,
    pub finding: String,
    pub evidence: Vec<String>,
    pub commands: Vec<String>,
}

/// The address the instance is reached at from the internet.
pub(super) fn public_address(view: &InterfaceView) -> Option<(IpAddr, Option<String>)> {
    if let Some(i) = &view.instance {
        if let Some(e) = &i.eip {
            return Some((e.address, Some(e.allocation_id.clone())));
        }
        if let Some(a) = i.public_addresses.first() {
            return Some((*a, None));
        }
    }
    if let Some(e) = view.eips.first() {
        return Some((e.address, Some(e.allocation_id.clone())));
    }
    view.interface.public_address.map(|a| (a, None))
}

fn service(q: &Question) -> String {
    match q.port {
        Some(p) => format!("{}/{p}", q.protocol),
        None => q.protocol.to_string(),
    }
}

fn flow_words(q: &Question) -> String {
    match q.direction {
        Direction::Ingress => format!("{} from {}", service(q), q.peer),
        Direction::Egress => format!("{} to {}", service(q), q.peer),
    }
}

pub(super) fn instance_step(view: &InterfaceView, q: &Question) -> Outcome {
    let mut evidence: Vec<String> = Vec::new();
    let who = match &view.instance {
        Some(i) => {
            evidence.push(i.id.clone());
            if i.name.is_empty() {
                format!("{} is {}", i.id, i.status)
            } else {
                format!("{} ({}) is {}", i.id, i.name, i.status)
            }
        }
        None => format!("{} is attached to no instance", view.interface.id),
    };
    evidence.push(view.interface.id.clone());
    let public = public_address(view);
    if let Some((_, Some(allocation))) = &public {
        evidence.push(allocation.clone());
    }
    let (status, tail) = match (view.instance.is_some(), is_public(q.peer), &public) {
        (false, ..) => (StepStatus::Fail, "nothing answers on it".to_owned()),
        (true, false, _) => (
            StepStatus::Pass,
            format!(
                "{} is a private address, reached inside the VPC at {}",
                q.peer,
                join(&view.interface.private_addresses)
            ),
        ),
        (true, true, Some((addr, Some(alloc)))) => (
            StepStatus::Pass,
            format!("public address {addr} (EIP {alloc})"),
        ),
        (true, true, Some((addr, None))) => (
            StepStatus::Pass,
            format!("public address {addr} (public IP)"),
        ),
        (true, true, None) => match q.direction {
            Direction::Ingress => (
                StepStatus::Fail,
                format!(
                    "no public IP or EIP is bound, so {} cannot reach it from the internet",
                    q.peer
                ),
            ),
            Direction::Egress => (
                StepStatus::Manual,
                format!(
                    "no public IP or EIP is bound: reaching {} needs a NAT gateway's SNAT entry, which moat does not read",
                    q.peer
                ),
            ),
        },
    };
    Outcome {
        id: StepId::Instance,
        status,
        finding: format!("{who}; {tail}"),
        evidence,
        commands: Vec::new(),
    }
}

fn join(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `accept tcp/22 from 0.0.0.0/0, priority 1`.
pub fn describe_rule(r: &Rule) -> String {
    let k = &r.key;
    let ports = match k.ports {
        PortRange::NotApplicable => k.protocol.to_string(),
        p => format!("{}/{p}", k.protocol),
    };
    format!(
        "{} {ports} {} {}, priority {}",
        k.verdict,
        k.direction.peer_word(),
        k.peer,
        r.priority
    )
}

pub(super) fn security_groups_step(view: &InterfaceView, q: &Question) -> Outcome {
    let groups = view.groups_on_interface();
    let mut evidence: Vec<String> = view.groups.iter().map(|g| g.id.clone()).collect();
    let iface = match Interface::new(groups) {
        Ok(i) => i,
        Err(e) => {
            return Outcome {
                id: StepId::SecurityGroups,
                status: StepStatus::Fail,
                finding: e.to_string(),
                evidence,
                commands: Vec::new(),
            };
        }
    };
    let flow = Flow::new(q.direction, q.protocol, q.port, q.peer);
    let e = explain_interface(&iface, &flow, PeerGroups::Unknown);
    let verb = match e.decision.verdict {
        Verdict::Accept => "allowed",
        Verdict::Drop => "denied",
    };
    let why = match e.decision.decider {
        Decider::Rule(gr) => {
            let id = view
                .groups
                .iter()
                .flat_map(|g| g.rules.iter())
                .find(|l| std::ptr::eq(&l.rule, gr.rule))
                .map(|l| l.id.clone())
                .unwrap_or_default();
            let named = if id.is_empty() {
                format!("a rule of {}", gr.group)
            } else {
                evidence.push(id.clone());
                format!("rule {id} of {}", gr.group)
            };
            format!("by {} ({named})", describe_rule(gr.rule))
        }
        Decider::InnerAccess { group } => {
            format!("by the inner access policy of {group}")
        }
        Decider::Default { group_type } => format!(
            "by default: no rule of {} matches, and {} groups {} {} traffic no rule allows",
            view.interface.security_group_ids.join(", "),
            match group_type {
                GroupType::Normal => "basic",
                GroupType::Enterprise => "enterprise",
            },
            if e.decision.verdict == Verdict::Drop {
                "deny"
            } else {
                "allow"
            },
            q.direction
        ),
    };
    let mut finding = format!("{} {verb} {why}", flow_words(q));
    if let Some(u) = e.undecidable.first() {
        finding.push_str(&format!(
            "; {} of {} decides instead if {} belongs to {}",
            describe_rule(u.rule),
            u.group,
            q.peer,
            u.rule.key.peer
        ));
    }
    Outcome {
        id: StepId::SecurityGroups,
        status: if e.decision.verdict == Verdict::Accept {
            StepStatus::Pass
        } else {
            StepStatus::Fail
        },
        finding,
        evidence,
        commands: Vec::new(),
    }
}

fn acl_decider(d: AclDecider<'_>) -> (String, Option<String>) {
    match d {
        AclDecider::Entry { position, entry } => {
            let ports = match entry.ports {
                PortRange::NotApplicable => entry.protocol.to_string(),
                p => format!("{}/{p}", entry.protocol),
            };
            (
                format!(
                    "entry {position} ({}: {} {ports} {})",
                    entry.id, entry.verdict, entry.cidr
                ),
                Some(entry.id.clone()),
            )
        }
        AclDecider::NoEntry => (
            "no entry (an ACL denies what no entry matches)".to_owned(),
            None,
        ),
        AclDecider::SameVSwitch => ("the same vSwitch (not filtered)".to_owned(), None),
        AclDecider::CloudService => ("a cloud service address (always allowed)".to_owned(), None),
    }
}

pub(super) fn network_acl_step(view: &InterfaceView, q: &Question) -> Outcome {
    let mut evidence = vec![view.interface.vswitch_id.clone()];
    let (Some(vswitch), Some(acl)) = (&view.vswitch, &view.acl) else {
        return Outcome {
            id: StepId::NetworkAcl,
            status: StepStatus::Pass,
            finding: format!(
                "{} carries no network ACL; routes are not checked",
                view.interface.vswitch_id
            ),
            evidence,
            commands: Vec::new(),
        };
    };
    evidence.push(acl.id.clone());
    let flow = AclFlow {
        direction: q.direction,
        protocol: q.protocol,
        port: q.port,
        address: q.peer,
        source_port: None,
    };
    let e = decide_acl(acl, &flow, &vswitch.blocks);
    let (request, id) = acl_decider(e.request.decider);
    evidence.extend(id);
    let request_verb = match e.request.verdict {
        Verdict::Accept => "accepted",
        Verdict::Drop => "dropped",
    };
    let mut finding = format!("{} on {}: {request_verb} by {request}", acl.id, vswitch.id);
    match e.blocked_reply() {
        Some(span) => {
            let (by, id) = acl_decider(span.decision.decider);
            evidence.extend(id);
            finding.push_str(&format!(
                "; the reply (stateless) on ports {} is dropped by {by}",
                span.ports
            ));
        }
        None => {
            let by = e
                .reply
                .first()
                .map(|s| acl_decider(s.decision.decider))
                .map(|(by, id)| {
                    evidence.extend(id);
                    by
                })
                .unwrap_or_default();
            finding.push_str(&format!("; the reply is accepted by {by}"));
        }
    }
    evidence.dedup();
    Outcome {
        id: StepId::NetworkAcl,
        status: if e.verdict() == Verdict::Accept {
            StepStatus::Pass
        } else {
            StepStatus::Fail
        },
        finding,
        evidence,
        commands: Vec::new(),
    }
}

fn port_word(q: &Question) -> String {
    q.port
        .map_or_else(|| q.protocol.to_string(), |p| p.to_string())
}

pub(super) fn host_firewall_step(q: &Question) -> Outcome {
    let (chain, port) = (
        match q.direction {
            Direction::Ingress => "INPUT",
            Direction::Egress => "OUTPUT",
        },
        port_word(q),
    );
    Outcome {
        id: StepId::HostFirewall,
        status: StepStatus::Manual,
        finding: format!(
            "the API cannot see the instance's own firewall: check that it lets {} through",
            flow_words(q)
        ),
        evidence: Vec::new(),
        commands: vec![
            format!("sudo iptables -S {chain} | grep -w -e {port} -e DROP -e REJECT"),
            format!("sudo nft list ruleset | grep -w {port}"),
            "sudo ufw status verbose".to_owned(),
            "sudo firewall-cmd --list-all".to_owned(),
            "getenforce".to_owned(),
        ],
    }
}

pub(super) fn listening_step(q: &Question) -> Outcome {
    let port = port_word(q);
    let (finding, commands) = match (q.direction, q.protocol) {
        (Direction::Ingress, Protocol::Udp) => (
            format!("the API cannot see whether a service listens on udp/{port}"),
            vec![format!("sudo ss -lunp 'sport = :{port}'")],
        ),
        (Direction::Ingress, Protocol::Tcp) => (
            format!("the API cannot see whether a service listens on tcp/{port}"),
            vec![format!("sudo ss -ltnp 'sport = :{port}'")],
        ),
        (Direction::Ingress, _) => (
            format!("{} has no listening socket to check", q.protocol),
            Vec::new(),
        ),
        (Direction::Egress, _) => (
            format!(
                "the service is at {}: check from the instance that it answers",
                q.peer
            ),
            vec![format!("nc -vz -w 3 {} {port}", q.peer)],
        ),
    };
    Outcome {
        id: StepId::Listening,
        status: StepStatus::Manual,
        finding,
        evidence: Vec::new(),
        commands,
    }
}

pub(super) async fn probe_step(view: &InterfaceView, q: &Question) -> Outcome {
    let host = match q.direction {
        Direction::Ingress if is_public(q.peer) => public_address(view).map(|(a, _)| a),
        Direction::Ingress => view.interface.private_addresses.first().copied(),
        Direction::Egress => Some(q.peer),
    };
    let host = host.map_or_else(|| "HOST".to_owned(), |h| h.to_string());
    let port = port_word(q);
    let suggested = vec![
        format!("nc -vz -w 3 {host} {port}"),
        format!("nmap -Pn -p {port} {host}"),
    ];
    let Some(target) = &q.probe else {
        return Outcome {
            id: StepId::Probe,
            status: StepStatus::Skipped,
            finding: "no --probe given: connect from where the traffic comes from".to_owned(),
            evidence: Vec::new(),
            commands: suggested,
        };
    };
    if q.protocol != Protocol::Tcp {
        return Outcome {
            id: StepId::Probe,
            status: StepStatus::Skipped,
            finding: format!("only tcp can be probed, not {}", q.protocol),
            evidence: Vec::new(),
            commands: suggested,
        };
    }
    let t0 = Instant::now();
    let result = tokio::time::timeout(
        q.probe_timeout,
        tokio::net::TcpStream::connect(target.address),
    )
    .await;
    let ms = t0.elapsed().as_millis();
    let (status, finding) = match result {
        Ok(Ok(_)) => (
            StepStatus::Pass,
            format!("connected to {} in {ms} ms", target.given),
        ),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => (
            StepStatus::Fail,
            format!(
                "connection to {} refused in {ms} ms: the host answers but nothing listens (or a firewall rejects)",
                target.given
            ),
        ),
        Ok(Err(e)) => (
            StepStatus::Fail,
            format!("connection to {} failed in {ms} ms: {e}", target.given),
        ),
        Err(_) => (
            StepStatus::Fail,
            format!(
                "connection to {} timed out after {ms} ms: something drops the packets",
                target.given
            ),
        ),
    };
    Outcome {
        id: StepId::Probe,
        status,
        finding,
        evidence: vec![target.address.to_string()],
        commands: Vec::new(),
    }
}

pub(super) fn next_step(view: &InterfaceView, q: &Question) -> Outcome {
    let filter = match q.port {
        Some(p) => format!("{} port {p} and host {}", q.protocol, q.peer),
        None => format!("{} and host {}", q.protocol, q.peer),
    };
    let groups = view.interface.security_group_ids.join(", ");
    Outcome {
        id: StepId::Next,
        status: StepStatus::Manual,
        finding: format!(
            "capture on the instance while retrying; read the flow logs of {} and the logs of {groups}",
            view.interface.id
        ),
        evidence: Vec::new(),
        commands: vec![
            format!("sudo tcpdump -ni any '{filter}'"),
            format!(
                "ECS console > Security Groups > {groups} > security group logs; VPC console > flow logs of {}",
                view.interface.id
            ),
        ],
    }
}
