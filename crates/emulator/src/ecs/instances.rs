//! The ECS instance actions: RunInstances, DescribeInstances,
//! StartInstance(s), StopInstance(s), JoinSecurityGroup and
//! LeaveSecurityGroup (DescribeNetworkInterfaces is in `interfaces`).
//!
//! An instance is created Running on a primary interface in its vSwitch;
//! the interface carries the security groups. Constraints enforced, as the
//! ECS documentation states them: the groups and the vSwitch are in one VPC,
//! at most five groups per interface, no mix of basic and enterprise groups
//! on one interface, at most 1,000 rules across the groups of an interface,
//! and Join/Leave only on a Running or Stopped instance. Where the docs give
//! no error code for a constraint the code used is marked UNCONFIRMED.

use moat_wire::{
    DescribeInstancesResponse, EipAddress, Instance as WireInstance, InstanceIdSets,
    InstanceNetworkInterface, InstanceNetworkInterfaces, Instances, IpAddresses, LooseString,
    RunInstancesResponse, SecurityGroupIds, VpcAttributes,
};
use serde_json::{Value, json};

use super::interfaces::page;
use super::{int_param, required};
use crate::clock::format_timestamp;
use crate::error::ApiError;
use crate::model::{GroupType, State};
use crate::network::{
    Instance, MAX_GROUPS_PER_INTERFACE, MAX_RULES_PER_INTERFACE, Network, NetworkInterface,
};
use crate::product::{Answer, Call, Cloud};

pub(super) fn ls(s: &str) -> LooseString {
    LooseString(s.to_owned())
}

fn not_found(code: &'static str, what: &str) -> ApiError {
    ApiError::new(404, code, format!("The specified {what} does not exist."))
}

fn instance_not_found() -> ApiError {
    not_found("InvalidInstanceId.NotFound", "InstanceId")
}

fn incorrect_status() -> ApiError {
    ApiError::new(
        403,
        "IncorrectInstanceStatus",
        "The current status of the resource does not support this operation.",
    )
}

/// `N` of a parameter `prefixN`.
fn index(name: &str, prefix: &str) -> Option<usize> {
    name.strip_prefix(prefix)?.parse().ok()
}

/// The groups of `RunInstances`: `SecurityGroupIds.N` or `SecurityGroupId`.
fn requested_groups(call: &Call) -> Result<Vec<String>, ApiError> {
    let mut many: Vec<(usize, String)> = call
        .params
        .with_prefix("SecurityGroupIds.")
        .filter_map(|(k, v)| index(k, "SecurityGroupIds.").map(|n| (n, v.to_owned())))
        .collect();
    many.sort();
    let single = call.params.get("SecurityGroupId");
    match (single, many.is_empty()) {
        (Some(_), false) => Err(ApiError::bad(
            "InvalidParameter.Conflict",
            "SecurityGroupId and SecurityGroupIds.N cannot be given together.",
        )),
        (Some(id), true) => Ok(vec![id.to_owned()]),
        (None, false) => Ok(many.into_iter().map(|(_, v)| v).collect()),
        (None, true) => Err(ApiError::missing("MissingParameter", "SecurityGroupId")),
    }
}

/// Checks that `groups` may be carried by one interface in `vpc_id`.
fn check_interface_groups(
    state: &State,
    region: &str,
    vpc_id: &str,
    groups: &[String],
) -> Result<(), ApiError> {
    if groups.len() > MAX_GROUPS_PER_INTERFACE {
        return Err(ApiError::bad(
            "InstanceSecurityGroupLimitExceeded",
            "Exceeding the allowed amount of security groups that an instance can be in.",
        ));
    }
    let mut types = Vec::new();
    let mut rules = 0;
    for id in groups {
        let g = state
            .group(region, id)
            .ok_or_else(ApiError::group_not_found)?;
        if g.vpc_id != vpc_id {
            return Err(ApiError::bad(
                "InvalidInstanceId.Mismatch",
                "Specified instance and security group are not in the same VPC.",
            ));
        }
        types.push(g.group_type);
        rules += g.rule_count();
    }
    if types.contains(&GroupType::Normal) && types.contains(&GroupType::Enterprise) {
        // The constraint is documented; the code is UNCONFIRMED.
        return Err(ApiError::new(
            403,
            "InvalidSecurityGroup.TypeMismatch",
            "Basic and enterprise security groups cannot be attached to one network interface.",
        ));
    }
    if rules > MAX_RULES_PER_INTERFACE {
        // The limit is documented (reference 5); the code is UNCONFIRMED.
        return Err(ApiError::new(
            403,
            "InvalidOperation.SecurityGroupRuleLimitExceeded",
            "The security groups of one network interface may hold at most 1000 rules together.",
        ));
    }
    Ok(())
}

