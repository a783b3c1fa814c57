//! Reading a YAML tree into the document types, checking everything that
//! can be checked within one file: keys, types, values, services and peers
//! written literally. Names are resolved later, across all files.
//!
//! The reader never stops at an error: it reports it, skips the value, and
//! goes on, so that one run shows every problem of a file.

use std::collections::HashMap;
use std::sync::Arc;

use crate::codes;
use crate::diag::{Diagnostic, Sink};
use crate::document::{
    DateSpec, LintCode, Located, NamedMap, OneOrMany, PeerSpec, PolicyFile, PolicyRuleDoc,
    ProtectDoc, SecurityGroupDoc, ServiceSpec, Text,
};
use crate::literal::{self, IdKind, NameKind, Problem};
use crate::model::{Direction, MAX_DESCRIPTION_CHARS, MAX_PRIORITY, Mode, NicType, Origin};
use crate::sections;
use crate::suggest::{closest, did_you_mean};
use crate::yaml::{Node, Pos, Value};

/// Where diagnostics of one file go.
pub(crate) struct Cx<'a> {
    pub file: &'a Arc<str>,
    pub diags: &'a mut Sink,
}

impl Cx<'_> {
    pub fn origin(&self, pos: Pos) -> Origin {
        Origin {
            file: Arc::clone(self.file),
            line: pos.line,
            column: pos.column,
        }
    }

    pub fn error(
        &mut self,
        pos: Pos,
        code: &'static str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let mut d = Diagnostic::error(self.origin(pos), code, message);
        d.hint = hint;
        self.diags.push(d);
    }

    /// Reports a literal's problem where the literal was written.
    fn problem(&mut self, pos: Pos, p: Problem) {
        self.error(pos, p.code, p.message, p.hint);
    }

    pub(crate) fn wrong_type(&mut self, node: &Node, expected: &str, hint: Option<String>) {
        self.error(
            node.pos,
            codes::WRONG_TYPE,
            format!("expected {expected}, found {}", node.value.describe()),
            hint,
        );
    }
}

/// A problem reported in fixed words (a missing key, two keys that
/// exclude each other).
#[derive(Clone, Copy)]
pub(crate) struct Fixed {
    pub code: &'static str,
    pub message: &'static str,
    pub hint: &'static str,
}

impl Fixed {
    /// A key the format requires is not there.
    pub(crate) const fn missing_key(message: &'static str, hint: &'static str) -> Fixed {
        Fixed {
            code: codes::MISSING_KEY,
            message,
            hint,
        }
    }
}

impl Cx<'_> {
    fn report(&mut self, pos: Pos, p: Fixed) {
        self.error(pos, p.code, p.message, Some(p.hint.to_owned()));
    }
}

/// The entries of a mapping whose keys the format defines.
pub(crate) struct Fields<'n> {
    pub(crate) pos: Pos,
    /// Known key, the key node, the value node; first occurrence only.
    found: Vec<(&'static str, &'n Node, &'n Node)>,
    /// Known keys that an unknown key was probably meant to be: a missing
    /// key is not reported again when its misspelling already was.
    misspelt: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    pub(crate) fn absent(&self, key: &str) -> bool {
        self.get(key).is_none() && !self.misspelt.contains(&key)
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'n Node> {
        self.found
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, v)| *v)
    }

    pub(crate) fn key_pos(&self, key: &str) -> Option<Pos> {
        self.found
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, k, _)| k.pos)
    }

    /// The value of a key the mapping must have; when it is absent (and
    /// not misspelt, which was reported already) `missing` is reported at
    /// the mapping.
    pub(crate) fn required(&self, cx: &mut Cx<'_>, key: &str, missing: Fixed) -> Option<&'n Node> {
        let node = self.get(key);
        if node.is_none() && self.absent(key) {
            cx.report(self.pos, missing);
        }
        node
    }

    /// Two keys of which the mapping has exactly one: `both` is reported at
    /// the second when both are written, `neither` at the mapping when
    /// none is.
    pub(crate) fn one_of(
        &self,
        cx: &mut Cx<'_>,
        (a, b): (&str, &str),
        both: Fixed,
        neither: Fixed,
    ) {
        match (self.key_pos(a), self.key_pos(b)) {
            (Some(_), Some(second)) => cx.report(second, both),
            (None, None) if self.absent(a) && self.absent(b) => cx.report(self.pos, neither),
            _ => {}
        }
    }

    /// The `ingress:` and `egress:` rules of a group or a template.
    pub(crate) fn rule_lists(
        &self,
        cx: &mut Cx<'_>,
    ) -> (Option<Vec<PolicyRuleDoc>>, Option<Vec<PolicyRuleDoc>>) {
        let [ingress, egress] = Direction::ALL.map(|direction| {
            let n = self.get(direction.as_str())?;
            list(cx, n, &format!("a list of {direction} rules"), |cx, n| {
                read_rule(cx, n, direction)
            })
        });
        (ingress, egress)
    }
}

