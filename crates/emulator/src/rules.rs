//! Rules as requests give them: reading `Permissions.N.*`, the legacy
//! top-level fields and `SecurityGroupRuleId.N`, and validating one rule
//! into its normalised identity (reference 2.3, 2.4, 2.5, 3).

use moat_wire::Permission;

use crate::error::ApiError;
use crate::model::{Cidr, Direction, Peer, PeerKind, Ports, Rule, RuleIdentity, render_rule};
use crate::params::Params;

/// Most `Permissions.N` entries or rule ids one call may carry.
pub const MAX_ENTRIES_PER_CALL: usize = 100;
/// Longest rule description, in characters.
pub const MAX_RULE_DESCRIPTION_CHARS: usize = 512;

/// The rule fields of a request, under their API names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    IpProtocol,
    PortRange,
    SourcePortRange,
    Policy,
    Priority,
    NicType,
    Description,
    SourceCidrIp,
    Ipv6SourceCidrIp,
    SourceGroupId,
    SourceGroupOwnerAccount,
    SourceGroupOwnerId,
    SourcePrefixListId,
    DestCidrIp,
    Ipv6DestCidrIp,
    DestGroupId,
    DestGroupOwnerAccount,
    DestGroupOwnerId,
    DestPrefixListId,
    PortRangeListId,
}

const FIELD_COUNT: usize = 20;

impl Field {
    const ALL: [Field; FIELD_COUNT] = [
        Field::IpProtocol,
        Field::PortRange,
        Field::SourcePortRange,
        Field::Policy,
        Field::Priority,
        Field::NicType,
        Field::Description,
        Field::SourceCidrIp,
        Field::Ipv6SourceCidrIp,
        Field::SourceGroupId,
        Field::SourceGroupOwnerAccount,
        Field::SourceGroupOwnerId,
        Field::SourcePrefixListId,
        Field::DestCidrIp,
        Field::Ipv6DestCidrIp,
        Field::DestGroupId,
        Field::DestGroupOwnerAccount,
        Field::DestGroupOwnerId,
        Field::DestPrefixListId,
        Field::PortRangeListId,
    ];

    fn name(self) -> &'static str {
        match self {
            Field::IpProtocol => "IpProtocol",
            Field::PortRange => "PortRange",
            Field::SourcePortRange => "SourcePortRange",
            Field::Policy => "Policy",
            Field::Priority => "Priority",
            Field::NicType => "NicType",
            Field::Description => "Description",
            Field::SourceCidrIp => "SourceCidrIp",
            Field::Ipv6SourceCidrIp => "Ipv6SourceCidrIp",
            Field::SourceGroupId => "SourceGroupId",
            Field::SourceGroupOwnerAccount => "SourceGroupOwnerAccount",
            Field::SourceGroupOwnerId => "SourceGroupOwnerId",
            Field::SourcePrefixListId => "SourcePrefixListId",
            Field::DestCidrIp => "DestCidrIp",
            Field::Ipv6DestCidrIp => "Ipv6DestCidrIp",
            Field::DestGroupId => "DestGroupId",
            Field::DestGroupOwnerAccount => "DestGroupOwnerAccount",
            Field::DestGroupOwnerId => "DestGroupOwnerId",
            Field::DestPrefixListId => "DestPrefixListId",
            Field::PortRangeListId => "PortRangeListId",
        }
    }

    fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Whether the field exists as a legacy top-level parameter of the
    /// direction's Authorize/Revoke actions (reference 2.3).
    fn is_legacy(self, direction: Direction) -> bool {
        match self {
            Field::PortRangeListId => false,
            Field::SourceGroupId
            | Field::SourceGroupOwnerAccount
            | Field::SourceGroupOwnerId
            | Field::SourcePrefixListId => direction == Direction::Ingress,
            Field::DestGroupId
            | Field::DestGroupOwnerAccount
            | Field::DestGroupOwnerId
            | Field::DestPrefixListId => direction == Direction::Egress,
            _ => true,
        }
    }
}

