//! Reading rules from a ROS template.
//!
//! Rules live in three places (property names from the ROS resource
//! reference): the `SecurityGroupIngress` and `SecurityGroupEgress` lists of
//! an `ALIYUN::ECS::SecurityGroup`, the single-rule resources
//! `ALIYUN::ECS::SecurityGroupIngress` / `ALIYUN::ECS::SecurityGroupEgress`,
//! and the `Permissions` list of `ALIYUN::ECS::SecurityGroupIngresses` /
//! `ALIYUN::ECS::SecurityGroupEgresses`. An ingress rule's peer is its
//! `Source*` fields and its optional second address `DestCidrIp`; an egress
//! rule's peer is its `Dest*` fields and its second address `SourceCidrIp`.

use std::collections::BTreeSet;
use std::sync::Arc;

use moat_policy::{Direction, GroupType, Rule, RuleKey};

use super::tree::{self, Node, Value};
use crate::ImportOptions;
use crate::error::{At, ErrorKind, ImportError, ImportErrors, Location};
use crate::fields::{self, Fault, Field, PeerFields, PortSyntax, Strictness};
use crate::imported::{Assembler, Imported, Source};

pub(crate) const FORMAT_VERSION: &str = "2015-09-01";

/// Reads every security group rule of a ROS template.
pub fn import_ros(
    file: &str,
    text: &str,
    options: &ImportOptions,
) -> Result<Imported, ImportErrors> {
    let file: Arc<str> = Arc::from(file);
    let one = |at: At, kind: ErrorKind| {
        ImportErrors::one(ImportError::new(Location::new(&file, at), kind))
    };
    let root = tree::parse(text).map_err(|e| one(e.at, ErrorKind::Yaml { message: e.message }))?;
    if !matches!(root.value, Value::Map(_)) {
        return Err(one(
            root.at(),
            ErrorKind::NotRos {
                reason: "the top level is not a mapping",
            },
        ));
    }
    match root.get("ROSTemplateFormatVersion") {
        None => {
            return Err(one(
                root.at(),
                ErrorKind::NotRos {
                    reason: "it has no ROSTemplateFormatVersion",
                },
            ));
        }
        Some(v) if v.text() != Some(FORMAT_VERSION) => {
            let found = v.text().map_or_else(|| v.describe(), str::to_owned);
            return Err(one(v.at(), ErrorKind::RosVersion { found }));
        }
        Some(_) => {}
    }
    let Some(resources) = root.get("Resources") else {
        return Err(one(
            root.at(),
            ErrorKind::NotRos {
                reason: "it has no Resources",
            },
        ));
    };
    let cx = Cx {
        options,
        parameters: root.get("Parameters"),
    };
    let mut asm = Assembler::new(&file, options.region.as_deref());
    let mut reported = BTreeSet::new();
    for (id_node, resource) in resources.entries() {
        let Some(logical_id) = id_node.as_str() else {
            continue;
        };
        let Some(kind) = resource.get("Type").and_then(Node::as_str) else {
            continue;
        };
        let empty = Node {
            value: Value::Map(Vec::new()),
            line: resource.line,
            column: resource.column,
        };
        let props = resource.get("Properties").unwrap_or(&empty);
        let subject = format!("ROS resource {logical_id}");
        let mut fault = |asm: &mut Assembler, f: Fault| {
            // An unresolved group is reported once, not for every rule.
            if let ErrorKind::CreatedGroup { logical_id }
            | ErrorKind::Unresolved {
                target: logical_id, ..
            } = &f.kind
                && !reported.insert(logical_id.clone())
            {
                return;
            }
            asm.error(f.at, Some(subject.clone()), f.kind);
        };
        match kind {
            "ALIYUN::ECS::SecurityGroup" => {
                if let (Some(name), Some(id)) = (
                    props.get("SecurityGroupName").and_then(Node::as_str),
                    options.group_ids.get(logical_id),
                ) {
                    asm.name(id, name);
                }
                if let (Some(node), Some(id)) = (
                    props.get("SecurityGroupType"),
                    options.group_ids.get(logical_id),
                ) {
                    match node.as_str().and_then(GroupType::parse) {
                        Some(t) => asm.group_type(id, t),
                        None => fault(
                            &mut asm,
                            Fault::new(
                                node.at(),
                                ErrorKind::UnknownValue {
                                    field: "SecurityGroupType".into(),
                                    value: node.text().unwrap_or_default().to_owned(),
                                    expected: "normal or enterprise",
                                },
                            ),
                        ),
                    }
                }
                for (list, direction) in [
                    ("SecurityGroupIngress", Direction::Ingress),
                    ("SecurityGroupEgress", Direction::Egress),
                ] {
                    let Some(items) = props.get(list) else {
                        continue;
                    };
                    let Value::Seq(items) = &items.value else {
                        fault(&mut asm, shape(items, "a list of rules"));
                        continue;
                    };
                    if items.is_empty() {
                        continue;
                    }
                    let Some(group) = options.group_ids.get(logical_id) else {
                        let kind = ErrorKind::CreatedGroup {
                            logical_id: logical_id.to_owned(),
                        };
                        fault(&mut asm, Fault::new(id_node.at(), kind));
                        continue;
                    };
                    for (i, item) in items.iter().enumerate() {
                        let source = Source::Ros {
                            logical_id: logical_id.to_owned(),
                            list: Some((list, i)),
                        };
                        match cx.rule(group, direction, item) {
                            Ok(rule) => asm.rule(group, None, rule, source, item.at()),
                            Err(f) => fault(&mut asm, f),
                        }
                    }
                }
            }
            "ALIYUN::ECS::SecurityGroupIngress" | "ALIYUN::ECS::SecurityGroupEgress" => {
                let direction = if kind.ends_with("Ingress") {
                    Direction::Ingress
                } else {
                    Direction::Egress
                };
                let result = cx
                    .group(props)
                    .and_then(|group| cx.rule(&group, direction, props).map(|r| (group, r)));
                match result {
                    Ok((group, rule)) => {
                        let source = Source::Ros {
                            logical_id: logical_id.to_owned(),
                            list: None,
                        };
                        asm.rule(&group, None, rule, source, resource.at());
                    }
                    Err(f) => fault(&mut asm, f),
                }
            }
            "ALIYUN::ECS::SecurityGroupIngresses" | "ALIYUN::ECS::SecurityGroupEgresses" => {
                let direction = if kind.ends_with("Ingresses") {
                    Direction::Ingress
                } else {
                    Direction::Egress
                };
                let group = match cx.group(props) {
                    Ok(g) => g,
                    Err(f) => {
                        fault(&mut asm, f);
                        continue;
                    }
                };
                let Some(Node {
                    value: Value::Seq(items),
                    ..
                }) = props.get("Permissions")
                else {
                    let kind = ErrorKind::Missing {
                        field: "Permissions".into(),
                    };
                    fault(&mut asm, Fault::new(props.at(), kind));
                    continue;
                };
                for (i, item) in items.iter().enumerate() {
                    let source = Source::Ros {
                        logical_id: logical_id.to_owned(),
                        list: Some(("Permissions", i)),
                    };
                    match cx.rule(&group, direction, item) {
                        Ok(rule) => asm.rule(&group, None, rule, source, item.at()),
                        Err(f) => fault(&mut asm, f),
                    }
                }
            }
            _ => {}
        }
    }
    asm.finish("no security group rules in this ROS template")
}

