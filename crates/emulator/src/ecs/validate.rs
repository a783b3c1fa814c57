//! Checking one rule's fields and normalising them into its identity
//! (reference 2.3, 2.5, 3): one function per field, applied in the order
//! the service reports problems in, and the Modify overlay.

use super::fields::{Field, RawRule};
use crate::error::ApiError;
use crate::model::{Cidr, Direction, Peer, PeerKind, Ports, Rule, RuleIdentity};
use crate::params::Params;

/// Longest rule description, in characters.
pub const MAX_RULE_DESCRIPTION_CHARS: usize = 512;

/// Where a rule is validated: its direction, the group's network type, and
/// how wide a priority may be.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RuleContext {
    pub direction: Direction,
    pub classic: bool,
    /// Accept priorities up to 1000, as system rules of real groups carry
    /// (seen: 110). The API itself takes 1..=100.
    pub wide_priority: bool,
}

/// A validated rule: its identity and its mutable attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ValidRule {
    pub identity: RuleIdentity,
    pub priority: i64,
    pub description: String,
}

/// Validates one rule and normalises it (reference 2.3, 3): lowercase
/// protocol, explicit ports, canonical CIDRs, defaults filled in.
pub(crate) fn validate(raw: &RawRule, ctx: RuleContext) -> Result<ValidRule, ApiError> {
    let protocol = protocol(raw)?;
    let ports = ports(raw, &protocol)?;
    let source_ports = source_ports(raw, &protocol)?;
    let drop = policy(raw)?;
    let priority = priority(raw, ctx)?;
    let description = description(raw)?;
    let side = Side::of(ctx.direction);
    let (peer, local) = addresses(raw, &side)?;
    address_family(&protocol, &peer, local)?;
    let nic_type = nic_type(raw, ctx, &peer)?;
    Ok(ValidRule {
        identity: RuleIdentity {
            direction: ctx.direction,
            protocol,
            ports,
            source_ports,
            nic_type,
            drop,
            peer,
            local,
        },
        priority,
        description,
    })
}

const PROTOCOLS: [&str; 6] = ["tcp", "udp", "icmp", "icmpv6", "gre", "all"];

/// `IpProtocol`: a name in any case, or an IANA number 0-255; lower case.
fn protocol(raw: &RawRule) -> Result<String, ApiError> {
    let given = raw
        .get(Field::IpProtocol)
        .ok_or_else(|| ApiError::missing("MissingParameter", &raw.name(Field::IpProtocol)))?;
    let protocol = given.to_ascii_lowercase();
    let numeric = protocol.len() <= 3
        && protocol.bytes().all(|c| c.is_ascii_digit())
        && protocol.parse::<u16>().is_ok_and(|n| n <= 255);
    if !PROTOCOLS.contains(&protocol.as_str()) && !numeric {
        return Err(ApiError::bad(
            "InvalidIpProtocol.ValueNotSupported",
            format!("The specified IpProtocol \"{given}\" is not supported."),
        ));
    }
    Ok(protocol)
}

fn takes_ports(protocol: &str) -> bool {
    matches!(protocol, "tcp" | "udp")
}

