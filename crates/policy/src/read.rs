//! Reading a YAML tree into the document types, checking everything that
//! can be checked within one file: keys, types, values, services and peers
//! written literally. Names are resolved later, across all files.
//!
//! The reader never stops at an error: it reports it, skips the value, and
//! goes on, so that one run shows every problem of a file.

use std::collections::HashMap;
use std::sync::Arc;

use crate::codes;
use crate::diag::Diagnostic;
use crate::document::{
    DateSpec, LintCode, Located, NamedMap, OneOrMany, PeerRef, PeerSpec, PolicyFile, PolicyRuleDoc,
    ProtectDoc, SecurityGroupDoc, ServiceRef, ServiceSpec, Text,
};
use crate::model::{
    CidrError, Direction, MAX_DESCRIPTION_CHARS, MAX_PRIORITY, Mode, NicType, Origin, Peer,
    PortRange, Protocol, ServiceAtom, parse_cidr_strict,
};
use crate::suggest::{closest, did_you_mean};
use crate::yaml::{Node, Pos, Value};

/// Where diagnostics of one file go.
pub(crate) struct Cx<'a> {
    pub file: &'a Arc<str>,
    pub diags: &'a mut Vec<Diagnostic>,
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

    fn wrong_type(&mut self, node: &Node, expected: &str, hint: Option<String>) {
        self.error(
            node.pos,
            codes::WRONG_TYPE,
            format!("expected {expected}, found {}", node.value.describe()),
            hint,
        );
    }
}

/// The entries of a mapping whose keys the format defines.
struct Fields<'n> {
    pos: Pos,
    /// Known key, the key node, the value node; first occurrence only.
    found: Vec<(&'static str, &'n Node, &'n Node)>,
    /// Known keys that an unknown key was probably meant to be: a missing
    /// key is not reported again when its misspelling already was.
    misspelt: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    fn absent(&self, key: &str) -> bool {
        self.get(key).is_none() && !self.misspelt.contains(&key)
    }

    fn get(&self, key: &str) -> Option<&'n Node> {
        self.found
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, v)| *v)
    }

    fn key_pos(&self, key: &str) -> Option<Pos> {
        self.found
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, k, _)| k.pos)
    }
}

