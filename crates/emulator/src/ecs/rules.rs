//! The ECS actions on rules: AuthorizeSecurityGroup(Egress),
//! RevokeSecurityGroup(Egress) and ModifySecurityGroup(Egress)Rule, all or
//! nothing per call.

use std::collections::HashSet;

use super::fields::RawRule;
use super::fields::{RuleSelection, read_selection};
use super::required;
use super::validate::{
    RuleContext, ValidRule, modified_rule, rule_pattern, top_level_fields, validate,
};
use crate::error::ApiError;
use crate::model::{Direction, Group, GroupType, Peer, Rule, State};
use crate::persist::new_rule_id;
use crate::product::{Answer, Call, Cloud};

/// Rules that reference another group, per basic group (reference 5).
pub const MAX_GROUP_REFERENCE_RULES: usize = 20;

pub(crate) fn authorize_ingress(
    cloud: &mut Cloud,
    call: &Call,
) -> Result<(Answer, bool), ApiError> {
    authorize(cloud, call, Direction::Ingress)
}

pub(crate) fn authorize_egress(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    authorize(cloud, call, Direction::Egress)
}

pub(crate) fn revoke_ingress(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    revoke(cloud, call, Direction::Ingress)
}

pub(crate) fn revoke_egress(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    revoke(cloud, call, Direction::Egress)
}

pub(crate) fn modify_ingress(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    modify_rule(cloud, call, Direction::Ingress)
}

pub(crate) fn modify_egress(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    modify_rule(cloud, call, Direction::Egress)
}

fn authorize(
    cloud: &mut Cloud,
    call: &Call,
    direction: Direction,
) -> Result<(Answer, bool), ApiError> {
    let Cloud { state, ids } = cloud;
    let (region, params, now) = (call.region, call.params, call.now);
    let rules_per_group = call.limits.rules_per_group;
    let gid = required(params, "SecurityGroupId")?;
    let group = state
        .group(region, gid)
        .ok_or_else(ApiError::group_not_found)?;
    let RuleSelection::Rules(raws) = read_selection(params, direction, false)? else {
        return Err(ApiError::missing("MissingParameter", "Permissions"));
    };
    let ctx = RuleContext {
        direction,
        classic: group.is_classic(),
        wide_priority: false,
    };
    // Every entry is validated before anything changes: a batch is all
    // or nothing (UNCONFIRMED for the service, reference 7.8).
    let valid: Vec<ValidRule> = raws
        .iter()
        .map(|raw| validate(raw, ctx))
        .collect::<Result<_, _>>()?;
    check_no_duplicates(&valid)?;
    for v in &valid {
        check_peer_group(state, group, v, direction)?;
    }
    // Authorizing a rule that exists is a silent success that keeps the
    // existing priority and description (reference 2.3, 3.1).
    let new: Vec<&ValidRule> = valid
        .iter()
        .filter(|v| group.rule_by_identity(&v.identity).is_none())
        .collect();
    if group.rule_count() + new.len() > rules_per_group {
        // 403 as on the ingress pages (reference 4.4).
        return Err(ApiError::new(
            403,
            "AuthorizationLimitExceed",
            format!(
                "The number of rules in the security group would exceed the limit of {}.",
                rules_per_group
            ),
        ));
    }
    let new_refs = new
        .iter()
        .filter(|v| v.identity.is_group_reference())
        .count();
    if new_refs > 0 && group.group_reference_count() + new_refs > MAX_GROUP_REFERENCE_RULES {
        return Err(ApiError::bad(
            "AuthorizedGroupRule.LimitExceed",
            format!(
                "A security group can hold at most {MAX_GROUP_REFERENCE_RULES} rules that reference other security groups."
            ),
        ));
    }
    let changed = !new.is_empty();
    let new: Vec<ValidRule> = new.into_iter().cloned().collect();
    let Some(group) = state.group_mut(region, gid) else {
        return Err(ApiError::group_not_found());
    };
    for v in new {
        let id = new_rule_id(group, ids);
        group.insert(Rule {
            id,
            identity: v.identity,
            priority: v.priority,
            description: v.description,
            create_time: now,
        });
    }
    Ok((Answer::empty(), changed))
}

