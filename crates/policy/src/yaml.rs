//! The one module that knows which YAML library moat uses.
//!
//! Reading turns text into a [`Node`] tree in which every value, key and
//! collection carries the line and column it was written at; the rest of the
//! crate checks that tree and never sees the library. Writing is the other
//! direction for single scalars: [`scalar`] spells a string so that any YAML
//! reader gives back exactly the same string.
//!
//! The library is serde-saphyr: it parses without panicking, enforces budgets
//! against hostile input (alias bombs, deep nesting, huge documents), and its
//! `Spanned` wrapper locates every node, which is what lets a semantic error
//! such as an unknown address set point at its line and column. Swapping the
//! library means rewriting this file only.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{DuplicateKeyPolicy, Spanned};

/// A position in a file: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, column: 1 };
}

/// One YAML node with the place it is written.
///
/// For a value that comes from an alias (`*name`), the position is where the
/// alias is used: that is where the user has to look to understand an error.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub value: Value,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    /// `~`, `null`, or nothing at all after a key.
    Null,
    Bool(bool),
    Int(i128),
    /// A float, or an integer too large for any integer type; only its
    /// spelling is kept because no policy field takes a fraction.
    Float(String),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in the order written. Repeated keys are kept so that the
    /// checker can report every one of them.
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// How a value is named in "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match self {
            Value::Null => "nothing".to_owned(),
            Value::Bool(b) => format!("the boolean {b}"),
            Value::Int(i) => format!("the number {i}"),
            Value::Float(raw) => format!("the number {raw}"),
            Value::Str(s) => format!("the string {s:?}"),
            Value::Seq(_) => "a list".to_owned(),
            Value::Map(_) => "a mapping".to_owned(),
        }
    }

    /// The text of a scalar as the user wrote it, for fields that take free
    /// text (a description of `2024` is the text "2024", not an error).
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(raw) => Some(raw.clone()),
            Value::Str(s) => Some(s.clone()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }
}

/// Why a file is not readable YAML.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub pos: Pos,
    pub message: String,
    pub hint: Option<String>,
}

/// Deepest nesting a policy may use; a real one needs six levels.
const MAX_DEPTH: usize = 24;
/// Node budget of one file: room for some 50,000 rules in a single file.
const MAX_NODES: usize = 500_000;

fn options() -> serde_saphyr::Options {
    let budget = serde_saphyr::budget! {
        max_depth: MAX_DEPTH,
        max_nodes: MAX_NODES,
        max_events: 2 * MAX_NODES,
        max_aliases: 10_000,
        max_anchors: 10_000,
        max_documents: 2,
    };
    let alias_limits = serde_saphyr::alias_limits! {
        max_total_replayed_events: 200_000,
    };
    serde_saphyr::options! {
        budget: budget,
        alias_limits: alias_limits,
        // Repeated keys reach the checker, which reports each one with both
        // locations instead of stopping the whole file at the first.
        duplicate_keys: DuplicateKeyPolicy::PassThrough,
        // YAML 1.2: `yes`, `no`, `on` and `off` are strings, not booleans.
        strict_booleans: true,
        // `description: 007` is the text "007", not the number 7.
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        // Numbers too large for a float (`1e400`) reach the checker with
        // their spelling, which reports them in the field's own terms.
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
        with_snippet: false,
        crop_radius: 0,
    }
}

/// Parses one YAML document into a located tree.
pub(crate) fn parse(text: &str) -> Result<Node, SyntaxError> {
    match serde_saphyr::from_str_with_options::<Spanned<Raw>>(text, options()) {
        Ok(root) => Ok(convert(root, text)),
        Err(err) => Err(syntax_error(&err, text)),
    }
}

