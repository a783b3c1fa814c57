//! Reading the parts of a policy that are not a group's rules: a group's
//! `type:`, `account:`, `stage:` and `use:`, and the top-level `accounts:`,
//! `stages:`, `templates:` and `tests:`. Like the rest of the reader, each
//! function reports what is wrong where it is written and returns what
//! could be read.

use crate::codes;
use crate::document::{AccountDoc, Located};
use crate::literal::{self, NameKind};
use crate::model::{Direction, GroupType};
use crate::read::{
    Cx, PEERS, SERVICES, at, fields, keyword, list, one_or_many, peer_spec, read_rule,
    service_spec, string, text,
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
    let s = string(cx, node, "an account name")?;
    match literal::name(&s.value, NameKind::Account) {
        Ok(()) => Some(s),
        Err(p) => {
            cx.error(node.pos, p.code, p.message, p.hint);
            None
        }
    }
}

/// One entry of `accounts:`: `{profile: NAME, endpoint: URL}`.
pub(crate) fn read_account(cx: &mut Cx<'_>, node: &Node) -> Option<AccountDoc> {
    let f = fields(cx, node, "an account", AccountDoc::KEYS)?;
    let mut a = AccountDoc::default();
    match f.get("profile") {
        None if !f.absent("profile") => {}
        None => cx.error(
            f.pos,
            codes::MISSING_KEY,
            "account has no `profile`",
            Some(
                "add the aliyun CLI profile holding the account's credentials, e.g. `profile: prod`"
                    .to_owned(),
            ),
        ),
        Some(n) => a.profile = profile(cx, n),
    }
    if let Some(n) = f.get("endpoint") {
        a.endpoint = endpoint(cx, n);
    }
    // An account is usable only with its profile.
    a.profile.is_some().then_some(a)
}

fn profile(cx: &mut Cx<'_>, node: &Node) -> Option<Located<String>> {
    let s = string(cx, node, "an aliyun CLI profile name")?;
    match literal::profile(&s.value) {
        Ok(()) => Some(s),
        Err(p) => {
            cx.error(node.pos, p.code, p.message, p.hint);
            None
        }
    }
}

fn endpoint(cx: &mut Cx<'_>, node: &Node) -> Option<Located<String>> {
    let s = string(
        cx,
        node,
        "an endpoint URL such as https://ecs.cn-hangzhou.aliyuncs.com",
    )?;
    match literal::endpoint(&s.value) {
        Ok(()) => Some(at(node, s.value)),
        Err(p) => {
            cx.error(node.pos, p.code, p.message, p.hint);
            None
        }
    }
}

/// One name of `kind` (a stage, a template).
pub(crate) fn name(cx: &mut Cx<'_>, node: &Node, kind: NameKind) -> Option<Located<String>> {
    let s = string(
        cx,
        node,
        &format!("{} name", crate::names::article(kind.as_str())),
    )?;
    match literal::name(&s.value, kind) {
        Ok(()) => Some(s),
        Err(p) => {
            cx.error(node.pos, p.code, p.message, p.hint);
            None
        }
    }
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
    for direction in Direction::ALL {
        let Some(n) = f.get(direction.as_str()) else {
            continue;
        };
        let rules = list(cx, n, &format!("a list of {direction} rules"), |cx, n| {
            read_rule(cx, n, direction)
        });
        match direction {
            Direction::Ingress => t.ingress = rules,
            Direction::Egress => t.egress = rules,
        }
    }
    Some(t)
}

/// One entry of `tests:`.
pub(crate) fn read_test(cx: &mut Cx<'_>, node: &Node) -> Option<TestDoc> {
    let f = fields(cx, node, "a test", TestDoc::KEYS)?;
    let mut t = TestDoc {
        pos: f.pos,
        ..TestDoc::default()
    };
    match f.get("name") {
        None if !f.absent("name") => {}
        None => cx.error(
            f.pos,
            codes::MISSING_KEY,
            "test has no `name`",
            Some("add `name:` saying what the test checks, in a few words".to_owned()),
        ),
        Some(n) => t.name = text(cx, n, "test name"),
    }
    if let Some(n) = f.get("template") {
        t.template = name(cx, n, NameKind::Template);
    }
    if let Some(n) = f.get("group") {
        t.group = crate::read::group_id(cx, n);
    }
    match (f.key_pos("template"), f.key_pos("group")) {
        (Some(_), Some(group)) => cx.error(
            group,
            codes::TEST_WITHOUT_GROUP,
            "a test names a `template` or a `group`, not both",
            Some("split it into two tests".to_owned()),
        ),
        (None, None) if f.absent("template") && f.absent("group") => cx.error(
            f.pos,
            codes::TEST_WITHOUT_GROUP,
            "test names no group",
            Some(
                "add `group: sg-...` for one group, or `template: NAME` for every group using it"
                    .to_owned(),
            ),
        ),
        _ => {}
    }
    if let Some(n) = f.get("from") {
        t.from = one_or_many(cx, n, PEERS, peer_spec);
    }
    if let Some(n) = f.get("to") {
        t.to = one_or_many(cx, n, PEERS, peer_spec);
    }
    match (f.key_pos("from"), f.key_pos("to")) {
        (Some(_), Some(to)) => cx.error(
            to,
            codes::PEER_DIRECTION,
            "a test has `from` (inbound flows) or `to` (outbound flows), not both",
            Some("split it into an inbound and an outbound test".to_owned()),
        ),
        (None, None) if f.absent("from") && f.absent("to") => cx.error(
            f.pos,
            codes::MISSING_KEY,
            "test has neither `from` nor `to`",
            Some(
                "add `from:` with the sources of inbound flows, or `to:` with the destinations of outbound flows"
                    .to_owned(),
            ),
        ),
        _ => {}
    }
    match f.get("port") {
        None if !f.absent("port") => {}
        None => cx.error(
            f.pos,
            codes::MISSING_KEY,
            "test has no `port`",
            Some("add the service of the flows, e.g. `port: tcp/3306`".to_owned()),
        ),
        Some(n) => t.port = one_or_many(cx, n, SERVICES, service_spec),
    }
    match f.get("expect") {
        None if !f.absent("expect") => {}
        None => cx.error(
            f.pos,
            codes::MISSING_KEY,
            "test has no `expect`",
            Some("add `expect: allow` or `expect: deny`".to_owned()),
        ),
        Some(n) => {
            t.expect = keyword(
                cx,
                n,
                "expectation",
                &[("allow", ExpectDoc::Allow), ("deny", ExpectDoc::Deny)],
            );
        }
    }
    Some(t)
}
