//! Request builders for each action, as pure functions from typed inputs to
//! an [`ApiRequest`], and the typed views of their answers. The client sends
//! what these build; tests and benchmarks can build and inspect requests
//! without a network.

use moat_policy::model::{Direction, Rule};
use moat_wire::{Action, SecurityGroup};

use crate::convert;
use crate::error::{CallError, CallErrorKind};
use crate::request::{ApiRequest, ClientToken};

/// Rules per authorize call and rule ids per revoke call (reference 5).
pub const MAX_BATCH: usize = 100;
/// The default quota of rules per security group, both directions together
/// (reference 5); accounts can have it raised.
pub const DEFAULT_RULES_PER_GROUP: usize = 200;
/// The quota of rules that reference another group, per basic group
/// (reference 5).
pub const MAX_GROUP_REFERENCE_RULES: usize = 20;
/// Page size of `DescribeSecurityGroups` (its maximum).
pub const GROUPS_PAGE_SIZE: u32 = 100;
/// Most group ids one `SecurityGroupIds` filter takes.
pub const MAX_GROUP_IDS_PER_FILTER: usize = 100;
/// Page size of `DescribeSecurityGroupAttribute` (its maximum).
pub const RULES_PAGE_SIZE: u32 = 1000;

/// Which groups `DescribeSecurityGroups` lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupFilter {
    /// Only these groups (the client splits more than 100 into several
    /// reads). Empty: every group of the region.
    pub ids: Vec<String>,
    pub vpc_id: Option<String>,
    pub name: Option<String>,
}

/// A group as `DescribeSecurityGroups` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSummary {
    pub id: String,
    pub name: String,
    pub description: String,
    pub vpc_id: String,
    /// `normal` (basic) or `enterprise` (advanced).
    pub group_type: String,
    pub creation_time: String,
    pub rule_count: i64,
}

impl From<&SecurityGroup> for GroupSummary {
    fn from(g: &SecurityGroup) -> GroupSummary {
        GroupSummary {
            id: g.security_group_id.to_string(),
            name: g.security_group_name.to_string(),
            description: g.description.to_string(),
            vpc_id: g.vpc_id.to_string(),
            group_type: g.security_group_type.to_string(),
            creation_time: g.creation_time.to_string(),
            rule_count: g.rule_count,
        }
    }
}

/// The inputs of `CreateSecurityGroup`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewGroup {
    pub name: String,
    pub description: Option<String>,
    pub vpc_id: Option<String>,
    /// `normal` (the API's default) or `enterprise`.
    pub group_type: Option<String>,
}

/// What a revoke achieved. Rule ids that no longer existed count as done:
/// the reconciler wanted them gone, and they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevokeReport {
    pub revoked: Vec<String>,
    pub already_absent: Vec<String>,
}

pub fn authorize_action(direction: Direction) -> Action {
    match direction {
        Direction::Ingress => Action::AuthorizeSecurityGroup,
        Direction::Egress => Action::AuthorizeSecurityGroupEgress,
    }
}

pub fn revoke_action(direction: Direction) -> Action {
    match direction {
        Direction::Ingress => Action::RevokeSecurityGroup,
        Direction::Egress => Action::RevokeSecurityGroupEgress,
    }
}

pub fn modify_action(direction: Direction) -> Action {
    match direction {
        Direction::Ingress => Action::ModifySecurityGroupRule,
        Direction::Egress => Action::ModifySecurityGroupEgressRule,
    }
}

/// One page of `DescribeSecurityGroups`.
pub fn describe_security_groups(
    region: &str,
    filter: &GroupFilter,
    next_token: Option<&str>,
) -> ApiRequest {
    let mut req = ApiRequest::new(Action::DescribeSecurityGroups, region)
        .with("MaxResults", GROUPS_PAGE_SIZE.to_string());
    if !filter.ids.is_empty() {
        // One parameter holding a JSON array (reference 1.2); serialising a
        // list of strings cannot fail.
        let ids = serde_json::to_string(&filter.ids).unwrap_or_default();
        req.set("SecurityGroupIds", ids);
    }
    if let Some(vpc) = &filter.vpc_id {
        req.set("VpcId", vpc.as_str());
    }
    if let Some(name) = &filter.name {
        req.set("SecurityGroupName", name.as_str());
    }
    if let Some(token) = next_token {
        req.set("NextToken", token);
    }
    req
}

/// One page of `DescribeSecurityGroupAttribute`; `direction` `None` reads
/// both directions.
pub fn describe_security_group_attribute(
    region: &str,
    group_id: &str,
    direction: Option<Direction>,
    page_size: u32,
    next_token: Option<&str>,
) -> ApiRequest {
    let mut req = ApiRequest::new(Action::DescribeSecurityGroupAttribute, region)
        .for_group(group_id)
        .with("Direction", direction.map_or("all", Direction::as_str))
        .with("MaxResults", page_size.to_string());
    if let Some(token) = next_token {
        req.set("NextToken", token);
    }
    req
}

fn check_batch(action: Action, group_id: &str, len: usize) -> Result<(), CallError> {
    if (1..=MAX_BATCH).contains(&len) {
        Ok(())
    } else {
        Err(CallError::before_sending(
            action,
            Some(group_id),
            CallErrorKind::BatchSize {
                len,
                max: MAX_BATCH,
            },
        ))
    }
}

