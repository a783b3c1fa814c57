//! The one module that knows which YAML library moat uses.
//!
//! Reading turns text into a [`Node`] tree in which every value, key and
//! collection carries the line and column it was written at; the rest of the
//! crate checks that tree and never sees the library. Writing is the other
//! direction for single scalars: [`scalar`] spells a string so that any YAML
//! reader gives back exactly the same string.
//!
//! The library is granit-parser, a YAML 1.2 event parser that does not
//! panic and gives every event its line and column, which is what lets a
//! semantic error such as an unknown address set point at its place. This
//! module builds the tree from the events itself, and with it enforces the
//! budgets against hostile input: nesting depth, nodes per file and per
//! load, anchors, and what aliases may repeat (alias bombs). Parsing costs
//! per node, so the load-wide node budget is what bounds a load's time.
//! Swapping the library means rewriting this file only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use granit_parser::{ErrorKind, Event, ScalarStyle, Tag};

mod fast;

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
/// Nodes that aliases may add to one file by repeating what they name.
const MAX_ALIAS_NODES: usize = 200_000;
/// Anchors and aliases one file may use.
const MAX_ANCHORS: usize = 10_000;
/// Nodes all the files of one load may hold together (including what
/// aliases repeat): about 40 MiB of typical policy text, and what bounds
/// the time a load can take, since parsing costs per node.
pub(crate) const MAX_LOAD_NODES: usize = 4_000_000;
/// Nodes a file counts locally before adding them to the load's total.
const BUDGET_STRIDE: usize = 4096;

/// The node budget all files of one load share, across the threads that
/// parse them.
#[derive(Debug)]
pub(crate) struct LoadBudget {
    used: AtomicUsize,
}

impl LoadBudget {
    pub fn new() -> LoadBudget {
        LoadBudget {
            used: AtomicUsize::new(0),
        }
    }

    /// Adds `n` nodes; false once the load holds more than it may.
    fn take(&self, n: usize) -> bool {
        self.used.fetch_add(n, Ordering::Relaxed).saturating_add(n) <= MAX_LOAD_NODES
    }

    /// True when the files hold more nodes than a load may. Whether this
    /// happens depends on the input only: every file adds all the nodes it
    /// reads until it ends, fails, or finds the budget spent.
    pub fn exceeded(&self) -> bool {
        self.used.load(Ordering::Relaxed) > MAX_LOAD_NODES
    }
}

/// Parses one YAML document into a located tree, counting its nodes
/// against `budget`.
///
/// Text in the plain subset policies are mostly written in is read by
/// [`fast`]; anything else, and every error, by the full parser.
pub(crate) fn parse(text: &str, budget: &LoadBudget) -> Result<Node, SyntaxError> {
    if let Some((root, nodes)) = fast::parse(text) {
        if budget.take(nodes) {
            return Ok(root);
        }
        return Err(limit(
            Pos::START,
            format!("the files loaded together have more than {MAX_LOAD_NODES} YAML nodes"),
        ));
    }
    parse_full(text, budget)
}

/// [`parse`] with the full parser alone.
fn parse_full(text: &str, budget: &LoadBudget) -> Result<Node, SyntaxError> {
    let mut builder = Builder {
        budget,
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        documents: 0,
        nodes: 0,
        unflushed: 0,
        alias_nodes: 0,
        aliases: 0,
    };
    let result = builder.run(text);
    // Whatever happened, the load learns how many nodes this file held.
    builder.flush();
    match result {
        Ok(()) => Ok(builder.root.unwrap_or(Node {
            value: Value::Null,
            pos: Pos::START,
        })),
        Err(e) => Err(relocate_tab(e, text)),
    }
}

/// A collection being read.
enum Open {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

/// Turns the parser's events into a tree of [`Node`]s.
struct Builder<'b> {
    budget: &'b LoadBudget,
    stack: Vec<Open>,
    /// Complete anchored nodes by the parser's anchor id.
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    documents: usize,
    nodes: usize,
    /// Nodes not yet added to the load's budget.
    unflushed: usize,
    alias_nodes: usize,
    aliases: usize,
}

