//! The ECS actions on whole security groups: CreateSecurityGroup,
//! DeleteSecurityGroup and ModifySecurityGroupAttribute.

use moat_wire::{CreateSecurityGroupResponse, LooseString};

use super::required;
use super::tags::{self, TagUse};
use crate::error::ApiError;
use crate::model::{Group, GroupType, TagPair};
use crate::product::{Answer, Call, Cloud};

fn check_group_name(name: &str) -> Result<(), ApiError> {
    let n = name.chars().count();
    let first_ok = name.chars().next().is_some_and(char::is_alphabetic);
    let chars_ok = name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, ':' | '_' | '.' | '-'));
    if !(2..=128).contains(&n)
        || !first_ok
        || !chars_ok
        || name.starts_with("http://")
        || name.starts_with("https://")
    {
        return Err(ApiError::invalid(
            "InvalidSecurityGroupName.Malformed",
            "SecurityGroupName",
        ));
    }
    Ok(())
}

fn check_group_description(d: &str) -> Result<(), ApiError> {
    let n = d.chars().count();
    if !(2..=256).contains(&n) || d.starts_with("http://") || d.starts_with("https://") {
        // The code is UNCONFIRMED; the limits are documented (reference 2.6).
        return Err(ApiError::invalid(
            "InvalidDescription.Malformed",
            "Description",
        ));
    }
    Ok(())
}

/// CreateSecurityGroup (reference 2.6).
pub(crate) fn create_group(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    let Cloud { state, ids } = cloud;
    let (region, params, now) = (call.region, call.params, call.now);
    let name = params.get("SecurityGroupName").unwrap_or_default();
    if !name.is_empty() {
        check_group_name(name)?;
    }
    let description = params.get("Description").unwrap_or_default();
    if !description.is_empty() {
        check_group_description(description)?;
    }
    let group_type = match params.get("SecurityGroupType") {
        None => GroupType::Normal,
        Some(t) => GroupType::parse(t).ok_or_else(|| {
            ApiError::invalid("InvalidParameter.SecurityGroupType", "SecurityGroupType")
        })?,
    };
    let tags = tags::read_tags(params, TagUse::Set)?;
    let id = loop {
        let id = format!("sg-{}", ids.suffix(20));
        if !state.group_id_taken(&id) {
            break id;
        }
    };
    let mut g = Group::new(id.clone(), region.to_owned(), now);
    g.name = name.to_owned();
    g.description = description.to_owned();
    g.vpc_id = params.get("VpcId").unwrap_or_default().to_owned();
    g.group_type = group_type;
    g.resource_group_id = params.get("ResourceGroupId").unwrap_or_default().to_owned();
    g.tags = tags
        .into_iter()
        .map(|t| TagPair {
            key: t.key,
            value: t.value.unwrap_or_default(),
        })
        .collect();
    state
        .regions
        .entry(region.to_owned())
        .or_default()
        .insert(id.clone(), g);
    let answer = Answer::of(&CreateSecurityGroupResponse {
        request_id: LooseString::default(),
        security_group_id: LooseString(id),
    });
    Ok((answer, true))
}

/// DeleteSecurityGroup: refused while another group's rules reference it.
pub(crate) fn delete_group(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    let (state, region, params) = (&mut cloud.state, call.region, call.params);
    let gid = required(params, "SecurityGroupId")?;
    let groups = state
        .regions
        .get_mut(region)
        .ok_or_else(ApiError::group_not_found)?;
    if !groups.contains_key(gid) {
        return Err(ApiError::group_not_found());
    }
    if let Some(other) = groups.values().find(|g| g.id != gid && g.references(gid)) {
        // The code for deleting a group that others still reference is
        // UNCONFIRMED (reference 2.6).
        return Err(ApiError::new(
            403,
            "DependencyViolation",
            format!(
                "The specified security group is referenced by rules of security group {}.",
                other.id
            ),
        ));
    }
    groups.remove(gid);
    Ok((Answer::empty(), true))
}

/// ModifySecurityGroupAttribute: name and description.
pub(crate) fn modify_group(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    let (state, region, params) = (&mut cloud.state, call.region, call.params);
    let gid = required(params, "SecurityGroupId")?;
    let name = params.get("SecurityGroupName");
    let description = params.get("Description");
    if let Some(n) = name {
        check_group_name(n)?;
    }
    if let Some(d) = description {
        check_group_description(d)?;
    }
    let group = state
        .group_mut(region, gid)
        .ok_or_else(ApiError::group_not_found)?;
    let mut changed = false;
    if let Some(n) = name
        && group.name != n
    {
        group.name = n.to_owned();
        changed = true;
    }
    if let Some(d) = description
        && group.description != d
    {
        group.description = d.to_owned();
        changed = true;
    }
    Ok((Answer::empty(), changed))
}
