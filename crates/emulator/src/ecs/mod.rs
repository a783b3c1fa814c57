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
use crate::product::{ActionSpec, Answer, Auth, Call, Cloud, Handler, Product};

pub use rules::MAX_GROUP_REFERENCE_RULES;

/// The ECS API as the emulator answers it.
pub(crate) const PRODUCT: Product = Product {
    code: "Ecs",
    version: API_VERSION,
    host,
    regional: true,
    actions: &[
        read("DescribeSecurityGroups", describe::describe_groups),
        read(
            "DescribeSecurityGroupAttribute",
            describe::describe_attribute,
        ),
        write("AuthorizeSecurityGroup", rules::authorize_ingress),
        write("AuthorizeSecurityGroupEgress", rules::authorize_egress),
        write("RevokeSecurityGroup", rules::revoke_ingress),
        write("RevokeSecurityGroupEgress", rules::revoke_egress),
        write("ModifySecurityGroupRule", rules::modify_ingress),
        write("ModifySecurityGroupEgressRule", rules::modify_egress),
        write("CreateSecurityGroup", groups::create_group),
        write("DeleteSecurityGroup", groups::delete_group),
        write("ModifySecurityGroupAttribute", groups::modify_group),
        write("TagResources", tag_resources),
        read("ListTagResources", list_tag_resources),
        write("UntagResources", untag_resources),
        write("RunInstances", instances::run_instances),
        read("DescribeInstances", instances::describe_instances),
        write("StartInstance", instances::start_instance),
        write("StartInstances", instances::start_instances),
        write("StopInstance", instances::stop_instance),
        write("StopInstances", instances::stop_instances),
        write("JoinSecurityGroup", instances::join_group),
        write("LeaveSecurityGroup", instances::leave_group),
        read("DescribeNetworkInterfaces", interfaces::describe_interfaces),
    ],
};

const fn read(name: &'static str, f: crate::product::ReadFn) -> ActionSpec {
    ActionSpec {
        name,
        auth: Auth::Signed,
        handler: Handler::Read(f),
    }
}

const fn write(name: &'static str, f: crate::product::WriteFn) -> ActionSpec {
    ActionSpec {
        name,
        auth: Auth::Signed,
        handler: Handler::Write(f),
    }
}

fn host(region: &str) -> String {
    if region.is_empty() {
        "ecs.aliyuncs.com".to_owned()
    } else {
        format!("ecs.{region}.aliyuncs.com")
    }
}

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
                matches!(spec.handler, Handler::Write(_)),
                a.is_mutating(),
                "{a}"
            );
        }
        assert_eq!(PRODUCT.actions.len(), moat_wire::Action::ALL.len());
    }
}