fn syntax_error(err: &serde_saphyr::Error, text: &str) -> SyntaxError {
    let mut pos = err
        .location()
        .map(|l| pos_of(&l))
        .filter(|p| p.line > 0)
        .unwrap_or(Pos::START);
    // Errors inside aliased values come wrapped with the alias's location;
    // the location above is the outermost one, where the user looks.
    let mut err = err;
    while let serde_saphyr::Error::AliasError { error, .. }
    | serde_saphyr::Error::WithSnippet { error, .. } = err
    {
        err = error;
    }
    let mut hint = None;
    let message = match err {
        serde_saphyr::Error::MultipleDocuments { .. } => {
            hint =
                Some("put each document in its own file, or remove the `---` separator".to_owned());
            "a policy file holds one YAML document, this one holds more".to_owned()
        }
        serde_saphyr::Error::Budget { breach, .. } => {
            hint = Some("split the policy into several files".to_owned());
            budget_message(breach)
        }
        serde_saphyr::Error::AliasReplayLimitExceeded { .. }
        | serde_saphyr::Error::AliasExpansionLimitExceeded { .. }
        | serde_saphyr::Error::AliasReplayStackDepthExceeded { .. }
        | serde_saphyr::Error::AliasReplayCounterOverflow { .. } => {
            hint = Some("write the values out instead of nesting aliases".to_owned());
            "aliases expand to more than a policy file may hold".to_owned()
        }
        other => strip_location(&other.to_string()),
    };
    let mut message = message;
    if message.contains("tab") {
        // The parser reports where the construct it was reading began; the
        // user needs the tab itself.
        if let Some(tab) = first_indenting_tab(text, pos.line) {
            pos = tab;
            message = "a tab is used for indentation".to_owned();
        }
        hint = Some("indent with spaces; YAML does not allow tabs for indentation".to_owned());
    }
    SyntaxError { pos, message, hint }
}

fn budget_message(breach: &BudgetBreach) -> String {
    match breach {
        BudgetBreach::Depth { .. } => format!("nesting is deeper than {MAX_DEPTH} levels"),
        BudgetBreach::Nodes { .. } | BudgetBreach::Events { .. } => {
            format!("the file has more than {MAX_NODES} YAML nodes")
        }
        BudgetBreach::Aliases { .. }
        | BudgetBreach::Anchors { .. }
        | BudgetBreach::AliasAnchorRatio { .. } => {
            "the file uses too many anchors or aliases".to_owned()
        }
        BudgetBreach::Documents { .. } => {
            "a policy file holds one YAML document, this one holds more".to_owned()
        }
        _ => "the file exceeds a size limit".to_owned(),
    }
}

/// Removes the " at line L, column C ..." tail the library appends: the
/// diagnostic carries the location in its own field.
fn strip_location(message: &str) -> String {
    let base = match message.find(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    base.trim().to_owned()
}

/// The first tab in the leading whitespace of a line at or after `from_line`.
fn first_indenting_tab(text: &str, from_line: u32) -> Option<Pos> {
    text.lines()
        .enumerate()
        .skip(from_line.saturating_sub(1) as usize)
        .find_map(|(i, line)| {
            let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
            line[..indent].find('\t').map(|col| Pos {
                line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                column: u32::try_from(col + 1).unwrap_or(u32::MAX),
            })
        })
}

fn pos_of(loc: &serde_saphyr::Location) -> Pos {
    Pos {
        line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
        column: u32::try_from(loc.column()).unwrap_or(u32::MAX),
    }
}

/// The tree as the library hands it over, before spellings are recovered.
enum Raw {
    Null,
    Bool(bool),
    Int(i128),
    Float,
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<Raw>, Spanned<Raw>)>),
}