/// Reads a mapping with a fixed set of keys, reporting keys that are not
/// text, repeated, or unknown.
pub(crate) fn fields<'n>(
    cx: &mut Cx<'_>,
    node: &'n Node,
    what: &str,
    known: &'static [&'static str],
) -> Option<Fields<'n>> {
    let Value::Map(entries) = &node.value else {
        cx.wrong_type(
            node,
            &format!("{what}, a mapping with the keys {}", known.join(", ")),
            None,
        );
        return None;
    };
    let mut fields = Fields {
        pos: node.pos,
        found: Vec::with_capacity(entries.len()),
        misspelt: Vec::new(),
    };
    // Unknown keys seen, for repeats; known ones are found in `found`. A
    // mapping of the format has a dozen keys at most, so a scan beats
    // hashing.
    let mut unknown: Vec<(&str, Pos)> = Vec::new();
    for (key, value) in entries {
        let Some(name) = key_text(cx, key) else {
            continue;
        };
        let first = fields
            .found
            .iter()
            .find(|(k, _, _)| *k == name)
            .map(|(_, k, _)| k.pos)
            .or_else(|| unknown.iter().find(|(k, _)| *k == name).map(|(_, p)| *p));
        if let Some(first) = first {
            duplicate_key(cx, key.pos, name, first);
            continue;
        }
        match known.iter().find(|k| **k == name) {
            Some(k) => fields.found.push((k, key, value)),
            None => {
                unknown.push((name, key.pos));
                let guess = closest(name, known.iter().copied());
                if let Some(k) = known.iter().find(|k| Some(**k) == guess) {
                    fields.misspelt.push(k);
                }
                let hint = guess
                    .map(|g| format!("did you mean {g:?}?"))
                    .or_else(|| Some(format!("{what} takes the keys {}", known.join(", "))));
                cx.error(
                    key.pos,
                    codes::UNKNOWN_KEY,
                    format!("unknown key {name:?} in {what}"),
                    hint,
                );
            }
        }
    }
    Some(fields)
}

pub(crate) fn key_text<'n>(cx: &mut Cx<'_>, key: &'n Node) -> Option<&'n str> {
    match &key.value {
        Value::Str(s) => Some(s),
        _ => {
            cx.wrong_type(key, "a key made of text", None);
            None
        }
    }
}

pub(crate) fn duplicate_key(cx: &mut Cx<'_>, pos: Pos, name: &str, first: Pos) {
    cx.error(
        pos,
        codes::DUPLICATE_KEY,
        format!("key {name:?} appears twice in this mapping"),
        Some(format!(
            "the first one is at line {}, column {}; keep only one",
            first.line, first.column
        )),
    );
}

pub(crate) fn at<T>(node: &Node, value: T) -> Located<T> {
    Located {
        value,
        pos: node.pos,
    }
}

