//! Rules as requests give them: the rule fields under their API names, and
//! reading `Permissions.N.*`, the legacy top-level fields and
//! `SecurityGroupRuleId.N` (reference 2.3, 2.4, 2.5). Checking the values is
//! `validate.rs`'s business.

use moat_wire::Permission;

use crate::error::ApiError;
use crate::model::{Direction, Rule, render_rule};
use crate::params::Params;

/// Most `Permissions.N` entries or rule ids one call may carry.
pub const MAX_ENTRIES_PER_CALL: usize = 100;

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
    pub(crate) const ALL: [Field; FIELD_COUNT] = [
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

    pub(crate) fn name(self) -> &'static str {
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
    /// True when no field is given.
    pub(crate) fn is_empty(&self) -> bool {
        Field::ALL.into_iter().all(|f| self.get(f).is_none())
    }

    pub(crate) fn get(&self, f: Field) -> Option<&str> {
        self.values[f.index()].as_deref().filter(|v| !v.is_empty())
    }

    pub(crate) fn set(&mut self, f: Field, value: &str) {
        self.values[f.index()] = Some(value.to_owned());
    }

    pub(crate) fn name(&self, f: Field) -> String {
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

    pub(crate) fn from_stored(rule: &Rule) -> RawRule {
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
