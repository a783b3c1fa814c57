//! ECS, API version 2014-05-26: the security group actions, the tag
//! actions on security groups, and the instance and interface actions.
//!
//! Each action module holds handlers over the shared [`Cloud`]; this module
//! holds the action table the service shell dispatches on.

mod describe;
pub(crate) mod fields;
mod groups;
mod instances;
mod interfaces;
mod rules;
pub(crate) mod tags;
pub(crate) mod validate;

use moat_wire::API_VERSION;

use crate::error::ApiError;
use crate::params::Params;
use crate::product::{ActionSpec, Answer, Call, Cloud, Product};

pub use rules::MAX_GROUP_REFERENCE_RULES;

/// The ECS API as the emulator answers it.
pub(crate) const PRODUCT: Product = Product {
    code: "Ecs",
    version: API_VERSION,
    service: "ecs",
    regional: true,
    actions: &[
        ActionSpec::read("DescribeSecurityGroups", describe::describe_groups),
        ActionSpec::read(
            "DescribeSecurityGroupAttribute",
            describe::describe_attribute,
        ),
        ActionSpec::write("AuthorizeSecurityGroup", rules::authorize_ingress),
        ActionSpec::write("AuthorizeSecurityGroupEgress", rules::authorize_egress),
        ActionSpec::write("RevokeSecurityGroup", rules::revoke_ingress),
        ActionSpec::write("RevokeSecurityGroupEgress", rules::revoke_egress),
        ActionSpec::write("ModifySecurityGroupRule", rules::modify_ingress),
        ActionSpec::write("ModifySecurityGroupEgressRule", rules::modify_egress),
        ActionSpec::write("CreateSecurityGroup", groups::create_group),
        ActionSpec::write("DeleteSecurityGroup", groups::delete_group),
        ActionSpec::write("ModifySecurityGroupAttribute", groups::modify_group),
        ActionSpec::write("TagResources", tag_resources),
        ActionSpec::read("ListTagResources", list_tag_resources),
        ActionSpec::write("UntagResources", untag_resources),
        ActionSpec::write("RunInstances", instances::run_instances),
        ActionSpec::read("DescribeInstances", instances::describe_instances),
        ActionSpec::write("StartInstance", instances::start_instance),
        ActionSpec::write("StartInstances", instances::start_instances),
        ActionSpec::write("StopInstance", instances::stop_instance),
        ActionSpec::write("StopInstances", instances::stop_instances),
        ActionSpec::write("JoinSecurityGroup", instances::join_group),
        ActionSpec::write("LeaveSecurityGroup", instances::leave_group),
        ActionSpec::read("DescribeNetworkInterfaces", interfaces::describe_interfaces),
    ],
};

fn tag_resources(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    tags::tag_resources(&mut cloud.state, call.region, call.params).map(|c| (Answer::empty(), c))
}

fn untag_resources(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    tags::untag_resources(&mut cloud.state, call.region, call.params).map(|c| (Answer::empty(), c))
}

fn list_tag_resources(cloud: &Cloud, call: &Call) -> Result<Answer, ApiError> {
    tags::list_tag_resources(&cloud.state, call.region, call.params).map(|body| Answer::of(&body))
}

/// A parameter the action requires.
pub(crate) fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, ApiError> {
    params
        .get(name)
        .ok_or_else(|| ApiError::missing("MissingParameter", name))
}

/// An optional integer parameter; `code` when it is not one.
pub(crate) fn int_param(
    params: &Params,
    name: &str,
    code: &'static str,
) -> Result<Option<i64>, ApiError> {
    params
        .get(name)
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| ApiError::invalid(code, name))
        })
        .transpose()
}

/// A page token that cannot be read. The odd capitalisation is the
/// service's own (reference 2.1).
pub(crate) fn bad_next_token() -> ApiError {
    ApiError::bad(
        "InValidParameter.NextToken",
        "The specified NextToken is not valid.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_every_wire_action_once() {
        for a in moat_wire::Action::ALL {
            let spec = PRODUCT.action(a.as_str());
            let spec = spec.unwrap_or_else(|| panic!("{a} is not in the ECS table"));
            assert_eq!(
                matches!(spec.handler, crate::product::Handler::Write(_)),
                a.is_mutating(),
                "{a}"
            );
        }
        assert_eq!(PRODUCT.actions.len(), moat_wire::Action::ALL.len());
    }
}
