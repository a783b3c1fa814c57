//! From the fields of a foreign rule to a canonical [`Rule`].
//!
//! Terraform, ROS and CSV spell a rule's fields differently, but each field
//! means what the ECS API means by it, so every reader hands its fields to
//! the same functions here. They normalise the way moat normalises live rules
//! (the aliyun crate's wire conversion): any letter case for protocol, policy,
//! direction and NIC type; `-1/-1` (or nothing) for protocols without ports;
//! CIDRs canonical with IPv6 compressed; priority 1 and NIC type intranet when
//! absent; and the API's precedence when several peers are given (a CIDR wins
//! over a group, either over a prefix list).

use ipnet::IpNet;
use moat_policy::model::{DEFAULT_PRIORITY, MAX_PRIORITY};
use moat_policy::{
    Direction, NicType, Peer, PortRange, Protocol, Verdict, parse_cidr_lenient, parse_cidr_strict,
};

use crate::error::{At, ErrorKind};

/// A problem with one field, located inside the file; the reader adds the
/// file and the name of the resource.
#[derive(Debug, PartialEq)]
pub(crate) struct Fault {
    pub at: At,
    pub kind: ErrorKind,
}

impl Fault {
    pub fn new(at: At, kind: ErrorKind) -> Fault {
        Fault { at, kind }
    }
}

/// One field of a foreign rule as text, with its name in that format and
/// where it is written.
#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub name: String,
    pub text: String,
    pub at: At,
}

impl Field {
    pub fn new(name: impl Into<String>, text: impl Into<String>, at: At) -> Field {
        Field {
            name: name.into(),
            text: text.into(),
            at,
        }
    }

    fn trimmed(&self) -> &str {
        self.text.trim()
    }

    fn fault(&self, kind: ErrorKind) -> Fault {
        Fault::new(self.at.clone(), kind)
    }
}

/// A field that is set: present and not empty. Providers write unset
/// optional strings as `""`, which means the same as absent.
pub(crate) fn set(field: Option<Field>) -> Option<Field> {
    field.filter(|f| !f.trimmed().is_empty())
}

pub(crate) fn direction(f: &Field) -> Result<Direction, Fault> {
    Direction::parse(f.trimmed()).ok_or_else(|| {
        f.fault(ErrorKind::UnknownValue {
            field: f.name.clone(),
            value: f.text.clone(),
            expected: "ingress, egress",
        })
    })
}

pub(crate) fn protocol(f: &Field) -> Result<Protocol, Fault> {
    Protocol::parse(f.trimmed()).ok_or_else(|| {
        f.fault(ErrorKind::UnknownProtocol {
            field: f.name.clone(),
            value: f.text.clone(),
        })
    })
}

/// How a format writes port ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PortSyntax {
    /// The API's `start/end` (`22/22`, `-1/-1`): Terraform and ROS.
    Wire,
    /// `N` or `N-M`, nothing for protocols without ports: the CSV format.
    Dash,
}

/// The port range of a rule of `protocol`. `missing` is the field's name,
/// for the error when a protocol needs ports and none are given.
pub(crate) fn ports(
    protocol: Protocol,
    field: Option<&Field>,
    missing: &str,
    syntax: PortSyntax,
) -> Result<PortRange, Fault> {
    let text = field.map(Field::trimmed).unwrap_or_default();
    let parsed = if text.is_empty() {
        Ok(PortRange::NotApplicable)
    } else {
        match syntax {
            PortSyntax::Wire => PortRange::parse_wire(text),
            PortSyntax::Dash => parse_dash(text),
        }
    };
    let at = || field.map(|f| f.at.clone()).unwrap_or(At::Whole);
    let range = parsed.map_err(|source| {
        Fault::new(
            at(),
            ErrorKind::PortRange {
                field: missing.to_owned(),
                value: text.to_owned(),
                source,
            },
        )
    })?;
    match (protocol.takes_ports(), range) {
        (true, PortRange::NotApplicable) => Err(Fault::new(
            at(),
            ErrorKind::NoPorts {
                field: missing.to_owned(),
                protocol,
            },
        )),
        (false, PortRange::Range { .. }) => Err(Fault::new(
            at(),
            ErrorKind::PortsOnProtocol {
                field: missing.to_owned(),
                value: text.to_owned(),
                protocol,
            },
        )),
        (_, range) => Ok(range),
    }
}

