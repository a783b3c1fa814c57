//! The policy file format as written (DESIGN 3), before names are resolved.
//!
//! These types are both what the reader fills from a YAML tree and what the
//! JSON Schema in `docs/policy.schema.json` is generated from, so the schema
//! editors use cannot drift from what moat accepts. Every field is optional
//! in Rust, even the required ones, because the reader keeps going after an
//! error to report everything at once; the schema marks them required.
//!
//! Doc comments on fields become the descriptions editors show on hover.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::model::{Direction, GroupType, Mode, NicType, Peer, ServiceAtom};
use crate::rollout_doc::{TemplateDoc, TestDoc, name_items};
use crate::yaml::Pos;

/// Names of address sets and services: a letter, then letters, digits, `_`,
/// `-` or `.`.
pub(crate) const NAME_PATTERN: &str = "^[A-Za-z][A-Za-z0-9_.-]*$";
/// Security group ids as ECS writes them.
pub(crate) const GROUP_ID_PATTERN: &str = "^sg-[a-z0-9]+$";
/// Lint codes a rule may opt out of.
pub(crate) const LINT_CODE_PATTERN: &str = "^MOAT0[0-9]{2}$";

/// A value read from a policy file, with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Located<T> {
    pub value: T,
    pub pos: Pos,
}

impl<T: JsonSchema> JsonSchema for Located<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// One policy file.
#[derive(Debug, Default, JsonSchema)]
#[schemars(
    deny_unknown_fields,
    title = "moat policy",
    description = "Desired rules of Alibaba Cloud ECS security groups, read by moat."
)]
pub(crate) struct PolicyFile {
    /// Version of the policy format. Only `1` exists.
    #[schemars(required, extend("enum" = [1]))]
    pub version: Option<Located<u64>>,
    /// Named address sets. Each is one entry or a list of IPv4/IPv6 CIDRs,
    /// bare addresses (a /32 or /128), other sets, security group ids
    /// (`sg-...`) or prefix list ids (`pl-...`). Names are shared by every
    /// file loaded together.
    pub addresses: Option<NamedMap<Located<OneOrMany<Located<PeerSpec>>>>>,
    /// Named services. Each is one entry or a list of `protocol/port`,
    /// `protocol/from-to`, a protocol without ports (`icmp`, `icmpv6`, `gre`,
    /// `all`) or another service. Names are shared by every file loaded
    /// together.
    pub services: Option<NamedMap<Located<OneOrMany<Located<ServiceSpec>>>>>,
    /// The security groups this file owns. A group may appear in only one
    /// file.
    pub security_groups: Option<Vec<SecurityGroupDoc>>,
    /// Selectors of rules that `moat apply` refuses to revoke or change
    /// without `--allow-protected`, even after they disappear from the policy.
    pub protect: Option<Vec<ProtectDoc>>,
    /// Cloud accounts that groups name with `account:`, each mapped to an
    /// aliyun CLI profile and optionally an endpoint. Names are shared by
    /// every file loaded together. Without it, every group uses the
    /// credentials moat is run with.
    pub accounts: Option<NamedMap<AccountDoc>>,
    /// Rollout order: the names groups may give as `stage:`, earliest
    /// first. Files loaded together that list stages list the same ones.
    #[schemars(transform = name_items)]
    pub stages: Option<Located<Vec<Located<String>>>>,
    /// Named rule sets that groups include with `use:`. Names are shared by
    /// every file loaded together.
    pub templates: Option<NamedMap<TemplateDoc>>,
    /// Reachability assertions `moat test` checks against the rules.
    pub tests: Option<Vec<TestDoc>>,
}

impl PolicyFile {
    pub const KEYS: &'static [&'static str] = &[
        "version",
        "addresses",
        "services",
        "security_groups",
        "protect",
        "accounts",
        "stages",
        "templates",
        "tests",
    ];
}

/// One cloud account: where its credentials and API come from.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields, rename = "Account")]
pub(crate) struct AccountDoc {
    /// The aliyun CLI profile (in `~/.aliyun/config.json`) holding the
    /// account's credentials.
    #[schemars(required, length(min = 1))]
    pub profile: Option<Located<String>>,
    /// API endpoint for this account's groups instead of the region's, an
    /// `https://` URL (`http://` for loopback only).
    #[schemars(pattern(ENDPOINT_PATTERN))]
    pub endpoint: Option<Located<String>>,
}

impl AccountDoc {
    pub const KEYS: &'static [&'static str] = &["profile", "endpoint"];
}

/// Endpoints: an http or https URL with a host.
pub(crate) const ENDPOINT_PATTERN: &str = "^https?://[^\\s/]+";

