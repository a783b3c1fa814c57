//! The emulated network around the security groups: VPCs, vSwitches,
//! instances, their network interfaces, EIPs and network ACLs.
//!
//! These records are both the state and the state file's `Network` member
//! (PascalCase, the API's member names), so a seed file can describe a
//! whole demo cloud. Lists are small in an emulator; lookups are linear.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// Security groups one interface may carry (ECS's default limit).
pub const MAX_GROUPS_PER_INTERFACE: usize = 5;
/// Rules across all groups of one interface (reference 5).
pub const MAX_RULES_PER_INTERFACE: usize = 1000;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Network {
    pub vpcs: Vec<Vpc>,
    pub v_switches: Vec<VSwitch>,
    pub instances: Vec<Instance>,
    pub network_interfaces: Vec<NetworkInterface>,
    pub eip_addresses: Vec<Eip>,
    pub network_acls: Vec<NetworkAcl>,
    /// How many public addresses were handed out (instances' and EIPs').
    pub public_ips_used: u32,
}

impl Network {
    pub fn is_empty(&self) -> bool {
        self.vpcs.is_empty()
            && self.v_switches.is_empty()
            && self.instances.is_empty()
            && self.network_interfaces.is_empty()
            && self.eip_addresses.is_empty()
            && self.network_acls.is_empty()
    }

    pub(crate) fn vpc(&self, region: &str, id: &str) -> Option<&Vpc> {
        self.vpcs
            .iter()
            .find(|v| v.region_id == region && v.vpc_id == id)
    }

    pub(crate) fn v_switch(&self, region: &str, id: &str) -> Option<&VSwitch> {
        self.v_switches
            .iter()
            .find(|v| v.region_id == region && v.v_switch_id == id)
    }

    pub(crate) fn v_switch_mut(&mut self, region: &str, id: &str) -> Option<&mut VSwitch> {
        self.v_switches
            .iter_mut()
            .find(|v| v.region_id == region && v.v_switch_id == id)
    }

    pub(crate) fn instance(&self, region: &str, id: &str) -> Option<&Instance> {
        self.instances
            .iter()
            .find(|i| i.region_id == region && i.instance_id == id)
    }

    pub(crate) fn instance_mut(&mut self, region: &str, id: &str) -> Option<&mut Instance> {
        self.instances
            .iter_mut()
            .find(|i| i.region_id == region && i.instance_id == id)
    }

    pub(crate) fn interface(&self, region: &str, id: &str) -> Option<&NetworkInterface> {
        self.network_interfaces
            .iter()
            .find(|n| n.region_id == region && n.network_interface_id == id)
    }

    pub(crate) fn interface_mut(
        &mut self,
        region: &str,
        id: &str,
    ) -> Option<&mut NetworkInterface> {
        self.network_interfaces
            .iter_mut()
            .find(|n| n.region_id == region && n.network_interface_id == id)
    }

    /// The EIP bound to an instance or interface, if any.
    pub(crate) fn eip_of(&self, region: &str, instance_id: &str) -> Option<&Eip> {
        self.eip_addresses.iter().find(|e| {
            e.region_id == region && e.instance_id == instance_id && !instance_id.is_empty()
        })
    }

    pub(crate) fn acl(&self, region: &str, id: &str) -> Option<&NetworkAcl> {
        self.network_acls
            .iter()
            .find(|a| a.region_id == region && a.network_acl_id == id)
    }

    pub(crate) fn acl_mut(&mut self, region: &str, id: &str) -> Option<&mut NetworkAcl> {
        self.network_acls
            .iter_mut()
            .find(|a| a.region_id == region && a.network_acl_id == id)
    }

