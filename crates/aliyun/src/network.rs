//! The network around the security groups as moat reads it: instances,
//! their network interfaces, vSwitches, EIPs and network ACLs, converted
//! from the wire shapes (ECS 2014-05-26, VPC 2016-04-28) into plain values.
//! Conversions fail on what cannot be read (an address that is not one, an
//! ACL entry of an unknown protocol) rather than leave it out: a decision
//! made without an entry could be wrong.

use std::net::IpAddr;

use ipnet::IpNet;
use moat_policy::eval::{AclEntry, NetworkAcl};
use moat_policy::model::{PortRange, Protocol, Verdict};
use moat_wire::{
    EipAddressEntry, Instance, NetworkAclAttribute, NetworkAclEntry, NetworkInterfaceSet, VSwitch,
};

/// A member of an answer moat could not read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} {value:?} of {resource} cannot be read")]
pub struct UnreadableField {
    /// The resource's id (`i-...`, `eni-...`, `nae-...`).
    pub resource: String,
    pub field: &'static str,
    pub value: String,
}

fn unreadable(resource: &str, field: &'static str, value: &str) -> UnreadableField {
    UnreadableField {
        resource: resource.to_owned(),
        field,
        value: value.to_owned(),
    }
}

fn addresses<'a>(
    resource: &str,
    field: &'static str,
    values: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<IpAddr>, UnreadableField> {
    values
        .into_iter()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.parse().map_err(|_| unreadable(resource, field, v)))
        .collect()
}

fn optional_address(
    resource: &str,
    field: &'static str,
    value: &str,
) -> Result<Option<IpAddr>, UnreadableField> {
    Ok(addresses(resource, field, [value])?.into_iter().next())
}

/// An EIP bound to an instance or an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EipBinding {
    pub allocation_id: String,
    pub address: IpAddr,
}

/// An instance as DescribeInstances lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceInfo {
    pub id: String,
    pub name: String,
    /// `Pending`, `Running`, `Starting`, `Stopping` or `Stopped`.
    pub status: String,
    pub region: String,
    pub vpc_id: String,
    pub vswitch_id: String,
    pub private_addresses: Vec<IpAddr>,
    /// Public addresses assigned with the instance (`PublicIpAddress`).
    pub public_addresses: Vec<IpAddr>,
    pub eip: Option<EipBinding>,
    pub security_group_ids: Vec<String>,
    /// Its interfaces, the primary one first.
    pub interface_ids: Vec<String>,
}

impl InstanceInfo {
    pub fn is_running(&self) -> bool {
        self.status.eq_ignore_ascii_case("Running")
    }

    /// The id of the primary interface, if the answer named one.
    pub fn primary_interface(&self) -> Option<&str> {
        self.interface_ids.first().map(String::as_str)
    }
}

impl TryFrom<&Instance> for InstanceInfo {
    type Error = UnreadableField;

    fn try_from(i: &Instance) -> Result<InstanceInfo, UnreadableField> {
        let id = i.instance_id.to_string();
        let eip = optional_address(
            &id,
            "EipAddress.IpAddress",
            i.eip_address.ip_address.as_str(),
        )?
        .map(|address| EipBinding {
            allocation_id: i.eip_address.allocation_id.to_string(),
            address,
        });
        // The primary interface first, whatever order the answer has.
        let mut interfaces: Vec<&moat_wire::InstanceNetworkInterface> =
            i.network_interfaces.network_interface.iter().collect();
        interfaces.sort_by_key(|n| !n.kind.as_str().eq_ignore_ascii_case("Primary"));
        Ok(InstanceInfo {
            private_addresses: addresses(
                &id,
                "VpcAttributes.PrivateIpAddress",
                i.vpc_attributes
                    .private_ip_address
                    .ip_address
                    .iter()
                    .map(|a| a.as_str()),
            )?,
            public_addresses: addresses(
                &id,
                "PublicIpAddress",
                i.public_ip_address.ip_address.iter().map(|a| a.as_str()),
            )?,
            eip,
            name: i.instance_name.to_string(),
            status: i.status.to_string(),
            region: i.region_id.to_string(),
            vpc_id: i.vpc_attributes.vpc_id.to_string(),
            vswitch_id: i.vpc_attributes.v_switch_id.to_string(),
            security_group_ids: i
                .security_group_ids
                .security_group_id
                .iter()
                .map(ToString::to_string)
                .collect(),
            interface_ids: interfaces
                .iter()
                .map(|n| n.network_interface_id.to_string())
                .collect(),
            id,
        })
    }
}