/// One security group and its desired rules.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields, rename = "SecurityGroup")]
pub(crate) struct SecurityGroupDoc {
    /// The group this block owns, e.g. `sg-bp1fg655nh68xyz9bxyz`.
    #[schemars(required, pattern(GROUP_ID_PATTERN))]
    pub id: Option<Located<String>>,
    /// Region of the group, e.g. `cn-hangzhou`.
    #[schemars(required, pattern(REGION_PATTERN))]
    pub region: Option<Located<String>>,
    /// The group's name. Informational: checked against the live name.
    pub name: Option<Located<Text>>,
    /// `authoritative` (default): rules not in the policy are removed.
    /// `additive`: only ensure the policy's rules exist.
    pub mode: Option<Located<Mode>>,
    /// The group's type as the policy expects it: `normal` (a basic group)
    /// or `enterprise` (an advanced group). It decides what evaluation does
    /// with a flow no rule decides; live reads tell the truth, and a type
    /// that differs from the live one is reported.
    #[schemars(rename = "type")]
    pub group_type: Option<Located<GroupType>>,
    /// The account (a name under the top-level `accounts:`) the group
    /// belongs to.
    #[schemars(pattern(NAME_PATTERN))]
    pub account: Option<Located<String>>,
    /// The rollout stage of the group, one of the top-level `stages:`.
    #[schemars(pattern(NAME_PATTERN))]
    pub stage: Option<Located<String>>,
    /// Templates whose rules the group has, before its own.
    #[schemars(rename = "use", transform = name_items)]
    pub uses: Option<Located<Vec<Located<String>>>>,
    /// Inbound rules. Each names its sources with `from`.
    #[schemars(transform = ingress_items)]
    pub ingress: Option<Vec<PolicyRuleDoc>>,
    /// Outbound rules. Each names its destinations with `to`.
    #[schemars(transform = egress_items)]
    pub egress: Option<Vec<PolicyRuleDoc>>,
    #[schemars(skip)]
    pub pos: Pos,
}

impl SecurityGroupDoc {
    pub const KEYS: &'static [&'static str] = &[
        "id", "region", "name", "mode", "type", "account", "stage", "use", "ingress", "egress",
    ];
}

/// Regions as ECS names them: `cn-hangzhou`, `ap-southeast-1`.
pub(crate) const REGION_PATTERN: &str = "^[a-z]{2}(-[a-z0-9]+)+$";

pub(crate) fn ingress_items(schema: &mut Schema) {
    direction_items(schema, "from", "to");
}

pub(crate) fn egress_items(schema: &mut Schema) {
    direction_items(schema, "to", "from");
}

/// A rule of one direction requires its own peer key and forbids the other
/// one, which the shared rule type alone cannot say.
fn direction_items(schema: &mut Schema, peer: &str, other: &str) {
    if let Some(items) = schema.get_mut("items").and_then(|v| v.as_object_mut()) {
        items.insert("required".into(), serde_json::json!([peer]));
        items.insert("properties".into(), serde_json::json!({ other: false }));
    }
}

/// One policy rule. It expands to one ECS rule per service and peer (the
/// cartesian product of `allow`/`deny` and `from`/`to`).
#[derive(Debug, Default, JsonSchema)]
#[schemars(
    deny_unknown_fields,
    rename = "Rule",
    extend(
        "oneOf" = [{"required": ["allow"]}, {"required": ["deny"]}],
        "dependentRequired" = {"lint_ignore": ["reason"], "reason": ["lint_ignore"]}
    )
)]
pub(crate) struct PolicyRuleDoc {
    /// Shown in the console and in plans; at most 512 characters.
    #[schemars(length(max = 512))]
    pub description: Option<Located<Text>>,
    /// Services to accept: a service, or a list of them.
    pub allow: Option<Located<OneOrMany<Located<ServiceSpec>>>>,
    /// Services to drop: a service, or a list of them.
    pub deny: Option<Located<OneOrMany<Located<ServiceSpec>>>>,
    /// Ingress only: the sources, a peer or a list of them.
    pub from: Option<Located<OneOrMany<Located<PeerSpec>>>>,
    /// Egress only: the destinations, a peer or a list of them.
    pub to: Option<Located<OneOrMany<Located<PeerSpec>>>>,
    /// 1 (evaluated first) to 100. Default 1. At equal priority, drop wins.
    #[schemars(range(min = 1, max = 100))]
    pub priority: Option<Located<u8>>,
    /// Network interface type. `intranet` (default) is the only type of VPC
    /// groups.
    pub nic_type: Option<Located<NicType>>,
    /// `moat apply` never revokes or changes this rule without
    /// `--allow-protected`.
    pub protected: Option<Located<bool>>,
    /// Last day (YYYY-MM-DD) on which the rule is desired; from the next day
    /// on, plans remove it.
    pub expires: Option<Located<DateSpec>>,
    /// Lint codes this rule opts out of (`MOAT0xx`); needs `reason`.
    pub lint_ignore: Option<Located<Vec<Located<LintCode>>>>,
    /// Why the rule opts out of the lint codes in `lint_ignore`; shown in
    /// plans.
    pub reason: Option<Located<Text>>,
    #[schemars(skip)]
    pub pos: Pos,
}