fn port_pair(s: &str) -> Option<(i32, i32)> {
    let (a, b) = s.split_once('/')?;
    let num = |t: &str| -> Option<i32> {
        let digits = t.strip_prefix('-').unwrap_or(t);
        if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    Some((num(a)?, num(b)?))
}

/// Checks a range against the protocol: TCP and UDP take `1..=65535` ranges,
/// the other named protocols only `-1/-1`.
fn range(
    raw: &RawRule,
    field: Field,
    protocol: &str,
    value: &str,
    malformed: &'static str,
) -> Result<(i32, i32), ApiError> {
    let (a, b) = port_pair(value).ok_or_else(|| ApiError::invalid(malformed, &raw.name(field)))?;
    let numeric = protocol.bytes().all(|c| c.is_ascii_digit());
    let mismatch = |must: &str| {
        ApiError::bad(
            "InvalidParam.ProtocolAndPortRangeMismatch",
            format!(
                "The parameter \"{}\" must be {must} for {}.",
                raw.name(field),
                protocol.to_ascii_uppercase()
            ),
        )
    };
    if (a, b) == (-1, -1) {
        if takes_ports(protocol) {
            return Err(mismatch("a range of ports"));
        }
        return Ok((a, b));
    }
    if !takes_ports(protocol) && !numeric {
        return Err(mismatch("-1/-1"));
    }
    if !(1..=65535).contains(&a) || !(1..=65535).contains(&b) || a > b {
        let code = if field == Field::PortRange {
            "InvalidParam.PortRange"
        } else {
            malformed
        };
        return Err(ApiError::invalid(code, &raw.name(field)));
    }
    Ok((a, b))
}

/// `PortRange`, else `PortRangeListId`; required for TCP and UDP, `-1/-1`
/// for the others when left out.
fn ports(raw: &RawRule, protocol: &str) -> Result<Ports, ApiError> {
    match (raw.get(Field::PortRange), raw.get(Field::PortRangeListId)) {
        (Some(pr), _) => {
            let (a, b) = range(
                raw,
                Field::PortRange,
                protocol,
                pr,
                "InvalidPortRange.Malformed",
            )?;
            Ok(Ports::Range(a, b))
        }
        (None, Some(list)) => Ok(Ports::List(list.to_owned())),
        (None, None) if takes_ports(protocol) => Err(ApiError::missing(
            "InvalidParam.PortRange",
            &raw.name(Field::PortRange),
        )),
        (None, None) => Ok(Ports::Range(-1, -1)),
    }
}

/// `SourcePortRange`: optional; `-1/-1` means any, the same as none.
fn source_ports(raw: &RawRule, protocol: &str) -> Result<Option<(i32, i32)>, ApiError> {
    let Some(v) = raw.get(Field::SourcePortRange) else {
        return Ok(None);
    };
    let malformed = "InvalidSourcePortRange.Malformed";
    let pair = port_pair(v)
        .ok_or_else(|| ApiError::invalid(malformed, &raw.name(Field::SourcePortRange)))?;
    if pair == (-1, -1) {
        return Ok(None);
    }
    range(raw, Field::SourcePortRange, protocol, v, malformed).map(Some)
}

/// `Policy`: `accept` (default) or `drop`, any case; true for drop.
fn policy(raw: &RawRule) -> Result<bool, ApiError> {
    match raw.get(Field::Policy) {
        None => Ok(false),
        Some(p) if p.eq_ignore_ascii_case("accept") => Ok(false),
        Some(p) if p.eq_ignore_ascii_case("drop") => Ok(true),
        Some(_) => Err(ApiError::invalid(
            "InvalidPolicy.Malformed",
            &raw.name(Field::Policy),
        )),
    }
}

/// `Priority`: 1 to 100 (1000 where system rules are allowed), default 1.
fn priority(raw: &RawRule, ctx: RuleContext) -> Result<i64, ApiError> {
    let Some(p) = raw.get(Field::Priority) else {
        return Ok(1);
    };
    let v: i64 = p
        .trim()
        .parse()
        .map_err(|_| ApiError::invalid("InvalidPriority.Malformed", &raw.name(Field::Priority)))?;
    let max = if ctx.wide_priority { 1000 } else { 100 };
    if !(1..=max).contains(&v) {
        return Err(ApiError::invalid(
            "InvalidPriority.ValueNotSupported",
            &raw.name(Field::Priority),
        ));
    }
    Ok(v)
}

/// `Description`: at most 512 characters.
fn description(raw: &RawRule) -> Result<String, ApiError> {
    let d = raw.get(Field::Description).unwrap_or_default();
    if d.chars().count() > MAX_RULE_DESCRIPTION_CHARS {
        // The misspelt code is the service's own (reference 3).
        return Err(ApiError::bad(
            "InvalidSecurityGroupDiscription.Malformed",
            format!(
                "The parameter \"{}\" must be at most {MAX_RULE_DESCRIPTION_CHARS} characters.",
                raw.name(Field::Description)
            ),
        ));
    }
    Ok(d.to_owned())
}

/// Which fields hold the peer and which the optional local address: the
/// peer is on the source side of an ingress rule and on the destination
/// side of an egress rule, the local address opposite.
pub(crate) struct Side {
    direction: Direction,
    pub v4: Field,
    pub v6: Field,
    pub group: Field,
    owner_account: Field,
    owner_id: Field,
    pub prefix_list: Field,
    pub local_v4: Field,
    pub local_v6: Field,
}

impl Side {
    pub(crate) fn of(direction: Direction) -> Side {
        match direction {
            Direction::Ingress => Side {
                direction,
                v4: Field::SourceCidrIp,
                v6: Field::Ipv6SourceCidrIp,
                group: Field::SourceGroupId,
                owner_account: Field::SourceGroupOwnerAccount,
                owner_id: Field::SourceGroupOwnerId,
                prefix_list: Field::SourcePrefixListId,
                local_v4: Field::DestCidrIp,
                local_v6: Field::Ipv6DestCidrIp,
            },
            Direction::Egress => Side {
                direction,
                v4: Field::DestCidrIp,
                v6: Field::Ipv6DestCidrIp,
                group: Field::DestGroupId,
                owner_account: Field::DestGroupOwnerAccount,
                owner_id: Field::DestGroupOwnerId,
                prefix_list: Field::DestPrefixListId,
                local_v4: Field::SourceCidrIp,
                local_v6: Field::Ipv6SourceCidrIp,
            },
        }
    }

    /// The code for a problem on the peer's side (`source` names the
    /// ingress one, `dest` the egress one).
    fn peer_code(&self, source: &'static str, dest: &'static str) -> &'static str {
        match self.direction {
            Direction::Ingress => source,
            Direction::Egress => dest,
        }
    }

    /// The code for a problem on the local address's side.
    fn local_code(&self, source: &'static str, dest: &'static str) -> &'static str {
        match self.direction {
            Direction::Ingress => dest,
            Direction::Egress => source,
        }
    }
}