/// `22` or `8000-8080`, as a policy writes ports.
fn parse_dash(text: &str) -> Result<PortRange, moat_policy::PortRangeError> {
    let (a, b) = text.split_once('-').unwrap_or((text, text));
    PortRange::parse_wire(&format!("{}/{}", a.trim(), b.trim()))
        .map_err(|_| moat_policy::PortRangeError::Malformed(text.to_owned()))
        .and_then(|r| match r {
            // `-1-` style input is not a dash range.
            PortRange::NotApplicable => {
                Err(moat_policy::PortRangeError::Malformed(text.to_owned()))
            }
            r => Ok(r),
        })
}

/// Source port range of a quintuple rule: `None` when not restricted.
pub(crate) fn source_ports(field: Option<&Field>) -> Result<Option<PortRange>, Fault> {
    let Some(f) = field else { return Ok(None) };
    match PortRange::parse_wire(f.trimmed()) {
        Ok(PortRange::NotApplicable) => Ok(None),
        Ok(range) => Ok(Some(range)),
        Err(source) => Err(f.fault(ErrorKind::PortRange {
            field: f.name.clone(),
            value: f.text.clone(),
            source,
        })),
    }
}

pub(crate) fn verdict(field: Option<&Field>) -> Result<Verdict, Fault> {
    let Some(f) = field else {
        return Ok(Verdict::Accept);
    };
    Verdict::parse(f.trimmed()).ok_or_else(|| {
        f.fault(ErrorKind::UnknownValue {
            field: f.name.clone(),
            value: f.text.clone(),
            expected: "accept, drop",
        })
    })
}

pub(crate) fn nic_type(field: Option<&Field>) -> Result<NicType, Fault> {
    let Some(f) = field else {
        return Ok(NicType::Intranet);
    };
    NicType::parse(f.trimmed()).ok_or_else(|| {
        f.fault(ErrorKind::UnknownValue {
            field: f.name.clone(),
            value: f.text.clone(),
            expected: "intranet, internet",
        })
    })
}

/// A priority given as text (`"5"`) or as the digits of a JSON number.
pub(crate) fn priority(field: Option<&Field>) -> Result<u8, Fault> {
    let Some(f) = field else {
        return Ok(DEFAULT_PRIORITY);
    };
    f.trimmed()
        .parse::<u8>()
        .ok()
        .filter(|p| (1..=MAX_PRIORITY).contains(p))
        .ok_or_else(|| {
            f.fault(ErrorKind::Priority {
                field: f.name.clone(),
                value: f.text.clone(),
            })
        })
}

/// Which address family a field takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    V4,
    V6,
    Any,
}

/// How strictly host bits are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strictness {
    /// Clear them, as moat does for live rules: what Terraform and ROS
    /// deployed is what ECS holds.
    Lenient,
    /// Refuse them, as a policy does: a spreadsheet is written by people.
    Strict,
}

pub(crate) fn cidr(f: &Field, family: Family, strictness: Strictness) -> Result<IpNet, Fault> {
    let parsed = match strictness {
        Strictness::Lenient => parse_cidr_lenient(f.trimmed()),
        Strictness::Strict => parse_cidr_strict(f.trimmed()),
    };
    let net = parsed.map_err(|source| {
        f.fault(ErrorKind::Cidr {
            field: f.name.clone(),
            source,
        })
    })?;
    let (found, expected) = match (family, net) {
        (Family::V4, IpNet::V6(_)) => ("IPv6", "IPv4"),
        (Family::V6, IpNet::V4(_)) => ("IPv4", "IPv6"),
        _ => return Ok(net),
    };
    Err(f.fault(ErrorKind::Family {
        field: f.name.clone(),
        value: f.text.clone(),
        found,
        expected,
    }))
}