impl Builder<'_> {
    fn run(&mut self, text: &str) -> Result<(), SyntaxError> {
        let options = granit_parser::Options::default();
        for event in granit_parser::Parser::new_from_str_with_options(text, options) {
            let (event, span) = event.map_err(|e| scan_error(&e))?;
            let pos = Pos {
                line: u32::try_from(span.start.line()).unwrap_or(u32::MAX),
                column: u32::try_from(span.start.col() + 1).unwrap_or(u32::MAX),
            };
            self.event(event, pos)?;
        }
        Ok(())
    }

    fn event(&mut self, event: Event<'_>, pos: Pos) -> Result<(), SyntaxError> {
        match event {
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(SyntaxError {
                        pos,
                        message: "a policy file holds one YAML document, this one holds more"
                            .to_owned(),
                        hint: Some(
                            "put each document in its own file, or remove the `---` separator"
                                .to_owned(),
                        ),
                    });
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let value = resolve_scalar(value.into_owned(), style, tag.as_deref());
                self.count(1, pos)?;
                self.complete(Node { value, pos }, anchor, pos)?;
            }
            Event::SequenceStart(_, anchor, _) | Event::MappingStart(_, anchor, _) => {
                self.count(1, pos)?;
                if self.stack.len() >= MAX_DEPTH {
                    return Err(limit(
                        pos,
                        format!("nesting is deeper than {MAX_DEPTH} levels"),
                    ));
                }
                let open = if matches!(event, Event::SequenceStart(..)) {
                    Open::Seq {
                        pos,
                        anchor,
                        items: Vec::new(),
                    }
                } else {
                    Open::Map {
                        pos,
                        anchor,
                        entries: Vec::new(),
                        key: None,
                    }
                };
                self.stack.push(open);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Open::Seq { pos, anchor, items }) => (
                        Node {
                            value: Value::Seq(items),
                            pos,
                        },
                        anchor,
                    ),
                    Some(Open::Map {
                        pos,
                        anchor,
                        entries,
                        ..
                    }) => (
                        Node {
                            value: Value::Map(merge_keys(entries)),
                            pos,
                        },
                        anchor,
                    ),
                    // The parser never ends what it did not start.
                    None => return Ok(()),
                };
                self.complete(node, anchor, pos)?;
            }
            Event::Alias(id) => {
                self.aliases += 1;
                if self.aliases > MAX_ANCHORS {
                    return Err(alias_limit(pos, "the file uses too many aliases"));
                }
                let Some(target) = self.anchors.get(&id) else {
                    // The parser resolves ids of anchors defined earlier; one
                    // still open is a node that would contain itself.
                    return Err(SyntaxError {
                        pos,
                        message: "an alias refers to a node that contains it".to_owned(),
                        hint: Some("an alias can only repeat a node that is complete".to_owned()),
                    });
                };
                let size = size(target);
                self.alias_nodes = self.alias_nodes.saturating_add(size);
                if self.alias_nodes > MAX_ALIAS_NODES {
                    return Err(alias_limit(
                        pos,
                        "aliases expand to more than a policy file may hold",
                    ));
                }
                // A value that comes from an alias is located where the alias
                // is used: that is where the user has to look.
                let node = relocated(target, pos);
                self.count(size, pos)?;
                self.complete(node, 0, pos)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Counts `n` new nodes against the file's and the load's budgets.
    fn count(&mut self, n: usize, pos: Pos) -> Result<(), SyntaxError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(limit(
                pos,
                format!("the file has more than {MAX_NODES} YAML nodes"),
            ));
        }
        self.unflushed += n;
        if self.unflushed >= BUDGET_STRIDE && !self.flush() {
            return Err(limit(
                pos,
                format!("the files loaded together have more than {MAX_LOAD_NODES} YAML nodes"),
            ));
        }
        Ok(())
    }

    /// Adds the nodes counted so far to the load's budget; false once it is
    /// spent.
    fn flush(&mut self) -> bool {
        let n = std::mem::take(&mut self.unflushed);
        self.budget.take(n)
    }

    /// Puts a complete node where it belongs: in the open collection, or as
    /// the document.
    fn complete(&mut self, node: Node, anchor: usize, pos: Pos) -> Result<(), SyntaxError> {
        if anchor != 0 {
            if self.anchors.len() >= MAX_ANCHORS {
                return Err(alias_limit(pos, "the file uses too many anchors"));
            }
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq { items, .. }) => items.push(node),
            Some(Open::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
        Ok(())
    }
}