    /// A public address nobody holds yet, from the emulator's pool
    /// (47.100.0.0/16 stands for the cloud's public space; no test connects
    /// to it).
    pub(crate) fn next_public_ip(&mut self) -> String {
        self.public_ips_used += 1;
        let n = self.public_ips_used;
        Ipv4Addr::new(47, 100, ((n >> 8) & 0xff) as u8, (n & 0xff) as u8).to_string()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Vpc {
    pub region_id: String,
    pub vpc_id: String,
    pub vpc_name: String,
    pub cidr_block: String,
    pub description: String,
    pub creation_time: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VSwitch {
    pub region_id: String,
    pub v_switch_id: String,
    pub vpc_id: String,
    pub zone_id: String,
    pub cidr_block: String,
    pub v_switch_name: String,
    pub description: String,
    /// The network ACL associated with the vSwitch; empty when none.
    pub network_acl_id: String,
    pub creation_time: String,
    /// Host addresses handed out so far.
    pub ips_used: u32,
}

impl VSwitch {
    /// The next free private address of the vSwitch, or `None` when the
    /// block is full. Addresses are handed out one after another from the
    /// block's fourth (`.3`): the first ones are the network's, the
    /// gateway's and the cloud's own.
    pub(crate) fn next_private_ip(&mut self) -> Option<String> {
        let (first, last) = v4_block(&self.cidr_block)?;
        let host = first.checked_add(3 + self.ips_used)?;
        if host >= last {
            return None;
        }
        self.ips_used += 1;
        Some(Ipv4Addr::from(host).to_string())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Instance {
    pub region_id: String,
    pub instance_id: String,
    pub instance_name: String,
    pub image_id: String,
    pub instance_type: String,
    /// `Running` or `Stopped` (the emulator skips the transitions).
    pub status: String,
    pub zone_id: String,
    pub vpc_id: String,
    pub v_switch_id: String,
    pub internet_max_bandwidth_out: i64,
    /// The public address `InternetMaxBandwidthOut > 0` gave; empty when none.
    pub public_ip_address: String,
    /// The primary interface, which carries the instance's groups.
    pub primary_network_interface_id: String,
    pub creation_time: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkInterface {
    pub region_id: String,
    pub network_interface_id: String,
    pub network_interface_name: String,
    /// `InUse` (attached) or `Available`.
    pub status: String,
    /// `Primary` or `Secondary`.
    #[serde(rename = "Type")]
    pub kind: String,
    pub instance_id: String,
    pub vpc_id: String,
    pub v_switch_id: String,
    pub zone_id: String,
    pub private_ip_address: String,
    pub mac_address: String,
    pub security_group_ids: Vec<String>,
    pub creation_time: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Eip {
    pub region_id: String,
    pub allocation_id: String,
    pub ip_address: String,
    /// `Available` or `InUse`.
    pub status: String,
    /// The instance or interface it is bound to; empty when free.
    pub instance_id: String,
    /// `EcsInstance` or `NetworkInterface`; empty when free.
    pub instance_type: String,
    pub bandwidth: String,
    pub internet_charge_type: String,
    pub allocation_time: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkAcl {
    pub region_id: String,
    pub network_acl_id: String,
    pub network_acl_name: String,
    pub description: String,
    pub vpc_id: String,
    pub creation_time: String,
    pub ingress_acl_entries: Vec<AclEntry>,
    pub egress_acl_entries: Vec<AclEntry>,
}

/// One entry; an ingress entry uses `SourceCidrIp`, an egress entry
/// `DestinationCidrIp`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AclEntry {
    pub network_acl_entry_id: String,
    pub network_acl_entry_name: String,
    /// `accept` or `drop`.
    pub policy: String,
    /// `all`, `icmp`, `gre`, `tcp` or `udp`.
    pub protocol: String,
    /// `-1/-1` or `from/to`.
    pub port: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source_cidr_ip: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub destination_cidr_ip: String,
    pub description: String,
    /// `custom` or `system`.
    pub entry_type: String,
    /// `IPv4` or `IPv6`.
    pub ip_version: String,
}

/// The first and last address of an IPv4 block `a.b.c.d/n`, as integers.
pub(crate) fn v4_block(cidr: &str) -> Option<(u32, u32)> {
    let (addr, prefix) = cidr.trim().split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 32)?;
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    let first = u32::from(addr) & mask;
    Some((first, first | !mask))
}

/// True when `cidr` is an IPv4 block written with its host bits clear.
pub(crate) fn is_v4_block(cidr: &str) -> bool {
    cidr.split_once('/')
        .and_then(|(a, _)| a.parse::<Ipv4Addr>().ok())
        .zip(v4_block(cidr))
        .is_some_and(|(a, (first, _))| u32::from(a) == first)
}

/// True when block `inner` lies within block `outer` (both IPv4).
pub(crate) fn v4_within(inner: &str, outer: &str) -> bool {
    match (v4_block(inner), v4_block(outer)) {
        (Some((a, b)), Some((c, d))) => c <= a && b <= d,
        _ => false,
    }
}

/// True when the IPv4 blocks overlap.
pub(crate) fn v4_overlap(x: &str, y: &str) -> bool {
    match (v4_block(x), v4_block(y)) {
        (Some((a, b)), Some((c, d))) => a <= d && c <= b,
        _ => false,
    }
}
