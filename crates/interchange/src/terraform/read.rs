//! Reading `alicloud_security_group_rule` resources out of what Terraform
//! writes: a state file of format version 4 (Terraform 0.12 and later), or
//! the output of `terraform show -json` for a state or a saved plan (format
//! version 1.x), child modules included.
//!
//! The shapes follow Terraform's own writers: `internal/states/statefile`
//! (version 4: `resources[]` with `module`, `mode`, `type`, `name`,
//! `provider`, `instances[]` with `index_key`, `deposed`, `attributes`) and
//! `internal/command/jsonstate` / `jsonplan` (`values` or `planned_values`,
//! `root_module` with `resources[]` and recursive `child_modules[]`, each
//! resource with `address`, `mode`, `type`, `name`, `index`, `values`; a
//! plan's `configuration` with `provider_config` and each resource's
//! `provider_config_key`). Attribute names are the provider's schema
//! (`resource_alicloud_security_group_rule.go`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use moat_policy::{Direction, GroupType, Rule, RuleKey};
use serde_json::{Map, Value};

use crate::ImportOptions;
use crate::error::{At, ErrorKind, ImportErrors, JsonError, Location};
use crate::fields::{self, Fault, Field, PeerFields, PortSyntax, Strictness};
use crate::imported::{Assembler, Imported, Source};

const RULE_TYPE: &str = "alicloud_security_group_rule";
const GROUP_TYPE: &str = "alicloud_security_group";

/// Reads every `alicloud_security_group_rule` of a Terraform state or of
/// `terraform show -json` output.
pub fn import_terraform(
    file: &str,
    text: &str,
    options: &ImportOptions,
) -> Result<Imported, ImportErrors> {
    let file: Arc<str> = Arc::from(file);
    let one = |at: At, kind: ErrorKind| {
        ImportErrors::one(crate::error::ImportError::new(
            Location::new(&file, at),
            kind,
        ))
    };
    let root: Value = serde_json::from_str(text).map_err(|e| {
        let at = At::LineCol {
            line: e.line() as u64,
            column: e.column() as u64,
        };
        one(at, ErrorKind::Json(JsonError(e)))
    })?;
    let Some(obj) = root.as_object() else {
        return Err(one(At::Pointer(String::new()), ErrorKind::NotTerraform));
    };
    // A state says `"version": 4` (a number); `terraform show -json` says
    // `"format_version": "1.0"` (a string). Anything else is not Terraform's.
    let doc = match (obj.get("version"), obj.get("format_version")) {
        (Some(Value::Number(n)), _) => {
            if n.as_u64() != Some(4) {
                return Err(one(
                    At::Pointer("/version".into()),
                    ErrorKind::StateVersion {
                        found: n.to_string(),
                    },
                ));
            }
            Doc::StateV4(obj)
        }
        (_, Some(v)) => {
            let version = v.as_str().unwrap_or_default();
            if version.split('.').next() != Some("1") {
                let found = v
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string());
                return Err(one(
                    At::Pointer("/format_version".into()),
                    ErrorKind::ShowFormatVersion { found },
                ));
            }
            Doc::Show(obj)
        }
        _ => return Err(one(At::Pointer(String::new()), ErrorKind::NotTerraform)),
    };

    let mut asm = Assembler::new(&file, options.region.as_deref());
    let mut instances = Vec::new();
    let regions = match doc {
        Doc::StateV4(obj) => {
            state_v4_instances(obj, &mut instances, &mut asm);
            Regions::default()
        }
        Doc::Show(obj) => {
            let (values, pointer, plan) = match (obj.get("planned_values"), obj.get("values")) {
                (Some(v), _) => (Some(v), "/planned_values", true),
                (None, Some(v)) => (Some(v), "/values", false),
                (None, None) => (None, "", false),
            };
            if let Some(root) = values.and_then(|v| v.get("root_module")) {
                let p = format!("{pointer}/root_module");
                show_module(root, &p, plan, &mut instances, &mut asm);
            }
            Regions::from_configuration(obj.get("configuration"))
        }
    };

    for inst in &instances {
        if inst.kind == GROUP_TYPE {
            let id = inst.attrs.get("id").and_then(Value::as_str);
            let name = ["security_group_name", "name"].iter().find_map(|k| {
                inst.attrs
                    .get(*k)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
            });
            if let (Some(id), Some(name)) = (id, name) {
                asm.name(id, name);
            }
            match (id, inst.attrs.get("security_group_type")) {
                (Some(id), Some(Value::String(t))) if !t.is_empty() => match GroupType::parse(t) {
                    Some(t) => asm.group_type(id, t),
                    None => asm.error(
                        At::Pointer(format!("{}/security_group_type", inst.pointer)),
                        Some(inst.address.clone()),
                        ErrorKind::UnknownValue {
                            field: "security_group_type".into(),
                            value: t.clone(),
                            expected: "normal or enterprise",
                        },
                    ),
                },
                _ => {}
            }
        }
    }
    for inst in instances.iter().filter(|i| i.kind == RULE_TYPE) {
        let subject = Some(inst.address.clone());
        match read_rule(inst) {
            Ok((group, rule)) => {
                let region = regions.of(&inst.resource);
                let source = Source::Terraform {
                    address: inst.address.clone(),
                    resource: inst.resource.clone(),
                };
                asm.rule(
                    &group,
                    region,
                    rule,
                    source,
                    At::Pointer(inst.pointer.clone()),
                );
            }
            Err(fault) => asm.error(fault.at, subject, fault.kind),
        }
    }
    asm.finish("no alicloud_security_group_rule resources in this Terraform file")
}