fn check_no_duplicates(valid: &[ValidRule]) -> Result<(), ApiError> {
    let mut seen = HashSet::with_capacity(valid.len());
    for v in valid {
        if !seen.insert(&v.identity) {
            return Err(ApiError::bad(
                "InvalidParam.DuplicatePermissions",
                "The request contains the same rule more than once.",
            ));
        }
    }
    Ok(())
}

/// Checks a rule that names another group: not in an advanced group, not the
/// group itself, and (within the caller's own account) an existing group of
/// the region.
fn check_peer_group(
    state: &State,
    group: &Group,
    rule: &ValidRule,
    direction: Direction,
) -> Result<(), ApiError> {
    let Peer::Group { id, owner } = &rule.identity.peer else {
        return Ok(());
    };
    if group.group_type == GroupType::Enterprise {
        return Err(ApiError::bad(
            "InvalidGroupAuthParameter.OperationDenied",
            "Advanced security groups cannot hold rules that reference security groups.",
        ));
    }
    if id == &group.id {
        return Err(ApiError::bad(
            "InvalidSecurityGroup.IsSame",
            "A security group cannot reference itself in a rule.",
        ));
    }
    // A group of another account cannot be seen from here; it is taken on
    // trust, as its owner's account would be asked.
    if owner.is_empty() && state.group(&group.region, id).is_none() {
        return Err(match direction {
            Direction::Ingress => ApiError::new(
                404,
                "InvalidSourceGroupId.NotFound",
                "The specified SourceGroupId does not exist.",
            ),
            Direction::Egress => ApiError::new(
                404,
                "InvalidDestGroupId.NotFound",
                "The specified DestGroupId does not exist.",
            ),
        });
    }
    Ok(())
}

fn not_found_rule(direction: Direction) -> ApiError {
    // Since 2024-07-08 revoking a rule that does not exist fails. The docs
    // name InvalidParam.SecurityGroupRuleId for ingress and
    // InvalidSecurityGroupRule.RuleNotExist for egress; which applies where is
    // UNCONFIRMED (reference 2.4), so the emulator follows the docs per
    // direction, also for a Permissions-based revoke that matches nothing.
    match direction {
        Direction::Ingress => ApiError::bad(
            "InvalidParam.SecurityGroupRuleId",
            "The specified security group rule does not exist.",
        ),
        Direction::Egress => ApiError::bad(
            "InvalidSecurityGroupRule.RuleNotExist",
            "The specified security group rule does not exist.",
        ),
    }
}

fn revoke(
    cloud: &mut Cloud,
    call: &Call,
    direction: Direction,
) -> Result<(Answer, bool), ApiError> {
    let (state, region, params) = (&mut cloud.state, call.region, call.params);
    let gid = required(params, "SecurityGroupId")?;
    let group = state
        .group(region, gid)
        .ok_or_else(ApiError::group_not_found)?;
    let doomed: Vec<String> = match read_selection(params, direction, true)? {
        RuleSelection::Ids(ids) => {
            let mut seen = HashSet::with_capacity(ids.len());
            for id in &ids {
                if !seen.insert(id.as_str()) {
                    return Err(ApiError::bad(
                        "InvalidParam.SecurityGroupRuleIdRepeated",
                        format!("The security group rule id {id} is given more than once."),
                    ));
                }
                match group.rule_by_id(id) {
                    Some(r) if r.identity.direction == direction => {}
                    _ => return Err(not_found_rule(direction)),
                }
            }
            ids
        }
        RuleSelection::Rules(raws) => {
            let ctx = RuleContext {
                direction,
                classic: group.is_classic(),
                wide_priority: true,
            };
            let valid: Vec<ValidRule> = raws
                .iter()
                .map(|raw| validate(raw, ctx))
                .collect::<Result<_, _>>()?;
            check_no_duplicates(&valid)?;
            valid
                .iter()
                .map(|v| {
                    group
                        .rule_by_identity(&v.identity)
                        .map(|r| r.id.clone())
                        .ok_or_else(|| not_found_rule(direction))
                })
                .collect::<Result<_, _>>()?
        }
    };
    let Some(group) = state.group_mut(region, gid) else {
        return Err(ApiError::group_not_found());
    };
    for id in &doomed {
        group.remove(id);
    }
    Ok((Answer::empty(), !doomed.is_empty()))
}

