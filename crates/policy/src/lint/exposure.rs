//! What the internet can reach: MOAT001 (management ports), MOAT002
//! (database and cache ports), MOAT003 (all protocols or all ports) and
//! MOAT011 (clear-text and control-plane services).
//!
//! For each sensitive port the group's ingress rules are evaluated over the
//! whole IPv4 and IPv6 address space ([`crate::eval::cells`]); a public
//! address range that ends in an accept is an exposure, and it is blamed on
//! the accept rules at the deciding priority that match it (removing any one
//! of several equal rules would not close it). A drop of the same or a
//! better priority that covers the flow therefore removes the exposure, and
//! one of a worse priority does not.
//!
//! Flows no rule decides get the default of the group's type (the policy's
//! `type:`, basic when it states none). Both types deny ingress by default;
//! what differs (a basic group admitting its own instances, an enterprise
//! group denying egress) concerns no public address, so the checks answer
//! the same for both, but they do not assume it.

use std::collections::BTreeSet;

use ipnet::IpNet;

use super::{Emitter, PEER, join_and};
use crate::codes;
use crate::eval::{self, AddrRange, Defaults, Space};
use crate::model::{DesiredRule, Direction, NicType, PortRange, Protocol, Verdict};

/// A port lint watches, with the service people know it by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SensitivePort {
    pub protocol: Protocol,
    pub port: u16,
    pub name: &'static str,
}

const fn port(protocol: Protocol, port: u16, name: &'static str) -> SensitivePort {
    SensitivePort {
        protocol,
        port,
        name,
    }
}

/// Remote administration (MOAT001).
pub const MANAGEMENT_PORTS: [SensitivePort; 3] = [
    port(Protocol::Tcp, 22, "SSH"),
    port(Protocol::Tcp, 3389, "RDP"),
    port(Protocol::Udp, 3389, "RDP"),
];

/// Databases and caches (MOAT002).
pub const DATA_PORTS: [SensitivePort; 9] = [
    port(Protocol::Tcp, 1433, "SQL Server"),
    port(Protocol::Tcp, 1521, "Oracle"),
    port(Protocol::Tcp, 3306, "MySQL"),
    port(Protocol::Tcp, 5432, "PostgreSQL"),
    port(Protocol::Tcp, 6379, "Redis"),
    port(Protocol::Tcp, 9200, "Elasticsearch"),
    port(Protocol::Tcp, 11211, "Memcached"),
    port(Protocol::Udp, 11211, "Memcached"),
    port(Protocol::Tcp, 27017, "MongoDB"),
];

/// Services that hand out control of the host or send credentials in
/// clear text (MOAT011).
pub const RISKY_PORTS: [SensitivePort; 8] = [
    port(Protocol::Tcp, 21, "FTP"),
    port(Protocol::Tcp, 23, "Telnet"),
    port(Protocol::Tcp, 445, "SMB"),
    port(Protocol::Tcp, 2375, "Docker API"),
    port(Protocol::Tcp, 2379, "etcd"),
    port(Protocol::Tcp, 5900, "VNC"),
    port(Protocol::Tcp, 6443, "Kubernetes API"),
    port(Protocol::Tcp, 10250, "kubelet"),
];

/// One exposure check over a slice of the sensitive ports.
struct Check {
    code: &'static str,
    /// Indexes into the ports of [`check_nic`] that this rule exposes.
    ports: Vec<usize>,
    nouns: (&'static str, &'static str),
    reach: &'static str,
    hint: &'static str,
}

/// "Open to the internet" means more public IPv4 addresses than a /24
/// holds: an office or VPN egress range is an allowlist, anything wider is
/// the internet for practical purposes.
pub const WIDE_V4: u128 = 1 << 8;
/// The IPv6 counterpart of [`WIDE_V4`]: more addresses than a /48, one site.
pub const WIDE_V6: u128 = 1 << 80;

/// Above this many cells the evaluation of one rule gives up and assumes
/// the worst (every public address of the rule's peer exposed).
const MAX_CELLS: usize = 50_000;

fn is_wide(v6: bool, public: u128) -> bool {
    public > if v6 { WIDE_V6 } else { WIDE_V4 }
}

fn whole_space(v6: bool) -> IpNet {
    if v6 {
        IpNet::V6(Default::default())
    } else {
        IpNet::V4(Default::default())
    }
}

