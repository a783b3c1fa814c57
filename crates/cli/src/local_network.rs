//! The network of a new local cloud: instances for `moat doctor --local`
//! and `moat explain --local --instance` to tell a real story about.
//!
//! - `web-1` carries the first two groups of the policies (of one type), has
//!   an EIP, and sits in vSwitch `vsw-bp1l0ca1web00000001`, whose network
//!   ACL drops one public port those groups allow;
//! - `app-1` carries the next group and has no public address;
//! - `db-1` carries the one after and has a public IP.
//!
//! Ids are fixed, so the story reads the same on every machine.

use moat_emulator::network::{
    AclEntry, Eip, Instance, Network, NetworkAcl, NetworkInterface, VSwitch, Vpc,
};
use moat_policy::{Direction, GroupPolicy, Peer, PolicySet, PortRange, Protocol, Verdict};

use crate::local::{LOCAL_REGION, LOCAL_VPC};

const ZONE: &str = "cn-hangzhou-h";
const CREATED: &str = "2026-01-01T00:00:00Z";
pub const WEB_VSWITCH: &str = "vsw-bp1l0ca1web00000001";
const APP_VSWITCH: &str = "vsw-bp1l0ca1app00000001";
const ACL: &str = "nacl-bp1l0ca1web0000001";

/// True when the group accepts tcp from anywhere on some port.
fn opens_to_internet(g: &GroupPolicy) -> bool {
    g.rules
        .iter()
        .map(|d| &d.rule.key)
        .any(is_public_tcp_accept)
}

fn is_public_tcp_accept(k: &moat_policy::RuleKey) -> bool {
    k.direction == Direction::Ingress
        && k.verdict == Verdict::Accept
        && k.protocol == Protocol::Tcp
        && matches!(&k.peer, Peer::Cidr { cidr } if cidr.prefix_len() == 0)
}

/// The public tcp port the first groups allow from anywhere, which the
/// demo ACL blocks: the highest one, 443 with the example policies.
pub fn blocked_port(groups: &[&GroupPolicy]) -> u16 {
    groups
        .iter()
        .flat_map(|g| g.rules.iter())
        .map(|d| &d.rule.key)
        .filter(|k| is_public_tcp_accept(k))
        .filter_map(|k| match k.ports {
            PortRange::Range { from, to } if from == to => Some(from),
            _ => None,
        })
        .max()
        .unwrap_or(443)
}

fn entry(
    id: &str,
    policy: &str,
    protocol: &str,
    port: &str,
    cidr: &str,
    ingress: bool,
) -> AclEntry {
    AclEntry {
        network_acl_entry_id: id.to_owned(),
        network_acl_entry_name: String::new(),
        policy: policy.to_owned(),
        protocol: protocol.to_owned(),
        port: port.to_owned(),
        source_cidr_ip: if ingress {
            cidr.to_owned()
        } else {
            String::new()
        },
        destination_cidr_ip: if ingress {
            String::new()
        } else {
            cidr.to_owned()
        },
        description: String::new(),
        entry_type: "custom".to_owned(),
        ip_version: "IPv4".to_owned(),
    }
}

struct Machine<'a> {
    id: &'static str,
    eni: &'static str,
    name: &'static str,
    vswitch: &'static str,
    address: &'static str,
    public_ip: &'static str,
    groups: Vec<&'a GroupPolicy>,
}