/// `AuthorizeSecurityGroup[Egress]` with `Permissions.1..N` (1 to 100 rules,
/// all of `direction`).
pub fn authorize(
    region: &str,
    group_id: &str,
    direction: Direction,
    rules: &[Rule],
    token: &ClientToken,
) -> Result<ApiRequest, CallError> {
    let action = authorize_action(direction);
    check_batch(action, group_id, rules.len())?;
    if let Some(r) = rules.iter().find(|r| r.key.direction != direction) {
        return Err(CallError::before_sending(
            action,
            Some(group_id),
            CallErrorKind::MixedDirections {
                expected: direction,
                found: r.key.direction,
            },
        ));
    }
    let mut req = ApiRequest::new(action, region)
        .for_group(group_id)
        .with_client_token(token)
        .with_batch_size(rules.len());
    for (i, rule) in rules.iter().enumerate() {
        for (name, value) in convert::permission_params(rule, i + 1) {
            req.set(name, value);
        }
    }
    Ok(req)
}

/// `RevokeSecurityGroup[Egress]` by `SecurityGroupRuleId.1..N` (1 to 100).
pub fn revoke(
    region: &str,
    group_id: &str,
    direction: Direction,
    rule_ids: &[String],
    token: &ClientToken,
) -> Result<ApiRequest, CallError> {
    let action = revoke_action(direction);
    check_batch(action, group_id, rule_ids.len())?;
    let mut req = ApiRequest::new(action, region)
        .for_group(group_id)
        .with_client_token(token)
        .with_batch_size(rule_ids.len());
    for (i, id) in rule_ids.iter().enumerate() {
        req.set(format!("SecurityGroupRuleId.{}", i + 1), id.as_str());
    }
    Ok(req)
}

/// `ModifySecurityGroupRule` / `ModifySecurityGroupEgressRule` of rule
/// `rule_id`, to the priority and description of `rule` (its identity
/// fields are sent unchanged). An empty description leaves the live one as
/// it is: the API cannot clear a field (reference 2.5).
pub fn modify_rule(
    region: &str,
    group_id: &str,
    rule_id: &str,
    rule: &Rule,
    token: &ClientToken,
) -> ApiRequest {
    let mut req = ApiRequest::new(modify_action(rule.key.direction), region)
        .for_group(group_id)
        .with_client_token(token)
        .with("SecurityGroupRuleId", rule_id)
        .with_batch_size(1);
    for (name, value) in convert::modify_params(rule) {
        req.set(name, value);
    }
    req
}

pub fn create_security_group(region: &str, group: &NewGroup, token: &ClientToken) -> ApiRequest {
    let mut req = ApiRequest::new(Action::CreateSecurityGroup, region)
        .with_client_token(token)
        .with("SecurityGroupName", group.name.as_str());
    if let Some(d) = &group.description {
        req.set("Description", d.as_str());
    }
    if let Some(v) = &group.vpc_id {
        req.set("VpcId", v.as_str());
    }
    if let Some(t) = &group.group_type {
        req.set("SecurityGroupType", t.as_str());
    }
    req
}

/// `DeleteSecurityGroup`. The API takes no `ClientToken` here; a retried
/// delete that had succeeded answers `InvalidSecurityGroupId.NotFound`.
pub fn delete_security_group(region: &str, group_id: &str) -> ApiRequest {
    ApiRequest::new(Action::DeleteSecurityGroup, region).for_group(group_id)
}

/// One tag of a resource, as `ListTagResources` answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceTag {
    pub resource_id: String,
    pub key: String,
    pub value: String,
}

fn tag_request(action: Action, region: &str, resource_ids: &[String]) -> ApiRequest {
    let mut req = ApiRequest::new(action, region)
        .with("ResourceType", moat_wire::RESOURCE_TYPE_SECURITY_GROUP)
        .with_batch_size(resource_ids.len());
    if let [one] = resource_ids {
        req = req.for_group(one);
    }
    for (n, id) in resource_ids.iter().enumerate() {
        req.set(format!("ResourceId.{}", n + 1), id.as_str());
    }
    req
}

/// One page of `ListTagResources` for up to 50 security groups.
pub fn list_tag_resources(
    region: &str,
    resource_ids: &[String],
    next_token: Option<&str>,
) -> ApiRequest {
    let mut req = tag_request(Action::ListTagResources, region, resource_ids);
    if let Some(token) = next_token {
        req.set("NextToken", token);
    }
    req
}

/// `TagResources`: sets `tags` (key, value) on up to 50 security groups; a
/// key they already carry takes the new value.
pub fn tag_resources(
    region: &str,
    resource_ids: &[String],
    tags: &[(String, String)],
) -> ApiRequest {
    let mut req = tag_request(Action::TagResources, region, resource_ids);
    for (n, (key, value)) in tags.iter().enumerate() {
        req.set(format!("Tag.{}.Key", n + 1), key.as_str());
        req.set(format!("Tag.{}.Value", n + 1), value.as_str());
    }
    req
}

/// `UntagResources`: removes the tag `keys` from up to 50 security groups
/// (keys they do not carry are ignored).
pub fn untag_resources(region: &str, resource_ids: &[String], keys: &[String]) -> ApiRequest {
    let mut req = tag_request(Action::UntagResources, region, resource_ids);
    for (n, key) in keys.iter().enumerate() {
        req.set(format!("TagKey.{}", n + 1), key.as_str());
    }
    req
}