/// An ingress accept with a CIDR peer that holds public addresses: the only
/// kind of rule that can expose anything.
struct Candidate<'a> {
    rule: &'a DesiredRule,
    range: AddrRange,
    /// Public addresses of the peer.
    public: u128,
    /// Public addresses this rule exposes, per sensitive port (indexes of
    /// `MANAGEMENT_PORTS`, then `DATA_PORTS`, then `RISKY_PORTS`).
    exposed: Vec<u128>,
    /// Whether a drop decides part of the rule's public flows, per
    /// sensitive port: the message then says the exposure is partial.
    closed: Vec<bool>,
}

/// `defaults` are those of the group's type: what ECS does with the flows
/// no rule decides.
pub(super) fn check<'g>(
    effective: &[&'g DesiredRule],
    defaults: Defaults,
    emit: &mut Emitter<'g, '_>,
) {
    let nic_types: BTreeSet<NicType> = effective
        .iter()
        .filter(|r| r.rule.key.direction == Direction::Ingress)
        .map(|r| r.rule.key.nic_type)
        .collect();
    for nic_type in nic_types {
        let rules: Vec<&DesiredRule> = effective
            .iter()
            .copied()
            .filter(|r| {
                r.rule.key.direction == Direction::Ingress && r.rule.key.nic_type == nic_type
            })
            .collect();
        check_nic(&rules, nic_type, defaults, emit);
    }
}

fn check_nic<'g>(
    rules: &[&'g DesiredRule],
    nic_type: NicType,
    defaults: Defaults,
    emit: &mut Emitter<'g, '_>,
) {
    let targets: Vec<SensitivePort> = MANAGEMENT_PORTS
        .iter()
        .chain(&DATA_PORTS)
        .chain(&RISKY_PORTS)
        .copied()
        .collect();
    let mut candidates: Vec<Candidate<'_>> = rules
        .iter()
        .filter(|r| r.rule.key.verdict == Verdict::Accept)
        .filter_map(|r| {
            let range = AddrRange::of(r.rule.key.peer.as_cidr()?);
            let public = eval::public_count(range);
            (public > 0).then(|| Candidate {
                rule: r,
                range,
                public,
                exposed: vec![0; targets.len()],
                closed: vec![false; targets.len()],
            })
        })
        .collect();
    if candidates.is_empty() {
        return;
    }
    let plain: Vec<&crate::model::Rule> = rules.iter().map(|r| &r.rule).collect();
    for (ti, target) in targets.iter().enumerate() {
        for v6 in [false, true] {
            let opening: Vec<usize> = candidates
                .iter()
                .enumerate()
                .filter(|(_, c)| c.range.v6 == v6 && opens(c.rule, target.protocol, target.port))
                .map(|(i, _)| i)
                .collect();
            if opening.is_empty() {
                continue;
            }
            let space = Space {
                direction: Direction::Ingress,
                nic_type,
                protocol: target.protocol,
                ports: PortRange::single(target.port),
                peer: whole_space(v6),
            };
            let Ok(cells) = eval::cells_under(&plain, &space, MAX_CELLS, defaults) else {
                for &i in &opening {
                    candidates[i].exposed[ti] = candidates[i].public;
                }
                continue;
            };
            for cell in &cells {
                let Some(level) = cell.decision.rule.map(|r| r.priority) else {
                    continue;
                };
                let public = eval::public_count(cell.addresses);
                if public == 0 {
                    continue;
                }
                for &i in &opening {
                    let c = &mut candidates[i];
                    if !cell.matched_by(&c.rule.rule, Direction::Ingress, nic_type) {
                        continue;
                    }
                    match cell.decision.verdict {
                        Verdict::Accept if c.rule.rule.priority == level => {
                            c.exposed[ti] = c.exposed[ti].saturating_add(public);
                        }
                        Verdict::Accept => {}
                        Verdict::Drop => c.closed[ti] = true,
                    }
                }
            }
        }
    }
    let management = MANAGEMENT_PORTS.len();
    let data = management + DATA_PORTS.len();
    for c in &candidates {
        let v6 = c.range.v6;
        let wide = |i: &usize| is_wide(v6, c.exposed[*i]);
        let any = |i: &usize| c.exposed[*i] > 0;
        for check in [
            Check {
                code: codes::MANAGEMENT_PORT_OPEN,
                ports: (0..management).filter(wide).collect(),
                nouns: ("management port", "management ports"),
                reach: "open to the internet from",
                hint: "allow remote administration only from known networks (a VPN, an office \
                       range) or from a bastion's security group",
            },
            Check {
                code: codes::DATA_PORT_PUBLIC,
                ports: (management..data).filter(any).collect(),
                nouns: ("database port", "database and cache ports"),
                reach: "reachable from public addresses in",
                hint: "allow databases and caches only from private networks or from the \
                       application tier's security group (`from: sg-...`)",
            },
            Check {
                code: codes::RISKY_SERVICE_OPEN,
                ports: (data..targets.len()).filter(wide).collect(),
                nouns: ("service", "services"),
                reach: "open to the internet from",
                hint: "these services send credentials in clear text or hand out control of the \
                       host; reach them through a VPN or a bastion, never from the internet",
            },
        ] {
            if check.ports.is_empty() {
                continue;
            }
            let partly = check.ports.iter().any(|&i| c.closed[i]);
            let (noun, verb) = if check.ports.len() == 1 {
                (check.nouns.0, "is")
            } else {
                (check.nouns.1, "are")
            };
            emit.emit_about_peer(
                c.rule,
                check.code,
                format!(
                    "{noun} {} {verb} {} {PEER}{}",
                    list(&targets, &check.ports),
                    check.reach,
                    partly_note(partly),
                ),
                check.hint.to_owned(),
            );
        }
    }
    all_open(&plain, &candidates, nic_type, defaults, emit);
}