fn cidr(raw: &RawRule, f: Field, v6: bool, code: &'static str) -> Result<Option<Cidr>, ApiError> {
    match raw.get(f) {
        None => Ok(None),
        Some(s) => Cidr::parse(s.trim(), v6)
            .map(Some)
            .ok_or_else(|| ApiError::invalid(code, &raw.name(f))),
    }
}

fn both_families(raw: &RawRule, v4: Field, v6: Field, code: &'static str) -> Result<(), ApiError> {
    if raw.get(v4).is_some() && raw.get(v6).is_some() {
        return Err(ApiError::bad(
            code,
            format!(
                "The parameters \"{}\" and \"{}\" cannot be given together.",
                raw.name(v4),
                raw.name(v6)
            ),
        ));
    }
    Ok(())
}

/// The peer (exactly one kind; a CIDR wins over a group, both over a prefix
/// list, reference 2.3) and the optional local address.
fn addresses(raw: &RawRule, side: &Side) -> Result<(Peer, Option<Cidr>), ApiError> {
    let source_or_dest_ip = side.peer_code("InvalidParam.SourceIp", "InvalidParam.DestIp");
    both_families(raw, side.v4, side.v6, source_or_dest_ip)?;
    let local_ip = side.local_code("InvalidParam.SourceIp", "InvalidParam.DestIp");
    both_families(raw, side.local_v4, side.local_v6, local_ip)?;
    let v4_code = |code: fn(&Side, &'static str, &'static str) -> &'static str| {
        code(
            side,
            "InvalidSourceCidrIp.Malformed",
            "InvalidDestCidrIp.Malformed",
        )
    };
    let v6_code = |code: fn(&Side, &'static str, &'static str) -> &'static str| {
        code(
            side,
            "InvalidParam.Ipv6SourceCidrIp",
            "InvalidParam.Ipv6DestCidrIp",
        )
    };
    let peer_v4 = cidr(raw, side.v4, false, v4_code(Side::peer_code))?;
    let peer_v6 = cidr(raw, side.v6, true, v6_code(Side::peer_code))?;
    let peer = if let Some(c) = peer_v4.or(peer_v6) {
        Peer::Cidr(c)
    } else if let Some(g) = raw.get(side.group) {
        Peer::Group {
            id: g.trim().to_owned(),
            owner: raw
                .get(side.owner_account)
                .or_else(|| raw.get(side.owner_id))
                .unwrap_or_default()
                .to_owned(),
        }
    } else if let Some(p) = raw.get(side.prefix_list) {
        Peer::PrefixList(p.trim().to_owned())
    } else {
        return Err(ApiError::bad(
            side.peer_code("MissingParameter.Source", "MissingParameter.Dest"),
            format!(
                "One of {}, {}, {} or {} must be given.",
                raw.name(side.v4),
                raw.name(side.v6),
                raw.name(side.group),
                raw.name(side.prefix_list)
            ),
        ));
    };
    let local = match cidr(raw, side.local_v4, false, v4_code(Side::local_code))? {
        Some(c) => Some(c),
        None => cidr(raw, side.local_v6, true, v6_code(Side::local_code))?,
    };
    if let (Peer::Cidr(p), Some(l)) = (&peer, local)
        && *p == l
    {
        // Misspelt as the service spells it (reference 3).
        return Err(ApiError::bad(
            "InvalidParamter.Conflict",
            "The source and destination addresses of a rule cannot be the same.",
        ));
    }
    Ok((peer, local))
}