/// A network interface as DescribeNetworkInterfaces lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceInfo {
    pub id: String,
    pub name: String,
    /// `Available`, `InUse`, ...
    pub status: String,
    /// `Primary` or `Secondary`.
    pub kind: String,
    pub vpc_id: String,
    pub vswitch_id: String,
    /// The instance it is attached to; empty when none.
    pub instance_id: String,
    pub private_addresses: Vec<IpAddr>,
    /// The EIP it is reached at (`AssociatedPublicIp`), if any.
    pub public_address: Option<IpAddr>,
    /// In the order the interface lists them.
    pub security_group_ids: Vec<String>,
}

impl TryFrom<&NetworkInterfaceSet> for InterfaceInfo {
    type Error = UnreadableField;

    fn try_from(n: &NetworkInterfaceSet) -> Result<InterfaceInfo, UnreadableField> {
        let id = n.network_interface_id.to_string();
        let mut private = addresses(
            &id,
            "PrivateIpSets.PrivateIpSet.PrivateIpAddress",
            n.private_ip_sets
                .private_ip_set
                .iter()
                .map(|p| p.private_ip_address.as_str()),
        )?;
        if private.is_empty() {
            private = addresses(&id, "PrivateIpAddress", [n.private_ip_address.as_str()])?;
        }
        Ok(InterfaceInfo {
            public_address: optional_address(
                &id,
                "AssociatedPublicIp.PublicIpAddress",
                n.associated_public_ip.public_ip_address.as_str(),
            )?,
            private_addresses: private,
            name: n.network_interface_name.to_string(),
            status: n.status.to_string(),
            kind: n.kind.to_string(),
            vpc_id: n.vpc_id.to_string(),
            vswitch_id: n.v_switch_id.to_string(),
            instance_id: n.instance_id.to_string(),
            security_group_ids: n
                .security_group_ids
                .security_group_id
                .iter()
                .map(ToString::to_string)
                .collect(),
            id,
        })
    }
}

/// A vSwitch: its address blocks and the network ACL it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VSwitchInfo {
    pub id: String,
    pub vpc_id: String,
    /// IPv4 and, when it has one, IPv6 block.
    pub blocks: Vec<IpNet>,
    pub network_acl_id: Option<String>,
}

impl TryFrom<&VSwitch> for VSwitchInfo {
    type Error = UnreadableField;

    fn try_from(v: &VSwitch) -> Result<VSwitchInfo, UnreadableField> {
        let id = v.v_switch_id.to_string();
        let mut blocks = Vec::new();
        for (field, value) in [
            ("CidrBlock", v.cidr_block.as_str()),
            ("Ipv6CidrBlock", v.ipv6_cidr_block.as_str()),
        ] {
            let value = value.trim();
            if !value.is_empty() {
                blocks.push(value.parse().map_err(|_| unreadable(&id, field, value))?);
            }
        }
        let acl = v.network_acl_id.as_str().trim();
        Ok(VSwitchInfo {
            vpc_id: v.vpc_id.to_string(),
            blocks,
            network_acl_id: (!acl.is_empty()).then(|| acl.to_owned()),
            id,
        })
    }
}

/// An EIP as DescribeEipAddresses lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EipInfo {
    pub allocation_id: String,
    pub address: IpAddr,
    pub status: String,
    /// What it is bound to (an instance or an interface); empty when free.
    pub instance_id: String,
    pub instance_type: String,
}

impl TryFrom<&EipAddressEntry> for EipInfo {
    type Error = UnreadableField;

    fn try_from(e: &EipAddressEntry) -> Result<EipInfo, UnreadableField> {
        let id = e.allocation_id.to_string();
        let text = e.ip_address.as_str().trim();
        Ok(EipInfo {
            address: text
                .parse()
                .map_err(|_| unreadable(&id, "IpAddress", text))?,
            status: e.status.to_string(),
            instance_id: e.instance_id.to_string(),
            instance_type: e.instance_type.to_string(),
            allocation_id: id,
        })
    }
}