/// Reads one whole policy file.
pub(crate) fn read_file(cx: &mut Cx<'_>, root: &Node) -> PolicyFile {
    let mut doc = PolicyFile::default();
    if root.value == Value::Null {
        cx.error(
            Pos::START,
            codes::EMPTY_FILE,
            "the file holds no policy",
            Some("start it with `version: 1`, or remove the file".to_owned()),
        );
        return doc;
    }
    let Some(f) = fields(cx, root, "a policy file", PolicyFile::KEYS) else {
        return doc;
    };
    let missing = Fixed::missing_key(
        "the policy has no `version`",
        "add `version: 1` at the top of the file",
    );
    if let Some(node) = f.required(cx, "version", missing) {
        doc.version = version(cx, node);
    }
    if let Some(node) = f.get("addresses") {
        doc.addresses = named_map(cx, node, NameKind::AddressSet, |cx, n| {
            one_or_many(cx, n, PEERS, peer_spec)
        });
    }
    if let Some(node) = f.get("services") {
        doc.services = named_map(cx, node, NameKind::Service, |cx, n| {
            one_or_many(cx, n, SERVICES, service_spec)
        });
    }
    if let Some(node) = f.get("security_groups") {
        doc.security_groups = list(cx, node, "a list of security groups", read_group);
    }
    if let Some(node) = f.get("protect") {
        doc.protect = list(cx, node, "a list of protect selectors", read_protect);
    }
    if let Some(node) = f.get("accounts") {
        doc.accounts = named_map(cx, node, NameKind::Account, sections::read_account);
    }
    if let Some(node) = f.get("stages") {
        doc.stages = sections::names(cx, node, NameKind::Stage, "stages");
    }
    if let Some(node) = f.get("templates") {
        doc.templates = named_map(cx, node, NameKind::Template, sections::read_template);
    }
    if let Some(node) = f.get("tests") {
        doc.tests = list(cx, node, "a list of tests", sections::read_test);
    }
    doc
}

fn version(cx: &mut Cx<'_>, node: &Node) -> Option<Located<u64>> {
    match node.value {
        Value::Int(1) => Some(at(node, 1)),
        Value::Int(_) | Value::Float(_) => {
            cx.error(
                node.pos,
                codes::UNSUPPORTED_VERSION,
                format!("unsupported policy version {}", describe_number(node)),
                Some("this moat reads `version: 1`".to_owned()),
            );
            None
        }
        _ => {
            cx.wrong_type(node, "the number 1", Some("write `version: 1`".to_owned()));
            None
        }
    }
}

fn describe_number(node: &Node) -> String {
    node.value.scalar_text().unwrap_or_default()
}