enum Doc<'a> {
    StateV4(&'a Map<String, Value>),
    Show(&'a Map<String, Value>),
}

/// One resource instance, wherever it was found.
#[derive(Debug)]
struct Instance<'a> {
    /// Instance address with module and instance keys.
    address: String,
    /// Resource address without any instance keys.
    resource: String,
    kind: &'a str,
    attrs: &'a Map<String, Value>,
    /// JSON pointer to `attrs`.
    pointer: String,
    /// True for a saved plan's planned values, where values computed during
    /// apply are absent.
    plan: bool,
}

fn state_v4_instances<'a>(
    obj: &'a Map<String, Value>,
    out: &mut Vec<Instance<'a>>,
    asm: &mut Assembler,
) {
    let Some(resources) = obj.get("resources") else {
        return;
    };
    let Some(resources) = resources.as_array() else {
        asm.error(
            At::Pointer("/resources".into()),
            None,
            shape("a list of resources", resources),
        );
        return;
    };
    for (i, r) in resources.iter().enumerate() {
        let rp = format!("/resources/{i}");
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
        if s("mode") != "managed" || !matches!(s("type"), RULE_TYPE | GROUP_TYPE) {
            continue;
        }
        let module = s("module");
        let base = if module.is_empty() {
            format!("{}.{}", s("type"), s("name"))
        } else {
            format!("{module}.{}.{}", s("type"), s("name"))
        };
        let resource = strip_instance_keys(&base);
        let Some(instances) = r.get("instances").and_then(Value::as_array) else {
            asm.error(
                At::Pointer(format!("{rp}/instances")),
                Some(base),
                ErrorKind::Missing {
                    field: "instances".into(),
                },
            );
            continue;
        };
        for (j, inst) in instances.iter().enumerate() {
            let ip = format!("{rp}/instances/{j}");
            // A deposed object is on its way out (create_before_destroy);
            // the current object of the same instance is the rule.
            if inst.get("deposed").is_some_and(|d| !d.is_null()) {
                continue;
            }
            let address = format!("{base}{}", index_suffix(inst.get("index_key")));
            match inst.get("attributes").and_then(Value::as_object) {
                Some(attrs) => out.push(Instance {
                    address,
                    resource: resource.clone(),
                    kind: r.get("type").and_then(Value::as_str).unwrap_or_default(),
                    attrs,
                    pointer: format!("{ip}/attributes"),
                    plan: false,
                }),
                None => asm.error(
                    At::Pointer(ip),
                    Some(address),
                    ErrorKind::Missing {
                        field: "attributes".into(),
                    },
                ),
            }
        }
    }
}

