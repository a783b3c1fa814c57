//! CreateVpc, CreateVSwitch, DescribeVpcs and DescribeVSwitches.

use serde_json::{Value, json};

use super::{count, not_found, page};
use crate::clock::format_timestamp;
use crate::ecs::required;
use crate::error::ApiError;
use crate::network::{VSwitch, Vpc, is_v4_block, v4_block, v4_overlap, v4_within};
use crate::product::{Answer, Call, Cloud};

fn check_name(params: &crate::params::Params, name: &str) -> Result<String, ApiError> {
    let v = params.get(name).unwrap_or_default();
    let n = v.chars().count();
    if !v.is_empty()
        && (!(1..=128).contains(&n) || v.starts_with("http://") || v.starts_with("https://"))
    {
        return Err(ApiError::invalid("InvalidName", name));
    }
    Ok(v.to_owned())
}

/// CreateVpc: CidrBlock (172.16.0.0/12 when left out), VpcName, Description.
pub(crate) fn create_vpc(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    let params = call.params;
    let cidr = params
        .get("CidrBlock")
        .unwrap_or("172.16.0.0/12")
        .to_owned();
    let prefix_ok = v4_block(&cidr).is_some_and(|(a, b)| (b - a) >= 15 && (b - a) < (1 << 24));
    if !is_v4_block(&cidr) || !prefix_ok {
        // A VPC block is /8 to /28 (documented).
        return Err(ApiError::invalid("InvalidCidrBlock.Malformed", "CidrBlock"));
    }
    let name = check_name(params, "VpcName")?;
    let description = check_name(params, "Description")?;
    let Cloud { state, ids } = cloud;
    let vpc_id = format!("vpc-{}", ids.suffix(20));
    state.network.vpcs.push(Vpc {
        region_id: call.region.to_owned(),
        vpc_id: vpc_id.clone(),
        vpc_name: name,
        cidr_block: cidr,
        description,
        creation_time: format_timestamp(call.now),
    });
    let answer = Answer::empty()
        .with("VpcId", Value::from(vpc_id))
        .with("VRouterId", Value::from(format!("vrt-{}", ids.suffix(20))))
        .with(
            "RouteTableId",
            Value::from(format!("vtb-{}", ids.suffix(20))),
        )
        .with("ResourceGroupId", Value::from(""));
    Ok((answer, true))
}

/// CreateVSwitch: ZoneId, CidrBlock (within the VPC's, overlapping no other
/// vSwitch of it), VpcId, VSwitchName, Description.
pub(crate) fn create_vswitch(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    let params = call.params;
    let zone = required(params, "ZoneId")?.to_owned();
    let cidr = required(params, "CidrBlock")?.to_owned();
    let vpc_id = required(params, "VpcId")?.to_owned();
    let name = check_name(params, "VSwitchName")?;
    let description = check_name(params, "Description")?;
    let Cloud { state, ids } = cloud;
    let vpc = state
        .network
        .vpc(call.region, &vpc_id)
        .ok_or_else(|| not_found("InvalidVpcId.NotFound", "VpcId"))?;
    if !is_v4_block(&cidr) {
        return Err(ApiError::invalid("InvalidCidrBlock.Malformed", "CidrBlock"));
    }
    if !v4_within(&cidr, &vpc.cidr_block) {
        // The constraint is documented; the code is UNCONFIRMED.
        return Err(ApiError::bad(
            "InvalidCidrBlock.Mismatch",
            "The CIDR block of the vSwitch must lie within the CIDR block of its VPC.",
        ));
    }
    if state
        .network
        .v_switches
        .iter()
        .any(|v| v.vpc_id == vpc_id && v4_overlap(&v.cidr_block, &cidr))
    {
        return Err(ApiError::bad(
            "InvalidCidrBlock.Overlapped",
            "The specified CIDR block overlaps with another vSwitch of the VPC.",
        ));
    }
    let id = format!("vsw-{}", ids.suffix(20));
    state.network.v_switches.push(VSwitch {
        region_id: call.region.to_owned(),
        v_switch_id: id.clone(),
        vpc_id,
        zone_id: zone,
        cidr_block: cidr,
        v_switch_name: name,
        description,
        network_acl_id: String::new(),
        creation_time: format_timestamp(call.now),
        ips_used: 0,
    });
    Ok((Answer::empty().with("VSwitchId", Value::from(id)), true))
}

