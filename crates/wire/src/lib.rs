//! Wire types of the ECS security group API (version 2014-05-26).
//!
//! This crate owns the JSON shapes the API answers with, under the API's own
//! names so that a grep finds them in the reference, and the names of actions.
//! It is the only thing the client (moat-aliyun) and the emulator
//! (moat-emulator) share. Deserialisation is as tolerant as the real service
//! makes necessary: numbers where strings are documented (and the reverse),
//! missing or empty optional members, any letter case of enum values.
//! Serialisation writes the shape the real service writes (every member of a
//! rule present, empty strings for unused ones, a numeric `Priority`).
//!
//! It must not know about the canonical rule model, HTTP, signing or policies.
#![warn(clippy::print_stdout, clippy::print_stderr)]

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod instances;
mod vpc;

pub use instances::{
    AssociatedPublicIp, DescribeInstancesResponse, DescribeNetworkInterfacesResponse, EipAddress,
    Instance, InstanceIdSets, InstanceNetworkInterface, InstanceNetworkInterfaces, Instances,
    IpAddresses, NetworkInterfaceSet, NetworkInterfaceSets, PrivateIpSet, PrivateIpSets,
    RunInstancesResponse, SecurityGroupIds, VpcAttributes,
};
pub use vpc::{
    DescribeEipAddressesResponse, DescribeNetworkAclAttributesResponse, DescribeVSwitchesResponse,
    EgressAclEntries, EipAddressEntry, EipAddresses, IngressAclEntries, NetworkAclAttribute,
    NetworkAclEntry, VPC_API_VERSION, VSwitch, VSwitches,
};

/// The only API version moat speaks.
pub const API_VERSION: &str = "2014-05-26";

/// Actions of the ECS API that moat uses or emulates: the security group
/// actions, and the instance and interface actions that tell which groups
/// decide an instance's traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    DescribeSecurityGroups,
    DescribeSecurityGroupAttribute,
    AuthorizeSecurityGroup,
    AuthorizeSecurityGroupEgress,
    RevokeSecurityGroup,
    RevokeSecurityGroupEgress,
    ModifySecurityGroupRule,
    ModifySecurityGroupEgressRule,
    ModifySecurityGroupAttribute,
    CreateSecurityGroup,
    DeleteSecurityGroup,
    TagResources,
    ListTagResources,
    UntagResources,
    RunInstances,
    DescribeInstances,
    StartInstance,
    StartInstances,
    StopInstance,
    StopInstances,
    JoinSecurityGroup,
    LeaveSecurityGroup,
    DescribeNetworkInterfaces,
    // VPC (2016-04-28).
    DescribeVSwitches,
    DescribeNetworkAclAttributes,
    DescribeEipAddresses,
}

/// The API an action belongs to, which picks its version and endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Product {
    /// ECS, 2014-05-26.
    Ecs,
    /// VPC, 2016-04-28.
    Vpc,
}

impl Product {
    /// The API version of the product's calls.
    pub fn version(self) -> &'static str {
        match self {
            Product::Ecs => API_VERSION,
            Product::Vpc => VPC_API_VERSION,
        }
    }

    /// The product's code in endpoints and RAM actions (`ecs`, `vpc`).
    pub fn code(self) -> &'static str {
        match self {
            Product::Ecs => "ecs",
            Product::Vpc => "vpc",
        }
    }
}

impl Action {
    /// The VPC actions moat reads.
    pub const VPC: [Action; 3] = [
        Action::DescribeVSwitches,
        Action::DescribeNetworkAclAttributes,
        Action::DescribeEipAddresses,
    ];

    /// The product the action belongs to.
    pub fn product(self) -> Product {
        if Action::VPC.contains(&self) {
            Product::Vpc
        } else {
            Product::Ecs
        }
    }