/// One rule's fields as given, before validation. `prefix` is how its
/// parameter names start (`Permissions.3.`, or nothing for top-level
/// fields), for error messages.
#[derive(Clone, Debug, Default)]
pub(crate) struct RawRule {
    pub prefix: String,
    values: [Option<String>; FIELD_COUNT],
}

impl RawRule {
    fn get(&self, f: Field) -> Option<&str> {
        self.values[f.index()].as_deref().filter(|v| !v.is_empty())
    }

    fn set(&mut self, f: Field, value: &str) {
        self.values[f.index()] = Some(value.to_owned());
    }

    fn name(&self, f: Field) -> String {
        format!("{}{}", self.prefix, f.name())
    }

    /// The fields of a rule in answer form (a seeded or stored rule).
    pub(crate) fn from_permission(p: &Permission, prefix: String) -> RawRule {
        let mut raw = RawRule {
            prefix,
            ..RawRule::default()
        };
        let priority = p.priority.0.map(|v| v.to_string()).unwrap_or_default();
        let pairs: [(Field, &str); FIELD_COUNT] = [
            (Field::IpProtocol, p.ip_protocol.as_str()),
            (Field::PortRange, p.port_range.as_str()),
            (Field::SourcePortRange, p.source_port_range.as_str()),
            (Field::Policy, p.policy.as_str()),
            (Field::Priority, &priority),
            (Field::NicType, p.nic_type.as_str()),
            (Field::Description, p.description.as_str()),
            (Field::SourceCidrIp, p.source_cidr_ip.as_str()),
            (Field::Ipv6SourceCidrIp, p.ipv6_source_cidr_ip.as_str()),
            (Field::SourceGroupId, p.source_group_id.as_str()),
            (
                Field::SourceGroupOwnerAccount,
                p.source_group_owner_account.as_str(),
            ),
            (Field::SourceGroupOwnerId, ""),
            (Field::SourcePrefixListId, p.source_prefix_list_id.as_str()),
            (Field::DestCidrIp, p.dest_cidr_ip.as_str()),
            (Field::Ipv6DestCidrIp, p.ipv6_dest_cidr_ip.as_str()),
            (Field::DestGroupId, p.dest_group_id.as_str()),
            (
                Field::DestGroupOwnerAccount,
                p.dest_group_owner_account.as_str(),
            ),
            (Field::DestGroupOwnerId, ""),
            (Field::DestPrefixListId, p.dest_prefix_list_id.as_str()),
            (Field::PortRangeListId, p.port_range_list_id.as_str()),
        ];
        for (f, v) in pairs {
            if !v.is_empty() {
                raw.set(f, v);
            }
        }
        raw
    }

    fn from_stored(rule: &Rule) -> RawRule {
        RawRule::from_permission(&render_rule(rule, |_| None), String::new())
    }
}

/// How an Authorize or Revoke request names its rules.
#[derive(Debug)]
pub(crate) enum RuleSelection {
    Rules(Vec<RawRule>),
    Ids(Vec<String>),
}

