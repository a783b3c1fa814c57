//! A ROS template (JSON or YAML; JSON is YAML 1.2) as a tree whose every
//! node knows its line and column, read with serde-saphyr.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Spanned, Tagged};

use crate::error::At;

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub value: Value,
    pub line: u64,
    pub column: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    /// A boolean or number, as the text it stands for (`1`, `true`).
    Scalar(String),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn at(&self) -> At {
        At::LineCol {
            line: self.line,
            column: self.column,
        }
    }

    /// The entry `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.value, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The text of a scalar of any kind.
    pub fn text(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) | Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    pub fn describe(&self) -> String {
        match &self.value {
            Value::Null => "nothing".to_owned(),
            Value::Scalar(s) => format!("the value {s}"),
            Value::Str(s) => format!("the string {s:?}"),
            Value::Seq(_) => "a list".to_owned(),
            Value::Map(_) => "a mapping".to_owned(),
        }
    }
}

/// A syntax error: where, and the parser's words without its own location.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub at: At,
    pub message: String,
}

fn options() -> serde_saphyr::Options {
    let budget = serde_saphyr::budget! {
        max_depth: 64,
        max_nodes: 2_000_000,
        max_events: 4_000_000,
        max_aliases: 10_000,
        max_anchors: 10_000,
        max_documents: 1,
    };
    serde_saphyr::options! {
        budget: budget,
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        with_snippet: false,
        crop_radius: 0,
    }
}

pub(crate) fn parse(text: &str) -> Result<Node, SyntaxError> {
    match serde_saphyr::from_str_with_options::<Spanned<Tagged<Raw>>>(text, options()) {
        Ok(root) => Ok(convert(root)),
        Err(err) => {
            let at = err
                .location()
                .filter(|l| l.line() > 0)
                .map_or(At::Whole, |l| At::LineCol {
                    line: l.line(),
                    column: l.column(),
                });
            let message = err.to_string();
            let message = match message.find(" at line ") {
                Some(i) => message[..i].trim().to_owned(),
                None => message.trim().to_owned(),
            };
            Err(SyntaxError { at, message })
        }
    }
}

type Item = Spanned<Tagged<Raw>>;

enum Raw {
    Null,
    Scalar(String),
    Str(String),
    Seq(Vec<Item>),
    Map(Vec<(Item, Item)>),
}

/// A node; a YAML short-form function (`!Ref X`, `!GetAtt A.B`, `!Join
/// [...]`) becomes the long form it stands for (`{Ref: X}`,
/// `{Fn::GetAtt: [A, B]}`, `{Fn::Join: [...]}`), so the reader sees one
/// shape whichever a template uses.
fn convert(raw: Item) -> Node {
    let loc = raw.referenced;
    let Tagged(value, tag) = raw.value;
    let node = Node {
        value: plain(value),
        line: loc.line(),
        column: loc.column(),
    };
    let Some(name) = tag.as_deref().and_then(|t| t.strip_prefix('!')) else {
        return node;
    };
    if name.starts_with('!') || name.is_empty() {
        // `!!str` and friends are YAML's own types, not functions.
        return node;
    }
    let key = |s: &str| Node {
        value: Value::Str(s.to_owned()),
        line: node.line,
        column: node.column,
    };
    let (function, argument) = match (name, &node.value) {
        ("Ref", _) => ("Ref".to_owned(), node.clone()),
        ("GetAtt", Value::Str(s)) if s.contains('.') => {
            let (resource, attribute) = s.split_once('.').unwrap_or((s, ""));
            let args = Node {
                value: Value::Seq(vec![key(resource), key(attribute)]),
                line: node.line,
                column: node.column,
            };
            ("Fn::GetAtt".to_owned(), args)
        }
        (other, _) => (format!("Fn::{other}"), node.clone()),
    };
    Node {
        value: Value::Map(vec![(key(&function), argument)]),
        line: node.line,
        column: node.column,
    }
}

fn plain(raw: Raw) -> Value {
    match raw {
        Raw::Null => Value::Null,
        Raw::Scalar(s) => Value::Scalar(s),
        Raw::Str(s) => Value::Str(s),
        Raw::Seq(items) => Value::Seq(items.into_iter().map(convert).collect()),
        Raw::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (convert(k), convert(v)))
                .collect(),
        ),
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }

    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Scalar(v.to_string()))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Scalar(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Scalar(v.to_string()))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::Scalar(v.to_string()))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Raw, E> {
        Ok(Raw::Scalar(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Scalar(v.to_string()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Raw::Map(entries))
    }
}