    /// The ECS actions.
    pub const ALL: [Action; 23] = [
        Action::DescribeSecurityGroups,
        Action::DescribeSecurityGroupAttribute,
        Action::AuthorizeSecurityGroup,
        Action::AuthorizeSecurityGroupEgress,
        Action::RevokeSecurityGroup,
        Action::RevokeSecurityGroupEgress,
        Action::ModifySecurityGroupRule,
        Action::ModifySecurityGroupEgressRule,
        Action::ModifySecurityGroupAttribute,
        Action::CreateSecurityGroup,
        Action::DeleteSecurityGroup,
        Action::TagResources,
        Action::ListTagResources,
        Action::UntagResources,
        Action::RunInstances,
        Action::DescribeInstances,
        Action::StartInstance,
        Action::StartInstances,
        Action::StopInstance,
        Action::StopInstances,
        Action::JoinSecurityGroup,
        Action::LeaveSecurityGroup,
        Action::DescribeNetworkInterfaces,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::DescribeSecurityGroups => "DescribeSecurityGroups",
            Action::DescribeSecurityGroupAttribute => "DescribeSecurityGroupAttribute",
            Action::AuthorizeSecurityGroup => "AuthorizeSecurityGroup",
            Action::AuthorizeSecurityGroupEgress => "AuthorizeSecurityGroupEgress",
            Action::RevokeSecurityGroup => "RevokeSecurityGroup",
            Action::RevokeSecurityGroupEgress => "RevokeSecurityGroupEgress",
            Action::ModifySecurityGroupRule => "ModifySecurityGroupRule",
            Action::ModifySecurityGroupEgressRule => "ModifySecurityGroupEgressRule",
            Action::ModifySecurityGroupAttribute => "ModifySecurityGroupAttribute",
            Action::CreateSecurityGroup => "CreateSecurityGroup",
            Action::DeleteSecurityGroup => "DeleteSecurityGroup",
            Action::TagResources => "TagResources",
            Action::ListTagResources => "ListTagResources",
            Action::UntagResources => "UntagResources",
            Action::RunInstances => "RunInstances",
            Action::DescribeInstances => "DescribeInstances",
            Action::StartInstance => "StartInstance",
            Action::StartInstances => "StartInstances",
            Action::StopInstance => "StopInstance",
            Action::StopInstances => "StopInstances",
            Action::JoinSecurityGroup => "JoinSecurityGroup",
            Action::LeaveSecurityGroup => "LeaveSecurityGroup",
            Action::DescribeNetworkInterfaces => "DescribeNetworkInterfaces",
            Action::DescribeVSwitches => "DescribeVSwitches",
            Action::DescribeNetworkAclAttributes => "DescribeNetworkAclAttributes",
            Action::DescribeEipAddresses => "DescribeEipAddresses",
        }
    }

    /// Exact, case-sensitive match, as the service does.
    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL
            .into_iter()
            .chain(Action::VPC)
            .find(|a| a.as_str() == s)
    }

    /// True for actions that change state.
    pub fn is_mutating(self) -> bool {
        !matches!(
            self,
            Action::DescribeSecurityGroups
                | Action::DescribeSecurityGroupAttribute
                | Action::ListTagResources
                | Action::DescribeInstances
                | Action::DescribeNetworkInterfaces
                | Action::DescribeVSwitches
                | Action::DescribeNetworkAclAttributes
                | Action::DescribeEipAddresses
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string member that the service sometimes sends as a JSON number (for
/// example `SourceGroupOwnerAccount`), or leaves out, or sends as `null`.
/// Always serialised as a string.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LooseString(pub String);

impl LooseString {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl From<&str> for LooseString {
    fn from(s: &str) -> Self {
        LooseString(s.to_owned())
    }
}

impl From<String> for LooseString {
    fn from(s: String) -> Self {
        LooseString(s)
    }
}

impl fmt::Display for LooseString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for LooseString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for LooseString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Null => Ok(LooseString::default()),
            serde_json::Value::String(s) => Ok(LooseString(s)),
            serde_json::Value::Number(n) => Ok(LooseString(n.to_string())),
            serde_json::Value::Bool(b) => Ok(LooseString(b.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected a string or a number, found {other}"
            ))),
        }
    }
}

/// An integer member documented as a string but sent as a number in real
/// responses (`Priority`). Reads a number, a numeric string, or nothing
/// (`None` for a missing, `null` or empty value); written as a JSON number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LooseInt(pub Option<i64>);

impl Serialize for LooseInt {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(v) => s.serialize_i64(v),
            None => s.serialize_str(""),
        }
    }
}

impl<'de> Deserialize<'de> for LooseInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Null => Ok(LooseInt(None)),
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(|v| LooseInt(Some(v)))
                .ok_or_else(|| serde::de::Error::custom(format!("{n} is not an integer"))),
            serde_json::Value::String(s) if s.trim().is_empty() => Ok(LooseInt(None)),
            serde_json::Value::String(s) => s
                .trim()
                .parse()
                .map(|v| LooseInt(Some(v)))
                .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an integer"))),
            other => Err(serde::de::Error::custom(format!(
                "expected an integer, found {other}"
            ))),
        }
    }
}