/// ICMP takes IPv4 addresses only, ICMPv6 IPv6 ones only.
fn address_family(protocol: &str, peer: &Peer, local: Option<Cidr>) -> Result<(), ApiError> {
    let peer_cidr = match peer {
        Peer::Cidr(c) => Some(*c),
        _ => None,
    };
    let mut cidrs = [peer_cidr, local].into_iter().flatten();
    if protocol == "icmp" && cidrs.clone().any(Cidr::is_v6) {
        return Err(ApiError::bad(
            "InvalidParam.Ipv4ProtocolConflictWithIpv6Address",
            "ICMP rules take IPv4 addresses only; use ICMPv6 for IPv6.",
        ));
    }
    if protocol == "icmpv6" && cidrs.any(|c| !c.is_v6()) {
        return Err(ApiError::bad(
            "InvalidParam.Ipv6ProtocolConflictWithIpv4Address",
            "ICMPv6 rules take IPv6 addresses only; use ICMP for IPv4.",
        ));
    }
    Ok(())
}

/// `NicType`: VPC groups hold only `intranet` rules whatever is sent
/// (reference 2.2, 3); classic groups default to `internet`, and rules that
/// reference a group must be `intranet`.
fn nic_type(raw: &RawRule, ctx: RuleContext, peer: &Peer) -> Result<&'static str, ApiError> {
    let given = match raw.get(Field::NicType) {
        None => None,
        Some(n) if n.eq_ignore_ascii_case("intranet") => Some("intranet"),
        Some(n) if n.eq_ignore_ascii_case("internet") => Some("internet"),
        Some(_) => {
            return Err(ApiError::invalid(
                "InvalidNicType.ValueNotSupported",
                &raw.name(Field::NicType),
            ));
        }
    };
    if !ctx.classic {
        return Ok("intranet");
    }
    let is_group = matches!(peer, Peer::Group { .. });
    match given {
        Some("internet") if is_group => Err(ApiError::bad(
            "InvalidNicType.Mismatch",
            "Rules that reference a security group must use NicType intranet.",
        )),
        Some(n) => Ok(n),
        None if is_group => Ok("intranet"),
        // The documented default for classic groups.
        None => Ok("internet"),
    }
}

/// The rule fields a Modify request gives at the top level.
pub(crate) fn top_level_fields(params: &Params) -> RawRule {
    let mut request = RawRule::default();
    for f in Field::ALL {
        if let Some(v) = params.get(f.name()) {
            request.set(f, v);
        }
    }
    request
}