/// The fields that may hold a rule's peer, each already filtered by
/// [`set`].
#[derive(Debug, Default)]
pub(crate) struct PeerFields {
    pub v4: Option<Field>,
    pub v6: Option<Field>,
    pub group: Option<Field>,
    pub owner: Option<Field>,
    pub prefix_list: Option<Field>,
    /// The names of the peer fields, for the error when none is set.
    pub names: &'static str,
}

/// The peer, by the API's precedence. An IPv4 and an IPv6 CIDR together is
/// refused by the API and by the Terraform provider, so it is an error here.
pub(crate) fn peer(p: &PeerFields, strictness: Strictness) -> Result<Peer, Fault> {
    if let (Some(v4), Some(v6)) = (&p.v4, &p.v6) {
        return Err(v6.fault(ErrorKind::TwoPeers {
            first: v4.name.clone(),
            second: v6.name.clone(),
        }));
    }
    if let Some(f) = &p.v4 {
        return cidr(f, Family::V4, strictness).map(Peer::cidr);
    }
    if let Some(f) = &p.v6 {
        return cidr(f, Family::V6, strictness).map(Peer::cidr);
    }
    if let Some(f) = &p.group {
        return Ok(Peer::Group {
            id: group_id(f)?,
            owner: p.owner.as_ref().map(|o| o.trimmed().to_owned()),
        });
    }
    if let Some(f) = &p.prefix_list {
        return Ok(Peer::PrefixList {
            id: f.trimmed().to_owned(),
        });
    }
    Err(Fault::new(At::Whole, ErrorKind::NoPeer { fields: p.names }))
}

/// The optional second address of a quintuple rule.
pub(crate) fn local(
    v4: Option<&Field>,
    v6: Option<&Field>,
    strictness: Strictness,
) -> Result<Option<IpNet>, Fault> {
    match (v4, v6) {
        (None, None) => Ok(None),
        (Some(f), None) => cidr(f, Family::V4, strictness).map(Some),
        (None, Some(f)) => cidr(f, Family::V6, strictness).map(Some),
        (Some(a), Some(b)) => Err(b.fault(ErrorKind::TwoPeers {
            first: a.name.clone(),
            second: b.name.clone(),
        })),
    }
}

/// What ECS refuses whatever the format: ICMP with an IPv6 peer (or ICMPv6
/// with IPv4), a group as its own peer, the internet NIC type with a group
/// or prefix list peer. The policy loader refuses the same.
pub(crate) fn check(group: &str, key: &moat_policy::RuleKey) -> Result<(), ErrorKind> {
    let family = match (key.protocol, &key.peer) {
        (Protocol::Icmp, p) if p.is_ipv6() => Some("IPv6"),
        (Protocol::Icmpv6, p) if p.is_ipv4() => Some("IPv4"),
        _ => None,
    };
    if let Some(family) = family {
        return Err(ErrorKind::FamilyMismatch {
            protocol: key.protocol,
            family,
            peer: key.peer.to_string(),
        });
    }
    if let Peer::Group { id, owner: None } = &key.peer
        && id == group
    {
        return Err(ErrorKind::SelfReference {
            group: group.to_owned(),
        });
    }
    if key.nic_type == NicType::Internet && !matches!(key.peer, Peer::Cidr { .. }) {
        return Err(ErrorKind::NicTypePeer {
            peer: key.peer.to_string(),
        });
    }
    Ok(())
}

pub(crate) fn group_id(f: &Field) -> Result<String, Fault> {
    let id = f.trimmed();
    if is_group_id(id) {
        Ok(id.to_owned())
    } else {
        Err(f.fault(ErrorKind::GroupId {
            field: f.name.clone(),
            value: f.text.clone(),
        }))
    }
}