/// DescribeVpcs: VpcId (up to 20, comma separated), VpcName; paging.
pub(crate) fn describe_vpcs(cloud: &Cloud, call: &Call) -> Result<Answer, ApiError> {
    let params = call.params;
    let ids: Option<Vec<&str>> = params
        .get("VpcId")
        .map(|v| v.split(',').map(str::trim).collect());
    if ids.as_ref().is_some_and(|v| v.len() > 20) {
        return Err(ApiError::invalid("InvalidParameter", "VpcId"));
    }
    let net = &cloud.state.network;
    let matching: Vec<&Vpc> = net
        .vpcs
        .iter()
        .filter(|v| v.region_id == call.region)
        .filter(|v| {
            ids.as_ref()
                .is_none_or(|ids| ids.contains(&v.vpc_id.as_str()))
        })
        .filter(|v| params.get("VpcName").is_none_or(|n| v.vpc_name == n))
        .collect();
    let (items, number, size) = page(&matching, params, 50)?;
    let vpcs: Vec<Value> = items
        .iter()
        .map(|v| {
            let switches: Vec<&str> = net
                .v_switches
                .iter()
                .filter(|s| s.vpc_id == v.vpc_id)
                .map(|s| s.v_switch_id.as_str())
                .collect();
            json!({
                "VpcId": v.vpc_id, "RegionId": v.region_id, "Status": "Available",
                "VpcName": v.vpc_name, "CidrBlock": v.cidr_block, "Description": v.description,
                "CreationTime": v.creation_time, "IsDefault": false,
                "VSwitchIds": {"VSwitchId": switches},
            })
        })
        .collect();
    Ok(Answer::empty()
        .with("TotalCount", Value::from(count(matching.len())))
        .with("PageNumber", Value::from(number))
        .with("PageSize", Value::from(size))
        .with("Vpcs", json!({ "Vpc": vpcs })))
}

/// DescribeVSwitches: VpcId, VSwitchId, ZoneId; paging.
pub(crate) fn describe_vswitches(cloud: &Cloud, call: &Call) -> Result<Answer, ApiError> {
    let params = call.params;
    let net = &cloud.state.network;
    let matching: Vec<&VSwitch> = net
        .v_switches
        .iter()
        .filter(|v| v.region_id == call.region)
        .filter(|v| params.get("VpcId").is_none_or(|x| v.vpc_id == x))
        .filter(|v| params.get("VSwitchId").is_none_or(|x| v.v_switch_id == x))
        .filter(|v| params.get("ZoneId").is_none_or(|x| v.zone_id == x))
        .collect();
    let (items, number, size) = page(&matching, params, 50)?;
    let switches: Vec<Value> = items
        .iter()
        .map(|v| {
            let free = v4_block(&v.cidr_block).map_or(0, |(a, b)| {
                i64::from(b - a).saturating_sub(3 + i64::from(v.ips_used))
            });
            json!({
                "VSwitchId": v.v_switch_id, "VpcId": v.vpc_id, "Status": "Available",
                "CidrBlock": v.cidr_block, "ZoneId": v.zone_id, "VSwitchName": v.v_switch_name,
                "Description": v.description, "CreationTime": v.creation_time,
                "AvailableIpAddressCount": free, "NetworkAclId": v.network_acl_id,
                "IsDefault": false,
            })
        })
        .collect();
    Ok(Answer::empty()
        .with("TotalCount", Value::from(count(matching.len())))
        .with("PageNumber", Value::from(number))
        .with("PageSize", Value::from(size))
        .with("VSwitches", json!({ "VSwitch": switches })))
}