/// The rule a ModifySecurityGroupRule / ModifySecurityGroupEgressRule request
/// asks for: the stored rule with the given fields laid over it, under the
/// restrictions of reference 2.5. Empty fields change nothing (a field cannot
/// be cleared).
pub(crate) fn modified_rule(
    existing: &Rule,
    request: &RawRule,
    ctx: RuleContext,
) -> Result<ValidRule, ApiError> {
    let id = &existing.identity;
    let side = Side::of(ctx.direction);
    let entity_change = || {
        ApiError::bad(
            "InvalidOperation.ModifySgRuleEntityType",
            "The kind of authorization object of a rule cannot be changed.",
        )
    };
    let kind = id.peer.kind();
    for (f, k) in [
        (side.v4, PeerKind::V4),
        (side.v6, PeerKind::V6),
        (side.group, PeerKind::Group),
        (side.prefix_list, PeerKind::PrefixList),
    ] {
        if request.get(f).is_some() && k != kind {
            return Err(entity_change());
        }
    }
    if let Some(local) = id.local {
        let wrong = if local.is_v6() {
            side.local_v4
        } else {
            side.local_v6
        };
        if request.get(wrong).is_some() {
            return Err(entity_change());
        }
    }
    if let Some(n) = request.get(Field::NicType)
        && !n.eq_ignore_ascii_case(id.nic_type)
    {
        return Err(ApiError::bad(
            "InvalidOperation.ModifyNicType",
            "The NicType of a rule cannot be changed.",
        ));
    }
    let port_type_change = match id.ports {
        Ports::Range(..) => {
            request.get(Field::PortRange).is_none() && request.get(Field::PortRangeListId).is_some()
        }
        Ports::List(_) => request.get(Field::PortRange).is_some(),
    };
    if port_type_change {
        return Err(ApiError::bad(
            "InvalidOperation.ModifyPortRangeType",
            "A rule cannot switch between PortRange and PortRangeListId.",
        ));
    }
    let mut merged = RawRule::from_stored(existing);
    for f in Field::ALL {
        if let Some(v) = request.get(f) {
            merged.set(f, v);
        }
    }
    validate(&merged, ctx)
}

/// The rule a legacy Modify request names by its fields (no
/// `SecurityGroupRuleId`, the 2019-era form Terraform and `pop-core` still
/// send): protocol, ports and peer must match; policy, NIC type, source
/// ports, the second address and priority must match when given and match
/// anything when left out.
#[derive(Clone, Debug)]
pub(crate) struct RulePattern {
    identity: RuleIdentity,
    policy: bool,
    nic_type: bool,
    source_ports: bool,
    local: bool,
    priority: Option<i64>,
    /// The description to set, when given.
    pub description: Option<String>,
}

impl RulePattern {
    pub(crate) fn matches(&self, rule: &Rule) -> bool {
        let (want, have) = (&self.identity, &rule.identity);
        want.direction == have.direction
            && want.protocol == have.protocol
            && want.ports == have.ports
            && want.peer == have.peer
            && (!self.policy || want.drop == have.drop)
            && (!self.nic_type || want.nic_type == have.nic_type)
            && (!self.source_ports || want.source_ports == have.source_ports)
            && (!self.local || want.local == have.local)
            && self.priority.is_none_or(|p| p == rule.priority)
    }
}

/// Reads a legacy Modify request's fields into a pattern; they are checked
/// as an Authorize request's would be.
pub(crate) fn rule_pattern(request: &RawRule, ctx: RuleContext) -> Result<RulePattern, ApiError> {
    let valid = validate(request, ctx)?;
    let side = Side::of(ctx.direction);
    Ok(RulePattern {
        identity: valid.identity,
        policy: request.get(Field::Policy).is_some(),
        nic_type: request.get(Field::NicType).is_some(),
        source_ports: request.get(Field::SourcePortRange).is_some(),
        local: request.get(side.local_v4).is_some() || request.get(side.local_v6).is_some(),
        priority: request.get(Field::Priority).map(|_| valid.priority),
        description: request.get(Field::Description).map(|_| valid.description),
    })
}
