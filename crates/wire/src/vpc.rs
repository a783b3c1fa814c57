//! Wire types of the VPC (2016-04-28) answers moat reads:
//! DescribeVSwitches, DescribeNetworkAclAttributes and
//! DescribeEipAddresses. Members follow the API's documented answer shapes;
//! lists are wrapped in an object holding one array
//! (`VSwitches.VSwitch[]`), as the service writes them.

use serde::{Deserialize, Serialize};

use crate::LooseString;

/// The VPC API version.
pub const VPC_API_VERSION: &str = "2016-04-28";

/// One vSwitch in a `DescribeVSwitches` answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VSwitch {
    pub v_switch_id: LooseString,
    pub vpc_id: LooseString,
    pub zone_id: LooseString,
    pub v_switch_name: LooseString,
    pub cidr_block: LooseString,
    pub ipv6_cidr_block: LooseString,
    /// The network ACL bound to the vSwitch; empty when none.
    pub network_acl_id: LooseString,
    pub status: LooseString,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VSwitches {
    #[serde(rename = "VSwitch")]
    pub v_switch: Vec<VSwitch>,
}

/// Answer of `DescribeVSwitches` (`PageNumber` / `PageSize` paging).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeVSwitchesResponse {
    pub request_id: LooseString,
    pub total_count: i64,
    pub page_number: i64,
    pub page_size: i64,
    #[serde(rename = "VSwitches")]
    pub v_switches: VSwitches,
}

/// One entry of a network ACL. An ingress entry names `SourceCidrIp`, an
/// egress entry `DestinationCidrIp`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkAclEntry {
    pub network_acl_entry_id: LooseString,
    pub network_acl_entry_name: LooseString,
    /// `accept` or `drop`.
    pub policy: LooseString,
    /// `all`, `icmp`, `gre`, `tcp` or `udp`.
    pub protocol: LooseString,
    /// `22/22`, `-1/-1`.
    pub port: LooseString,
    pub source_cidr_ip: LooseString,
    pub destination_cidr_ip: LooseString,
    /// `IPv4` or `IPv6`.
    pub ip_version: LooseString,
    /// `custom` or `system`.
    pub entry_type: LooseString,
    pub description: LooseString,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IngressAclEntries {
    pub ingress_acl_entry: Vec<NetworkAclEntry>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EgressAclEntries {
    pub egress_acl_entry: Vec<NetworkAclEntry>,
}

/// `NetworkAclAttribute` of a `DescribeNetworkAclAttributes` answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkAclAttribute {
    pub network_acl_id: LooseString,
    pub network_acl_name: LooseString,
    pub vpc_id: LooseString,
    pub status: LooseString,
    pub ingress_acl_entries: IngressAclEntries,
    pub egress_acl_entries: EgressAclEntries,
}

/// Answer of `DescribeNetworkAclAttributes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeNetworkAclAttributesResponse {
    pub request_id: LooseString,
    pub network_acl_attribute: NetworkAclAttribute,
}

/// One EIP in a `DescribeEipAddresses` answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EipAddressEntry {
    pub allocation_id: LooseString,
    pub ip_address: LooseString,
    /// `Available`, `InUse`, ...
    pub status: LooseString,
    /// What it is bound to.
    pub instance_id: LooseString,
    /// `EcsInstance`, `NetworkInterface`, ...
    pub instance_type: LooseString,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EipAddresses {
    pub eip_address: Vec<EipAddressEntry>,
}

/// Answer of `DescribeEipAddresses` (`PageNumber` / `PageSize` paging).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeEipAddressesResponse {
    pub request_id: LooseString,
    pub total_count: i64,
    pub page_number: i64,
    pub page_size: i64,
    pub eip_addresses: EipAddresses,
}
