//! The rollout part of the policy format as written: `templates:` (named
//! rule sets a group `use`s) and `tests:` (reachability assertions).
//! `stages:` is a plain list of names in [`crate::document::PolicyFile`].
//! Like the rest of [`crate::document`], these types are what the reader
//! fills and what the JSON Schema is generated from.

use schemars::{JsonSchema, Schema};

use crate::document::{
    Located, NAME_PATTERN, OneOrMany, PeerSpec, PolicyRuleDoc, ServiceSpec, Text, egress_items,
    ingress_items,
};
use crate::yaml::Pos;

/// A named set of rules that groups share with `use: [NAME]`.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields, rename = "Template")]
pub(crate) struct TemplateDoc {
    /// Other templates whose rules this one includes, before its own.
    #[schemars(rename = "use", transform = name_items)]
    pub uses: Option<Located<Vec<Located<String>>>>,
    /// Inbound rules. Each names its sources with `from`.
    #[schemars(transform = ingress_items)]
    pub ingress: Option<Vec<PolicyRuleDoc>>,
    /// Outbound rules. Each names its destinations with `to`.
    #[schemars(transform = egress_items)]
    pub egress: Option<Vec<PolicyRuleDoc>>,
}

impl TemplateDoc {
    pub const KEYS: &'static [&'static str] = &["use", "ingress", "egress"];
}

/// Names in a list are names of the format.
pub(crate) fn name_items(schema: &mut Schema) {
    if let Some(items) = schema.get_mut("items").and_then(|v| v.as_object_mut()) {
        items.insert("pattern".into(), serde_json::json!(NAME_PATTERN));
    }
}

/// What a test expects for every flow it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(rename_all = "lowercase")]
pub(crate) enum ExpectDoc {
    Allow,
    Deny,
}

/// A reachability assertion: every flow from (or to) the peers on the
/// services, through every group it names, gets the expected answer.
#[derive(Debug, Default, JsonSchema)]
#[schemars(
    deny_unknown_fields,
    rename = "Test",
    extend(
        "oneOf" = [{"required": ["template"]}, {"required": ["group"]}],
        "anyOf" = [{"required": ["from"]}, {"required": ["to"]}],
        "not" = {"required": ["from", "to"]}
    )
)]
pub(crate) struct TestDoc {
    /// What the test checks, in a few words; shown when it fails.
    #[schemars(required)]
    pub name: Option<Located<Text>>,
    /// Every group that uses this template.
    #[schemars(pattern(NAME_PATTERN))]
    pub template: Option<Located<String>>,
    /// One group of the loaded policies.
    #[schemars(pattern(crate::document::GROUP_ID_PATTERN))]
    pub group: Option<Located<String>>,
    /// Inbound flows from these sources: addresses, CIDRs or address sets.
    pub from: Option<Located<OneOrMany<Located<PeerSpec>>>>,
    /// Outbound flows to these destinations: addresses, CIDRs or address
    /// sets.
    pub to: Option<Located<OneOrMany<Located<PeerSpec>>>>,
    /// The services of the flows: `tcp/3306`, a range, a protocol without
    /// ports, or a service name.
    #[schemars(required)]
    pub port: Option<Located<OneOrMany<Located<ServiceSpec>>>>,
    /// `allow`: every flow is accepted; `deny`: every flow is dropped.
    #[schemars(required)]
    pub expect: Option<Located<ExpectDoc>>,
    #[schemars(skip)]
    pub pos: Pos,
}

impl TestDoc {
    pub const KEYS: &'static [&'static str] =
        &["name", "template", "group", "from", "to", "port", "expect"];
}
