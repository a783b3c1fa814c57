//! Wire types of the ECS (2014-05-26) instance and network interface
//! answers moat reads or emulates: RunInstances, DescribeInstances and
//! DescribeNetworkInterfaces. Members follow the API's documented answer
//! shapes; lists are wrapped in an object holding one array, as the service
//! writes them (`SecurityGroupIds.SecurityGroupId[]`).

use serde::{Deserialize, Serialize};

use crate::LooseString;

/// Answer of `RunInstances`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RunInstancesResponse {
    pub request_id: LooseString,
    pub instance_id_sets: InstanceIdSets,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InstanceIdSets {
    pub instance_id_set: Vec<LooseString>,
}

/// `{"IpAddress": [...]}`, the service's wrapper of address lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpAddresses {
    pub ip_address: Vec<LooseString>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SecurityGroupIds {
    pub security_group_id: Vec<LooseString>,
}

/// The EIP bound to an instance (`EipAddress`); empty members when none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EipAddress {
    pub allocation_id: LooseString,
    pub ip_address: LooseString,
    pub bandwidth: i64,
    pub internet_charge_type: LooseString,
}

/// `VpcAttributes` of a VPC instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VpcAttributes {
    pub vpc_id: LooseString,
    pub v_switch_id: LooseString,
    pub private_ip_address: IpAddresses,
    pub nat_ip_address: LooseString,
}

/// One interface of an instance in `DescribeInstances`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InstanceNetworkInterface {
    pub network_interface_id: LooseString,
    /// `Primary` or `Secondary`.
    #[serde(rename = "Type")]
    pub kind: LooseString,
    pub mac_address: LooseString,
    pub primary_ip_address: LooseString,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InstanceNetworkInterfaces {
    pub network_interface: Vec<InstanceNetworkInterface>,
}

/// One instance in a `DescribeInstances` answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Instance {
    pub instance_id: LooseString,
    pub instance_name: LooseString,
    /// `Pending`, `Running`, `Starting`, `Stopping` or `Stopped`.
    pub status: LooseString,
    pub region_id: LooseString,
    pub zone_id: LooseString,
    pub image_id: LooseString,
    pub instance_type: LooseString,
    /// `vpc` or `classic`.
    pub instance_network_type: LooseString,
    pub creation_time: LooseString,
    pub internet_max_bandwidth_out: i64,
    pub security_group_ids: SecurityGroupIds,
    pub public_ip_address: IpAddresses,
    pub inner_ip_address: IpAddresses,
    pub eip_address: EipAddress,
    pub vpc_attributes: VpcAttributes,
    pub network_interfaces: InstanceNetworkInterfaces,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Instances {
    pub instance: Vec<Instance>,
}

/// Answer of `DescribeInstances`, in either paging style: `PageNumber` and
/// `PageSize`, or `MaxResults` and `NextToken`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeInstancesResponse {
    pub request_id: LooseString,
    pub total_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_number: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_size: Option<i64>,
    pub next_token: LooseString,
    pub instances: Instances,
}

/// One private address of an interface.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PrivateIpSet {
    pub private_ip_address: LooseString,
    pub primary: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PrivateIpSets {
    pub private_ip_set: Vec<PrivateIpSet>,
}

/// The public address an interface is reached at (an EIP), if any.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AssociatedPublicIp {
    pub public_ip_address: LooseString,
    pub allocation_id: LooseString,
}

/// One interface in a `DescribeNetworkInterfaces` answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkInterfaceSet {
    pub network_interface_id: LooseString,
    pub network_interface_name: LooseString,
    /// `Available`, `Attaching`, `InUse`, `Detaching` or `Deleting`.
    pub status: LooseString,
    /// `Primary` or `Secondary`.
    #[serde(rename = "Type")]
    pub kind: LooseString,
    pub vpc_id: LooseString,
    pub v_switch_id: LooseString,
    pub zone_id: LooseString,
    pub private_ip_address: LooseString,
    pub mac_address: LooseString,
    pub instance_id: LooseString,
    pub creation_time: LooseString,
    pub security_group_ids: SecurityGroupIds,
    pub private_ip_sets: PrivateIpSets,
    pub associated_public_ip: AssociatedPublicIp,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkInterfaceSets {
    pub network_interface_set: Vec<NetworkInterfaceSet>,
}

/// Answer of `DescribeNetworkInterfaces`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeNetworkInterfacesResponse {
    pub request_id: LooseString,
    pub total_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_number: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_size: Option<i64>,
    pub next_token: LooseString,
    pub network_interface_sets: NetworkInterfaceSets,
}
