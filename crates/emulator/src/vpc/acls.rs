//! CreateNetworkAcl, UpdateNetworkAclEntries, AssociateNetworkAcl and
//! DescribeNetworkAclAttributes.

use serde_json::{Value, json};

use super::not_found;
use crate::clock::format_timestamp;
use crate::ecs::required;
use crate::error::ApiError;
use crate::ids::IdGen;
use crate::network::{AclEntry, NetworkAcl};
use crate::params::Params;
use crate::product::{Answer, Call, Cloud};

/// Entries per direction one call may give (`N` runs 1-100 per the API
/// reference, which counts from 0 in some versions).
const MAX_ENTRIES: usize = 100;

fn acl_not_found() -> ApiError {
    // The code is UNCONFIRMED.
    not_found("InvalidNetworkAclId.NotFound", "NetworkAclId")
}

/// CreateNetworkAcl: VpcId, NetworkAclName, Description. A new ACL has no
/// entries, so it denies everything until entries are added.
pub(crate) fn create(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    let vpc = required(call.params, "VpcId")?.to_owned();
    let Cloud { state, ids } = cloud;
    if state.network.vpc(call.region, &vpc).is_none() {
        return Err(not_found("InvalidVpcId.NotFound", "VpcId"));
    }
    let id = format!("nacl-{}", ids.suffix(20));
    let acl = NetworkAcl {
        region_id: call.region.to_owned(),
        network_acl_id: id.clone(),
        network_acl_name: call
            .params
            .get("NetworkAclName")
            .unwrap_or_default()
            .to_owned(),
        description: call
            .params
            .get("Description")
            .unwrap_or_default()
            .to_owned(),
        vpc_id: vpc,
        creation_time: format_timestamp(call.now),
        ingress_acl_entries: Vec::new(),
        egress_acl_entries: Vec::new(),
    };
    let attribute = render(&acl, &state.network.v_switches);
    state.network.network_acls.push(acl);
    let answer = Answer::empty()
        .with("NetworkAclId", Value::from(id))
        .with("NetworkAclAttribute", attribute);
    Ok((answer, true))
}

fn check_port(protocol: &str, port: &str) -> bool {
    let Some((a, b)) = port.split_once('/') else {
        return false;
    };
    match protocol {
        "tcp" | "udp" => match (a.parse::<u16>(), b.parse::<u16>()) {
            (Ok(a), Ok(b)) => a >= 1 && a <= b,
            _ => false,
        },
        _ => a == "-1" && b == "-1",
    }
}