/// Reads the rules of an Authorize (`allow_ids` false) or Revoke request:
/// `Permissions.N.*`, or the legacy top-level fields, or (Revoke only)
/// `SecurityGroupRuleId.N`. Mixing forms is refused.
pub(crate) fn read_selection(
    params: &Params,
    direction: Direction,
    allow_ids: bool,
) -> Result<RuleSelection, ApiError> {
    let permissions = read_permissions(params)?;
    let ids = if allow_ids {
        read_rule_ids(params)?
    } else {
        Vec::new()
    };
    let legacy = Field::ALL
        .into_iter()
        .any(|f| f.is_legacy(direction) && params.get(f.name()).is_some());
    // The code for combining rule ids with Permissions is UNCONFIRMED
    // (reference 2.4 only says it is not allowed); InvalidParam.Permissions
    // is the documented code for mixing the other two forms.
    if (legacy && !permissions.is_empty())
        || (!ids.is_empty() && (legacy || !permissions.is_empty()))
    {
        return Err(ApiError::bad(
            "InvalidParam.Permissions",
            "Permissions, SecurityGroupRuleId.N and the top-level rule parameters cannot be combined.",
        ));
    }
    if !ids.is_empty() {
        return Ok(RuleSelection::Ids(ids));
    }
    if !permissions.is_empty() {
        return Ok(RuleSelection::Rules(permissions));
    }
    if legacy {
        let mut raw = RawRule::default();
        for f in Field::ALL {
            if f.is_legacy(direction)
                && let Some(v) = params.raw(f.name())
            {
                raw.set(f, v);
            }
        }
        return Ok(RuleSelection::Rules(vec![raw]));
    }
    Err(ApiError::missing("MissingParameter", "Permissions"))
}

/// `Permissions.N.Field` entries, ordered by N. Gaps in N are accepted
/// (UNCONFIRMED whether the service does, reference 7.4); N runs 1..=100.
fn read_permissions(params: &Params) -> Result<Vec<RawRule>, ApiError> {
    let mut by_index: std::collections::BTreeMap<usize, RawRule> = Default::default();
    for (name, value) in params.with_prefix("Permissions.") {
        let rest = &name["Permissions.".len()..];
        let Some((n, field)) = rest.split_once('.') else {
            continue;
        };
        let index = parse_index(n).ok_or_else(|| too_many_or_bad(name))?;
        // Members the emulator does not know are ignored, as the service
        // ignores parameters it does not take.
        let Some(field) = Field::from_name(field) else {
            continue;
        };
        by_index
            .entry(index)
            .or_insert_with(|| RawRule {
                prefix: format!("Permissions.{index}."),
                ..RawRule::default()
            })
            .set(field, value);
    }
    Ok(by_index.into_values().collect())
}

/// `SecurityGroupRuleId.N` values, ordered by N.
fn read_rule_ids(params: &Params) -> Result<Vec<String>, ApiError> {
    let mut by_index = std::collections::BTreeMap::new();
    for (name, value) in params.with_prefix("SecurityGroupRuleId.") {
        let index = parse_index(&name["SecurityGroupRuleId.".len()..])
            .ok_or_else(|| too_many_or_bad(name))?;
        if !value.is_empty() {
            by_index.insert(index, value.to_owned());
        }
    }
    Ok(by_index.into_values().collect())
}

fn parse_index(s: &str) -> Option<usize> {
    if s.is_empty() || s.len() > 3 || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse()
        .ok()
        .filter(|n| (1..=MAX_ENTRIES_PER_CALL).contains(n))
}

fn too_many_or_bad(name: &str) -> ApiError {
    // The code for an index beyond 100 is UNCONFIRMED; the array-level
    // InvalidParam.Permissions is the closest documented one.
    ApiError::bad(
        "InvalidParam.Permissions",
        format!(
            "The parameter \"{name}\" is not valid: indexes run from 1 to {MAX_ENTRIES_PER_CALL}."
        ),
    )
}

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

