//! Helpers shared by the interchange tests.
#![allow(dead_code)]

use std::path::PathBuf;

use moat_interchange::{ImportOptions, Imported};

pub fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

pub fn read(rel: &str) -> String {
    std::fs::read_to_string(data(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

pub fn golden(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(rel)
}

pub fn options(region: Option<&str>, groups: &[(&str, &str)]) -> ImportOptions {
    ImportOptions {
        region: region.map(str::to_owned),
        group_ids: groups
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// Each group's rules, as comparable data.
pub fn rules(imported: &Imported) -> Vec<(String, String, Vec<moat_policy::Rule>)> {
    imported
        .groups
        .iter()
        .map(|g| {
            (
                g.id.clone(),
                g.region.clone(),
                g.rules.iter().map(|r| r.rule.clone()).collect(),
            )
        })
        .collect()
}

/// One resource block of generated HCL: its type, name and attributes
/// (strings unquoted, numbers as digits, references as written).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HclBlock {
    pub ident: String,
    pub labels: Vec<String>,
    pub attrs: std::collections::BTreeMap<String, String>,
}

/// The top-level blocks of an HCL file as hcl-edit reads them.
pub fn hcl_blocks(text: &str) -> Vec<HclBlock> {
    let body: hcl_edit::structure::Body = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
    body.blocks()
        .map(|b| HclBlock {
            ident: b.ident.as_str().to_owned(),
            labels: b.labels.iter().map(|l| l.as_str().to_owned()).collect(),
            attrs: attrs(&b.body, ""),
        })
        .collect()
}

/// Attributes of a body and, as `block.key`, of its nested blocks.
fn attrs(
    body: &hcl_edit::structure::Body,
    prefix: &str,
) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for a in body.attributes() {
        let v = &a.value;
        let text = if let Some(s) = v.as_str() {
            s.to_owned()
        } else if let Some(n) = v.as_number() {
            n.to_string()
        } else if let Some(b) = v.as_bool() {
            b.to_string()
        } else {
            v.to_string().trim().to_owned()
        };
        out.insert(format!("{prefix}{}", a.key.as_str()), text);
    }
    for b in body.blocks() {
        out.extend(attrs(&b.body, &format!("{prefix}{}.", b.ident.as_str())));
    }
    out
}

/// What `terraform apply` of the exported resources leaves in a state of
/// format version 4: every attribute of the provider's schema, optional
/// ones unset as `""`, the schema defaults (`port_range` `-1/-1`, `policy`
/// accept, `priority` 1), `nic_type` as the API reads it back (intranet),
/// and the resource id as the provider's Create builds it. `import` blocks
/// are checked to name a resource of the file and to carry that same id.
pub fn apply_like_terraform(blocks: &[HclBlock]) -> String {
    use serde_json::{Value, json};
    let mut ids = std::collections::BTreeMap::new();
    let mut resources = Vec::new();
    for b in blocks.iter().filter(|b| b.ident == "resource") {
        assert_eq!(b.labels[0], "alicloud_security_group_rule");
        let get = |k: &str| b.attrs.get(k).cloned().unwrap_or_default();
        let or = |k: &str, d: &str| b.attrs.get(k).cloned().unwrap_or_else(|| d.to_owned());
        let nic = or("nic_type", "intranet");
        let peer = [
            "cidr_ip",
            "ipv6_cidr_ip",
            "source_security_group_id",
            "prefix_list_id",
        ]
        .iter()
        .map(|k| get(k))
        .find(|v| !v.is_empty())
        .unwrap_or_default()
        .replace(':', "_");
        let id = format!(
            "{}:{}:{}:{}:{}:{}:{}:{}",
            get("security_group_id"),
            get("type"),
            get("ip_protocol"),
            or("port_range", "-1/-1"),
            b.attrs
                .get("nic_type")
                .cloned()
                .unwrap_or_else(|| "<nil>".into()),
            peer,
            or("policy", "accept"),
            or("priority", "1"),
        );
        ids.insert(
            format!("alicloud_security_group_rule.{}", b.labels[1]),
            id.clone(),
        );
        let attrs = json!({
            "cidr_ip": get("cidr_ip"),
            "description": get("description"),
            "id": id,
            "ip_protocol": get("ip_protocol"),
            "ipv6_cidr_ip": get("ipv6_cidr_ip"),
            "nic_type": nic,
            "policy": or("policy", "accept"),
            "port_range": or("port_range", "-1/-1"),
            "prefix_list_id": get("prefix_list_id"),
            "priority": or("priority", "1").parse::<u64>().unwrap_or(0),
            "security_group_id": get("security_group_id"),
            "security_group_rule_id": "sgr-test",
            "source_group_owner_account": "",
            "source_group_owner_id": get("source_group_owner_id"),
            "source_security_group_id": get("source_security_group_id"),
            "type": get("type"),
        });
        let provider = match b.attrs.get("provider") {
            Some(p) => format!(
                "provider[\"registry.terraform.io/aliyun/alicloud\"].{}",
                p.trim_start_matches("alicloud.")
            ),
            None => "provider[\"registry.terraform.io/aliyun/alicloud\"]".to_owned(),
        };
        resources.push(json!({
            "mode": "managed",
            "type": "alicloud_security_group_rule",
            "name": b.labels[1],
            "provider": provider,
            "instances": [{
                "schema_version": 0,
                "attributes": attrs,
                "sensitive_attributes": [],
                "private": "eyJzY2hlbWFfdmVyc2lvbiI6IjAifQ==",
            }],
        }));
    }
    for b in blocks.iter().filter(|b| b.ident == "import") {
        let to = &b.attrs["to"];
        assert_eq!(ids.get(to), b.attrs.get("id"), "import block for {to}");
    }
    let state = json!({
        "version": 4,
        "terraform_version": "1.11.4",
        "serial": 1,
        "lineage": "00000000-0000-0000-0000-000000000000",
        "outputs": {},
        "resources": Value::Array(resources),
        "check_results": null,
    });
    serde_json::to_string_pretty(&state).unwrap_or_default()
}
