//! DescribeNetworkInterfaces, and the paging both it and DescribeInstances
//! use.

use moat_wire::{
    AssociatedPublicIp, DescribeNetworkInterfacesResponse, LooseString, NetworkInterfaceSet,
    NetworkInterfaceSets, PrivateIpSet, PrivateIpSets, SecurityGroupIds,
};

use super::instances::ls;
use super::{bad_next_token, int_param};
use crate::error::ApiError;
use crate::network::NetworkInterface;
use crate::product::{Answer, Call, Cloud};

/// A page of `items`: legacy `PageNumber`/`PageSize` (sizes up to
/// `max_page`), or `MaxResults`/`NextToken` (a token is the offset).
/// Returns the page, the next token and the legacy numbers when used.
pub(super) struct Page<T> {
    pub items: Vec<T>,
    pub next_token: String,
    pub legacy: Option<(i64, i64)>,
}

pub(super) fn page<T: Clone>(items: &[T], call: &Call, max_page: i64) -> Result<Page<T>, ApiError> {
    let params = call.params;
    let token_style = params.contains("MaxResults") || params.contains("NextToken");
    if token_style {
        let max = int_param(params, "MaxResults", "InvalidParameter.MaxResults")?.unwrap_or(10);
        if !(1..=max_page).contains(&max) {
            return Err(ApiError::invalid(
                "InvalidParameter.MaxResults",
                "MaxResults",
            ));
        }
        let start = match params.get("NextToken").filter(|t| !t.is_empty()) {
            None => 0,
            Some(t) => t.parse::<usize>().map_err(|_| bad_next_token())?,
        };
        if start > items.len() {
            return Err(bad_next_token());
        }
        // `max` is within 1..=max_page, which fits in usize.
        let end = items.len().min(start + usize::try_from(max).unwrap_or(1));
        return Ok(Page {
            items: items[start..end].to_vec(),
            next_token: if end < items.len() {
                end.to_string()
            } else {
                String::new()
            },
            legacy: None,
        });
    }
    let number = int_param(params, "PageNumber", "InvalidParameter.PageNumber")?.unwrap_or(1);
    let size = int_param(params, "PageSize", "InvalidParameter.PageSize")?.unwrap_or(10);
    if number < 1 {
        return Err(ApiError::invalid(
            "InvalidParameter.PageNumber",
            "PageNumber",
        ));
    }
    if !(1..=max_page).contains(&size) {
        return Err(ApiError::invalid("InvalidParameter.PageSize", "PageSize"));
    }
    // Both are positive and bounded above by what the checks allow.
    let (n, s) = (
        usize::try_from(number).unwrap_or(1),
        usize::try_from(size).unwrap_or(10),
    );
    let start = (n - 1).saturating_mul(s).min(items.len());
    let end = items.len().min(start + s);
    Ok(Page {
        items: items[start..end].to_vec(),
        next_token: String::new(),
        legacy: Some((number, size)),
    })
}

/// DescribeNetworkInterfaces: NetworkInterfaceId.N, InstanceId,
/// SecurityGroupId, VpcId, VSwitchId, Type; either paging style.
pub(crate) fn describe_interfaces(cloud: &Cloud, call: &Call) -> Result<Answer, ApiError> {
    let params = call.params;
    let ids: Vec<&str> = params
        .with_prefix("NetworkInterfaceId.")
        .map(|(_, v)| v)
        .collect();
    let net = &cloud.state.network;
    let keep = |n: &&NetworkInterface| {
        n.region_id == call.region
            && (ids.is_empty() || ids.contains(&n.network_interface_id.as_str()))
            && params.get("InstanceId").is_none_or(|v| n.instance_id == v)
            && params.get("VpcId").is_none_or(|v| n.vpc_id == v)
            && params.get("VSwitchId").is_none_or(|v| n.v_switch_id == v)
            && params
                .get("Type")
                .is_none_or(|v| n.kind.eq_ignore_ascii_case(v))
            && params
                .get("SecurityGroupId")
                .is_none_or(|g| n.security_group_ids.iter().any(|x| x == g))
    };
    let matching: Vec<&NetworkInterface> = net.network_interfaces.iter().filter(keep).collect();
    let p = page(&matching, call, 1000)?;
    let render = |n: &&NetworkInterface| {
        let eip = net
            .eip_of(&n.region_id, &n.network_interface_id)
            .or_else(|| {
                (n.kind == "Primary")
                    .then(|| net.eip_of(&n.region_id, &n.instance_id))
                    .flatten()
            });
        let public = eip
            .map(|e| (e.ip_address.clone(), e.allocation_id.clone()))
            .or_else(|| {
                net.instance(&n.region_id, &n.instance_id)
                    .filter(|i| n.kind == "Primary" && !i.public_ip_address.is_empty())
                    .map(|i| (i.public_ip_address.clone(), String::new()))
            });
        NetworkInterfaceSet {
            network_interface_id: ls(&n.network_interface_id),
            network_interface_name: ls(&n.network_interface_name),
            status: ls(&n.status),
            kind: ls(&n.kind),
            vpc_id: ls(&n.vpc_id),
            v_switch_id: ls(&n.v_switch_id),
            zone_id: ls(&n.zone_id),
            private_ip_address: ls(&n.private_ip_address),
            mac_address: ls(&n.mac_address),
            instance_id: ls(&n.instance_id),
            creation_time: ls(&n.creation_time),
            security_group_ids: SecurityGroupIds {
                security_group_id: n.security_group_ids.iter().map(|g| ls(g)).collect(),
            },
            private_ip_sets: PrivateIpSets {
                private_ip_set: vec![PrivateIpSet {
                    private_ip_address: ls(&n.private_ip_address),
                    primary: true,
                }],
            },
            associated_public_ip: public.map_or_else(AssociatedPublicIp::default, |(ip, id)| {
                AssociatedPublicIp {
                    public_ip_address: LooseString(ip),
                    allocation_id: LooseString(id),
                }
            }),
        }
    };
    let body = DescribeNetworkInterfacesResponse {
        request_id: LooseString::default(),
        total_count: i64::try_from(matching.len()).unwrap_or(i64::MAX),
        page_number: p.legacy.map(|l| l.0),
        page_size: p.legacy.map(|l| l.1),
        next_token: ls(&p.next_token),
        network_interface_sets: NetworkInterfaceSets {
            network_interface_set: p.items.iter().map(render).collect(),
        },
    };
    Ok(Answer::of(&body))
}