fn show_module<'a>(
    module: &'a Value,
    pointer: &str,
    plan: bool,
    out: &mut Vec<Instance<'a>>,
    asm: &mut Assembler,
) {
    if let Some(resources) = module.get("resources").and_then(Value::as_array) {
        for (i, r) in resources.iter().enumerate() {
            let rp = format!("{pointer}/resources/{i}");
            let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
            let kind = r.get("type").and_then(Value::as_str).unwrap_or_default();
            if s("mode") != "managed" || !matches!(kind, RULE_TYPE | GROUP_TYPE) {
                continue;
            }
            let address = s("address").to_owned();
            match r.get("values").and_then(Value::as_object) {
                Some(attrs) => out.push(Instance {
                    resource: strip_instance_keys(&address),
                    address,
                    kind,
                    attrs,
                    pointer: format!("{rp}/values"),
                    plan,
                }),
                None => asm.error(
                    At::Pointer(rp),
                    Some(address),
                    ErrorKind::Missing {
                        field: "values".into(),
                    },
                ),
            }
        }
    }
    if let Some(children) = module.get("child_modules").and_then(Value::as_array) {
        for (i, child) in children.iter().enumerate() {
            show_module(
                child,
                &format!("{pointer}/child_modules/{i}"),
                plan,
                out,
                asm,
            );
        }
    }
}

/// `[0]` or `["key"]` for an instance key, nothing without one.
fn index_suffix(key: Option<&Value>) -> String {
    match key {
        Some(Value::Number(n)) => format!("[{n}]"),
        Some(Value::String(s)) => format!("[{}]", Value::String(s.clone())),
        _ => String::new(),
    }
}

/// The address without instance keys (`module.a[0].x.y["k"]` becomes
/// `module.a.x.y`), as `removed` blocks and configuration addresses take
/// it. Keys may be quoted strings holding brackets.
pub(crate) fn strip_instance_keys(address: &str) -> String {
    let mut out = String::with_capacity(address.len());
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for c in address.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '"' if depth > 0 => in_string = true,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Escapes one reference token of a JSON pointer.
fn token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn shape(expected: &'static str, found: &Value) -> ErrorKind {
    let found = match found {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    };
    ErrorKind::Shape { expected, found }
}

/// One attribute as a field; `Ok(None)` when absent or null.
fn field(inst: &Instance<'_>, name: &str) -> Result<Option<Field>, Fault> {
    let at = At::Pointer(format!("{}/{}", inst.pointer, token(name)));
    match inst.attrs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(Field::new(name, s.as_str(), at))),
        Some(Value::Number(n)) => Ok(Some(Field::new(name, n.to_string(), at))),
        Some(other) => Err(Fault::new(at, shape("a string", other))),
    }
}

fn required(inst: &Instance<'_>, name: &str) -> Result<Field, Fault> {
    fields::set(field(inst, name)?).ok_or_else(|| {
        let at = At::Pointer(inst.pointer.clone());
        let kind = if inst.plan {
            ErrorKind::Unknown { field: name.into() }
        } else {
            ErrorKind::Missing { field: name.into() }
        };
        Fault::new(at, kind)
    })
}

fn optional(inst: &Instance<'_>, name: &str) -> Result<Option<Field>, Fault> {
    Ok(fields::set(field(inst, name)?))
}

/// The group id and the canonical rule of one resource instance.
fn read_rule(inst: &Instance<'_>) -> Result<(String, Rule), Fault> {
    let group = fields::group_id(&required(inst, "security_group_id")?)?;
    let direction: Direction = fields::direction(&required(inst, "type")?)?;
    let protocol = fields::protocol(&required(inst, "ip_protocol")?)?;
    let ports = fields::ports(
        protocol,
        optional(inst, "port_range")?.as_ref(),
        "port_range",
        PortSyntax::Wire,
    )?;
    // The provider reads the owner back into `source_group_owner_id`; the
    // deprecated `source_group_owner_account` may still be set in old
    // states.
    let owner = match optional(inst, "source_group_owner_id")? {
        Some(o) => Some(o),
        None => optional(inst, "source_group_owner_account")?,
    };
    let peer_fields = PeerFields {
        v4: optional(inst, "cidr_ip")?,
        v6: optional(inst, "ipv6_cidr_ip")?,
        group: optional(inst, "source_security_group_id")?,
        owner,
        prefix_list: optional(inst, "prefix_list_id")?,
        names: "cidr_ip, ipv6_cidr_ip, source_security_group_id, prefix_list_id",
    };
    let peer = fields::peer(&peer_fields, Strictness::Lenient).map_err(|mut f| {
        if f.at == At::Whole {
            f.at = At::Pointer(inst.pointer.clone());
        }
        f
    })?;
    let verdict = fields::verdict(optional(inst, "policy")?.as_ref())?;
    let priority = fields::priority(optional(inst, "priority")?.as_ref())?;
    let nic_type = fields::nic_type(optional(inst, "nic_type")?.as_ref())?;
    let description = field(inst, "description")?
        .map(|f| f.text)
        .unwrap_or_default();
    let rule = Rule {
        key: RuleKey {
            direction,
            protocol,
            ports,
            peer,
            verdict,
            nic_type,
            source_ports: None,
            local: None,
        },
        priority,
        description,
    };
    fields::check(&group, &rule.key)
        .map_err(|kind| Fault::new(At::Pointer(inst.pointer.clone()), kind))?;
    Ok((group, rule))
}