fn convert(raw: Spanned<Raw>, text: &str) -> Node {
    let pos = pos_of(&raw.referenced);
    let value = match raw.value {
        Raw::Null => Value::Null,
        Raw::Bool(b) => Value::Bool(b),
        Raw::Int(i) => Value::Int(i),
        Raw::Float => {
            let span = raw.referenced.span();
            let spelled = span
                .byte_offset()
                .zip(span.byte_len())
                .and_then(|(at, len)| {
                    let at = usize::try_from(at).ok()?;
                    let end = at.checked_add(usize::try_from(len).ok()?)?;
                    text.get(at..end)
                })
                .unwrap_or("?");
            Value::Float(spelled.to_owned())
        }
        Raw::Str(s) => Value::Str(s),
        Raw::Seq(items) => Value::Seq(items.into_iter().map(|n| convert(n, text)).collect()),
        Raw::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (convert(k, text), convert(v, text)))
                .collect(),
        ),
    };
    Node { value, pos }
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
        f.write_str("any YAML value")
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
        Ok(Raw::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Int(v.into()))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Raw, E> {
        Ok(i128::try_from(v).map_or(Raw::Float, Raw::Int))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Raw, E> {
        Ok(Raw::Float)
    }

    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Raw, E> {
        Ok(Raw::Str(String::from_utf8_lossy(v).into_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Raw::Map(entries))
    }
}

/// Spells `s` as a YAML scalar that reads back as exactly `s`.
///
/// Text that cannot be mistaken for anything else (`sg-bp1x`, `tcp/22`,
/// `10.0.0.0/8`) stays plain; everything else is double-quoted, with escapes
/// for the characters YAML does not allow raw or would fold or trim.
pub(crate) fn scalar(s: &str) -> String {
    if is_plain_safe(s) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let code = u32::from(c);
                if code <= 0xFF {
                    out.push_str(&format!("\\x{code:02X}"));
                } else if code <= 0xFFFF {
                    out.push_str(&format!("\\u{code:04X}"));
                } else {
                    out.push_str(&format!("\\U{code:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters a double-quoted YAML scalar may not hold raw: everything
/// outside YAML's printable set, plus the line and paragraph separators and
/// the byte-order mark, which readers may treat as line breaks or drop.
fn needs_escape(c: char) -> bool {
    let code = u32::from(c);
    !matches!(code, 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..)
        || matches!(code, 0x2028 | 0x2029 | 0xFEFF)
}

/// Plain scalars moat writes unquoted: words and sentences of letters,
/// digits, spaces and `-_./` that start with a letter (ids, services, most
/// descriptions), and IPv4 networks. None of them can be read as a number,
/// boolean or null, or be mistaken for YAML syntax.
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let ipv4_network = first.is_ascii_digit()
        && s.contains('/')
        && s.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '/');
    if ipv4_network {
        return true;
    }
    first.is_ascii_alphabetic()
        && !s.ends_with(' ')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.' | '/'))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "nan" | "inf"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Node {
        match parse(text) {
            Ok(node) => node,
            Err(e) => panic!("{text:?} did not parse: {e:?}"),
        }
    }

    #[test]
    fn every_node_is_located() {
        let root = parsed("a:\n  - x\n  - 22\nb: ~\n");
        let Value::Map(entries) = &root.value else {
            panic!("not a map: {root:?}");
        };
        assert_eq!(entries[0].0.pos, Pos { line: 1, column: 1 });
        let Value::Seq(items) = &entries[0].1.value else {
            panic!("not a seq");
        };
        assert_eq!(items[1].pos, Pos { line: 3, column: 5 });
        assert_eq!(items[1].value, Value::Int(22));
        assert_eq!(entries[1].1.value, Value::Null);
    }

    #[test]
    fn yaml_1_1_booleans_stay_strings() {
        let root = parsed("a: yes\n");
        let Value::Map(entries) = root.value else {
            panic!("not a map");
        };
        assert_eq!(entries[0].1.value, Value::Str("yes".into()));
    }

    #[test]
    fn huge_numbers_keep_their_spelling() {
        let root = parsed("a: 123456789012345678901234567890123456789012\n");
        let Value::Map(entries) = root.value else {
            panic!("not a map");
        };
        assert_eq!(
            entries[0].1.value,
            Value::Float("123456789012345678901234567890123456789012".into())
        );
    }

    #[test]
    fn tab_errors_point_at_the_tab() {
        let err = parse("a:\n  b: 1\n\tc: 2\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 3, column: 1 });
        assert!(err.hint.is_some_and(|h| h.contains("spaces")));
    }

    #[test]
    fn syntax_errors_carry_no_location_text() {
        let err = parse("a: [1, 2\n").unwrap_err();
        assert!(!err.message.contains("line"), "{}", err.message);
        assert_eq!(err.pos.line, 1);
    }

    #[test]
    fn several_documents_are_refused() {
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(err.message.contains("one YAML document"), "{}", err.message);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("a: {}{}\n", "[".repeat(200), "]".repeat(200));
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("nesting"), "{}", err.message);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        assert!(parse(&text).is_err());
    }

    #[test]
    fn scalars_read_back_unchanged() {
        let samples = [
            "sg-bp1abc",
            "tcp/22",
            "::/0",
            "2001:db8::/32",
            "yes",
            "null",
            "",
            " leading space",
            "trailing space ",
            "#not a comment",
            "a: b",
            "- dash",
            "*alias",
            "&anchor",
            "!tag",
            "%directive",
            "@at",
            "`tick",
            "quote \" and \\ backslash",
            "line\nbreak",
            "tab\there",
            "统一 ünïcödé ✓ 🚀",
            "\u{85}\u{2028}\u{2029}\u{feff}\u{7}",
            "123",
            "1e3",
            "0x1F",
            "~",
            "{flow}",
            "[flow]",
            "'single'",
            "---",
            "...",
            "SSH from the office",
            "10.0.0.0/8",
            "0.0.0.0/0",
            "1.5",
            "10.8",
            "a  b",
            "True",
            "Y",
        ];
        for s in samples {
            let text = format!("k: {}\n", scalar(s));
            let root = parsed(&text);
            let Value::Map(entries) = root.value else {
                panic!("not a map: {text}");
            };
            assert_eq!(entries[0].1.value, Value::Str(s.to_owned()), "{text}");
        }
    }
}