fn limit(pos: Pos, message: String) -> SyntaxError {
    SyntaxError {
        pos,
        message,
        hint: Some("split the policy into several files".to_owned()),
    }
}

fn alias_limit(pos: Pos, message: &str) -> SyntaxError {
    SyntaxError {
        pos,
        message: message.to_owned(),
        hint: Some("write the values out instead of nesting aliases".to_owned()),
    }
}

/// Nodes in a tree.
fn size(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(size).sum(),
        Value::Map(entries) => entries.iter().map(|(k, v)| size(k) + size(v)).sum(),
        _ => 0,
    }
}

/// A copy of `node` with every position set to `pos`.
fn relocated(node: &Node, pos: Pos) -> Node {
    let value = match &node.value {
        Value::Seq(items) => Value::Seq(items.iter().map(|n| relocated(n, pos)).collect()),
        Value::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| (relocated(k, pos), relocated(v, pos)))
                .collect(),
        ),
        other => other.clone(),
    };
    Node { value, pos }
}

/// Applies YAML merge keys (`<<: *defaults`, `<<: [*a, *b]`): the entries
/// of the merged mappings that the mapping does not set itself. Repeated
/// keys written in the mapping are kept, for the checker to report.
fn merge_keys(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    let is_merge = |k: &Node| matches!(&k.value, Value::Str(s) if s == "<<");
    if !entries.iter().any(|(k, _)| is_merge(k)) {
        return entries;
    }
    let (merges, mut own): (Vec<_>, Vec<_>) = entries.into_iter().partition(|(k, _)| is_merge(k));
    for (key, value) in merges {
        let sources = match value.value {
            Value::Map(m) => vec![m],
            Value::Seq(items) if items.iter().all(|n| matches!(n.value, Value::Map(_))) => items
                .into_iter()
                .filter_map(|n| match n.value {
                    Value::Map(m) => Some(m),
                    _ => None,
                })
                .collect(),
            // Not a mapping to merge: keep the entry, so that the checker
            // reports `<<` as the unknown key it then is.
            other => {
                own.push((
                    key,
                    Node {
                        value: other,
                        pos: value.pos,
                    },
                ));
                continue;
            }
        };
        for source in sources {
            for (k, v) in source {
                if !own.iter().any(|(o, _)| o.value == k.value) {
                    own.push((k, v));
                }
            }
        }
    }
    own
}

/// The value of a plain scalar without a tag.
fn plain_scalar(text: String) -> Value {
    // Most plain scalars are words: one that starts with a letter can only
    // be a null or a boolean (`null`, `true`, `False`...), none of which is
    // longer than five letters or starts otherwise than with n, t or f.
    let word = text.as_bytes().first().is_some_and(|&b| {
        b.is_ascii_alphabetic()
            && (text.len() > 5 || !matches!(b, b'n' | b'N' | b't' | b'T' | b'f' | b'F'))
    });
    if word {
        return Value::Str(text);
    }
    resolve_scalar(text, ScalarStyle::Plain, None)
}

