//! Network ACLs: the stateless filter a vSwitch may carry, as Alibaba Cloud
//! documents it (VPC user guide, "Network ACLs"; API reference,
//! DescribeNetworkAclAttributes and UpdateNetworkAclEntries):
//!
//! - ingress and egress entries are separate lists, each evaluated in its
//!   order (the first entry has priority 1); the first entry that matches
//!   the IP version, protocol, address and port decides, accept or drop;
//! - an ingress entry matches the source address, an egress entry the
//!   destination address, and both match the destination port;
//! - a flow no entry matches is denied;
//! - the ACL is stateless: the reply of an accepted flow is filtered again
//!   by the entries of the other direction, on the port the opener chose
//!   (an ephemeral port; Alibaba recommends allowing 1024-65535);
//! - traffic between instances of the same vSwitch is not filtered, and the
//!   cloud's DNS servers (100.100.2.128/28, 100.100.2.112/28) and metadata
//!   server (100.100.100.200) are always allowed.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

use super::addr::net_contains;
use super::flow::protocol_matches;
use crate::model::{Direction, PortRange, Protocol, Verdict};

/// One entry of a network ACL, as DescribeNetworkAclAttributes reports it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AclEntry {
    /// `nae-...`
    pub id: String,
    /// `NetworkAclEntryName`; empty when it has none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `Policy`: accept or drop.
    pub verdict: Verdict,
    /// `Protocol`: all, icmp, gre, tcp or udp.
    pub protocol: Protocol,
    /// `Port`: the destination ports (`-1/-1` for protocols without ports).
    pub ports: PortRange,
    /// `SourceCidrIp` of an ingress entry, `DestinationCidrIp` of an egress
    /// entry; its family is the entry's `IpVersion`.
    pub cidr: IpNet,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// A network ACL: its entries per direction, in evaluation order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAcl {
    /// `nacl-...`
    pub id: String,
    pub ingress: Vec<AclEntry>,
    pub egress: Vec<AclEntry>,
}

impl NetworkAcl {
    /// The entries that filter packets travelling in `direction` (into the
    /// vSwitch for ingress).
    pub fn entries(&self, direction: Direction) -> &[AclEntry] {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }
}

/// The destination ports a reply can have when the opener's source port is
/// not known: the ephemeral range Alibaba recommends allowing for replies.
pub const EPHEMERAL_PORTS: PortRange = PortRange::Range {
    from: 1024,
    to: 65535,
};

/// Addresses a network ACL always allows: the cloud's DNS servers and the
/// instance metadata server.
pub const SERVICE_ADDRESSES: [(Ipv4Addr, u8); 3] = [
    (Ipv4Addr::new(100, 100, 2, 128), 28),
    (Ipv4Addr::new(100, 100, 2, 112), 28),
    (Ipv4Addr::new(100, 100, 100, 200), 32),
];

/// A flow through a vSwitch's ACL, seen from an instance in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AclFlow {
    /// `Ingress`: the other end opens the flow to the instance; `Egress`:
    /// the instance opens it.
    pub direction: Direction,
    /// A concrete protocol; `All` stands for one moat does not model.
    pub protocol: Protocol,
    /// The destination port of the opening packets (TCP and UDP).
    pub port: Option<u16>,
    /// The other end.
    pub address: IpAddr,
    /// The opener's source port, which is the destination port of the
    /// reply; `None`: any port of [`EPHEMERAL_PORTS`].
    pub source_port: Option<u16>,
}

/// What decided a packet's way through the ACL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclDecider<'a> {
    /// The first matching entry; `position` counts from 1 (its priority).
    Entry {
        position: usize,
        entry: &'a AclEntry,
    },
    /// No entry matches: denied.
    NoEntry,
    /// The other end is in the same vSwitch, which the ACL does not filter.
    SameVSwitch,
    /// The other end is a cloud DNS or metadata server, always allowed.
    CloudService,
}

/// The verdict for packets of one direction and what decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AclDecision<'a> {
    pub verdict: Verdict,
    pub decider: AclDecider<'a>,
}

impl<'a> AclDecision<'a> {
    /// The deciding entry, when an entry decided.
    pub fn entry(&self) -> Option<&'a AclEntry> {
        match self.decider {
            AclDecider::Entry { entry, .. } => Some(entry),
            _ => None,
        }
    }
}

/// The reply's decision on a span of its destination ports (one span
/// `NotApplicable` for protocols without ports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplySpan<'a> {
    pub ports: PortRange,
    pub decision: AclDecision<'a>,
}

/// A flow evaluated both ways through a stateless ACL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclEvaluation<'a> {
    /// The opening packets, against the entries of the flow's direction.
    pub request: AclDecision<'a>,
    /// The replies, against the entries of the other direction, split where
    /// entries start and end when the reply port is not known.
    pub reply: Vec<ReplySpan<'a>>,
}

impl AclEvaluation<'_> {
    /// The reply's verdict: accept only when every span is accepted.
    pub fn reply_verdict(&self) -> Verdict {
        if self
            .reply
            .iter()
            .all(|s| s.decision.verdict == Verdict::Accept)
        {
            Verdict::Accept
        } else {
            Verdict::Drop
        }
    }

    /// The flow works only when the request and every reply pass.
    pub fn verdict(&self) -> Verdict {
        match (self.request.verdict, self.reply_verdict()) {
            (Verdict::Accept, Verdict::Accept) => Verdict::Accept,
            _ => Verdict::Drop,
        }
    }

    /// The first reply span that is denied, if any.
    pub fn blocked_reply(&self) -> Option<&ReplySpan<'_>> {
        self.reply
            .iter()
            .find(|s| s.decision.verdict == Verdict::Drop)
    }
}