/// A list; nothing (`key:` with no value) reads as an empty list.
pub(crate) fn list<T>(
    cx: &mut Cx<'_>,
    node: &Node,
    what: &str,
    mut read: impl FnMut(&mut Cx<'_>, &Node) -> Option<T>,
) -> Option<Vec<T>> {
    match &node.value {
        Value::Null => Some(Vec::new()),
        Value::Seq(items) => Some(items.iter().filter_map(|n| read(cx, n)).collect()),
        _ => {
            cx.wrong_type(node, what, None);
            None
        }
    }
}

/// One entry or a non-empty list of entries, named `singular` / `plural` in
/// messages. Entries that cannot be read are reported and left out; `None`
/// when nothing usable is left.
pub(crate) fn one_or_many<T>(
    cx: &mut Cx<'_>,
    node: &Node,
    (singular, plural): (&str, &str),
    mut read: impl FnMut(&mut Cx<'_>, &Node) -> Option<T>,
) -> Option<Located<OneOrMany<T>>> {
    let items: Vec<T> = match &node.value {
        Value::Seq(items) if items.is_empty() => {
            cx.error(
                node.pos,
                codes::EMPTY_LIST,
                format!("empty list of {plural}"),
                Some(format!(
                    "give at least one of the {plural}, or remove the key"
                )),
            );
            return None;
        }
        Value::Seq(items) => {
            let read: Vec<T> = items.iter().filter_map(|n| read(cx, n)).collect();
            if read.is_empty() {
                return None;
            }
            read
        }
        Value::Map(_) | Value::Null => {
            cx.wrong_type(node, &format!("{singular} or a list of {plural}"), None);
            return None;
        }
        _ => vec![read(cx, node)?],
    };
    Some(at(node, OneOrMany(items)))
}

pub(crate) const PEERS: (&str, &str) = ("a peer", "peers");
pub(crate) const SERVICES: (&str, &str) = ("a service", "services");

/// A mapping from names to values (address sets, services).
pub(crate) fn named_map<T>(
    cx: &mut Cx<'_>,
    node: &Node,
    kind: NameKind,
    mut read: impl FnMut(&mut Cx<'_>, &Node) -> Option<T>,
) -> Option<NamedMap<T>> {
    let entries = match &node.value {
        Value::Null => return Some(NamedMap::default()),
        Value::Map(entries) => entries,
        _ => {
            cx.wrong_type(
                node,
                &format!("a mapping of {} names to values", kind.as_str()),
                None,
            );
            return None;
        }
    };
    let mut out = NamedMap::default();
    let mut seen: HashMap<&str, Pos> = HashMap::new();
    for (key, value) in entries {
        let Some(name) = key_text(cx, key) else {
            continue;
        };
        if let Some(first) = seen.get(name) {
            duplicate_key(cx, key.pos, name, *first);
            continue;
        }
        seen.insert(name, key.pos);
        let name_ok = match literal::name(name, kind) {
            Ok(()) => true,
            Err(p) => {
                cx.problem(key.pos, p);
                false
            }
        };
        // A name whose definition has errors is still defined, so that its
        // uses are not reported again as unknown names.
        let value = read(cx, value).filter(|_| name_ok);
        out.0.push((at(key, name.to_owned()), value));
    }
    Some(out)
}

pub(crate) fn string(cx: &mut Cx<'_>, node: &Node, what: &str) -> Option<Located<String>> {
    match &node.value {
        Value::Str(s) => Some(at(node, s.clone())),
        _ => {
            cx.wrong_type(node, what, None);
            None
        }
    }
}

/// A string that one of the literal grammars (`check`) accepts, named
/// `what` in messages; its problem is reported where it is written.
pub(crate) fn checked(
    cx: &mut Cx<'_>,
    node: &Node,
    what: &str,
    check: impl FnOnce(&str) -> Result<(), Problem>,
) -> Option<Located<String>> {
    let s = string(cx, node, what)?;
    match check(&s.value) {
        Ok(()) => Some(s),
        Err(p) => {
            cx.problem(node.pos, p);
            None
        }
    }
}

/// Free text, named `noun` in messages; control characters are refused.
pub(crate) fn text(cx: &mut Cx<'_>, node: &Node, noun: &str) -> Option<Located<Text>> {
    let Some(s) = node.value.scalar_text() else {
        cx.wrong_type(node, &format!("a {noun}"), None);
        return None;
    };
    match literal::text(&s, noun) {
        Ok(()) => Some(at(node, Text(s))),
        Err(p) => {
            cx.problem(node.pos, p);
            None
        }
    }
}

/// A word from a fixed set (`mode`, `nic_type`, `direction`).
pub(crate) fn keyword<T: Copy>(
    cx: &mut Cx<'_>,
    node: &Node,
    what: &str,
    choices: &[(&'static str, T)],
) -> Option<Located<T>> {
    let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
    let s = string(cx, node, &format!("{what} ({})", names.join(" or ")))?;
    if let Some((_, v)) = choices
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&s.value))
    {
        return Some(at(node, *v));
    }
    let hint = did_you_mean(&s.value, names.iter().copied())
        .unwrap_or_else(|| format!("{what} is one of: {}", names.join(", ")));
    cx.error(
        node.pos,
        codes::INVALID_VALUE,
        format!("unknown {what} {:?}", s.value),
        Some(hint),
    );
    None
}

fn read_group(cx: &mut Cx<'_>, node: &Node) -> Option<SecurityGroupDoc> {
    let f = fields(cx, node, "a security group", SecurityGroupDoc::KEYS)?;
    let mut g = SecurityGroupDoc {
        pos: f.pos,
        ..SecurityGroupDoc::default()
    };
    let missing = Fixed::missing_key(
        "security group has no `id`",
        "add the id of the group this block owns, e.g. `id: sg-bp1fg655nh68xyz9bxyz`",
    );
    if let Some(n) = f.required(cx, "id", missing) {
        g.id = group_id(cx, n);
    }
    let missing = Fixed::missing_key(
        "security group has no `region`",
        "add the group's region, e.g. `region: cn-hangzhou`",
    );
    if let Some(n) = f.required(cx, "region", missing) {
        g.region = region(cx, n);
    }
    if let Some(n) = f.get("name") {
        g.name = text(cx, n, "group name");
    }
    if let Some(n) = f.get("mode") {
        g.mode = keyword(
            cx,
            n,
            "mode",
            &[
                ("authoritative", Mode::Authoritative),
                ("additive", Mode::Additive),
            ],
        );
    }
    if let Some(n) = f.get("type") {
        g.group_type = sections::group_type(cx, n);
    }
    if let Some(n) = f.get("account") {
        g.account = sections::account_name(cx, n);
    }
    if let Some(n) = f.get("stage") {
        g.stage = sections::name(cx, n, NameKind::Stage);
    }
    if let Some(n) = f.get("use") {
        g.uses = sections::names(cx, n, NameKind::Template, "templates");
    }
    (g.ingress, g.egress) = f.rule_lists(cx);
    Some(g)
}

pub(crate) fn group_id(cx: &mut Cx<'_>, node: &Node) -> Option<Located<String>> {
    checked(cx, node, "a security group id (sg-...)", |s| {
        literal::id(s, IdKind::Group)
    })
}

fn region(cx: &mut Cx<'_>, node: &Node) -> Option<Located<String>> {
    checked(cx, node, "a region id such as cn-hangzhou", literal::region)
}

pub(crate) fn read_rule(
    cx: &mut Cx<'_>,
    node: &Node,
    direction: Direction,
) -> Option<PolicyRuleDoc> {
    let what = format!("an {direction} rule");
    let f = fields(cx, node, &what, PolicyRuleDoc::KEYS)?;
    let mut r = PolicyRuleDoc {
        pos: f.pos,
        ..PolicyRuleDoc::default()
    };
    if let Some(n) = f.get("description") {
        r.description = description(cx, n);
    }
    if let Some(n) = f.get("allow") {
        r.allow = one_or_many(cx, n, SERVICES, service_spec);
    }
    if let Some(n) = f.get("deny") {
        r.deny = one_or_many(cx, n, SERVICES, service_spec);
    }
    f.one_of(
        cx,
        ("allow", "deny"),
        Fixed {
            code: codes::ALLOW_DENY,
            message: "a rule has `allow` or `deny`, not both",
            hint: "split it into an allow rule and a deny rule",
        },
        Fixed {
            code: codes::ALLOW_DENY,
            message: "rule has neither `allow` nor `deny`",
            hint: "add `allow: SERVICE` to accept traffic or `deny: SERVICE` to drop it",
        },
    );
    let word = direction.peer_word();
    let other = match direction {
        Direction::Ingress => "to",
        Direction::Egress => "from",
    };
    if let Some(pos) = f.key_pos(other) {
        cx.error(
            pos,
            codes::PEER_DIRECTION,
            format!("`{other}` on an {direction} rule"),
            Some(format!("{direction} rules name their peers with `{word}`")),
        );
    }
    match f.get(word) {
        Some(n) => {
            let peers = one_or_many(cx, n, PEERS, peer_spec);
            match direction {
                Direction::Ingress => r.from = peers,
                Direction::Egress => r.to = peers,
            }
        }
        None if f.key_pos(other).is_none() && f.absent(word) => cx.error(
            f.pos,
            codes::MISSING_KEY,
            format!("{direction} rule has no `{word}`"),
            Some(format!(
                "add `{word}:` with a CIDR, an address set, a group id (sg-...) or a prefix list id (pl-...)"
            )),
        ),
        None => {}
    }
    if let Some(n) = f.get("priority") {
        r.priority = priority(cx, n);
    }
    if let Some(n) = f.get("nic_type") {
        r.nic_type = keyword(
            cx,
            n,
            "nic type",
            &[
                ("intranet", NicType::Intranet),
                ("internet", NicType::Internet),
            ],
        );
    }
    if let Some(n) = f.get("protected") {
        r.protected = boolean(cx, n);
    }
    if let Some(n) = f.get("expires") {
        r.expires = date(cx, n);
    }
    if let Some(n) = f.get("lint_ignore") {
        r.lint_ignore = lint_codes(cx, n);
    }
    if let Some(n) = f.get("reason") {
        r.reason = reason(cx, n);
    }
    match (f.key_pos("lint_ignore"), f.key_pos("reason")) {
        (Some(pos), None) if f.absent("reason") => cx.error(
            pos,
            codes::MISSING_REASON,
            "`lint_ignore` without a `reason`",
            Some("add `reason:` saying why the rule may break these lint checks".to_owned()),
        ),
        (None, Some(pos)) => cx.error(
            pos,
            codes::REASON_WITHOUT_IGNORE,
            "`reason` without `lint_ignore`",
            Some(
                "`reason` explains a `lint_ignore`; add one, or write the text in `description`"
                    .to_owned(),
            ),
        ),
        _ => {}
    }
    Some(r)
}

pub(crate) fn description(cx: &mut Cx<'_>, node: &Node) -> Option<Located<Text>> {
    let t = text(cx, node, "description")?;
    let chars = t.value.0.chars().count();
    if chars > MAX_DESCRIPTION_CHARS {
        cx.error(
            node.pos,
            codes::DESCRIPTION_TOO_LONG,
            format!(
                "description is {chars} characters long, ECS takes at most {MAX_DESCRIPTION_CHARS}"
            ),
            Some("shorten it; details can go in a comment next to the rule".to_owned()),
        );
        return None;
    }
    Some(t)
}

fn priority(cx: &mut Cx<'_>, node: &Node) -> Option<Located<u8>> {
    let hint = || {
        Some(format!(
            "priorities run from 1 (evaluated first) to {MAX_PRIORITY}"
        ))
    };
    match &node.value {
        Value::Int(i) => match u8::try_from(*i) {
            Ok(p) if (1..=MAX_PRIORITY).contains(&p) => Some(at(node, p)),
            _ => {
                cx.error(
                    node.pos,
                    codes::PRIORITY_RANGE,
                    format!("priority {i} is outside 1-{MAX_PRIORITY}"),
                    hint(),
                );
                None
            }
        },
        Value::Float(raw) => {
            // Integers too large for any integer type arrive here too.
            let whole = raw
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'-' || b == b'+');
            let message = if whole {
                format!("priority {raw} is outside 1-{MAX_PRIORITY}")
            } else {
                format!("priority {raw} is not a whole number from 1 to {MAX_PRIORITY}")
            };
            cx.error(node.pos, codes::PRIORITY_RANGE, message, hint());
            None
        }
        _ => {
            let quoted = matches!(&node.value, Value::Str(s) if s.trim().parse::<i64>().is_ok());
            cx.wrong_type(
                node,
                "a number from 1 to 100",
                quoted.then(|| {
                    "write a plain number such as 10, without quotes or leading zeros".to_owned()
                }),
            );
            None
        }
    }
}

fn boolean(cx: &mut Cx<'_>, node: &Node) -> Option<Located<bool>> {
    match node.value {
        Value::Bool(b) => Some(at(node, b)),
        _ => {
            cx.wrong_type(
                node,
                "true or false",
                Some("write `true` or `false`".to_owned()),
            );
            None
        }
    }
}

fn date(cx: &mut Cx<'_>, node: &Node) -> Option<Located<DateSpec>> {
    let Some(s) = node.value.scalar_text() else {
        cx.wrong_type(
            node,
            "a date (YYYY-MM-DD)",
            Some(
                "write the last day the rule is desired as YYYY-MM-DD, e.g. 2026-12-31".to_owned(),
            ),
        );
        return None;
    };
    match literal::date(&s) {
        Ok(d) => Some(at(node, DateSpec(d))),
        Err(p) => {
            cx.problem(node.pos, p);
            None
        }
    }
}

fn lint_codes(cx: &mut Cx<'_>, node: &Node) -> Option<Located<Vec<Located<LintCode>>>> {
    let Value::Seq(items) = &node.value else {
        let hint = node
            .value
            .scalar_text()
            .map(|s| format!("write a list: `lint_ignore: [{s}]`"));
        cx.wrong_type(node, "a list of lint codes", hint);
        return None;
    };
    if items.is_empty() {
        cx.error(
            node.pos,
            codes::EMPTY_LIST,
            "`lint_ignore` lists no codes",
            Some("name the lint codes to ignore, e.g. [MOAT001], or remove the key".to_owned()),
        );
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Some(s) = string(cx, item, "a lint code such as MOAT001") else {
            continue;
        };
        match literal::lint_code(&s.value) {
            Ok(()) => out.push(at(item, LintCode(s.value))),
            Err(p) => cx.problem(item.pos, p),
        }
    }
    (out.len() == items.len()).then(|| at(node, out))
}

fn reason(cx: &mut Cx<'_>, node: &Node) -> Option<Located<Text>> {
    let t = text(cx, node, "reason")?;
    if t.value.0.trim().is_empty() {
        cx.error(
            node.pos,
            codes::MISSING_REASON,
            "the reason is empty",
            Some("say why, in a few words".to_owned()),
        );
        return None;
    }
    Some(t)
}

fn read_protect(cx: &mut Cx<'_>, node: &Node) -> Option<ProtectDoc> {
    let f = fields(cx, node, "a protect selector", ProtectDoc::KEYS)?;
    let mut p = ProtectDoc {
        pos: f.pos,
        ..ProtectDoc::default()
    };
    let missing = Fixed {
        code: codes::MISSING_REASON,
        message: "protect selector has no `reason`",
        hint: "add `reason:` saying why these rules must survive automation",
    };
    if let Some(n) = f.required(cx, "reason", missing) {
        p.reason = reason(cx, n);
    }
    if let Some(n) = f.get("group") {
        p.group = group_id(cx, n);
    }
    if let Some(n) = f.get("direction") {
        p.direction = keyword(
            cx,
            n,
            "direction",
            &[
                ("ingress", Direction::Ingress),
                ("egress", Direction::Egress),
            ],
        );
    }
    if let Some(n) = f.get("service") {
        p.service = one_or_many(cx, n, SERVICES, service_spec);
    }
    if let Some(n) = f.get("peer") {
        p.peer = one_or_many(cx, n, PEERS, peer_spec);
    }
    if let Some(n) = f.get("description_prefix") {
        p.description_prefix = text(cx, n, "description prefix");
    }
    let criteria = [
        "group",
        "direction",
        "service",
        "peer",
        "description_prefix",
    ];
    if criteria.iter().all(|k| f.key_pos(k).is_none()) {
        cx.error(
            f.pos,
            codes::PROTECT_EVERYTHING,
            "protect selector has only a reason, so it would protect every rule",
            Some("narrow it with group, direction, service, peer or description_prefix".to_owned()),
        );
    }
    Some(p)
}

pub(crate) fn service_spec(cx: &mut Cx<'_>, node: &Node) -> Option<Located<ServiceSpec>> {
    let s = match &node.value {
        Value::Str(s) => s,
        Value::Int(n) => {
            cx.wrong_type(
                node,
                "a service such as tcp/22",
                Some(format!("write tcp/{n} or udp/{n}")),
            );
            return None;
        }
        _ => {
            cx.wrong_type(node, "a service such as tcp/22 or a service name", None);
            return None;
        }
    };
    match literal::service(s) {
        Ok(r) => Some(at(node, ServiceSpec(r))),
        Err(p) => {
            cx.problem(node.pos, p);
            None
        }
    }
}

pub(crate) fn peer_spec(cx: &mut Cx<'_>, node: &Node) -> Option<Located<PeerSpec>> {
    let Value::Str(s) = &node.value else {
        cx.wrong_type(
            node,
            "a peer (a CIDR, an address set, sg-... or pl-...)",
            None,
        );
        return None;
    };
    match literal::peer(s) {
        Ok(r) => Some(at(node, PeerSpec(r))),
        Err(p) => {
            cx.problem(node.pos, p);
            None
        }
    }
}