/// Reads a mapping with a fixed set of keys, reporting keys that are not
/// text, repeated, or unknown.
fn fields<'n>(
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
        match known.iter().find(|k| **k == name) {
            Some(k) => fields.found.push((k, key, value)),
            None => {
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

fn key_text<'n>(cx: &mut Cx<'_>, key: &'n Node) -> Option<&'n str> {
    match &key.value {
        Value::Str(s) => Some(s),
        _ => {
            cx.wrong_type(key, "a key made of text", None);
            None
        }
    }
}

fn duplicate_key(cx: &mut Cx<'_>, pos: Pos, name: &str, first: Pos) {
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

fn at<T>(node: &Node, value: T) -> Located<T> {
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
    match f.get("version") {
        None if !f.absent("version") => {}
        None => cx.error(
            f.pos,
            codes::MISSING_KEY,
            "the policy has no `version`",
            Some("add `version: 1` at the top of the file".to_owned()),
        ),
        Some(node) => doc.version = version(cx, node),
    }
    if let Some(node) = f.get("addresses") {
        doc.addresses = named_map(cx, node, "address set", |cx, n| {
            one_or_many(cx, n, PEERS, peer_spec)
        });
    }
    if let Some(node) = f.get("services") {
        doc.services = named_map(cx, node, "service", |cx, n| {
            one_or_many(cx, n, SERVICES, service_spec)
        });
    }
    if let Some(node) = f.get("security_groups") {
        doc.security_groups = list(cx, node, "a list of security groups", read_group);
    }
    if let Some(node) = f.get("protect") {
        doc.protect = list(cx, node, "a list of protect selectors", read_protect);
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
fn list<T>(
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
fn one_or_many<T>(
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

const PEERS: (&str, &str) = ("a peer", "peers");
const SERVICES: (&str, &str) = ("a service", "services");

/// A mapping from names to values (address sets, services).
fn named_map<T>(
    cx: &mut Cx<'_>,
    node: &Node,
    what: &str,
    mut read: impl FnMut(&mut Cx<'_>, &Node) -> Option<T>,
) -> Option<NamedMap<T>> {
    let entries = match &node.value {
        Value::Null => return Some(NamedMap::default()),
        Value::Map(entries) => entries,
        _ => {
            cx.wrong_type(node, &format!("a mapping of {what} names to values"), None);
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
        let name_ok = check_name(cx, key.pos, name, what);
        // A name whose definition has errors is still defined, so that its
        // uses are not reported again as unknown names.
        let value = read(cx, value).filter(|_| name_ok);
        out.0.push((at(key, name.to_owned()), value));
    }
    Some(out)
}

/// Names of sets and services: a letter, then letters, digits, `_`, `-`,
/// `.`; never something that reads as a literal peer or service.
fn check_name(cx: &mut Cx<'_>, pos: Pos, name: &str, what: &str) -> bool {
    let problem = if name.contains('/') && what == "service" {
        Some((
            format!("service name {name:?} looks like a service itself"),
            format!("name the service, e.g. `web: {name}`"),
        ))
    } else if looks_like_address(name) {
        Some((
            format!("{what} name {name:?} looks like an address"),
            format!("name the {what} and list the address under it, e.g. `office: [{name}]`"),
        ))
    } else if has_id_prefix(name) {
        Some((
            format!("{what} name {name:?} looks like an id"),
            "names starting with sg- or pl- would be read as ids; choose another name".to_owned(),
        ))
    } else if what == "service" && Protocol::parse(name).is_some() {
        Some((
            format!("service name {name:?} is a protocol"),
            format!("`{name}` already means the protocol; choose another name"),
        ))
    } else if !is_name(name) {
        Some((
            format!("invalid {what} name {name:?}"),
            "names start with a letter and use letters, digits, `_`, `-` and `.`".to_owned(),
        ))
    } else {
        None
    };
    match problem {
        Some((message, hint)) => {
            cx.error(pos, codes::INVALID_NAME, message, Some(hint));
            false
        }
        None => true,
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn has_id_prefix(s: &str) -> bool {
    let lower = s.get(..3).map(str::to_ascii_lowercase);
    matches!(lower.as_deref(), Some("sg-" | "pl-"))
}

/// Written as an attempt at an address or CIDR rather than a name.
fn looks_like_address(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_digit()) || s.contains(':') || s.contains('/')
}

fn string(cx: &mut Cx<'_>, node: &Node, what: &str) -> Option<Located<String>> {
    match &node.value {
        Value::Str(s) => Some(at(node, s.clone())),
        _ => {
            cx.wrong_type(node, what, None);
            None
        }
    }
}

fn text(cx: &mut Cx<'_>, node: &Node, what: &str) -> Option<Located<Text>> {
    match node.value.scalar_text() {
        Some(s) => Some(at(node, Text(s))),
        None => {
            cx.wrong_type(node, what, None);
            None
        }
    }
}

/// A word from a fixed set (`mode`, `nic_type`, `direction`).
fn keyword<T: Copy>(
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
    match f.get("id") {
        None if !f.absent("id") => {}
        None => cx.error(
            f.pos,
            codes::MISSING_KEY,
            "security group has no `id`",
            Some(
                "add the id of the group this block owns, e.g. `id: sg-bp1fg655nh68xyz9bxyz`"
                    .to_owned(),
            ),
        ),
        Some(n) => g.id = group_id(cx, n),
    }
    match f.get("region") {
        None if !f.absent("region") => {}
        None => cx.error(
            f.pos,
            codes::MISSING_KEY,
            "security group has no `region`",
            Some("add the group's region, e.g. `region: cn-hangzhou`".to_owned()),
        ),
        Some(n) => g.region = region(cx, n),
    }
    if let Some(n) = f.get("name") {
        g.name = text(cx, n, "a group name");
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
    for direction in Direction::ALL {
        let Some(n) = f.get(direction.as_str()) else {
            continue;
        };
        let rules = list(cx, n, &format!("a list of {direction} rules"), |cx, n| {
            read_rule(cx, n, direction)
        });
        match direction {
            Direction::Ingress => g.ingress = rules,
            Direction::Egress => g.egress = rules,
        }
    }
    Some(g)
}

fn group_id(cx: &mut Cx<'_>, node: &Node) -> Option<Located<String>> {
    let s = string(cx, node, "a security group id (sg-...)")?;
    match check_id(&s.value, "sg-") {
        Ok(()) => Some(s),
        Err(hint) => {
            cx.error(
                node.pos,
                codes::MALFORMED_ID,
                format!("malformed security group id {:?}", s.value),
                Some(hint),
            );
            None
        }
    }
}

/// Ids as ECS writes them: the prefix, then lowercase letters and digits.
fn check_id(id: &str, prefix: &str) -> Result<(), String> {
    let example = if prefix == "sg-" {
        "sg-bp1fg655nh68xyz9bxyz"
    } else {
        "pl-bp1a2b3c4d5e6f7g8h"
    };
    let Some(rest) = id.strip_prefix(prefix) else {
        return Err(format!(
            "ids start with {prefix} and look like {example}; a name goes in `name:`"
        ));
    };
    if rest.is_empty() || rest.len() > 64 {
        return Err(format!("an id looks like {example}"));
    }
    if rest.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("ids are lowercase: {}", id.to_ascii_lowercase()));
    }
    if !rest
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return Err(format!(
            "after {prefix} an id has only lowercase letters and digits, like {example}"
        ));
    }
    Ok(())
}

fn region(cx: &mut Cx<'_>, node: &Node) -> Option<Located<String>> {
    let s = string(cx, node, "a region id such as cn-hangzhou")?;
    let ok = {
        let mut parts = s.value.split('-');
        let head = parts.next().unwrap_or_default();
        let rest: Vec<&str> = parts.collect();
        head.len() == 2
            && head.chars().all(|c| c.is_ascii_lowercase())
            && !rest.is_empty()
            && rest.iter().all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            })
    };
    if ok {
        return Some(s);
    }
    cx.error(
        node.pos,
        codes::INVALID_VALUE,
        format!("invalid region {:?}", s.value),
        Some("a region id looks like cn-hangzhou or ap-southeast-1".to_owned()),
    );
    None
}

fn read_rule(cx: &mut Cx<'_>, node: &Node, direction: Direction) -> Option<PolicyRuleDoc> {
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
    match (f.key_pos("allow"), f.key_pos("deny")) {
        (Some(_), Some(deny)) => cx.error(
            deny,
            codes::ALLOW_DENY,
            "a rule has `allow` or `deny`, not both",
            Some("split it into an allow rule and a deny rule".to_owned()),
        ),
        (None, None) if f.absent("allow") && f.absent("deny") => cx.error(
            f.pos,
            codes::ALLOW_DENY,
            "rule has neither `allow` nor `deny`",
            Some("add `allow: SERVICE` to accept traffic or `deny: SERVICE` to drop it".to_owned()),
        ),
        _ => {}
    }
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

fn description(cx: &mut Cx<'_>, node: &Node) -> Option<Located<Text>> {
    let t = text(cx, node, "a description")?;
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
    let hint =
        Some("write the last day the rule is desired as YYYY-MM-DD, e.g. 2026-12-31".to_owned());
    let Some(s) = node.value.scalar_text() else {
        cx.wrong_type(node, "a date (YYYY-MM-DD)", hint);
        return None;
    };
    match parse_date(&s) {
        Some(d) => Some(at(node, DateSpec(d))),
        None => {
            cx.error(
                node.pos,
                codes::INVALID_DATE,
                format!("{s:?} is not a calendar date"),
                hint,
            );
            None
        }
    }
}

/// Strictly `YYYY-MM-DD`, and a day that exists.
fn parse_date(s: &str) -> Option<jiff::civil::Date> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    let year: i16 = s.get(0..4)?.parse().ok()?;
    let month: i8 = s.get(5..7)?.parse().ok()?;
    let day: i8 = s.get(8..10)?.parse().ok()?;
    jiff::civil::Date::new(year, month, day).ok()
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
        let b = s.value.as_bytes();
        let valid =
            b.len() == 7 && s.value.starts_with("MOAT0") && b[5..].iter().all(u8::is_ascii_digit);
        if valid {
            out.push(at(item, LintCode(s.value)));
        } else {
            let hint = if s.value.to_ascii_uppercase().starts_with("MOAT1") {
                "validation errors (MOAT1xx) cannot be ignored; fix the policy instead".to_owned()
            } else {
                "lint codes look like MOAT001".to_owned()
            };
            cx.error(
                item.pos,
                codes::INVALID_VALUE,
                format!("{:?} is not a lint code", s.value),
                Some(hint),
            );
        }
    }
    (out.len() == items.len()).then(|| at(node, out))
}

fn reason(cx: &mut Cx<'_>, node: &Node) -> Option<Located<Text>> {
    let t = text(cx, node, "a reason")?;
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
    match f.get("reason") {
        None if !f.absent("reason") => {}
        None => cx.error(
            f.pos,
            codes::MISSING_REASON,
            "protect selector has no `reason`",
            Some("add `reason:` saying why these rules must survive automation".to_owned()),
        ),
        Some(n) => p.reason = reason(cx, n),
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
        p.description_prefix = text(cx, n, "a description prefix");
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

/// A literal problem found in a service or peer string.
pub(crate) struct Problem {
    pub code: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

fn problem(code: &'static str, message: String, hint: Option<String>) -> Problem {
    Problem {
        code,
        message,
        hint,
    }
}

fn service_spec(cx: &mut Cx<'_>, node: &Node) -> Option<Located<ServiceSpec>> {
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
    match parse_service(s) {
        Ok(r) => Some(at(node, ServiceSpec(r))),
        Err(p) => {
            cx.error(node.pos, p.code, p.message, p.hint);
            None
        }
    }
}

/// Reads `tcp/22`, `tcp/8000-8080`, `icmp`, `all` (any letter case), or a
/// name.
pub(crate) fn parse_service(s: &str) -> Result<ServiceRef, Problem> {
    let protocol_names = || Protocol::ALL.into_iter().map(Protocol::as_str);
    let Some((proto, ports)) = s.split_once('/') else {
        return match Protocol::parse(s) {
            Some(p) if p.takes_ports() => Err(problem(
                codes::PORT_PROTOCOL_MISMATCH,
                format!("{p} needs a port"),
                Some(format!(
                    "write {p}/PORT, {p}/FROM-TO, or {p}/1-65535 for every port"
                )),
            )),
            Some(p) => Ok(ServiceRef::Atom(ServiceAtom {
                protocol: p,
                ports: PortRange::NotApplicable,
            })),
            None => Ok(ServiceRef::Name(s.to_owned())),
        };
    };
    let Some(protocol) = Protocol::parse(proto) else {
        let hint = did_you_mean(proto, protocol_names())
            .unwrap_or_else(|| "protocols are tcp, udp, icmp, icmpv6, gre and all".to_owned());
        return Err(problem(
            codes::UNKNOWN_PROTOCOL,
            format!("unknown protocol {proto:?} in {s:?}"),
            Some(hint),
        ));
    };
    if !protocol.takes_ports() {
        return Err(problem(
            codes::PORT_PROTOCOL_MISMATCH,
            format!("{protocol} takes no ports, found {s:?}"),
            Some(format!("write `{protocol}` alone")),
        ));
    }
    let ports = parse_ports(ports, s)?;
    Ok(ServiceRef::Atom(ServiceAtom { protocol, ports }))
}

fn parse_ports(ports: &str, whole: &str) -> Result<PortRange, Problem> {
    let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return Err(problem(
            codes::INVALID_PORT,
            format!("invalid port {ports:?} in {whole:?}"),
            Some("a port is a number from 1 to 65535; a range is FROM-TO".to_owned()),
        ));
    }
    let from = parse_port(a, whole)?;
    let to = parse_port(b, whole)?;
    if from > to {
        return Err(problem(
            codes::INVALID_PORT,
            format!("port range {from}-{to} in {whole:?} runs backwards"),
            Some(format!("write {to}-{from}")),
        ));
    }
    Ok(PortRange::Range { from, to })
}

/// A string of ASCII digits as a port.
fn parse_port(p: &str, whole: &str) -> Result<u16, Problem> {
    let value = p.parse::<u64>().unwrap_or(u64::MAX);
    match u16::try_from(value) {
        Ok(0) => Err(problem(
            codes::INVALID_PORT,
            format!("port 0 in {whole:?} is not a port"),
            Some("ports run from 1 to 65535".to_owned()),
        )),
        Ok(port) => Ok(port),
        Err(_) => Err(problem(
            codes::INVALID_PORT,
            format!("port {p} in {whole:?} is above 65535"),
            Some("ports run from 1 to 65535".to_owned()),
        )),
    }
}

fn peer_spec(cx: &mut Cx<'_>, node: &Node) -> Option<Located<PeerSpec>> {
    let Value::Str(s) = &node.value else {
        cx.wrong_type(
            node,
            "a peer (a CIDR, an address set, sg-... or pl-...)",
            None,
        );
        return None;
    };
    match parse_peer(s) {
        Ok(r) => Some(at(node, PeerSpec(r))),
        Err(p) => {
            cx.error(node.pos, p.code, p.message, p.hint);
            None
        }
    }
}

/// Reads a CIDR, a bare address, `sg-...`, `pl-...`, or a name.
pub(crate) fn parse_peer(s: &str) -> Result<PeerRef, Problem> {
    let lower3 = s.get(..3).map(str::to_ascii_lowercase);
    match lower3.as_deref() {
        Some("sg-") => {
            return check_id(s, "sg-")
                .map(|()| PeerRef::Peer(Peer::group(s)))
                .map_err(|hint| {
                    problem(
                        codes::MALFORMED_ID,
                        format!("malformed security group id {s:?}"),
                        Some(hint),
                    )
                });
        }
        Some("pl-") => {
            return check_id(s, "pl-")
                .map(|()| PeerRef::Peer(Peer::PrefixList { id: s.to_owned() }))
                .map_err(|hint| {
                    problem(
                        codes::MALFORMED_ID,
                        format!("malformed prefix list id {s:?}"),
                        Some(hint),
                    )
                });
        }
        _ => {}
    }
    if !looks_like_address(s) {
        return Ok(PeerRef::Name(s.to_owned()));
    }
    match parse_cidr_strict(s) {
        Ok(net) => Ok(PeerRef::Peer(Peer::cidr(net))),
        Err(CidrError::HostBitsSet { network, .. }) => {
            let host = s.split_once('/').map_or(s, |(a, _)| a);
            Err(problem(
                codes::HOST_BITS_SET,
                format!("{s} has host bits set"),
                Some(format!(
                    "the network is {network}; for the single host write {host}"
                )),
            ))
        }
        Err(CidrError::Invalid(_)) => Err(problem(
            codes::INVALID_CIDR,
            format!("{s:?} is not an IPv4 or IPv6 address or CIDR"),
            Some(cidr_hint(s)),
        )),
    }
}

fn cidr_hint(s: &str) -> String {
    if let Some((_, len)) = s.split_once('/')
        && let Ok(len) = len.parse::<u32>()
    {
        if s.contains(':') && len > 128 {
            return "IPv6 prefix lengths run from 0 to 128".to_owned();
        }
        if !s.contains(':') && len > 32 {
            return "IPv4 prefix lengths run from 0 to 32".to_owned();
        }
    }
    "write a CIDR such as 203.0.113.0/24 or 2001:db8::/32, or a bare address".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_parse_and_normalise() {
        let atom = |s: &str| match parse_service(s) {
            Ok(ServiceRef::Atom(a)) => a.to_string(),
            Ok(ServiceRef::Name(n)) => format!("name {n}"),
            Err(p) => format!("{} {}", p.code, p.message),
        };
        assert_eq!(atom("tcp/22"), "tcp/22");
        assert_eq!(atom("TCP/8000-8080"), "tcp/8000-8080");
        assert_eq!(atom("udp/53-53"), "udp/53");
        assert_eq!(atom("ICMPv6"), "icmpv6");
        assert_eq!(atom("all"), "all");
        assert_eq!(atom("ssh"), "name ssh");
        assert!(atom("tcp/0").starts_with("MOAT108"));
        assert!(atom("tcp/65536").starts_with("MOAT108"));
        assert!(atom("tcp/99999999999999999999999").starts_with("MOAT108"));
        assert!(atom("tcp/443-80").starts_with("MOAT108"));
        assert!(atom("tcp/-1").starts_with("MOAT108"));
        assert!(atom("icmp/8").starts_with("MOAT109"));
        assert!(atom("tcp").starts_with("MOAT109"));
        assert!(atom("tpc/22").starts_with("MOAT116"));
    }

    #[test]
    fn peers_parse_and_normalise() {
        let peer = |s: &str| match parse_peer(s) {
            Ok(PeerRef::Peer(p)) => p.to_string(),
            Ok(PeerRef::Name(n)) => format!("name {n}"),
            Err(p) => format!("{} {}", p.code, p.message),
        };
        assert_eq!(peer("10.0.0.1"), "10.0.0.1/32");
        assert_eq!(peer("2001:0DB8:0::/32"), "2001:db8::/32");
        assert_eq!(peer("::1"), "::1/128");
        assert_eq!(peer("sg-bp1abc"), "sg-bp1abc");
        assert_eq!(peer("pl-x1"), "pl-x1");
        assert_eq!(peer("office"), "name office");
        assert!(peer("10.0.0.1/8").starts_with("MOAT107"));
        assert!(peer("10.0.0.0/33").starts_with("MOAT106"));
        assert!(peer("300.1.1.1").starts_with("MOAT106"));
        assert!(peer("sg-BP1").starts_with("MOAT115"));
        assert!(peer("sg-").starts_with("MOAT115"));
        assert!(peer("pl-a_b").starts_with("MOAT115"));
    }

    #[test]
    fn dates_are_strict() {
        assert!(parse_date("2026-12-31").is_some());
        assert!(parse_date("2028-02-29").is_some());
        assert!(parse_date("2026-02-29").is_none());
        assert!(parse_date("2026-13-01").is_none());
        assert!(parse_date("2026-1-01").is_none());
        assert!(parse_date("31.12.2026").is_none());
        assert!(parse_date("2026-12-31T00:00").is_none());
    }
}
