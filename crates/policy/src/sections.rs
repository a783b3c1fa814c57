//! Reading the parts of a policy that are not a group's rules: a group's
//! `type:`, `account:`, `stage:` and `use:`, and the top-level `accounts:`,
//! `stages:`, `templates:` and `tests:`. Like the rest of the reader, each
//! function reports what is wrong where it is written and returns what
//! could be read.

use crate::codes;
use crate::document::{AccountDoc, Located};
use crate::literal::{self, NameKind};
use crate::model::GroupType;
use crate::read::{
    Cx, Fixed, PEERS, SERVICES, at, checked, fields, keyword, one_or_many, peer_spec, service_spec,
    text,
};
use crate::rollout_doc::{ExpectDoc, TemplateDoc, TestDoc};
use crate::yaml::{Node, Value};

/// `type: normal | enterprise`. The console's words (basic, advanced) get a
/// hint with the API's.
pub(crate) fn group_type(cx: &mut Cx<'_>, node: &Node) -> Option<Located<GroupType>> {
    if let Value::Str(s) = &node.value {
        let api = match s.to_ascii_lowercase().as_str() {
            "basic" => Some("normal"),
            "advanced" => Some("enterprise"),
            _ => None,
        };
        if let Some(api) = api {
            cx.error(
                node.pos,
                codes::INVALID_VALUE,
                format!("unknown group type {s:?}"),
                Some(format!(
                    "the console's {s} group is the API's `{api}`: write `type: {api}`"
                )),
            );
            return None;
        }
    }
    keyword(
        cx,
        node,
        "group type",
        &[
            ("normal", GroupType::Normal),
            ("enterprise", GroupType::Enterprise),
        ],
    )
}

/// `account: NAME`: a name, checked against `accounts:` once all files are
/// read.
pub(crate) fn account_name(cx: &mut Cx<'_>, node: &Node) -> Option<Located<String>> {
    name(cx, node, NameKind::Account)
}

/// One entry of `accounts:`: `{profile: NAME, endpoint: URL}`.
pub(crate) fn read_account(cx: &mut Cx<'_>, node: &Node) -> Option<AccountDoc> {
    let f = fields(cx, node, "an account", AccountDoc::KEYS)?;
    let mut a = AccountDoc::default();
    let missing = Fixed::missing_key(
        "account has no `profile`",
        "add the aliyun CLI profile holding the account's credentials, e.g. `profile: prod`",
    );
    if let Some(n) = f.required(cx, "profile", missing) {
        a.profile = profile(cx, n);
    }
    if let Some(n) = f.get("endpoint") {
        a.endpoint = endpoint(cx, n);
    }
    // An account is usable only with its profile.
    a.profile.is_some().then_some(a)
}

fn profile(cx: &mut Cx<'_>, node: &Node) -> Option<Located<String>> {
    checked(cx, node, "an aliyun CLI profile name", literal::profile)
}

fn endpoint(cx: &mut Cx<'_>, node: &Node) -> Option<Located<String>> {
    checked(
        cx,
        node,
        "an endpoint URL such as https://ecs.cn-hangzhou.aliyuncs.com",
        literal::endpoint,
    )
}

/// One name of `kind` (an account, a stage, a template).
pub(crate) fn name(cx: &mut Cx<'_>, node: &Node, kind: NameKind) -> Option<Located<String>> {
    let what = format!("{} name", crate::names::article(kind.as_str()));
    checked(cx, node, &what, |s| literal::name(s, kind))
}