/// RunInstances: ImageId, InstanceType, the groups, VSwitchId, InstanceName,
/// InternetMaxBandwidthOut (above 0 gives a public address), Amount.
pub(crate) fn run_instances(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    let params = call.params;
    let image = required(params, "ImageId")?.to_owned();
    let instance_type = required(params, "InstanceType")?.to_owned();
    let groups = requested_groups(call)?;
    let vswitch_id = required(params, "VSwitchId")?.to_owned();
    let name = params.get("InstanceName").unwrap_or_default().to_owned();
    let bandwidth = int_param(
        params,
        "InternetMaxBandwidthOut",
        "InvalidInternetMaxBandwidthOut.Malformed",
    )?
    .unwrap_or(0);
    if !(0..=100).contains(&bandwidth) {
        return Err(ApiError::invalid(
            "InvalidInternetMaxBandwidthOut.Malformed",
            "InternetMaxBandwidthOut",
        ));
    }
    let amount = int_param(params, "Amount", "InvalidAmount.Malformed")?.unwrap_or(1);
    if !(1..=100).contains(&amount) {
        return Err(ApiError::invalid("InvalidAmount.Malformed", "Amount"));
    }
    let Cloud { state, ids } = cloud;
    let vswitch = state
        .network
        .v_switch(call.region, &vswitch_id)
        .ok_or_else(|| not_found("InvalidVSwitchId.NotFound", "VSwitchId"))?
        .clone();
    check_interface_groups(state, call.region, &vswitch.vpc_id, &groups)?;
    let now = format_timestamp(call.now);
    let mut created = Vec::new();
    for _ in 0..amount {
        let ip = state
            .network
            .v_switch_mut(call.region, &vswitch_id)
            .and_then(|v| v.next_private_ip())
            .ok_or_else(|| {
                ApiError::new(
                    403,
                    "InvalidVSwitchId.IpNotEnough",
                    "The specified VSwitch has not enough IP addresses.",
                )
            })?;
        let instance_id = format!("i-{}", ids.suffix(20));
        let eni_id = format!("eni-{}", ids.suffix(20));
        let public = if bandwidth > 0 {
            state.network.next_public_ip()
        } else {
            String::new()
        };
        let mac = format!(
            "00:16:3e:{}:{}:{}",
            &ids.suffix(2),
            &ids.suffix(2),
            &ids.suffix(2)
        );
        state.network.network_interfaces.push(NetworkInterface {
            region_id: call.region.to_owned(),
            network_interface_id: eni_id.clone(),
            network_interface_name: String::new(),
            status: "InUse".to_owned(),
            kind: "Primary".to_owned(),
            instance_id: instance_id.clone(),
            vpc_id: vswitch.vpc_id.clone(),
            v_switch_id: vswitch_id.clone(),
            zone_id: vswitch.zone_id.clone(),
            private_ip_address: ip,
            mac_address: mac,
            security_group_ids: groups.clone(),
            creation_time: now.clone(),
        });
        state.network.instances.push(Instance {
            region_id: call.region.to_owned(),
            instance_id: instance_id.clone(),
            instance_name: if name.is_empty() {
                instance_id.clone()
            } else {
                name.clone()
            },
            image_id: image.clone(),
            instance_type: instance_type.clone(),
            status: "Running".to_owned(),
            zone_id: vswitch.zone_id.clone(),
            vpc_id: vswitch.vpc_id.clone(),
            v_switch_id: vswitch_id.clone(),
            internet_max_bandwidth_out: bandwidth,
            public_ip_address: public,
            primary_network_interface_id: eni_id,
            creation_time: now.clone(),
        });
        created.push(ls(&instance_id));
    }
    let body = RunInstancesResponse {
        request_id: LooseString::default(),
        instance_id_sets: InstanceIdSets {
            instance_id_set: created,
        },
    };
    Ok((Answer::of(&body), true))
}