fn entry_matches(e: &AclEntry, protocol: Protocol, port: Option<u16>, address: IpAddr) -> bool {
    if !protocol_matches(e.protocol, protocol) || !net_contains(e.cidr, address) {
        return false;
    }
    if !e.protocol.takes_ports() {
        return true;
    }
    match port {
        Some(p) => e.ports.contains(p),
        None => e.ports.covers(PortRange::ALL_PORTS),
    }
}

/// Decides a packet against `entries` in order: the first entry matching
/// its protocol, destination `port` and the other end's `address` decides;
/// none denies.
pub fn decide_acl_entries(
    entries: &[AclEntry],
    protocol: Protocol,
    port: Option<u16>,
    address: IpAddr,
) -> AclDecision<'_> {
    entries
        .iter()
        .enumerate()
        .find(|(_, e)| entry_matches(e, protocol, port, address))
        .map_or(
            AclDecision {
                verdict: Verdict::Drop,
                decider: AclDecider::NoEntry,
            },
            |(i, entry)| AclDecision {
                verdict: entry.verdict,
                decider: AclDecider::Entry {
                    position: i + 1,
                    entry,
                },
            },
        )
}

/// True when the ACL does not filter traffic with `address` at all.
fn exempt(address: IpAddr, vswitch: &[IpNet]) -> Option<AclDecider<'static>> {
    if vswitch.iter().any(|n| net_contains(*n, address)) {
        return Some(AclDecider::SameVSwitch);
    }
    let service = SERVICE_ADDRESSES
        .iter()
        .any(|&(a, p)| net_contains(IpNet::V4(Ipv4Net::new_assert(a, p)), address));
    service.then_some(AclDecider::CloudService)
}

/// Evaluates `flow` through `acl` both ways. `vswitch` holds the address
/// blocks of the instance's vSwitch (IPv4 and IPv6), whose traffic the ACL
/// does not filter.
pub fn decide_acl<'a>(acl: &'a NetworkAcl, flow: &AclFlow, vswitch: &[IpNet]) -> AclEvaluation<'a> {
    if let Some(decider) = exempt(flow.address, vswitch) {
        let d = AclDecision {
            verdict: Verdict::Accept,
            decider,
        };
        let ports = match (flow.protocol.takes_ports(), flow.source_port) {
            (false, _) => PortRange::NotApplicable,
            (true, Some(p)) => PortRange::single(p),
            (true, None) => EPHEMERAL_PORTS,
        };
        return AclEvaluation {
            request: d,
            reply: vec![ReplySpan { ports, decision: d }],
        };
    }
    let request = decide_acl_entries(
        acl.entries(flow.direction),
        flow.protocol,
        flow.port,
        flow.address,
    );
    let back = match flow.direction {
        Direction::Ingress => Direction::Egress,
        Direction::Egress => Direction::Ingress,
    };
    let entries = acl.entries(back);
    let decide = |port| decide_acl_entries(entries, flow.protocol, port, flow.address);
    let reply = match (flow.protocol.takes_ports(), flow.source_port) {
        (false, _) => vec![ReplySpan {
            ports: PortRange::NotApplicable,
            decision: decide(None),
        }],
        (true, Some(p)) => vec![ReplySpan {
            ports: PortRange::single(p),
            decision: decide(Some(p)),
        }],
        (true, None) => reply_spans(entries, flow, decide),
    };
    AclEvaluation { request, reply }
}

/// The reply decided on every ephemeral port: the range is cut where the
/// ports of the entries that could match start and end, and each piece is
/// decided at its first port; adjacent pieces with the same decider merge.
fn reply_spans<'a>(
    entries: &'a [AclEntry],
    flow: &AclFlow,
    decide: impl Fn(Option<u16>) -> AclDecision<'a>,
) -> Vec<ReplySpan<'a>> {
    let PortRange::Range { from: lo, to: hi } = EPHEMERAL_PORTS else {
        return Vec::new();
    };
    let mut cuts: Vec<u32> = vec![u32::from(lo)];
    // Only entries of the flow's protocol and address can cut the range.
    for e in entries.iter().filter(|e| {
        protocol_matches(e.protocol, flow.protocol) && net_contains(e.cidr, flow.address)
    }) {
        if let PortRange::Range { from, to } = e.ports {
            cuts.push(u32::from(from));
            cuts.push(u32::from(to) + 1);
        }
    }
    cuts.retain(|c| *c >= u32::from(lo) && *c <= u32::from(hi));
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<ReplySpan<'a>> = Vec::with_capacity(cuts.len());
    for (i, start) in cuts.iter().enumerate() {
        let end = cuts.get(i + 1).map_or(u32::from(hi), |n| n - 1);
        // Both lie within [lo, hi], which are ports.
        let (from, to) = (
            u16::try_from(*start).unwrap_or(u16::MAX),
            u16::try_from(end).unwrap_or(u16::MAX),
        );
        let decision = decide(Some(from));
        match out.last_mut() {
            Some(ReplySpan {
                ports: PortRange::Range { to: last_to, .. },
                decision: last,
            }) if *last == decision => *last_to = to,
            _ => out.push(ReplySpan {
                ports: PortRange::Range { from, to },
                decision,
            }),
        }
    }
    out
}