/// MOAT003: an accept of every protocol, or of every TCP or UDP port, that
/// still lets flows through from a wide public range.
fn all_open<'g>(
    plain: &[&crate::model::Rule],
    candidates: &[Candidate<'g>],
    nic_type: NicType,
    defaults: Defaults,
    emit: &mut Emitter<'g, '_>,
) {
    for c in candidates {
        let key = &c.rule.rule.key;
        let what = match key.protocol {
            Protocol::All => "all protocols are",
            Protocol::Tcp if key.ports == PortRange::ALL_PORTS => "all TCP ports are",
            Protocol::Udp if key.ports == PortRange::ALL_PORTS => "all UDP ports are",
            _ => continue,
        };
        let Some(peer) = key.peer.as_cidr() else {
            continue;
        };
        let space = Space {
            direction: Direction::Ingress,
            nic_type,
            protocol: key.protocol,
            ports: key.ports,
            peer,
        };
        let (exposed, closed) = match eval::cells_under(plain, &space, MAX_CELLS, defaults) {
            Ok(cells) => {
                let closed = cells.iter().any(|cell| {
                    cell.decision.verdict == Verdict::Drop && eval::public_count(cell.addresses) > 0
                });
                let open: Vec<AddrRange> = cells
                    .iter()
                    .filter(|cell| {
                        cell.decision.verdict == Verdict::Accept
                            && cell
                                .decision
                                .rule
                                .is_some_and(|r| r.priority == c.rule.rule.priority)
                    })
                    .map(|cell| cell.addresses)
                    .collect();
                let exposed = eval::merge(open)
                    .into_iter()
                    .fold(0u128, |n, r| n.saturating_add(eval::public_count(r)));
                (exposed, closed)
            }
            Err(_) => (c.public, false),
        };
        if is_wide(c.range.v6, exposed) {
            emit.emit_about_peer(
                c.rule,
                codes::ALL_PORTS_OPEN,
                format!(
                    "{what} open to the internet from {PEER}{}",
                    partly_note(closed),
                ),
                "allow only the services the instances serve (e.g. `allow: tcp/443`); \
                 egress to the internet on all protocols is normal and not flagged"
                    .to_owned(),
            );
        }
    }
}

/// True when the rule's service includes `protocol`/`port`.
fn opens(rule: &DesiredRule, protocol: Protocol, port: u16) -> bool {
    let key = &rule.rule.key;
    (key.protocol == Protocol::All || key.protocol == protocol) && key.ports.contains(port)
}

fn list(targets: &[SensitivePort], indexes: &[usize]) -> String {
    let names: Vec<String> = indexes
        .iter()
        .map(|&i| {
            let t = targets[i];
            format!("{}/{} ({})", t.protocol, t.port, t.name)
        })
        .collect();
    join_and(&names)
}

fn partly_note(partly: bool) -> &'static str {
    if partly {
        " (partly closed by drops of better priority)"
    } else {
        ""
    }
}
