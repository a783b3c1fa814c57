//! Reading what decides an instance's traffic, for `moat explain
//! --instance` and `moat doctor`: the instance (by id or name) or a network
//! interface, the interface's security groups with their rules and types,
//! its vSwitch with the network ACL it carries, and the EIPs bound to it.
//!
//! Reads fail closed, as a plan's do: a group of the interface that cannot
//! be read, or does not exist, makes the whole read an error.

use std::collections::HashMap;

use moat_aliyun::{
    CallError, EipInfo, InstanceFilter, InstanceInfo, InterfaceFilter, InterfaceInfo, VSwitchInfo,
};
use moat_policy::LiveGroup;
use moat_policy::eval::{GroupOnInterface, NetworkAcl};

use crate::journal::CallContext;
use crate::read::{GroupRef, ReadError, read_group_types, read_groups};
use crate::session::{Reader, RegionError};

/// What to read: an instance (its primary interface) or one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterfaceTarget {
    /// An instance id (`i-...`) or an instance name.
    Instance(String),
    /// A network interface id (`eni-...`).
    Interface(String),
}

/// Everything that decides the traffic of one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceView {
    /// The instance the interface is attached to (none for a detached one).
    pub instance: Option<InstanceInfo>,
    pub interface: InterfaceInfo,
    /// The interface's groups in the order it lists them, each with its
    /// live type and inner access policy.
    pub groups: Vec<LiveGroup>,
    pub vswitch: Option<VSwitchInfo>,
    /// The vSwitch's network ACL, when it has one.
    pub acl: Option<NetworkAcl>,
    /// EIPs bound to the instance or the interface.
    pub eips: Vec<EipInfo>,
    /// API calls made.
    pub calls: usize,
}

impl InterfaceView {
    /// The interface's groups as the evaluation takes them (see
    /// [`groups_on_interface`]).
    pub fn groups_on_interface(&self) -> Vec<GroupOnInterface<'_>> {
        groups_on_interface(&self.groups)
    }
}

/// Live groups of one interface as [`moat_policy::eval::Interface`] takes
/// them: each with its live type (basic when it was not read, as before
/// types were read) and its inner access policy when one was read (else
/// the type's default).
pub fn groups_on_interface<'a>(
    groups: impl IntoIterator<Item = &'a LiveGroup>,
) -> Vec<GroupOnInterface<'a>> {
    groups
        .into_iter()
        .map(|g| {
            let on = GroupOnInterface::new(
                &g.id,
                g.group_type.unwrap_or_default(),
                g.rules.iter().map(|r| &r.rule),
            );
            match g.inner_access {
                Some(inner) => on.with_inner_access(inner),
                None => on,
            }
        })
        .collect()
}

/// Why the network around an instance could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NetworkReadError {
    #[error(transparent)]
    Region(RegionError),
    #[error("cannot read {what}")]
    Call {
        what: String,
        #[source]
        source: Box<CallError>,
    },
    #[error("no instance {name} in region {region} (neither an instance id nor a name)")]
    NoInstance { name: String, region: String },
    #[error("{count} instances in region {region} are named {name} ({}): give the instance id", .ids.join(", "))]
    Ambiguous {
        name: String,
        region: String,
        count: usize,
        ids: Vec<String>,
    },
    #[error("no network interface {id} in region {region}")]
    NoInterface { id: String, region: String },
    #[error("instance {id} has no network interface")]
    NoPrimaryInterface { id: String },
    #[error("security group {group} of {interface} does not exist")]
    MissingGroup { group: String, interface: String },
    #[error(transparent)]
    Groups(ReadError),
}

fn call_error(what: impl Into<String>) -> impl FnOnce(CallError) -> NetworkReadError {
    let what = what.into();
    move |source| NetworkReadError::Call {
        what,
        source: Box::new(source),
    }
}