/// One rule in a `DescribeSecurityGroupAttribute` answer
/// (`Permissions.Permission[]`, reference 4.1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Permission {
    pub security_group_rule_id: LooseString,
    pub direction: LooseString,
    pub ip_protocol: LooseString,
    pub port_range: LooseString,
    pub source_port_range: LooseString,
    pub policy: LooseString,
    pub priority: LooseInt,
    pub nic_type: LooseString,
    pub source_cidr_ip: LooseString,
    pub ipv6_source_cidr_ip: LooseString,
    pub source_group_id: LooseString,
    pub source_group_name: LooseString,
    pub source_group_owner_account: LooseString,
    pub source_prefix_list_id: LooseString,
    pub source_prefix_list_name: LooseString,
    pub dest_cidr_ip: LooseString,
    pub ipv6_dest_cidr_ip: LooseString,
    pub dest_group_id: LooseString,
    pub dest_group_name: LooseString,
    pub dest_group_owner_account: LooseString,
    pub dest_prefix_list_id: LooseString,
    pub dest_prefix_list_name: LooseString,
    pub port_range_list_id: LooseString,
    pub port_range_list_name: LooseString,
    pub description: LooseString,
    pub create_time: LooseString,
}

/// `{"Permission": [...]}`: the usual Alibaba JSON shape of an XML list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Permissions {
    pub permission: Vec<Permission>,
}

/// Answer of `DescribeSecurityGroupAttribute` (reference 4.1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeSecurityGroupAttributeResponse {
    pub request_id: LooseString,
    pub region_id: LooseString,
    pub security_group_id: LooseString,
    pub security_group_name: LooseString,
    pub description: LooseString,
    pub vpc_id: LooseString,
    pub inner_access_policy: LooseString,
    /// Empty or absent on the last page.
    #[serde(skip_serializing_if = "LooseString::is_empty")]
    pub next_token: LooseString,
    pub permissions: Permissions,
}

/// A tag on a group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Tag {
    pub tag_key: LooseString,
    pub tag_value: LooseString,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Tags {
    pub tag: Vec<Tag>,
}

/// One group in a `DescribeSecurityGroups` answer (reference 4.2).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SecurityGroup {
    pub security_group_id: LooseString,
    pub security_group_name: LooseString,
    pub description: LooseString,
    pub security_group_type: LooseString,
    pub vpc_id: LooseString,
    pub creation_time: LooseString,
    pub ecs_count: i64,
    pub available_instance_amount: i64,
    pub resource_group_id: LooseString,
    pub service_managed: bool,
    pub tags: Tags,
    pub rule_count: i64,
    pub group_to_group_rule_count: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SecurityGroups {
    pub security_group: Vec<SecurityGroup>,
}

/// Answer of `DescribeSecurityGroups` (reference 4.2). `TotalCount`,
/// `PageNumber` and `PageSize` belong to the legacy paging style and are
/// omitted under `MaxResults`/`NextToken` paging.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeSecurityGroupsResponse {
    pub request_id: LooseString,
    pub region_id: LooseString,
    #[serde(skip_serializing_if = "LooseString::is_empty")]
    pub next_token: LooseString,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_number: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_size: Option<i64>,
    pub security_groups: SecurityGroups,
}

/// The `ResourceType` of a security group in the tag actions
/// (`TagResources`, `ListTagResources`, `UntagResources`).
pub const RESOURCE_TYPE_SECURITY_GROUP: &str = "securitygroup";

/// Documented limits of the ECS tag actions (API version 2014-05-26).
pub mod tag_limits {
    /// Tags one resource may carry, and `Tag.N` / `TagKey.N` entries per call.
    pub const TAGS_PER_RESOURCE: usize = 20;
    /// `ResourceId.N` entries per call.
    pub const RESOURCES_PER_CALL: usize = 50;
    /// Longest tag key, in characters (at least one).
    pub const KEY_MAX_CHARS: usize = 128;
    /// Longest tag value, in characters (it may be empty).
    pub const VALUE_MAX_CHARS: usize = 128;
    /// Prefixes a tag key may not start with: they are reserved for the
    /// cloud's own tags.
    pub const RESERVED_KEY_PREFIXES: [&str; 2] = ["aliyun", "acs:"];
    /// Text neither a key nor a value may contain.
    pub const FORBIDDEN_SUBSTRINGS: [&str; 2] = ["http://", "https://"];
}