/// A list of names of `kind` (`stages: [test, prod]`, `use: [web]`), each
/// once. One name alone is read as a list of one.
pub(crate) fn names(
    cx: &mut Cx<'_>,
    node: &Node,
    kind: NameKind,
    plural: &str,
) -> Option<Located<Vec<Located<String>>>> {
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) if items.is_empty() => {
            cx.error(
                node.pos,
                codes::EMPTY_LIST,
                format!("empty list of {plural}"),
                Some(format!(
                    "name at least one of the {plural}, or remove the key"
                )),
            );
            return None;
        }
        Value::Seq(items) => items.iter().collect(),
        Value::Str(_) => vec![node],
        _ => {
            cx.wrong_type(node, &format!("a list of {plural}"), None);
            return None;
        }
    };
    // A name that is invalid or repeated is reported and left out; the
    // others stay, so that what names them is not reported again.
    let mut out: Vec<Located<String>> = Vec::with_capacity(items.len());
    for item in items {
        let Some(n) = name(cx, item, kind) else {
            continue;
        };
        if let Some(first) = out.iter().find(|o| o.value == n.value) {
            cx.error(
                item.pos,
                codes::DUPLICATE_NAME,
                format!("{} {} is listed twice", kind.as_str(), n.value),
                Some(format!(
                    "the first one is at line {}, column {}; list it once",
                    first.pos.line, first.pos.column
                )),
            );
            continue;
        }
        out.push(n);
    }
    Some(at(node, out))
}

/// One entry of `templates:`: `use`, `ingress`, `egress`.
pub(crate) fn read_template(cx: &mut Cx<'_>, node: &Node) -> Option<TemplateDoc> {
    let f = fields(cx, node, "a template", TemplateDoc::KEYS)?;
    let mut t = TemplateDoc::default();
    if let Some(n) = f.get("use") {
        t.uses = names(cx, n, NameKind::Template, "templates");
    }
    (t.ingress, t.egress) = f.rule_lists(cx);
    Some(t)
}

/// One entry of `tests:`.
pub(crate) fn read_test(cx: &mut Cx<'_>, node: &Node) -> Option<TestDoc> {
    let f = fields(cx, node, "a test", TestDoc::KEYS)?;
    let mut t = TestDoc {
        pos: f.pos,
        ..TestDoc::default()
    };
    let missing = Fixed::missing_key(
        "test has no `name`",
        "add `name:` saying what the test checks, in a few words",
    );
    if let Some(n) = f.required(cx, "name", missing) {
        t.name = text(cx, n, "test name");
    }
    if let Some(n) = f.get("template") {
        t.template = name(cx, n, NameKind::Template);
    }
    if let Some(n) = f.get("group") {
        t.group = crate::read::group_id(cx, n);
    }
    f.one_of(
        cx,
        ("template", "group"),
        Fixed {
            code: codes::TEST_WITHOUT_GROUP,
            message: "a test names a `template` or a `group`, not both",
            hint: "split it into two tests",
        },
        Fixed {
            code: codes::TEST_WITHOUT_GROUP,
            message: "test names no group",
            hint: "add `group: sg-...` for one group, or `template: NAME` for every group using it",
        },
    );
    if let Some(n) = f.get("from") {
        t.from = one_or_many(cx, n, PEERS, peer_spec);
    }
    if let Some(n) = f.get("to") {
        t.to = one_or_many(cx, n, PEERS, peer_spec);
    }
    f.one_of(
        cx,
        ("from", "to"),
        Fixed {
            code: codes::PEER_DIRECTION,
            message: "a test has `from` (inbound flows) or `to` (outbound flows), not both",
            hint: "split it into an inbound and an outbound test",
        },
        Fixed {
            code: codes::MISSING_KEY,
            message: "test has neither `from` nor `to`",
            hint: "add `from:` with the sources of inbound flows, or `to:` with the destinations of outbound flows",
        },
    );
    let missing = Fixed::missing_key(
        "test has no `port`",
        "add the service of the flows, e.g. `port: tcp/3306`",
    );
    if let Some(n) = f.required(cx, "port", missing) {
        t.port = one_or_many(cx, n, SERVICES, service_spec);
    }
    let missing = Fixed::missing_key(
        "test has no `expect`",
        "add `expect: allow` or `expect: deny`",
    );
    if let Some(n) = f.required(cx, "expect", missing) {
        let choices = [("allow", ExpectDoc::Allow), ("deny", ExpectDoc::Deny)];
        t.expect = keyword(cx, n, "expectation", &choices);
    }
    Some(t)
}
