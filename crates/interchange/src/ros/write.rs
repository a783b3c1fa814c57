//! Writing rules as a ROS template: one `ALIYUN::ECS::SecurityGroupIngress`
//! or `ALIYUN::ECS::SecurityGroupEgress` resource per rule, for groups that
//! already exist (their ids are literal `SecurityGroupId` values).

use std::collections::BTreeSet;

use moat_policy::{Direction, GroupPolicy, Peer};
use serde_json::{Map, Value, json};

use super::read::FORMAT_VERSION;
use crate::error::ExportError;
use crate::names::Names;
use crate::terraform::{group_labels, rule_words};

const FORMAT: &str = "a ROS rule resource";

/// The rules of the groups as a ROS template (JSON, format version
/// 2015-09-01). A stack deploys to one region, so all groups must share
/// one.
pub fn render_ros(groups: &[GroupPolicy]) -> Result<String, ExportError> {
    let regions: BTreeSet<&str> = groups.iter().map(|g| g.region.as_str()).collect();
    if regions.len() > 1 {
        return Err(ExportError::Regions {
            format: "a ROS template",
            regions: regions.into_iter().map(str::to_owned).collect(),
        });
    }
    let description = match regions.first() {
        Some(region) => {
            format!("Security group rules exported by moat, for a stack in region {region}.")
        }
        None => "Security group rules exported by moat.".to_owned(),
    };
    let labels = group_labels(groups);
    let mut names = Names::pascal();
    let mut resources = Map::new();
    for (g, label) in groups.iter().zip(&labels) {
        for r in &g.rules {
            let key = &r.rule.key;
            let reason = if key.source_ports.is_some() {
                Some("the rule resource types have no source port range for this direction")
            } else if key.local.is_some() {
                Some("the rule resource types have no second (local) address")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(ExportError::Unrepresentable {
                    group: g.id.clone(),
                    key: Box::new(key.clone()),
                    format: FORMAT,
                    reason,
                });
            }
            let (kind, side) = match key.direction {
                Direction::Ingress => ("ALIYUN::ECS::SecurityGroupIngress", "Source"),
                Direction::Egress => ("ALIYUN::ECS::SecurityGroupEgress", "Dest"),
            };
            let mut props = Map::new();
            props.insert("SecurityGroupId".into(), json!(g.id));
            props.insert("IpProtocol".into(), json!(key.protocol.as_str()));
            props.insert("PortRange".into(), json!(key.ports.to_wire()));
            props.insert("NicType".into(), json!(key.nic_type.as_str()));
            props.insert("Policy".into(), json!(key.verdict.as_str()));
            props.insert("Priority".into(), json!(r.rule.priority));
            match &key.peer {
                Peer::Cidr { cidr } if cidr.addr().is_ipv4() => {
                    props.insert(format!("{side}CidrIp"), json!(cidr.to_string()));
                }
                Peer::Cidr { cidr } => {
                    props.insert(format!("Ipv6{side}CidrIp"), json!(cidr.to_string()));
                }
                Peer::Group { id, owner } => {
                    props.insert(format!("{side}GroupId"), json!(id));
                    if let Some(owner) = owner {
                        props.insert(format!("{side}GroupOwnerId"), json!(owner));
                    }
                }
                Peer::PrefixList { id } => {
                    props.insert(format!("{side}PrefixListId"), json!(id));
                }
            }
            if !r.rule.description.is_empty() {
                props.insert("Description".into(), json!(r.rule.description));
            }
            let name = names.unique(&rule_words(label, key));
            resources.insert(
                name,
                json!({ "Type": kind, "Properties": Value::Object(props) }),
            );
        }
    }
    let template = json!({
        "ROSTemplateFormatVersion": FORMAT_VERSION,
        "Description": description,
        "Resources": Value::Object(resources),
    });
    let mut out = serde_json::to_string_pretty(&template).unwrap_or_default();
    out.push('\n');
    Ok(out)
}