fn shape(node: &Node, expected: &'static str) -> Fault {
    Fault::new(
        node.at(),
        ErrorKind::Shape {
            expected,
            found: node.describe(),
        },
    )
}

struct Cx<'a> {
    options: &'a ImportOptions,
    parameters: Option<&'a Node>,
}

impl Cx<'_> {
    /// A property as text, with `Ref` to a parameter resolved to its
    /// default and `Ref` / `Fn::GetAtt` of a name given with `--group-id`
    /// resolved to that group. `Ok(None)` when absent or null.
    fn raw(&self, props: &Node, name: &str) -> Result<Option<Field>, Fault> {
        let Some(node) = props.get(name) else {
            return Ok(None);
        };
        let text = match &node.value {
            Value::Null => return Ok(None),
            Value::Str(s) | Value::Scalar(s) => s.clone(),
            Value::Map(entries) if entries.len() == 1 => {
                let (k, v) = &entries[0];
                let function = k.as_str().unwrap_or_default();
                let target = match (function, &v.value) {
                    ("Ref", Value::Str(t)) => t.clone(),
                    ("Fn::GetAtt", Value::Seq(args)) => args
                        .first()
                        .and_then(Node::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    _ => {
                        return Err(Fault::new(
                            node.at(),
                            ErrorKind::Function {
                                field: name.to_owned(),
                                function: function.to_owned(),
                            },
                        ));
                    }
                };
                if let Some(id) = self.options.group_ids.get(&target) {
                    id.clone()
                } else if let Some(default) = (function == "Ref")
                    .then(|| self.parameter_default(&target))
                    .flatten()
                {
                    default
                } else {
                    let function = if function == "Ref" {
                        "a Ref"
                    } else {
                        "Fn::GetAtt"
                    };
                    return Err(Fault::new(
                        node.at(),
                        ErrorKind::Unresolved {
                            field: name.to_owned(),
                            function,
                            target,
                        },
                    ));
                }
            }
            _ => return Err(shape(node, "a value")),
        };
        Ok(Some(Field::new(name, text, node.at())))
    }

    /// A property as text; `Ok(None)` when absent, null or blank.
    fn field(&self, props: &Node, name: &str) -> Result<Option<Field>, Fault> {
        Ok(fields::set(self.raw(props, name)?))
    }

    fn parameter_default(&self, name: &str) -> Option<String> {
        self.parameters?
            .get(name)?
            .get("Default")?
            .text()
            .map(str::to_owned)
    }

    fn group(&self, props: &Node) -> Result<String, Fault> {
        let f = self.field(props, "SecurityGroupId")?.ok_or_else(|| {
            Fault::new(
                props.at(),
                ErrorKind::Missing {
                    field: "SecurityGroupId".into(),
                },
            )
        })?;
        fields::group_id(&f)
    }

    fn rule(&self, group: &str, direction: Direction, props: &Node) -> Result<Rule, Fault> {
        if !matches!(props.value, Value::Map(_)) {
            return Err(shape(props, "a mapping of rule properties"));
        }
        let required = |name: &str| {
            self.field(props, name)?.ok_or_else(|| {
                Fault::new(
                    props.at(),
                    ErrorKind::Missing {
                        field: name.to_owned(),
                    },
                )
            })
        };
        let protocol = fields::protocol(&required("IpProtocol")?)?;
        let ports = fields::ports(
            protocol,
            self.field(props, "PortRange")?.as_ref(),
            "PortRange",
            PortSyntax::Wire,
        )?;
        let (peer_fields, local_v4, local_v6) = match direction {
            Direction::Ingress => (
                PeerFields {
                    v4: self.field(props, "SourceCidrIp")?,
                    v6: self.field(props, "Ipv6SourceCidrIp")?,
                    group: self.field(props, "SourceGroupId")?,
                    owner: match self.field(props, "SourceGroupOwnerId")? {
                        Some(o) => Some(o),
                        None => self.field(props, "SourceGroupOwnerAccount")?,
                    },
                    prefix_list: self.field(props, "SourcePrefixListId")?,
                    names: "SourceCidrIp, Ipv6SourceCidrIp, SourceGroupId, SourcePrefixListId",
                },
                self.field(props, "DestCidrIp")?,
                self.field(props, "Ipv6DestCidrIp")?,
            ),
            Direction::Egress => (
                PeerFields {
                    v4: self.field(props, "DestCidrIp")?,
                    v6: self.field(props, "Ipv6DestCidrIp")?,
                    group: self.field(props, "DestGroupId")?,
                    owner: match self.field(props, "DestGroupOwnerId")? {
                        Some(o) => Some(o),
                        None => self.field(props, "DestGroupOwnerAccount")?,
                    },
                    prefix_list: self.field(props, "DestPrefixListId")?,
                    names: "DestCidrIp, Ipv6DestCidrIp, DestGroupId, DestPrefixListId",
                },
                self.field(props, "SourceCidrIp")?,
                self.field(props, "Ipv6SourceCidrIp")?,
            ),
        };
        let peer = fields::peer(&peer_fields, Strictness::Lenient).map_err(|mut f| {
            if f.at == At::Whole {
                f.at = props.at();
            }
            f
        })?;
        let local = fields::local(local_v4.as_ref(), local_v6.as_ref(), Strictness::Lenient)?;
        let source_ports = fields::source_ports(self.field(props, "SourcePortRange")?.as_ref())?;
        let verdict = fields::verdict(self.field(props, "Policy")?.as_ref())?;
        let priority = fields::priority(self.field(props, "Priority")?.as_ref())?;
        let nic_type = fields::nic_type(self.field(props, "NicType")?.as_ref())?;
        let description = self
            .raw(props, "Description")?
            .map(|f| f.text)
            .unwrap_or_default();
        let key = RuleKey {
            direction,
            protocol,
            ports,
            peer,
            verdict,
            nic_type,
            source_ports,
            local,
        };
        fields::check(group, &key).map_err(|kind| Fault::new(props.at(), kind))?;
        Ok(Rule {
            key,
            priority,
            description,
        })
    }
}