const PROTOCOLS: [&str; 6] = ["tcp", "udp", "icmp", "icmpv6", "gre", "all"];

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
fn check_range(
    raw: &RawRule,
    field: Field,
    protocol: &str,
    value: &str,
    malformed: &'static str,
) -> Result<(i32, i32), ApiError> {
    let (a, b) = port_pair(value).ok_or_else(|| ApiError::invalid(malformed, &raw.name(field)))?;
    let takes_ports = matches!(protocol, "tcp" | "udp");
    let numeric = protocol.bytes().all(|c| c.is_ascii_digit());
    if (a, b) == (-1, -1) {
        if takes_ports {
            return Err(ApiError::bad(
                "InvalidParam.ProtocolAndPortRangeMismatch",
                format!(
                    "The parameter \"{}\" must be a range of ports for {}.",
                    raw.name(field),
                    protocol.to_ascii_uppercase()
                ),
            ));
        }
        return Ok((a, b));
    }
    if !takes_ports && !numeric {
        return Err(ApiError::bad(
            "InvalidParam.ProtocolAndPortRangeMismatch",
            format!(
                "The parameter \"{}\" must be -1/-1 for {}.",
                raw.name(field),
                protocol.to_ascii_uppercase()
            ),
        ));
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

/// Validates one rule and normalises it (reference 2.3, 3): lowercase
/// protocol, explicit ports, canonical CIDRs, defaults filled in.
pub(crate) fn validate(raw: &RawRule, ctx: RuleContext) -> Result<ValidRule, ApiError> {
    let dir = ctx.direction;

    let protocol = raw
        .get(Field::IpProtocol)
        .ok_or_else(|| ApiError::missing("MissingParameter", &raw.name(Field::IpProtocol)))?
        .to_ascii_lowercase();
    let numeric = !protocol.is_empty()
        && protocol.len() <= 3
        && protocol.bytes().all(|c| c.is_ascii_digit())
        && protocol.parse::<u16>().is_ok_and(|n| n <= 255);
    if !PROTOCOLS.contains(&protocol.as_str()) && !numeric {
        return Err(ApiError::bad(
            "InvalidIpProtocol.ValueNotSupported",
            format!(
                "The specified IpProtocol \"{}\" is not supported.",
                raw.get(Field::IpProtocol).unwrap_or_default()
            ),
        ));
    }
    let takes_ports = matches!(protocol.as_str(), "tcp" | "udp");

    let ports = match (raw.get(Field::PortRange), raw.get(Field::PortRangeListId)) {
        (Some(pr), _) => {
            let (a, b) = check_range(
                raw,
                Field::PortRange,
                &protocol,
                pr,
                "InvalidPortRange.Malformed",
            )?;
            Ports::Range(a, b)
        }
        (None, Some(list)) => Ports::List(list.to_owned()),
        (None, None) if takes_ports => {
            return Err(ApiError::missing(
                "InvalidParam.PortRange",
                &raw.name(Field::PortRange),
            ));
        }
        (None, None) => Ports::Range(-1, -1),
    };
    let source_ports = match raw.get(Field::SourcePortRange) {
        None => None,
        Some(v) => {
            let pair = port_pair(v).ok_or_else(|| {
                ApiError::invalid(
                    "InvalidSourcePortRange.Malformed",
                    &raw.name(Field::SourcePortRange),
                )
            })?;
            // `-1/-1` means "any source port", the same as leaving it out.
            if pair == (-1, -1) {
                None
            } else {
                Some(check_range(
                    raw,
                    Field::SourcePortRange,
                    &protocol,
                    v,
                    "InvalidSourcePortRange.Malformed",
                )?)
            }
        }
    };

    let drop = match raw.get(Field::Policy) {
        None => false,
        Some(p) if p.eq_ignore_ascii_case("accept") => false,
        Some(p) if p.eq_ignore_ascii_case("drop") => true,
        Some(_) => {
            return Err(ApiError::invalid(
                "InvalidPolicy.Malformed",
                &raw.name(Field::Policy),
            ));
        }
    };

    let priority = match raw.get(Field::Priority) {
        None => 1,
        Some(p) => {
            let v: i64 = p.trim().parse().map_err(|_| {
                ApiError::invalid("InvalidPriority.Malformed", &raw.name(Field::Priority))
            })?;
            let max = if ctx.wide_priority { 1000 } else { 100 };
            if !(1..=max).contains(&v) {
                return Err(ApiError::invalid(
                    "InvalidPriority.ValueNotSupported",
                    &raw.name(Field::Priority),
                ));
            }
            v
        }
    };

    let description = raw.get(Field::Description).unwrap_or_default().to_owned();
    if description.chars().count() > MAX_RULE_DESCRIPTION_CHARS {
        // The misspelt code is the service's own (reference 3).
        return Err(ApiError::bad(
            "InvalidSecurityGroupDiscription.Malformed",
            format!(
                "The parameter \"{}\" must be at most {MAX_RULE_DESCRIPTION_CHARS} characters.",
                raw.name(Field::Description)
            ),
        ));
    }

    // The peer is on the source side of an ingress rule, on the destination
    // side of an egress rule; the optional local address is opposite.
    let (v4, v6, gid, owner_account, owner_id, pl, local4, local6) = match dir {
        Direction::Ingress => (
            Field::SourceCidrIp,
            Field::Ipv6SourceCidrIp,
            Field::SourceGroupId,
            Field::SourceGroupOwnerAccount,
            Field::SourceGroupOwnerId,
            Field::SourcePrefixListId,
            Field::DestCidrIp,
            Field::Ipv6DestCidrIp,
        ),
        Direction::Egress => (
            Field::DestCidrIp,
            Field::Ipv6DestCidrIp,
            Field::DestGroupId,
            Field::DestGroupOwnerAccount,
            Field::DestGroupOwnerId,
            Field::DestPrefixListId,
            Field::SourceCidrIp,
            Field::Ipv6SourceCidrIp,
        ),
    };
    let side_code = |ingress: &'static str, egress: &'static str| match dir {
        Direction::Ingress => ingress,
        Direction::Egress => egress,
    };
    let local_code = |ingress: &'static str, egress: &'static str| match dir {
        Direction::Ingress => egress,
        Direction::Egress => ingress,
    };
    let cidr = |f: Field, v6: bool, code: &'static str| -> Result<Option<Cidr>, ApiError> {
        match raw.get(f) {
            None => Ok(None),
            Some(s) => Cidr::parse(s.trim(), v6)
                .map(Some)
                .ok_or_else(|| ApiError::invalid(code, &raw.name(f))),
        }
    };
    if raw.get(v4).is_some() && raw.get(v6).is_some() {
        return Err(ApiError::bad(
            side_code("InvalidParam.SourceIp", "InvalidParam.DestIp"),
            format!(
                "The parameters \"{}\" and \"{}\" cannot be given together.",
                raw.name(v4),
                raw.name(v6)
            ),
        ));
    }
    if raw.get(local4).is_some() && raw.get(local6).is_some() {
        return Err(ApiError::bad(
            local_code("InvalidParam.SourceIp", "InvalidParam.DestIp"),
            format!(
                "The parameters \"{}\" and \"{}\" cannot be given together.",
                raw.name(local4),
                raw.name(local6)
            ),
        ));
    }
    let peer_v4 = cidr(
        v4,
        false,
        side_code(
            "InvalidSourceCidrIp.Malformed",
            "InvalidDestCidrIp.Malformed",
        ),
    )?;
    let peer_v6 = cidr(
        v6,
        true,
        side_code(
            "InvalidParam.Ipv6SourceCidrIp",
            "InvalidParam.Ipv6DestCidrIp",
        ),
    )?;
    // Precedence when several kinds are given: a CIDR wins over a group, and
    // both over a prefix list (reference 2.3).
    let peer = if let Some(c) = peer_v4.or(peer_v6) {
        Peer::Cidr(c)
    } else if let Some(g) = raw.get(gid) {
        Peer::Group {
            id: g.trim().to_owned(),
            owner: raw
                .get(owner_account)
                .or_else(|| raw.get(owner_id))
                .unwrap_or_default()
                .to_owned(),
        }
    } else if let Some(p) = raw.get(pl) {
        Peer::PrefixList(p.trim().to_owned())
    } else {
        return Err(ApiError::bad(
            side_code("MissingParameter.Source", "MissingParameter.Dest"),
            format!(
                "One of {}, {}, {} or {} must be given.",
                raw.name(v4),
                raw.name(v6),
                raw.name(gid),
                raw.name(pl)
            ),
        ));
    };
    let local = match cidr(
        local4,
        false,
        local_code(
            "InvalidSourceCidrIp.Malformed",
            "InvalidDestCidrIp.Malformed",
        ),
    )? {
        Some(c) => Some(c),
        None => cidr(
            local6,
            true,
            local_code(
                "InvalidParam.Ipv6SourceCidrIp",
                "InvalidParam.Ipv6DestCidrIp",
            ),
        )?,
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
    let cidrs = [peer_v4.or(peer_v6), local];
    if protocol == "icmp" && cidrs.iter().flatten().any(|c| c.is_v6()) {
        return Err(ApiError::bad(
            "InvalidParam.Ipv4ProtocolConflictWithIpv6Address",
            "ICMP rules take IPv4 addresses only; use ICMPv6 for IPv6.",
        ));
    }
    if protocol == "icmpv6" && cidrs.iter().flatten().any(|c| !c.is_v6()) {
        return Err(ApiError::bad(
            "InvalidParam.Ipv6ProtocolConflictWithIpv4Address",
            "ICMPv6 rules take IPv6 addresses only; use ICMP for IPv4.",
        ));
    }

    let nic_given = match raw.get(Field::NicType) {
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
    let is_group = matches!(peer, Peer::Group { .. });
    let nic_type = if !ctx.classic {
        // VPC groups only have intranet rules; whatever is sent, intranet is
        // what they hold (reference 2.2, 3).
        "intranet"
    } else {
        match nic_given {
            Some("internet") if is_group => {
                return Err(ApiError::bad(
                    "InvalidNicType.Mismatch",
                    "Rules that reference a security group must use NicType intranet.",
                ));
            }
            Some(n) => n,
            None if is_group => "intranet",
            // The documented default for classic groups.
            None => "internet",
        }
    };

    Ok(ValidRule {
        identity: RuleIdentity {
            direction: dir,
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

/// The rule a ModifySecurityGroupRule / ModifySecurityGroupEgressRule request
/// asks for: the stored rule with the given fields laid over it, under the
/// restrictions of reference 2.5. Empty fields change nothing (a field cannot
/// be cleared).
pub(crate) fn modified_rule(
    existing: &Rule,
    params: &Params,
    ctx: RuleContext,
) -> Result<ValidRule, ApiError> {
    let mut request = RawRule::default();
    for f in Field::ALL {
        if let Some(v) = params.get(f.name()) {
            request.set(f, v);
        }
    }
    let id = &existing.identity;
    let (v4, v6, gid, pl, local4, local6) = match ctx.direction {
        Direction::Ingress => (
            Field::SourceCidrIp,
            Field::Ipv6SourceCidrIp,
            Field::SourceGroupId,
            Field::SourcePrefixListId,
            Field::DestCidrIp,
            Field::Ipv6DestCidrIp,
        ),
        Direction::Egress => (
            Field::DestCidrIp,
            Field::Ipv6DestCidrIp,
            Field::DestGroupId,
            Field::DestPrefixListId,
            Field::SourceCidrIp,
            Field::Ipv6SourceCidrIp,
        ),
    };
    let entity_change = || {
        ApiError::bad(
            "InvalidOperation.ModifySgRuleEntityType",
            "The kind of authorization object of a rule cannot be changed.",
        )
    };
    let kind = id.peer.kind();
    for (f, k) in [
        (v4, PeerKind::V4),
        (v6, PeerKind::V6),
        (gid, PeerKind::Group),
        (pl, PeerKind::PrefixList),
    ] {
        if request.get(f).is_some() && k != kind {
            return Err(entity_change());
        }
    }
    if let Some(local) = id.local {
        let wrong = if local.is_v6() { local4 } else { local6 };
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