impl PolicyRuleDoc {
    pub const KEYS: &'static [&'static str] = &[
        "description",
        "allow",
        "deny",
        "from",
        "to",
        "priority",
        "nic_type",
        "protected",
        "expires",
        "lint_ignore",
        "reason",
    ];
}

/// A selector of rules that `moat apply` must not revoke or change. Every
/// field given must match; at least one besides `reason` is needed.
#[derive(Debug, Default, JsonSchema)]
#[schemars(
    deny_unknown_fields,
    rename = "Protect",
    extend("anyOf" = [
        {"required": ["group"]},
        {"required": ["direction"]},
        {"required": ["service"]},
        {"required": ["peer"]},
        {"required": ["description_prefix"]}
    ])
)]
pub(crate) struct ProtectDoc {
    /// Why these rules must survive automation; shown when apply refuses.
    #[schemars(required)]
    pub reason: Option<Located<Text>>,
    /// Only rules of this security group.
    #[schemars(pattern(GROUP_ID_PATTERN))]
    pub group: Option<Located<String>>,
    /// Only rules of this direction.
    pub direction: Option<Located<Direction>>,
    /// Only rules of this service (or any of these services).
    pub service: Option<Located<OneOrMany<Located<ServiceSpec>>>>,
    /// Only rules with this peer (or any of these peers); a set matches any
    /// of its members.
    pub peer: Option<Located<OneOrMany<Located<PeerSpec>>>>,
    /// Only rules whose description starts with this text.
    pub description_prefix: Option<Located<Text>>,
    #[schemars(skip)]
    pub pos: Pos,
}

impl ProtectDoc {
    pub const KEYS: &'static [&'static str] = &[
        "reason",
        "group",
        "direction",
        "service",
        "peer",
        "description_prefix",
    ];
}

/// Free text. A number or boolean is taken as the text it is written as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Text(pub String);

impl JsonSchema for Text {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Text".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

/// A mapping from names to values, in the order written. A value that could
/// not be read is `None`: the name exists, its definition is broken.
#[derive(Debug)]
pub(crate) struct NamedMap<T>(pub Vec<(Located<String>, Option<T>)>);

impl<T> Default for NamedMap<T> {
    fn default() -> Self {
        NamedMap(Vec::new())
    }
}

impl<T: JsonSchema> JsonSchema for NamedMap<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("NamedMap_{}", T::schema_name()).into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let values = generator.subschema_for::<T>();
        json_schema!({
            "type": "object",
            "propertyNames": { "pattern": NAME_PATTERN },
            "additionalProperties": values,
        })
    }
}

/// One entry, or a non-empty list of them. A single entry is read as a list
/// of one.
#[derive(Debug)]
pub(crate) struct OneOrMany<T>(pub Vec<T>);

impl<T: JsonSchema> JsonSchema for OneOrMany<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("OneOrMany_{}", T::schema_name()).into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let item = generator.subschema_for::<T>();
        json_schema!({
            "anyOf": [
                item,
                { "type": "array", "items": item, "minItems": 1 }
            ]
        })
    }
}

/// A service as written: a protocol with its ports, or a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ServiceRef {
    Atom(ServiceAtom),
    Name(String),
}

/// Service: `tcp/22`, `tcp/8000-8080`, `udp/53`, `icmp`, `icmpv6`, `gre`,
/// `all`, or the name of a service defined under `services`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServiceSpec(pub ServiceRef);

impl JsonSchema for ServiceSpec {
    fn schema_name() -> Cow<'static, str> {
        "Service".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A service: tcp/22, tcp/8000-8080, udp/53, icmp, icmpv6, gre, all, \
                            or the name of a service defined under `services`.",
            "examples": ["tcp/22", "tcp/8000-8080", "udp/53", "icmp", "all", "ssh"],
        })
    }
}

/// A peer as written: a concrete peer, or the name of an address set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PeerRef {
    Peer(Peer),
    Name(String),
}

/// Peer: an IPv4/IPv6 CIDR, a bare address, an address set name, a security
/// group id (`sg-...`) or a prefix list id (`pl-...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PeerSpec(pub PeerRef);

