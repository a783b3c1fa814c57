//! The ECS read actions of security groups: DescribeSecurityGroups and
//! DescribeSecurityGroupAttribute.

use std::collections::{BTreeMap, HashSet};

use moat_wire::{
    DescribeSecurityGroupAttributeResponse, DescribeSecurityGroupsResponse, LooseString,
    Permissions, SecurityGroup, SecurityGroups, Tag, Tags,
};

use super::tags::{self, TagUse};
use super::{bad_next_token, int_param, required};
use crate::clock::format_timestamp;
use crate::error::ApiError;
use crate::model::{Direction, Group, GroupType, Rule, render_rule};
use crate::persist::valid_group_id;
use crate::product::{Answer, Call, Cloud};

/// Most ids in a `SecurityGroupIds` filter.
const MAX_FILTER_IDS: usize = 100;

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// DescribeSecurityGroups: filters, then token or legacy paging
/// (reference 2.1, 4.2).
pub(crate) fn describe_groups(cloud: &Cloud, call: &Call) -> Result<Answer, ApiError> {
    let (state, region, params) = (&cloud.state, call.region, call.params);
    if params
        .get("DryRun")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        // The HTTP status of DryRunOperation is UNCONFIRMED (reference 4.4).
        return Err(ApiError::bad(
            "DryRunOperation",
            "Request validation has been passed with DryRun flag set.",
        ));
    }
    let ids_filter: Option<HashSet<String>> = match params.get("SecurityGroupIds") {
        None => None,
        Some(json) => {
            let ids: Vec<String> = serde_json::from_str(json)
                .map_err(|_| ApiError::invalid("InvalidParameter", "SecurityGroupIds"))?;
            if ids.len() > MAX_FILTER_IDS {
                return Err(ApiError::invalid("InvalidParameter", "SecurityGroupIds"));
            }
            Some(ids.into_iter().collect())
        }
    };
    let id_filter = params.get("SecurityGroupId");
    let vpc = params.get("VpcId");
    let name = params.get("SecurityGroupName");
    let rg = params.get("ResourceGroupId");
    let group_type = match params.get("SecurityGroupType") {
        None => None,
        Some(t) => Some(GroupType::parse(t).ok_or_else(|| {
            ApiError::invalid("InvalidParameter.SecurityGroupType", "SecurityGroupType")
        })?),
    };
    let network = match params.get("NetworkType") {
        None => None,
        Some(n) if n.eq_ignore_ascii_case("vpc") => Some(false),
        Some(n) if n.eq_ignore_ascii_case("classic") => Some(true),
        Some(_) => return Err(ApiError::invalid("InvalidParameter", "NetworkType")),
    };
    let tags = tags::read_tags(params, TagUse::Filter)?;
    let keep = |g: &Group| {
        id_filter.is_none_or(|id| g.id == id)
            && ids_filter.as_ref().is_none_or(|ids| ids.contains(&g.id))
            && vpc.is_none_or(|v| g.vpc_id == v)
            && name.is_none_or(|n| g.name == n)
            && rg.is_none_or(|r| g.resource_group_id == r)
            && group_type.is_none_or(|t| g.group_type == t)
            && network.is_none_or(|classic| g.is_classic() == classic)
            && tags.iter().all(|t| t.matches(&g.tags))
    };
    let empty = BTreeMap::new();
    let groups = state.regions.get(region).unwrap_or(&empty);
    let render = |g: &Group| SecurityGroup {
        security_group_id: LooseString(g.id.clone()),
        security_group_name: LooseString(g.name.clone()),
        description: LooseString(g.description.clone()),
        security_group_type: LooseString(g.group_type.as_str().to_owned()),
        vpc_id: LooseString(g.vpc_id.clone()),
        creation_time: LooseString(format_timestamp(g.creation_time)),
        ecs_count: 0,
        available_instance_amount: 0,
        resource_group_id: LooseString(g.resource_group_id.clone()),
        service_managed: false,
        tags: Tags {
            tag: g
                .tags
                .iter()
                .map(|t| Tag {
                    tag_key: LooseString(t.key.clone()),
                    tag_value: LooseString(t.value.clone()),
                })
                .collect(),
        },
        rule_count: g.rule_count() as i64,
        group_to_group_rule_count: g.group_reference_count() as i64,
    };
    let token_style = params.get("MaxResults").is_some() || params.get("NextToken").is_some();
    let legacy_style = params.get("PageNumber").is_some() || params.get("PageSize").is_some();
    let mut out = DescribeSecurityGroupsResponse {
        region_id: LooseString(region.to_owned()),
        ..DescribeSecurityGroupsResponse::default()
    };
    if token_style {
        if legacy_style {
            return Err(ApiError::bad(
                "NotSupported.PageNumberAndPageSize",
                "PageNumber and PageSize cannot be used together with MaxResults and NextToken.",
            ));
        }
        let max = int_param(params, "MaxResults", "InvalidParameter")?.unwrap_or(10);
        if !(1..=100).contains(&max) {
            return Err(ApiError::invalid("InvalidParameter", "MaxResults"));
        }
        // The token is the hex of the last id of the previous page, so that
        // groups created or deleted between pages neither repeat nor vanish.
        let after = match params.get("NextToken") {
            None => None,
            Some(t) => Some(
                hex_decode(t)
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|id| valid_group_id(id))
                    .ok_or_else(bad_next_token)?,
            ),
        };
        let iter: Box<dyn Iterator<Item = &Group>> = match &after {
            Some(a) => Box::new(
                groups
                    .range::<str, _>((
                        std::ops::Bound::Excluded(a.as_str()),
                        std::ops::Bound::Unbounded,
                    ))
                    .map(|(_, g)| g),
            ),
            None => Box::new(groups.values()),
        };
        let mut page: Vec<&Group> = iter.filter(|g| keep(g)).take(max as usize + 1).collect();
        if page.len() > max as usize {
            page.truncate(max as usize);
            if let Some(last) = page.last() {
                out.next_token = LooseString(hex_encode(last.id.as_bytes()));
            }
        }
        out.security_groups = SecurityGroups {
            security_group: page.into_iter().map(render).collect(),
        };
    } else {
        let number = int_param(params, "PageNumber", "InvalidParameter")?.unwrap_or(1);
        let size = int_param(params, "PageSize", "InvalidParameter")?.unwrap_or(10);
        if number < 1 {
            return Err(ApiError::invalid("InvalidParameter", "PageNumber"));
        }
        if !(1..=50).contains(&size) {
            return Err(ApiError::invalid("InvalidParameter", "PageSize"));
        }
        let all: Vec<&Group> = groups.values().filter(|g| keep(g)).collect();
        let skip = usize::try_from((number - 1).saturating_mul(size)).unwrap_or(usize::MAX);
        out.total_count = Some(all.len() as i64);
        out.page_number = Some(number);
        out.page_size = Some(size);
        out.security_groups = SecurityGroups {
            security_group: all
                .into_iter()
                .skip(skip)
                .take(size as usize)
                .map(render)
                .collect(),
        };
    }
    Ok(Answer::of(&out))
}

