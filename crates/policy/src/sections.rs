//! Reading the parts of a policy that are not rules: a group's `type:` and
//! `account:`, and the top-level `accounts:` block. Like the rest of the
//! reader, each function reports what is wrong where it is written and
//! returns what could be read.

use crate::codes;
use crate::document::{AccountDoc, Located};
use crate::literal::{self, NameKind};
use crate::model::GroupType;
use crate::read::{Cx, at, fields, keyword, string};
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