/// Reads `target` in `region` and everything that decides its traffic.
pub async fn read_interface(
    reader: &Reader,
    region: &str,
    target: &InterfaceTarget,
) -> Result<InterfaceView, NetworkReadError> {
    let clients = reader
        .clients([(None, region)])
        .map_err(NetworkReadError::Region)?;
    let Some(regional) = clients.get(&crate::session::Target::new(None, region)) else {
        return Err(NetworkReadError::NoInstance {
            name: String::new(),
            region: region.to_owned(),
        });
    };
    let client = reader.observed(regional, CallContext::read("network", "", "", region));
    let mut calls = 0usize;
    let (instance, interface) = match target {
        InterfaceTarget::Instance(name) => {
            let instance = find_instance(&client, region, name, &mut calls).await?;
            let listed = client
                .describe_network_interfaces(&InterfaceFilter {
                    instance_id: Some(instance.id.clone()),
                    ..InterfaceFilter::default()
                })
                .await
                .map_err(call_error(format!("the interfaces of {}", instance.id)))?;
            calls += listed.calls.len();
            let primary = instance.primary_interface().map(str::to_owned);
            let mut interfaces = listed.value;
            let at = interfaces
                .iter()
                .position(|n| Some(n.id.as_str()) == primary.as_deref())
                .or_else(|| {
                    interfaces
                        .iter()
                        .position(|n| n.kind.eq_ignore_ascii_case("Primary"))
                });
            let Some(at) = at else {
                return Err(NetworkReadError::NoPrimaryInterface { id: instance.id });
            };
            let interface = interfaces.swap_remove(at);
            (Some(instance), interface)
        }
        InterfaceTarget::Interface(id) => {
            let listed = client
                .describe_network_interfaces(&InterfaceFilter {
                    ids: vec![id.clone()],
                    ..InterfaceFilter::default()
                })
                .await
                .map_err(call_error(format!("network interface {id}")))?;
            calls += listed.calls.len();
            let Some(interface) = listed.value.into_iter().find(|n| &n.id == id) else {
                return Err(NetworkReadError::NoInterface {
                    id: id.clone(),
                    region: region.to_owned(),
                });
            };
            let instance = if interface.instance_id.is_empty() {
                None
            } else {
                let found = client
                    .describe_instances(&InstanceFilter {
                        ids: vec![interface.instance_id.clone()],
                        ..InstanceFilter::default()
                    })
                    .await
                    .map_err(call_error(format!("instance {}", interface.instance_id)))?;
                calls += found.calls.len();
                found.value.into_iter().next()
            };
            (instance, interface)
        }
    };

    let refs: Vec<GroupRef> = interface
        .security_group_ids
        .iter()
        .map(|g| GroupRef::new(g, region))
        .collect();
    let types = read_group_types(reader, &refs)
        .await
        .map_err(NetworkReadError::Groups)?;
    let read = read_groups(reader, &refs, 8)
        .await
        .map_err(NetworkReadError::Groups)?;
    calls += read.calls + usize::from(!refs.is_empty());
    if let Some(m) = read.missing.first() {
        return Err(NetworkReadError::MissingGroup {
            group: m.id.clone(),
            interface: interface.id.clone(),
        });
    }
    let mut by_id: HashMap<String, LiveGroup> =
        read.groups.into_iter().map(|g| (g.id.clone(), g)).collect();
    let groups: Vec<LiveGroup> = refs
        .iter()
        .filter_map(|r| by_id.remove(&r.id))
        .map(|mut g| {
            g.group_type = types.get(&GroupRef::new(&g.id, region)).copied();
            g
        })
        .collect();

    let vswitch = if interface.vswitch_id.is_empty() {
        None
    } else {
        let v = client
            .describe_vswitch(&interface.vswitch_id)
            .await
            .map_err(call_error(format!("vSwitch {}", interface.vswitch_id)))?;
        calls += v.calls.len();
        v.value
    };
    let acl = match vswitch.as_ref().and_then(|v| v.network_acl_id.as_deref()) {
        None => None,
        Some(id) => {
            let a = client
                .describe_network_acl(id)
                .await
                .map_err(call_error(format!("network ACL {id}")))?;
            calls += a.calls.len();
            Some(a.value)
        }
    };
    let holder = instance
        .as_ref()
        .map_or(interface.id.clone(), |i| i.id.clone());
    let eips = client
        .describe_eips_of(&holder)
        .await
        .map_err(call_error(format!("the EIPs of {holder}")))?;
    calls += eips.calls.len();
    Ok(InterfaceView {
        instance,
        interface,
        groups,
        vswitch,
        acl,
        eips: eips.value,
        calls,
    })
}

/// The instance `name` names: its id when it is one, else the one
/// instance of that name.
async fn find_instance(
    client: &moat_aliyun::ReadClient,
    region: &str,
    name: &str,
    calls: &mut usize,
) -> Result<InstanceInfo, NetworkReadError> {
    if name.starts_with("i-") {
        let by_id = client
            .describe_instances(&InstanceFilter {
                ids: vec![name.to_owned()],
                ..InstanceFilter::default()
            })
            .await
            .map_err(call_error(format!("instance {name}")))?;
        *calls += by_id.calls.len();
        if let Some(i) = by_id.value.into_iter().find(|i| i.id == name) {
            return Ok(i);
        }
    }
    let by_name = client
        .describe_instances(&InstanceFilter {
            name: Some(name.to_owned()),
            ..InstanceFilter::default()
        })
        .await
        .map_err(call_error(format!("the instances named {name}")))?;
    *calls += by_name.calls.len();
    let mut found: Vec<InstanceInfo> = by_name
        .value
        .into_iter()
        .filter(|i| i.name == name)
        .collect();
    match found.len() {
        0 => Err(NetworkReadError::NoInstance {
            name: name.to_owned(),
            region: region.to_owned(),
        }),
        1 => Ok(found.remove(0)),
        count => Err(NetworkReadError::Ambiguous {
            name: name.to_owned(),
            region: region.to_owned(),
            count,
            ids: found.into_iter().map(|i| i.id).collect(),
        }),
    }
}
