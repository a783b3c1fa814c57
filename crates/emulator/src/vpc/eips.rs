//! AllocateEipAddress, AssociateEipAddress, UnassociateEipAddress and
//! DescribeEipAddresses.

use serde_json::{Value, json};

use super::{count, not_found, page};
use crate::clock::format_timestamp;
use crate::ecs::{int_param, required};
use crate::error::ApiError;
use crate::network::Eip;
use crate::product::{Answer, Call, Cloud};

fn eip_not_found() -> ApiError {
    not_found("InvalidAllocationId.NotFound", "AllocationId")
}

fn incorrect_eip_status() -> ApiError {
    ApiError::new(
        400,
        "IncorrectEipStatus",
        "The current status of the EIP does not support this operation.",
    )
}

/// AllocateEipAddress: Bandwidth (1-200 Mbit/s, 5 when left out),
/// InternetChargeType.
pub(crate) fn allocate(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    let bandwidth = int_param(call.params, "Bandwidth", "InvalidBandwidth.Malformed")?.unwrap_or(5);
    if !(1..=200).contains(&bandwidth) {
        return Err(ApiError::invalid("InvalidBandwidth.Malformed", "Bandwidth"));
    }
    let charge = call
        .params
        .get("InternetChargeType")
        .unwrap_or("PayByBandwidth")
        .to_owned();
    let Cloud { state, ids } = cloud;
    let id = format!("eip-{}", ids.suffix(20));
    let ip = state.network.next_public_ip();
    state.network.eip_addresses.push(Eip {
        region_id: call.region.to_owned(),
        allocation_id: id.clone(),
        ip_address: ip.clone(),
        status: "Available".to_owned(),
        instance_id: String::new(),
        instance_type: String::new(),
        bandwidth: bandwidth.to_string(),
        internet_charge_type: charge,
        allocation_time: format_timestamp(call.now),
    });
    let answer = Answer::empty()
        .with("AllocationId", Value::from(id))
        .with("EipAddress", Value::from(ip))
        .with("ResourceGroupId", Value::from(""));
    Ok((answer, true))
}

/// AssociateEipAddress: AllocationId, InstanceId, InstanceType
/// (`EcsInstance` when left out, or `NetworkInterface`).
pub(crate) fn associate(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    let params = call.params;
    let allocation = required(params, "AllocationId")?.to_owned();
    let target = required(params, "InstanceId")?.to_owned();
    let kind = params
        .get("InstanceType")
        .unwrap_or("EcsInstance")
        .to_owned();
    let net = &mut cloud.state.network;
    let region = call.region;
    let at = net
        .eip_addresses
        .iter()
        .position(|e| e.region_id == region && e.allocation_id == allocation)
        .ok_or_else(eip_not_found)?;
    if net.eip_addresses[at].status != "Available" {
        return Err(incorrect_eip_status());
    }
    match kind.as_str() {
        "EcsInstance" => {
            let i = net
                .instance(region, &target)
                .ok_or_else(|| not_found("InvalidInstanceId.NotFound", "InstanceId"))?;
            if !i.public_ip_address.is_empty() {
                // An instance with a fixed public address takes no EIP
                // (documented); the code is UNCONFIRMED.
                return Err(ApiError::new(
                    403,
                    "InvalidInstance.HasPublicIp",
                    "The specified instance already has a public IP address.",
                ));
            }
        }
        "NetworkInterface" => {
            net.interface(region, &target)
                .ok_or_else(|| not_found("InvalidEniId.NotFound", "InstanceId"))?;
        }
        _ => return Err(ApiError::invalid("InvalidParameter", "InstanceType")),
    }
    if net.eip_of(region, &target).is_some() {
        return Err(ApiError::new(
            403,
            "InvalidAssociation.Duplicated",
            "The specified instance is already associated with an EIP.",
        ));
    }
    let eip = &mut net.eip_addresses[at];
    eip.status = "InUse".to_owned();
    eip.instance_id = target;
    eip.instance_type = kind;
    Ok((Answer::empty(), true))
}

/// UnassociateEipAddress: AllocationId, InstanceId (must be the bound one).
pub(crate) fn unassociate(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    let allocation = required(call.params, "AllocationId")?;
    let target = required(call.params, "InstanceId")?;
    let eip = cloud
        .state
        .network
        .eip_addresses
        .iter_mut()
        .find(|e| e.region_id == call.region && e.allocation_id == allocation)
        .ok_or_else(eip_not_found)?;
    if eip.status != "InUse" || eip.instance_id != target {
        return Err(incorrect_eip_status());
    }
    eip.status = "Available".to_owned();
    eip.instance_id.clear();
    eip.instance_type.clear();
    Ok((Answer::empty(), true))
}

/// DescribeEipAddresses: AllocationId, EipAddress, AssociatedInstanceId,
/// Status; paging (up to 100 a page).
pub(crate) fn describe(cloud: &Cloud, call: &Call) -> Result<Answer, ApiError> {
    let params = call.params;
    let matching: Vec<&Eip> = cloud
        .state
        .network
        .eip_addresses
        .iter()
        .filter(|e| e.region_id == call.region)
        .filter(|e| {
            params
                .get("AllocationId")
                .is_none_or(|x| e.allocation_id == x)
        })
        .filter(|e| params.get("EipAddress").is_none_or(|x| e.ip_address == x))
        .filter(|e| {
            params
                .get("AssociatedInstanceId")
                .is_none_or(|x| e.instance_id == x)
        })
        .filter(|e| params.get("Status").is_none_or(|x| e.status == x))
        .collect();
    let (items, number, size) = page(&matching, params, 100)?;
    let eips: Vec<Value> = items
        .iter()
        .map(|e| {
            json!({
                "AllocationId": e.allocation_id, "IpAddress": e.ip_address, "Status": e.status,
                "InstanceId": e.instance_id, "InstanceType": e.instance_type,
                "Bandwidth": e.bandwidth, "InternetChargeType": e.internet_charge_type,
                "RegionId": e.region_id, "AllocationTime": e.allocation_time,
            })
        })
        .collect();
    Ok(Answer::empty()
        .with("TotalCount", Value::from(count(matching.len())))
        .with("PageNumber", Value::from(number))
        .with("PageSize", Value::from(size))
        .with("EipAddresses", json!({ "EipAddress": eips })))
}