/// The region of each resource, from a saved plan's provider configuration.
#[derive(Debug, Default)]
struct Regions {
    /// Resource address (no instance keys) to region.
    by_resource: BTreeMap<String, String>,
    /// The one region every alicloud provider configuration names, if they
    /// agree.
    only: Option<String>,
}

impl Regions {
    fn of(&self, resource: &str) -> Option<&str> {
        self.by_resource
            .get(resource)
            .or(self.only.as_ref())
            .map(String::as_str)
    }

    fn from_configuration(config: Option<&Value>) -> Regions {
        let Some(config) = config else {
            return Regions::default();
        };
        let mut providers: BTreeMap<String, String> = BTreeMap::new();
        if let Some(pcs) = config.get("provider_config").and_then(Value::as_object) {
            for (key, pc) in pcs {
                let is_alicloud = pc
                    .get("full_name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.ends_with("/alicloud"))
                    || pc.get("name").and_then(Value::as_str) == Some("alicloud");
                let region = pc
                    .pointer("/expressions/region/constant_value")
                    .and_then(Value::as_str);
                if let (true, Some(region)) = (is_alicloud, region) {
                    providers.insert(key.clone(), region.to_owned());
                }
            }
        }
        let distinct: BTreeSet<&String> = providers.values().collect();
        let only = match distinct.into_iter().collect::<Vec<_>>().as_slice() {
            [one] => Some((*one).clone()),
            _ => None,
        };
        let mut by_resource = BTreeMap::new();
        if let Some(root) = config.get("root_module") {
            config_module(root, "", &providers, &mut by_resource);
        }
        Regions { by_resource, only }
    }
}

fn config_module(
    module: &Value,
    prefix: &str,
    providers: &BTreeMap<String, String>,
    out: &mut BTreeMap<String, String>,
) {
    if let Some(resources) = module.get("resources").and_then(Value::as_array) {
        for r in resources {
            let (Some(address), Some(key)) = (
                r.get("address").and_then(Value::as_str),
                r.get("provider_config_key").and_then(Value::as_str),
            ) else {
                continue;
            };
            // A key such as `module.net:alicloud` names a configuration in
            // that module; when the module inherits its provider the key
            // is normalised to the parent's, which is then in the map.
            let region = providers.get(key).or_else(|| {
                key.rsplit_once(':')
                    .and_then(|(_, local)| providers.get(local))
            });
            if let Some(region) = region {
                out.insert(format!("{prefix}{address}"), region.clone());
            }
        }
    }
    if let Some(calls) = module.get("module_calls").and_then(Value::as_object) {
        for (name, call) in calls {
            if let Some(child) = call.get("module") {
                config_module(child, &format!("{prefix}module.{name}."), providers, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_keys_are_stripped_even_inside_strings() {
        assert_eq!(
            strip_instance_keys(
                r#"module.a[0].module.b["x]y\"z"].alicloud_security_group_rule.r["k"]"#
            ),
            "module.a.module.b.alicloud_security_group_rule.r"
        );
        assert_eq!(
            strip_instance_keys("alicloud_security_group_rule.r"),
            "alicloud_security_group_rule.r"
        );
    }

    #[test]
    fn index_suffixes_as_terraform_writes_them() {
        assert_eq!(index_suffix(Some(&Value::from(3))), "[3]");
        assert_eq!(index_suffix(Some(&Value::from("ssh"))), "[\"ssh\"]");
        assert_eq!(index_suffix(None), "");
    }
}