fn acl_entry(e: &NetworkAclEntry, ingress: bool) -> Result<AclEntry, UnreadableField> {
    let id = e.network_acl_entry_id.to_string();
    let verdict = match e.policy.as_str().to_ascii_lowercase().as_str() {
        "accept" => Verdict::Accept,
        "drop" => Verdict::Drop,
        other => return Err(unreadable(&id, "Policy", other)),
    };
    let protocol = Protocol::parse(e.protocol.as_str())
        .ok_or_else(|| unreadable(&id, "Protocol", e.protocol.as_str()))?;
    let port_text = e.port.as_str().trim();
    let ports = if port_text.is_empty() {
        PortRange::NotApplicable
    } else {
        PortRange::parse_wire(port_text).map_err(|_| unreadable(&id, "Port", port_text))?
    };
    let (field, cidr) = if ingress {
        ("SourceCidrIp", e.source_cidr_ip.as_str().trim())
    } else {
        ("DestinationCidrIp", e.destination_cidr_ip.as_str().trim())
    };
    let cidr: IpNet = cidr.parse().map_err(|_| unreadable(&id, field, cidr))?;
    Ok(AclEntry {
        id,
        name: e.network_acl_entry_name.to_string(),
        verdict,
        protocol,
        ports,
        cidr,
        description: e.description.to_string(),
    })
}

/// A network ACL with its entries in order, from its wire attributes.
pub fn read_network_acl(a: &NetworkAclAttribute) -> Result<NetworkAcl, UnreadableField> {
    {
        Ok(NetworkAcl {
            id: a.network_acl_id.to_string(),
            ingress: a
                .ingress_acl_entries
                .ingress_acl_entry
                .iter()
                .map(|e| acl_entry(e, true))
                .collect::<Result<_, _>>()?,
            egress: a
                .egress_acl_entries
                .egress_acl_entry
                .iter()
                .map(|e| acl_entry(e, false))
                .collect::<Result<_, _>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_entries_are_read_in_order_and_bad_ones_refused() {
        let entry =
            |id: &str, policy: &str, protocol: &str, port: &str, cidr: &str| NetworkAclEntry {
                network_acl_entry_id: id.into(),
                policy: policy.into(),
                protocol: protocol.into(),
                port: port.into(),
                source_cidr_ip: cidr.into(),
                ..NetworkAclEntry::default()
            };
        let mut a = NetworkAclAttribute {
            network_acl_id: "nacl-1".into(),
            ..NetworkAclAttribute::default()
        };
        a.ingress_acl_entries.ingress_acl_entry = vec![
            entry("nae-1", "drop", "tcp", "3306/3306", "0.0.0.0/0"),
            entry("nae-2", "accept", "all", "-1/-1", "0.0.0.0/0"),
        ];
        let acl = read_network_acl(&a).unwrap();
        assert_eq!(acl.ingress.len(), 2);
        assert_eq!(acl.ingress[0].verdict, Verdict::Drop);
        assert_eq!(acl.ingress[1].protocol, Protocol::All);
        a.ingress_acl_entries.ingress_acl_entry[1].protocol = "sctp".into();
        let err = read_network_acl(&a).unwrap_err();
        assert_eq!((err.resource.as_str(), err.field), ("nae-2", "Protocol"));
    }

    #[test]
    fn an_instance_lists_its_primary_interface_first() {
        let mut i = Instance {
            instance_id: "i-1".into(),
            status: "Running".into(),
            ..Instance::default()
        };
        for (id, kind) in [("eni-2", "Secondary"), ("eni-1", "Primary")] {
            i.network_interfaces
                .network_interface
                .push(moat_wire::InstanceNetworkInterface {
                    network_interface_id: id.into(),
                    kind: kind.into(),
                    ..Default::default()
                });
        }
        i.public_ip_address.ip_address.push("not an address".into());
        assert_eq!(
            InstanceInfo::try_from(&i).unwrap_err().field,
            "PublicIpAddress"
        );
        i.public_ip_address.ip_address.clear();
        let info = InstanceInfo::try_from(&i).unwrap();
        assert_eq!(info.primary_interface(), Some("eni-1"));
        assert!(info.is_running() && info.eip.is_none());
    }
}