impl JsonSchema for PeerSpec {
    fn schema_name() -> Cow<'static, str> {
        "Peer".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A peer: an IPv4 or IPv6 CIDR (host bits clear), a bare address \
                            (a /32 or /128), the name of an address set, a security group id \
                            (sg-...), a group of another account (ACCOUNT_ID/sg-...) \
                            or a prefix list id (pl-...).",
            "examples": ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7", "office",
                         "sg-bp1fg655nh68xyz9bxyz", "1234567890123456/sg-bp1fg655nh68xyz9bxyz",
                         "pl-bp1a2b3c4d5e6f7g8h"],
        })
    }
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DateSpec(pub jiff::civil::Date);

impl JsonSchema for DateSpec {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Date".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "date" })
    }
}

/// A lint code, `MOAT0xx`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LintCode(pub String);

impl JsonSchema for LintCode {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "LintCode".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": LINT_CODE_PATTERN })
    }
}

/// The JSON Schema of the policy format, pretty-printed with a trailing
/// newline (the form checked in as `docs/policy.schema.json`).
pub fn policy_schema_json() -> String {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let mut value = generator.into_root_schema_for::<PolicyFile>().to_value();
    drop_null(&mut value);
    // Serialising a JSON value to a string cannot fail.
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// Optional fields are `Option`s in Rust, which the generator describes as
/// "may be null". In a policy, a key is left out rather than set to null;
/// only lists and mappings may be empty (`ingress:` reads as no rules), so
/// null stays allowed for them alone.
fn drop_null(value: &mut serde_json::Value) {
    use serde_json::Value;
    let Value::Object(map) = value else {
        if let Value::Array(items) = value {
            items.iter_mut().for_each(drop_null);
        }
        return;
    };
    if let Some(Value::Array(types)) = map.get_mut("type") {
        let collection = types.iter().any(|t| t == "array" || t == "object");
        if !collection {
            types.retain(|t| t != "null");
        }
        if types.len() == 1 {
            let only = types.remove(0);
            map.insert("type".into(), only);
        }
    }
    // Rust integer widths (`uint8`) are not formats JSON Schema defines.
    if map
        .get("format")
        .and_then(Value::as_str)
        .is_some_and(|f| f.starts_with("uint") || f.starts_with("int"))
    {
        map.remove("format");
    }
    let nullable = match map.get("anyOf") {
        Some(Value::Array(alts))
            if alts.len() == 2 && alts[1] == serde_json::json!({"type": "null"}) =>
        {
            Some(alts[0].clone())
        }
        _ => None,
    };
    if let Some(Value::Object(inner)) = nullable {
        map.remove("anyOf");
        for (k, v) in inner {
            map.entry(k).or_insert(v);
        }
    }
    map.values_mut().for_each(drop_null);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn schema() -> serde_json::Value {
        serde_json::from_str(&policy_schema_json()).expect("the schema is JSON")
    }

    /// `docs/policy.schema.json` is what the types generate. On a mismatch the
    /// test prints a diff; `MOAT_BLESS=1` rewrites the file.
    #[test]
    fn checked_in_schema_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/policy.schema.json");
        moat_testkit::assert_golden(path, &policy_schema_json());
    }

    fn properties(object: &serde_json::Value) -> BTreeSet<String> {
        object["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn keys(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|k| (*k).to_owned()).collect()
    }

    /// The keys the reader accepts are the keys the schema documents.
    #[test]
    fn schema_and_reader_agree_on_keys() {
        let s = schema();
        assert_eq!(properties(&s), keys(PolicyFile::KEYS));
        assert_eq!(
            properties(&s["$defs"]["SecurityGroup"]),
            keys(SecurityGroupDoc::KEYS)
        );
        assert_eq!(properties(&s["$defs"]["Rule"]), keys(PolicyRuleDoc::KEYS));
        assert_eq!(properties(&s["$defs"]["Protect"]), keys(ProtectDoc::KEYS));
        assert_eq!(properties(&s["$defs"]["Account"]), keys(AccountDoc::KEYS));
        assert_eq!(properties(&s["$defs"]["Template"]), keys(TemplateDoc::KEYS));
        assert_eq!(properties(&s["$defs"]["Test"]), keys(TestDoc::KEYS));
    }

    #[test]
    fn only_collections_may_be_null() {
        fn walk(v: &serde_json::Value, path: &str) {
            match v {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::Array(types)) = map.get("type") {
                        let has_null = types.iter().any(|t| t == "null");
                        let collection = types.iter().any(|t| t == "array" || t == "object");
                        assert!(!has_null || collection, "{path} may be null");
                    }
                    assert!(
                        map.get("type") != Some(&serde_json::json!("null")),
                        "{path} is a null alternative"
                    );
                    for (k, v) in map {
                        walk(v, &format!("{path}/{k}"));
                    }
                }
                serde_json::Value::Array(items) => {
                    for (i, v) in items.iter().enumerate() {
                        walk(v, &format!("{path}/{i}"));
                    }
                }
                _ => {}
            }
        }
        walk(&schema(), "");
    }
}