/// One (resource, tag) pair in a `ListTagResources` answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TagResource {
    pub resource_type: LooseString,
    pub resource_id: LooseString,
    pub tag_key: LooseString,
    pub tag_value: LooseString,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TagResources {
    pub tag_resource: Vec<TagResource>,
}

/// Answer of `ListTagResources`: one entry per tag of each listed resource;
/// `NextToken` is empty or absent on the last page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListTagResourcesResponse {
    pub request_id: LooseString,
    #[serde(skip_serializing_if = "LooseString::is_empty")]
    pub next_token: LooseString,
    pub tag_resources: TagResources,
}

/// Answer of every mutating call but `CreateSecurityGroup` (reference 4.3).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RequestIdResponse {
    pub request_id: LooseString,
}

/// Answer of `CreateSecurityGroup` (reference 4.3).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateSecurityGroupResponse {
    pub request_id: LooseString,
    pub security_group_id: LooseString,
}

/// Body of an error answer (reference 1.9). Reads the lowercase spellings the
/// newer gateways use as well.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ErrorBody {
    #[serde(alias = "requestId")]
    pub request_id: LooseString,
    #[serde(alias = "hostId")]
    pub host_id: LooseString,
    #[serde(alias = "code")]
    pub code: LooseString,
    #[serde(alias = "message")]
    pub message: LooseString,
    #[serde(alias = "recommend")]
    pub recommend: LooseString,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_tolerates_numbers_nulls_and_missing_members() {
        let p: Permission = serde_json::from_str(
            r#"{"SecurityGroupRuleId":"sgr-1","IpProtocol":"TCP","Priority":"5",
                "SourceGroupOwnerAccount":1234567890,"Description":null}"#,
        )
        .unwrap();
        assert_eq!(p.priority, LooseInt(Some(5)));
        assert_eq!(p.source_group_owner_account.as_str(), "1234567890");
        assert_eq!(p.description.as_str(), "");
        assert_eq!(p.dest_cidr_ip.as_str(), "");

        let p: Permission = serde_json::from_str(r#"{"Priority":110}"#).unwrap();
        assert_eq!(p.priority, LooseInt(Some(110)));
        let p: Permission = serde_json::from_str(r#"{"Priority":""}"#).unwrap();
        assert_eq!(p.priority, LooseInt(None));
    }

    #[test]
    fn permission_serialises_every_member_with_numeric_priority() {
        let p = Permission {
            priority: LooseInt(Some(1)),
            ..Permission::default()
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["Priority"], serde_json::json!(1));
        assert_eq!(v["DestCidrIp"], serde_json::json!(""));
        assert_eq!(v.as_object().unwrap().len(), 26);
    }

    #[test]
    fn error_body_reads_both_spellings() {
        let e: ErrorBody =
            serde_json::from_str(r#"{"code":"Throttling","message":"m","requestId":"r"}"#).unwrap();
        assert_eq!(e.code.as_str(), "Throttling");
        assert_eq!(e.request_id.as_str(), "r");
    }

    #[test]
    fn list_tag_resources_reads_the_documented_shape() {
        let r: ListTagResourcesResponse = serde_json::from_str(
            r#"{"RequestId":"r","NextToken":"t","TagResources":{"TagResource":[
                {"ResourceType":"securitygroup","ResourceId":"sg-1","TagKey":"k","TagValue":""}]}}"#,
        )
        .unwrap();
        assert_eq!(r.next_token.as_str(), "t");
        let t = &r.tag_resources.tag_resource[0];
        assert_eq!(
            (
                t.resource_type.as_str(),
                t.resource_id.as_str(),
                t.tag_key.as_str()
            ),
            (RESOURCE_TYPE_SECURITY_GROUP, "sg-1", "k")
        );
        let empty: ListTagResourcesResponse =
            serde_json::from_str(r#"{"RequestId":"r","TagResources":{}}"#).unwrap();
        assert!(empty.tag_resources.tag_resource.is_empty());
        let v = serde_json::to_value(&empty).unwrap();
        assert!(v.get("NextToken").is_none(), "{v}");
    }

    #[test]
    fn action_names_round_trip() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert_eq!(Action::parse("describesecuritygroups"), None);
        assert!(Action::TagResources.is_mutating() && Action::UntagResources.is_mutating());
        assert!(!Action::ListTagResources.is_mutating());
    }
}