/// `prefix.N.*` entries of one direction, in the order of N.
fn read_entries(
    params: &Params,
    prefix: &str,
    address: &str,
    ids: &mut IdGen,
) -> Result<Vec<AclEntry>, ApiError> {
    let mut indexes: Vec<usize> = params
        .with_prefix(prefix)
        .filter_map(|(k, _)| {
            k.strip_prefix(prefix)?
                .split('.')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .collect();
    indexes.sort_unstable();
    indexes.dedup();
    if indexes.len() > MAX_ENTRIES {
        return Err(ApiError::invalid(
            "InvalidParameter",
            prefix.trim_end_matches('.'),
        ));
    }
    let mut out = Vec::new();
    for n in indexes {
        let get = |f: &str| params.get(&format!("{prefix}{n}.{f}")).unwrap_or_default();
        let policy = get("Policy").to_ascii_lowercase();
        if policy != "accept" && policy != "drop" {
            return Err(ApiError::invalid("InvalidPolicy.Malformed", "Policy"));
        }
        let protocol = get("Protocol").to_ascii_lowercase();
        if !["all", "icmp", "icmpv6", "gre", "tcp", "udp"].contains(&protocol.as_str()) {
            return Err(ApiError::invalid("InvalidProtocol.Malformed", "Protocol"));
        }
        let port = get("Port").to_owned();
        if !check_port(&protocol, &port) {
            return Err(ApiError::invalid("InvalidPort.Malformed", "Port"));
        }
        let cidr = get(address).to_owned();
        let v6 = cidr.contains(':');
        let valid = if v6 {
            cidr.split_once('/').is_some_and(|(a, p)| {
                a.parse::<std::net::Ipv6Addr>().is_ok() && p.parse::<u8>().is_ok_and(|p| p <= 128)
            })
        } else {
            crate::network::is_v4_block(&cidr)
        };
        if !valid {
            return Err(ApiError::invalid("InvalidCidrBlock.Malformed", address));
        }
        let (source, destination) = if address == "SourceCidrIp" {
            (cidr, String::new())
        } else {
            (String::new(), cidr)
        };
        let given_id = get("NetworkAclEntryId");
        out.push(AclEntry {
            network_acl_entry_id: if given_id.is_empty() {
                format!("nae-{}", ids.suffix(20))
            } else {
                given_id.to_owned()
            },
            network_acl_entry_name: get("NetworkAclEntryName").to_owned(),
            policy,
            protocol,
            port,
            source_cidr_ip: source,
            destination_cidr_ip: destination,
            description: get("Description").to_owned(),
            entry_type: "custom".to_owned(),
            ip_version: if v6 { "IPv6" } else { "IPv4" }.to_owned(),
        });
    }
    Ok(out)
}

fn flag(params: &Params, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// UpdateNetworkAclEntries: NetworkAclId; with `UpdateIngressAclEntries`
/// true the ingress entries become `IngressAclEntries.N.*` (in N order),
/// likewise for egress. A direction not flagged stays as it is.
pub(crate) fn update_entries(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    let params = call.params;
    let id = required(params, "NetworkAclId")?.to_owned();
    let Cloud { state, ids } = cloud;
    if state.network.acl(call.region, &id).is_none() {
        return Err(acl_not_found());
    }
    let ingress = flag(params, "UpdateIngressAclEntries")
        .then(|| read_entries(params, "IngressAclEntries.", "SourceCidrIp", ids))
        .transpose()?;
    let egress = flag(params, "UpdateEgressAclEntries")
        .then(|| read_entries(params, "EgressAclEntries.", "DestinationCidrIp", ids))
        .transpose()?;
    let Some(acl) = state.network.acl_mut(call.region, &id) else {
        return Err(acl_not_found());
    };
    let changed = ingress.is_some() || egress.is_some();
    if let Some(e) = ingress {
        acl.ingress_acl_entries = e;
    }
    if let Some(e) = egress {
        acl.egress_acl_entries = e;
    }
    Ok((Answer::empty(), changed))
}

/// AssociateNetworkAcl: NetworkAclId, `Resource.N.ResourceId` with
/// `Resource.N.ResourceType` `VSwitch`. A vSwitch carries one ACL, of its
/// own VPC.
pub(crate) fn associate(cloud: &mut Cloud, call: &Call) -> Result<(Answer, bool), ApiError> {
    let params = call.params;
    let id = required(params, "NetworkAclId")?.to_owned();
    let net = &mut cloud.state.network;
    let vpc = net
        .acl(call.region, &id)
        .map(|a| a.vpc_id.clone())
        .ok_or_else(acl_not_found)?;
    let mut targets: Vec<(usize, String)> = params
        .with_prefix("Resource.")
        .filter_map(|(k, v)| {
            let (n, field) = k.strip_prefix("Resource.")?.split_once('.')?;
            (field == "ResourceId").then(|| (n.parse().ok(), v.to_owned()))
        })
        .filter_map(|(n, v)| n.map(|n| (n, v)))
        .collect();
    targets.sort();
    if targets.is_empty() {
        return Err(ApiError::missing(
            "MissingParameter",
            "Resource.N.ResourceId",
        ));
    }
    for (n, vsw) in &targets {
        let kind = params
            .get(&format!("Resource.{n}.ResourceType"))
            .unwrap_or("VSwitch");
        if kind != "VSwitch" {
            return Err(ApiError::invalid("InvalidParameter", "ResourceType"));
        }
        let v = net
            .v_switch(call.region, vsw)
            .ok_or_else(|| not_found("InvalidVSwitchId.NotFound", "VSwitchId"))?;
        if v.vpc_id != vpc {
            return Err(ApiError::bad(
                "InvalidVSwitchId.Mismatch",
                "The vSwitch and the network ACL are not in the same VPC.",
            ));
        }
        if !v.network_acl_id.is_empty() && v.network_acl_id != id {
            // One ACL per vSwitch (documented); the code is UNCONFIRMED.
            return Err(ApiError::bad(
                "InvalidVSwitchId.AlreadyAssociated",
                "The vSwitch is already associated with a network ACL.",
            ));
        }
    }
    for (_, vsw) in targets {
        if let Some(v) = net.v_switch_mut(call.region, &vsw) {
            v.network_acl_id = id.clone();
        }
    }
    Ok((Answer::empty(), true))
}

fn render_entry(e: &AclEntry, ingress: bool) -> Value {
    let mut v = json!({
        "NetworkAclEntryId": e.network_acl_entry_id,
        "NetworkAclEntryName": e.network_acl_entry_name,
        "Policy": e.policy, "Protocol": e.protocol, "Port": e.port,
        "Description": e.description, "EntryType": e.entry_type, "IpVersion": e.ip_version,
    });
    let (name, value) = if ingress {
        ("SourceCidrIp", &e.source_cidr_ip)
    } else {
        ("DestinationCidrIp", &e.destination_cidr_ip)
    };
    v[name] = Value::from(value.as_str());
    v
}

fn render(acl: &NetworkAcl, switches: &[crate::network::VSwitch]) -> Value {
    let resources: Vec<Value> = switches
        .iter()
        .filter(|v| v.network_acl_id == acl.network_acl_id)
        .map(
            |v| json!({"ResourceId": v.v_switch_id, "ResourceType": "VSwitch", "Status": "BINDED"}),
        )
        .collect();
    json!({
        "NetworkAclId": acl.network_acl_id, "NetworkAclName": acl.network_acl_name,
        "Description": acl.description, "VpcId": acl.vpc_id, "RegionId": acl.region_id,
        "Status": "Available", "CreationTime": acl.creation_time,
        "IngressAclEntries": {"IngressAclEntry":
            acl.ingress_acl_entries.iter().map(|e| render_entry(e, true)).collect::<Vec<_>>()},
        "EgressAclEntries": {"EgressAclEntry":
            acl.egress_acl_entries.iter().map(|e| render_entry(e, false)).collect::<Vec<_>>()},
        "Resources": {"Resource": resources},
    })
}

/// DescribeNetworkAclAttributes: NetworkAclId.
pub(crate) fn describe(cloud: &Cloud, call: &Call) -> Result<Answer, ApiError> {
    let id = required(call.params, "NetworkAclId")?;
    let net = &cloud.state.network;
    let acl = net.acl(call.region, id).ok_or_else(acl_not_found)?;
    Ok(Answer::empty().with("NetworkAclAttribute", render(acl, &net.v_switches)))
}