fn modify_rule(
    cloud: &mut Cloud,
    call: &Call,
    direction: Direction,
) -> Result<(Answer, bool), ApiError> {
    let (state, region, params) = (&mut cloud.state, call.region, call.params);
    let gid = required(params, "SecurityGroupId")?;
    let request = top_level_fields(params);
    let Some(rule_id) = params.get("SecurityGroupRuleId") else {
        if request.is_empty() {
            return Err(ApiError::missing("MissingParameter", "SecurityGroupRuleId"));
        }
        return modify_by_fields(cloud, call, direction, &request);
    };
    let group = state
        .group(region, gid)
        .ok_or_else(ApiError::group_not_found)?;
    let rule = group
        .rule_by_id(rule_id)
        .filter(|r| r.identity.direction == direction)
        .ok_or_else(|| {
            ApiError::new(
                404,
                "InvalidSecurityGroupRuleId.NotFound",
                "The specified SecurityGroupRuleId is not exists.",
            )
        })?;
    let ctx = RuleContext {
        direction,
        classic: group.is_classic(),
        // A stored system rule may sit above 100; only a priority the request
        // sets must be in the API's range.
        wide_priority: params.get("Priority").is_none(),
    };
    let valid = modified_rule(rule, &request, ctx)?;
    if valid.identity.peer != rule.identity.peer {
        check_peer_group(state, group, &valid, direction)?;
    }
    if let Some(other) = group.rule_by_identity(&valid.identity)
        && other.id != rule.id
    {
        return Err(ApiError::bad(
            "InvalidOperation.RuleDuplicate",
            format!("The modified rule would be the same as rule {}.", other.id),
        ));
    }
    let changed = valid.identity != rule.identity
        || valid.priority != rule.priority
        || valid.description != rule.description;
    let Some(group) = state.group_mut(region, gid) else {
        return Err(ApiError::group_not_found());
    };
    group.update(rule_id, valid.identity, valid.priority, valid.description);
    Ok((Answer::empty(), changed))
}

/// The legacy Modify form: the rule named by its fields (reference 2.5,
/// section 9) gets the request's description; nothing else changes.
fn modify_by_fields(
    cloud: &mut Cloud,
    call: &Call,
    direction: Direction,
    request: &RawRule,
) -> Result<(Answer, bool), ApiError> {
    let (state, region, params) = (&mut cloud.state, call.region, call.params);
    let gid = required(params, "SecurityGroupId")?;
    let group = state
        .group(region, gid)
        .ok_or_else(ApiError::group_not_found)?;
    let ctx = RuleContext {
        direction,
        classic: group.is_classic(),
        // A system rule above 100 can be named by its priority.
        wide_priority: true,
    };
    let pattern = rule_pattern(request, ctx)?;
    let mut matching = group.rules().filter(|r| pattern.matches(r));
    let Some(rule) = matching.next() else {
        return Err(ApiError::new(
            404,
            "SecurityGroupRule.NotFound",
            "The target security group rule not exist.",
        ));
    };
    if matching.next().is_some() {
        // The service's code when the fields name several rules is
        // UNCONFIRMED; this is its documented code for an unusable Modify
        // request.
        return Err(ApiError::bad(
            "InvalidParam.InvalidModifyRuleRequest",
            "The request parameters are illegal: the rule fields match more than one rule; give SecurityGroupRuleId or the fields that tell them apart (Policy, NicType, SourcePortRange, Priority).",
        ));
    }
    let (rule_id, priority, identity) = (rule.id.clone(), rule.priority, rule.identity.clone());
    let unchanged = pattern
        .description
        .as_ref()
        .is_none_or(|d| *d == rule.description);
    drop(matching);
    let description = match pattern.description {
        Some(d) if !unchanged => d,
        _ => return Ok((Answer::empty(), false)),
    };
    let Some(group) = state.group_mut(region, gid) else {
        return Err(ApiError::group_not_found());
    };
    group.update(&rule_id, identity, priority, description);
    Ok((Answer::empty(), true))
}