/// The instance as DescribeInstances shows it.
fn render_instance(net: &Network, i: &Instance) -> WireInstance {
    let primary = net.interface(&i.region_id, &i.primary_network_interface_id);
    let eip = net.eip_of(&i.region_id, &i.instance_id);
    let private = primary
        .map(|n| n.private_ip_address.as_str())
        .unwrap_or_default();
    WireInstance {
        instance_id: ls(&i.instance_id),
        instance_name: ls(&i.instance_name),
        status: ls(&i.status),
        region_id: ls(&i.region_id),
        zone_id: ls(&i.zone_id),
        image_id: ls(&i.image_id),
        instance_type: ls(&i.instance_type),
        instance_network_type: ls("vpc"),
        creation_time: ls(&i.creation_time),
        internet_max_bandwidth_out: i.internet_max_bandwidth_out,
        security_group_ids: SecurityGroupIds {
            security_group_id: primary
                .map(|n| n.security_group_ids.iter().map(|g| ls(g)).collect())
                .unwrap_or_default(),
        },
        public_ip_address: IpAddresses {
            ip_address: if i.public_ip_address.is_empty() {
                Vec::new()
            } else {
                vec![ls(&i.public_ip_address)]
            },
        },
        inner_ip_address: IpAddresses::default(),
        eip_address: eip.map_or_else(EipAddress::default, |e| EipAddress {
            allocation_id: ls(&e.allocation_id),
            ip_address: ls(&e.ip_address),
            bandwidth: e.bandwidth.parse().unwrap_or(0),
            internet_charge_type: ls(&e.internet_charge_type),
        }),
        vpc_attributes: VpcAttributes {
            vpc_id: ls(&i.vpc_id),
            v_switch_id: ls(&i.v_switch_id),
            private_ip_address: IpAddresses {
                ip_address: vec![ls(private)],
            },
            nat_ip_address: LooseString::default(),
        },
        network_interfaces: InstanceNetworkInterfaces {
            network_interface: net
                .network_interfaces
                .iter()
                .filter(|n| n.region_id == i.region_id && n.instance_id == i.instance_id)
                .map(|n| InstanceNetworkInterface {
                    network_interface_id: ls(&n.network_interface_id),
                    kind: ls(&n.kind),
                    mac_address: ls(&n.mac_address),
                    primary_ip_address: ls(&n.private_ip_address),
                })
                .collect(),
        },
    }
}

/// DescribeInstances: InstanceIds (a JSON array of up to 100), VpcId,
/// VSwitchId, SecurityGroupId, InstanceName, Status; either paging style.
pub(crate) fn describe_instances(cloud: &Cloud, call: &Call) -> Result<Answer, ApiError> {
    let params = call.params;
    let ids: Option<Vec<String>> = match params.get("InstanceIds") {
        None => None,
        Some(json) => {
            let ids: Vec<String> = serde_json::from_str(json)
                .map_err(|_| ApiError::invalid("InvalidInstanceIds.Malformed", "InstanceIds"))?;
            if ids.len() > 100 {
                return Err(ApiError::invalid(
                    "InvalidInstanceIds.Malformed",
                    "InstanceIds",
                ));
            }
            Some(ids)
        }
    };
    let net = &cloud.state.network;
    let group = params.get("SecurityGroupId");
    let keep = |i: &&Instance| {
        i.region_id == call.region
            && ids.as_ref().is_none_or(|ids| ids.contains(&i.instance_id))
            && params.get("VpcId").is_none_or(|v| i.vpc_id == v)
            && params.get("VSwitchId").is_none_or(|v| i.v_switch_id == v)
            && params
                .get("InstanceName")
                .is_none_or(|n| i.instance_name == n)
            && params
                .get("Status")
                .is_none_or(|s| i.status.eq_ignore_ascii_case(s))
            && group.is_none_or(|g| {
                net.interface(&i.region_id, &i.primary_network_interface_id)
                    .is_some_and(|n| n.security_group_ids.iter().any(|x| x == g))
            })
    };
    let matching: Vec<&Instance> = net.instances.iter().filter(keep).collect();
    let p = page(&matching, call, 100)?;
    let body = DescribeInstancesResponse {
        request_id: LooseString::default(),
        total_count: i64::try_from(matching.len()).unwrap_or(i64::MAX),
        page_number: p.legacy.map(|l| l.0),
        page_size: p.legacy.map(|l| l.1),
        next_token: ls(&p.next_token),
        instances: Instances {
            instance: p.items.iter().map(|i| render_instance(net, i)).collect(),
        },
    };
    Ok(Answer::of(&body))
}

/// Moves one instance to `to` (`Running` or `Stopped`); the status it had.
fn set_status(state: &mut State, region: &str, id: &str, to: &str) -> Result<String, ApiError> {
    let i = state
        .network
        .instance_mut(region, id)
        .ok_or_else(instance_not_found)?;
    if i.status == to {
        return Err(incorrect_status());
    }
    Ok(std::mem::replace(&mut i.status, to.to_owned()))
}

pub(crate) fn start_instance(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    let id = required(call.params, "InstanceId")?;
    set_status(&mut cloud.state, call.region, id, "Running")?;
    Ok((Answer::empty(), true))
}

pub(crate) fn stop_instance(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    let id = required(call.params, "InstanceId")?;
    set_status(&mut cloud.state, call.region, id, "Stopped")?;
    Ok((Answer::empty(), true))
}