/// `sg-` followed by letters and digits, the shape every group id has.
pub(crate) fn is_group_id(s: &str) -> bool {
    s.strip_prefix("sg-")
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(text: &str) -> Field {
        Field::new("port_range", text, At::Whole)
    }

    #[test]
    fn ports_follow_the_provider_and_the_api() {
        let wire = PortSyntax::Wire;
        assert_eq!(
            ports(Protocol::All, Some(&f("-1/-1")), "port_range", wire),
            Ok(PortRange::NotApplicable)
        );
        assert_eq!(
            ports(Protocol::Icmp, None, "port_range", wire),
            Ok(PortRange::NotApplicable)
        );
        assert_eq!(
            ports(Protocol::Tcp, Some(&f("1/65535")), "port_range", wire),
            Ok(PortRange::ALL_PORTS)
        );
        assert!(matches!(
            ports(Protocol::Tcp, Some(&f("-1/-1")), "port_range", wire),
            Err(Fault {
                kind: ErrorKind::NoPorts { .. },
                ..
            })
        ));
        assert!(matches!(
            ports(Protocol::Gre, Some(&f("22/22")), "port_range", wire),
            Err(Fault {
                kind: ErrorKind::PortsOnProtocol { .. },
                ..
            })
        ));
        let dash = PortSyntax::Dash;
        assert_eq!(
            ports(Protocol::Udp, Some(&f("53")), "ports", dash),
            Ok(PortRange::single(53))
        );
        assert_eq!(
            ports(Protocol::Tcp, Some(&f("8000-8080")), "ports", dash),
            Ok(PortRange::Range {
                from: 8000,
                to: 8080
            })
        );
        assert!(ports(Protocol::Tcp, Some(&f("22/22")), "ports", dash).is_err());
        assert!(ports(Protocol::Tcp, Some(&f("0")), "ports", dash).is_err());
        assert!(ports(Protocol::Tcp, Some(&f("-1")), "ports", dash).is_err());
    }

    #[test]
    fn cidrs_are_canonical_and_of_the_right_family() {
        let v6 = Field::new("ipv6_cidr_ip", "2001:0DB8:0000::/32", At::Whole);
        assert_eq!(
            cidr(&v6, Family::V6, Strictness::Lenient).map(|n| n.to_string()),
            Ok("2001:db8::/32".to_owned())
        );
        assert!(cidr(&v6, Family::V4, Strictness::Lenient).is_err());
        let hosty = Field::new("cidr_ip", "10.159.6.18/12", At::Whole);
        assert_eq!(
            cidr(&hosty, Family::V4, Strictness::Lenient).map(|n| n.to_string()),
            Ok("10.144.0.0/12".to_owned())
        );
        assert!(cidr(&hosty, Family::V4, Strictness::Strict).is_err());
    }

    #[test]
    fn peers_take_the_api_precedence() {
        let fields = PeerFields {
            group: Some(Field::new("source_security_group_id", "sg-a1", At::Whole)),
            prefix_list: Some(Field::new("prefix_list_id", "pl-b2", At::Whole)),
            names: "x",
            ..PeerFields::default()
        };
        assert_eq!(peer(&fields, Strictness::Lenient), Ok(Peer::group("sg-a1")));
        let none = PeerFields {
            names: "cidr_ip, ipv6_cidr_ip",
            ..PeerFields::default()
        };
        assert!(peer(&none, Strictness::Lenient).is_err());
    }

    #[test]
    fn case_and_defaults() {
        let p = Field::new("ip_protocol", "TCP", At::Whole);
        assert_eq!(protocol(&p), Ok(Protocol::Tcp));
        assert!(protocol(&Field::new("ip_protocol", "47", At::Whole)).is_err());
        assert_eq!(verdict(None), Ok(Verdict::Accept));
        assert_eq!(
            verdict(Some(&Field::new("policy", "Drop", At::Whole))),
            Ok(Verdict::Drop)
        );
        assert_eq!(nic_type(None), Ok(NicType::Intranet));
        assert_eq!(priority(None), Ok(1));
        assert!(priority(Some(&Field::new("priority", "0", At::Whole))).is_err());
        assert!(priority(Some(&Field::new("priority", "101", At::Whole))).is_err());
        assert!(is_group_id("sg-bp1abc") && !is_group_id("sg-") && !is_group_id("pl-1"));
    }
}