/// The demo network for the groups of `set` in the local region; empty
/// when the policies have no group there.
pub fn demo_network(set: &PolicySet) -> Network {
    let local: Vec<&GroupPolicy> = set
        .groups
        .iter()
        .filter(|g| g.region == LOCAL_REGION)
        .collect();
    let Some(first) = local.first().copied() else {
        return Network::default();
    };
    // web-1 carries a group open to the internet and a second of its type.
    let lead = local
        .iter()
        .copied()
        .find(|g| opens_to_internet(g))
        .unwrap_or(first);
    let mut web: Vec<&GroupPolicy> = vec![lead];
    web.extend(
        local
            .iter()
            .copied()
            .find(|g| g.id != lead.id && g.group_type == lead.group_type),
    );
    let rest: Vec<&GroupPolicy> = local
        .iter()
        .copied()
        .filter(|g| !web.iter().any(|w| w.id == g.id))
        .collect();
    let pick = |n: usize| vec![rest.get(n).or(rest.first()).copied().unwrap_or(first)];
    let machines = [
        Machine {
            id: "i-bp1l0ca1web00000001",
            eni: "eni-bp1l0ca1web0000001",
            name: "web-1",
            vswitch: WEB_VSWITCH,
            address: "10.0.1.10",
            public_ip: "",
            groups: web.clone(),
        },
        Machine {
            id: "i-bp1l0ca1app00000001",
            eni: "eni-bp1l0ca1app0000001",
            name: "app-1",
            vswitch: APP_VSWITCH,
            address: "10.0.2.10",
            public_ip: "",
            groups: pick(0),
        },
        Machine {
            id: "i-bp1l0ca1db000000001",
            eni: "eni-bp1l0ca1db00000001",
            name: "db-1",
            vswitch: APP_VSWITCH,
            address: "10.0.2.11",
            public_ip: "47.100.0.2",
            groups: pick(1),
        },
    ];
    let port = blocked_port(&web);
    let mut net = Network {
        vpcs: vec![Vpc {
            region_id: LOCAL_REGION.to_owned(),
            vpc_id: LOCAL_VPC.to_owned(),
            vpc_name: "demo".to_owned(),
            cidr_block: "10.0.0.0/16".to_owned(),
            description: "seeded by moat --local".to_owned(),
            creation_time: CREATED.to_owned(),
        }],
        public_ips_used: 2,
        ..Network::default()
    };
    for (id, name, cidr, acl, used) in [
        (WEB_VSWITCH, "web", "10.0.1.0/24", ACL, 8),
        (APP_VSWITCH, "app", "10.0.2.0/24", "", 9),
    ] {
        net.v_switches.push(VSwitch {
            region_id: LOCAL_REGION.to_owned(),
            v_switch_id: id.to_owned(),
            vpc_id: LOCAL_VPC.to_owned(),
            zone_id: ZONE.to_owned(),
            cidr_block: cidr.to_owned(),
            v_switch_name: name.to_owned(),
            description: String::new(),
            network_acl_id: acl.to_owned(),
            creation_time: CREATED.to_owned(),
            ips_used: used,
        });
    }
    for (n, m) in machines.iter().enumerate() {
        net.instances.push(Instance {
            region_id: LOCAL_REGION.to_owned(),
            instance_id: m.id.to_owned(),
            instance_name: m.name.to_owned(),
            image_id: "ubuntu_22_04_x64_20G_alibase_20260101.vhd".to_owned(),
            instance_type: "ecs.g7.large".to_owned(),
            status: "Running".to_owned(),
            zone_id: ZONE.to_owned(),
            vpc_id: LOCAL_VPC.to_owned(),
            v_switch_id: m.vswitch.to_owned(),
            internet_max_bandwidth_out: if m.public_ip.is_empty() { 0 } else { 5 },
            public_ip_address: m.public_ip.to_owned(),
            primary_network_interface_id: m.eni.to_owned(),
            creation_time: CREATED.to_owned(),
        });
        net.network_interfaces.push(NetworkInterface {
            region_id: LOCAL_REGION.to_owned(),
            network_interface_id: m.eni.to_owned(),
            network_interface_name: String::new(),
            status: "InUse".to_owned(),
            kind: "Primary".to_owned(),
            instance_id: m.id.to_owned(),
            vpc_id: LOCAL_VPC.to_owned(),
            v_switch_id: m.vswitch.to_owned(),
            zone_id: ZONE.to_owned(),
            private_ip_address: m.address.to_owned(),
            mac_address: format!("00:16:3e:00:00:{:02x}", n + 1),
            security_group_ids: m.groups.iter().map(|g| g.id.clone()).collect(),
            creation_time: CREATED.to_owned(),
        });
    }
    net.eip_addresses.push(Eip {
        region_id: LOCAL_REGION.to_owned(),
        allocation_id: "eip-bp1l0ca1web0000001".to_owned(),
        ip_address: "47.100.0.1".to_owned(),
        status: "InUse".to_owned(),
        instance_id: machines[0].id.to_owned(),
        instance_type: "EcsInstance".to_owned(),
        bandwidth: "5".to_owned(),
        internet_charge_type: "PayByTraffic".to_owned(),
        allocation_time: CREATED.to_owned(),
    });
    let blocked = format!("{port}/{port}");
    net.network_acls.push(NetworkAcl {
        region_id: LOCAL_REGION.to_owned(),
        network_acl_id: ACL.to_owned(),
        network_acl_name: "web".to_owned(),
        description: format!("blocks tcp/{port}, which the groups allow"),
        vpc_id: LOCAL_VPC.to_owned(),
        creation_time: CREATED.to_owned(),
        ingress_acl_entries: vec![
            entry(
                "nae-bp1l0ca1in00000001",
                "drop",
                "tcp",
                &blocked,
                "0.0.0.0/0",
                true,
            ),
            entry(
                "nae-bp1l0ca1in00000002",
                "accept",
                "all",
                "-1/-1",
                "0.0.0.0/0",
                true,
            ),
        ],
        egress_acl_entries: vec![entry(
            "nae-bp1l0ca1out0000001",
            "accept",
            "all",
            "-1/-1",
            "0.0.0.0/0",
            false,
        )],
    });
    net
}