/// `InstanceId.N` of the plural forms, 1 to 100 of them, all known.
fn batch_ids(call: &Call) -> Result<Vec<String>, ApiError> {
    let mut ids: Vec<(usize, String)> = call
        .params
        .with_prefix("InstanceId.")
        .filter_map(|(k, v)| index(k, "InstanceId.").map(|n| (n, v.to_owned())))
        .collect();
    ids.sort();
    if ids.is_empty() {
        return Err(ApiError::missing("MissingParameter", "InstanceId.N"));
    }
    if ids.len() > 100 {
        return Err(ApiError::invalid("InvalidParameter", "InstanceId.N"));
    }
    Ok(ids.into_iter().map(|(_, v)| v).collect())
}

fn batch(cloud: &mut Cloud, call: &Call, to: &str) -> Result<(Answer, bool), ApiError> {
    let ids = batch_ids(call)?;
    // All or nothing: every instance must exist and be able to move.
    for id in &ids {
        let i = cloud
            .state
            .network
            .instance(call.region, id)
            .ok_or_else(instance_not_found)?;
        if i.status == to {
            return Err(incorrect_status());
        }
    }
    let mut out: Vec<Value> = Vec::new();
    for id in &ids {
        let previous = set_status(&mut cloud.state, call.region, id, to)?;
        out.push(json!({
            "InstanceId": id,
            "Code": "200",
            "Message": "success",
            "PreviousStatus": previous,
            "CurrentStatus": to,
        }));
    }
    let answer = Answer::empty().with("InstanceResponses", json!({ "InstanceResponse": out }));
    Ok((answer, true))
}

pub(crate) fn start_instances(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    batch(cloud, call, "Running")
}

pub(crate) fn stop_instances(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    batch(cloud, call, "Stopped")
}

/// The interface a Join/Leave call names: `InstanceId` (its primary
/// interface) or `NetworkInterfaceId`, never both.
fn target_interface(state: &State, call: &Call) -> Result<String, ApiError> {
    let params = call.params;
    match (params.get("InstanceId"), params.get("NetworkInterfaceId")) {
        (Some(_), Some(_)) => Err(ApiError::bad(
            "InvalidParameter.Conflict",
            "InstanceId and NetworkInterfaceId cannot be given together.",
        )),
        (None, None) => Err(ApiError::missing("MissingParameter", "InstanceId")),
        (Some(id), None) => {
            let i = state
                .network
                .instance(call.region, id)
                .ok_or_else(instance_not_found)?;
            if i.status != "Running" && i.status != "Stopped" {
                return Err(incorrect_status());
            }
            Ok(i.primary_network_interface_id.clone())
        }
        (None, Some(id)) => state
            .network
            .interface(call.region, id)
            .map(|n| n.network_interface_id.clone())
            .ok_or_else(|| not_found("InvalidEniId.NotFound", "NetworkInterfaceId")),
    }
}

pub(crate) fn join_group(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    let group = required(call.params, "SecurityGroupId")?.to_owned();
    let state = &mut cloud.state;
    if state.group(call.region, &group).is_none() {
        return Err(ApiError::group_not_found());
    }
    let eni_id = target_interface(state, call)?;
    let eni = state
        .network
        .interface(call.region, &eni_id)
        .ok_or_else(instance_not_found)?;
    if eni.security_group_ids.contains(&group) {
        return Err(ApiError::new(
            403,
            "InvalidInstanceId.AlreadyExists",
            "The specified instance already exists in the specified security group.",
        ));
    }
    let mut groups = eni.security_group_ids.clone();
    groups.push(group);
    check_interface_groups(state, call.region, &eni.vpc_id.clone(), &groups)?;
    if let Some(eni) = state.network.interface_mut(call.region, &eni_id) {
        eni.security_group_ids = groups;
    }
    Ok((Answer::empty(), true))
}

pub(crate) fn leave_group(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    let group = required(call.params, "SecurityGroupId")?.to_owned();
    let state = &mut cloud.state;
    if state.group(call.region, &group).is_none() {
        return Err(ApiError::group_not_found());
    }
    let eni_id = target_interface(state, call)?;
    let Some(eni) = state.network.interface_mut(call.region, &eni_id) else {
        return Err(instance_not_found());
    };
    if !eni.security_group_ids.contains(&group) {
        // The code is UNCONFIRMED.
        return Err(ApiError::new(
            403,
            "InvalidSecurityGroupId.NotJoined",
            "The specified instance is not in the specified security group.",
        ));
    }
    if eni.security_group_ids.len() == 1 {
        // An interface belongs to at least one group (documented); the code
        // is UNCONFIRMED.
        return Err(ApiError::new(
            403,
            "InvalidOperation.InstanceLastSecurityGroup",
            "A network interface must stay in at least one security group.",
        ));
    }
    eni.security_group_ids.retain(|g| *g != group);
    Ok((Answer::empty(), true))
}