/// The value of a scalar under the YAML 1.2 core schema, with the choices
/// that are part of the policy format: quoted and block scalars and `!!str`
/// are text; `yes`, `no`, `on` and `off` are text; numbers with leading
/// zeros or underscores are text (`description: 007` is "007"); integers
/// too large for 128 bits and floats keep their spelling.
fn resolve_scalar(text: String, style: ScalarStyle, tag: Option<&Tag>) -> Value {
    let core = tag.and_then(Tag::core_suffix);
    if style != ScalarStyle::Plain || core == Some("str") || (tag.is_some() && core.is_none()) {
        return Value::Str(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return Value::Float(text),
        _ => {}
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(&text);
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    if digits(unsigned, 10) {
        if unsigned.len() > 1 && unsigned.starts_with('0') {
            return Value::Str(text);
        }
        return text
            .parse::<i128>()
            .map_or(Value::Float(text.clone()), Value::Int);
    }
    let radix = |prefix: &str, radix: u32| {
        text.strip_prefix(prefix)
            .filter(|d| digits(d, radix))
            .map(|d| i128::from_str_radix(d, radix).map_or(Value::Float(text.clone()), Value::Int))
    };
    if let Some(v) = radix("0x", 16).or_else(|| radix("0o", 8)) {
        return v;
    }
    if is_float(unsigned) {
        return Value::Float(text);
    }
    Value::Str(text)
}

/// `1.5`, `.5`, `1.`, `1e3`, `1.5E-3` (without a sign).
fn is_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = all_digits(whole)
        && all_digits(fraction)
        && (!whole.is_empty() || !fraction.is_empty())
        && (mantissa.contains('.') || exponent.is_some());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && all_digits(e)
    });
    mantissa_ok && exponent_ok
}

fn scan_error(e: &granit_parser::ScanError) -> SyntaxError {
    let pos = Pos {
        line: u32::try_from(e.marker().line()).unwrap_or(u32::MAX).max(1),
        column: u32::try_from(e.marker().col() + 1).unwrap_or(u32::MAX),
    };
    let message = match e.kind() {
        ErrorKind::UnknownAnchor => "an alias refers to an unknown anchor".to_owned(),
        ErrorKind::MultipleDocumentsUnsupported => {
            "a policy file holds one YAML document, this one holds more".to_owned()
        }
        _ => e.info(),
    };
    SyntaxError {
        pos,
        message,
        hint: None,
    }
}

/// The parser reports where the construct it was reading began; for a tab
/// used as indentation the user needs the tab itself.
fn relocate_tab(mut e: SyntaxError, text: &str) -> SyntaxError {
    if e.message.contains("tab") {
        if let Some(tab) = first_indenting_tab(text, e.pos.line) {
            e.pos = tab;
            e.message = "a tab is used for indentation".to_owned();
        }
        e.hint = Some("indent with spaces; YAML does not allow tabs for indentation".to_owned());
    }
    e
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
        match parse(text, &LoadBudget::new()) {
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
        let err = parse("a:\n  b: 1\n\tc: 2\n", &LoadBudget::new()).unwrap_err();
        assert_eq!(err.pos, Pos { line: 3, column: 1 });
        assert!(err.hint.is_some_and(|h| h.contains("spaces")));
    }

    #[test]
    fn syntax_errors_carry_no_location_text() {
        let err = parse("a: [1, 2\n", &LoadBudget::new()).unwrap_err();
        assert!(!err.message.contains("line"), "{}", err.message);
        assert_eq!(err.pos.line, 1);
    }

    #[test]
    fn several_documents_are_refused() {
        let err = parse("a: 1\n---\nb: 2\n", &LoadBudget::new()).unwrap_err();
        assert!(err.message.contains("one YAML document"), "{}", err.message);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("a: {}{}\n", "[".repeat(200), "]".repeat(200));
        let err = parse(&text, &LoadBudget::new()).unwrap_err();
        assert!(err.message.contains("nesting"), "{}", err.message);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        assert!(parse(&text, &LoadBudget::new()).is_err());
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