/// DescribeSecurityGroupAttribute: one group's rules, paged by position
/// (reference 2.2, 4.1).
pub(crate) fn describe_attribute(cloud: &Cloud, call: &Call) -> Result<Answer, ApiError> {
    let (state, region, params) = (&cloud.state, call.region, call.params);
    let gid = required(params, "SecurityGroupId")?;
    // InvalidParamter (sic) is listed for this action (reference 4.4); which
    // parameters it covers is UNCONFIRMED.
    let direction = match params.get("Direction") {
        None => None,
        Some(d) if d.eq_ignore_ascii_case("all") => None,
        Some(d) => Some(
            Direction::parse(d).ok_or_else(|| ApiError::invalid("InvalidParamter", "Direction"))?,
        ),
    };
    let max = int_param(params, "MaxResults", "InvalidParamter")?.unwrap_or(500);
    if !(10..=1000).contains(&max) {
        return Err(ApiError::invalid("InvalidParamter", "MaxResults"));
    }
    let snapshot_policy_ids = match params.get("Attribute") {
        None => false,
        Some("snapshotPolicyIds") => true,
        Some(_) => {
            return Err(ApiError::bad(
                "InvalidParameter.AttributeNotSupported",
                "The specified Attribute is not supported.",
            ));
        }
    };
    let nic = match params.get("NicType") {
        None => None,
        Some(n) if n.eq_ignore_ascii_case("internet") => Some("internet"),
        Some(n) if n.eq_ignore_ascii_case("intranet") => Some("intranet"),
        Some(_) => {
            return Err(ApiError::invalid(
                "InvalidNicType.ValueNotSupported",
                "NicType",
            ));
        }
    };
    // The token is the position of the last rule of the previous page.
    let after = match params.get("NextToken") {
        None => 0,
        Some(t) if t.len() == 16 => u64::from_str_radix(t, 16).map_err(|_| bad_next_token())?,
        Some(_) => return Err(bad_next_token()),
    };
    let groups = state
        .regions
        .get(region)
        .ok_or_else(ApiError::group_not_found)?;
    let group = groups.get(gid).ok_or_else(ApiError::group_not_found)?;
    // A classic group answers for one NIC type per call, internet by
    // default; a VPC group has only intranet rules (reference 2.2).
    let nic = if group.is_classic() {
        Some(nic.unwrap_or("internet"))
    } else {
        None
    };
    let mut page: Vec<(u64, &Rule)> = group
        .rules_after(after)
        .filter(|(_, r)| direction.is_none_or(|d| r.identity.direction == d))
        .filter(|(_, r)| nic.is_none_or(|n| r.identity.nic_type == n))
        .take(max as usize + 1)
        .collect();
    let mut next_token = LooseString::default();
    if page.len() > max as usize {
        page.truncate(max as usize);
        if let Some((seq, _)) = page.last() {
            next_token = LooseString(format!("{seq:016x}"));
        }
    }
    let name_of = |id: &str| groups.get(id).map(|g| g.name.as_str());
    let body = DescribeSecurityGroupAttributeResponse {
        request_id: LooseString::default(),
        region_id: LooseString(region.to_owned()),
        security_group_id: LooseString(group.id.clone()),
        security_group_name: LooseString(group.name.clone()),
        description: LooseString(group.description.clone()),
        vpc_id: LooseString(group.vpc_id.clone()),
        inner_access_policy: LooseString(group.group_type.inner_access_policy().to_owned()),
        next_token,
        permissions: Permissions {
            permission: page
                .into_iter()
                .map(|(_, r)| render_rule(r, name_of))
                .collect(),
        },
    };
    let answer = Answer::of(&body);
    Ok(if snapshot_policy_ids {
        answer.with(
            "SnapshotPolicyIds",
            serde_json::json!({"SnapshotPolicyId": []}),
        )
    } else {
        answer
    })
}
