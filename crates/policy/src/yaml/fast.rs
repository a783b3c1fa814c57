//! A fast reader for the plain subset of YAML that policies are mostly
//! written in: block mappings and sequences indented with spaces, plain
//! scalars, single-line quoted scalars without escapes, single-line flow
//! sequences of such scalars, and comments, in printable ASCII.
//!
//! It builds the same located tree as the full parser, an order of magnitude
//! faster (the general parser tokenises character by character through a
//! state machine; this walks lines). It never reports an error: whenever the
//! text holds anything outside the subset (anchors, tags, block scalars,
//! nested or multi-line flow mappings, multi-line scalars, escapes, tabs, non-ASCII text, document
//! markers, anything malformed) it gives up and the full parser reads the
//! file from the start, so every error and every unusual construct is the
//! full parser's. A test compares both on every policy of the repository
//! and on generated edge cases.

use super::{MAX_DEPTH, MAX_NODES, Node, Pos, Value, merge_keys, plain_scalar};

/// Longest implicit key YAML allows.
const MAX_KEY: usize = 1024;

/// The tree of `text` and the number of nodes in it, or `None` when the
/// text is not in the subset this reader handles.
pub(super) fn parse(text: &str) -> Option<(Node, usize)> {
    let bytes = text.as_bytes();
    if !bytes
        .iter()
        .all(|&b| b == b'\n' || (0x20..0x7F).contains(&b))
    {
        return None;
    }
    let mut lines = Vec::with_capacity(bytes.iter().filter(|&&b| b == b'\n').count() + 1);
    let mut start = 0;
    let mut no = 0u32;
    while start < bytes.len() {
        no = no.checked_add(1)?;
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| start + i);
        let mut content = start;
        while content < end && bytes[content] == b' ' {
            content += 1;
        }
        let mut trimmed = end;
        while trimmed > content && bytes[trimmed - 1] == b' ' {
            trimmed -= 1;
        }
        if content < trimmed && bytes[content] != b'#' {
            let indent = content - start;
            // Directives and document markers are the full parser's.
            if bytes[content] == b'%'
                || (indent == 0
                    && (bytes[content..trimmed].starts_with(b"---")
                        || bytes[content..trimmed].starts_with(b"...")))
            {
                return None;
            }
            lines.push(Line {
                no,
                begin: start,
                indent,
                start: content,
                end: trimmed,
            });
        }
        start = end + 1;
    }
    let mut reader = Reader {
        text,
        bytes,
        lines,
        at: 0,
        nodes: 0,
    };
    let Some(first) = reader.lines.first() else {
        return Some((
            Node {
                value: Value::Null,
                pos: Pos::START,
            },
            0,
        ));
    };
    let (start, indent) = (first.start, first.indent);
    let root = reader.block(0, start, indent)?;
    (reader.at == reader.lines.len()).then_some((root, reader.nodes))
}

/// A line with content (blank and comment-only lines are left out).
struct Line {
    no: u32,
    /// Offset of the line's first byte.
    begin: usize,
    /// Spaces before the content.
    indent: usize,
    /// Offsets of the content, trailing spaces trimmed.
    start: usize,
    end: usize,
}

struct Reader<'t> {
    text: &'t str,
    bytes: &'t [u8],
    lines: Vec<Line>,
    /// The line being read.
    at: usize,
    nodes: usize,
}

impl Reader<'_> {
    fn line(&self) -> Option<&Line> {
        self.lines.get(self.at)
    }

    fn pos(&self, offset: usize) -> Pos {
        let line = &self.lines[self.at];
        Pos {
            line: line.no,
            column: u32::try_from(offset - line.begin + 1).unwrap_or(u32::MAX),
        }
    }

    fn node(&mut self, value: Value, pos: Pos) -> Option<Node> {
        self.nodes += 1;
        (self.nodes <= MAX_NODES).then_some(Node { value, pos })
    }

    /// True when the content at `offset` is a block sequence entry.
    fn is_dash(&self, offset: usize, end: usize) -> bool {
        self.bytes[offset] == b'-' && (offset + 1 == end || self.bytes[offset + 1] == b' ')
    }

    /// The collection starting at `offset` of the current line, in column
    /// `column` (0-based). `depth` is the number of open collections.
    fn block(&mut self, depth: usize, offset: usize, column: usize) -> Option<Node> {
        let end = self.line()?.end;
        if self.is_dash(offset, end) {
            if offset != self.line()?.start {
                // `- - x`: a sequence in a sequence on one line.
                return None;
            }
            return self.sequence(depth, column, false);
        }
        if key_end(self.bytes, offset, end).is_some() {
            return self.mapping(depth, offset, column);
        }
        None
    }

    /// A block sequence whose dashes are in `column`, starting at the
    /// current line. `indentless` when it is a mapping's value with the
    /// dashes in the keys' column: such a sequence is located at its first
    /// item.
    fn sequence(&mut self, depth: usize, column: usize, indentless: bool) -> Option<Node> {
        if depth >= MAX_DEPTH {
            return None;
        }
        let line = self.line()?;
        let (start, end) = (line.start, line.end);
        let pos = if indentless {
            let mut item = start + 1;
            while item < end && self.bytes[item] == b' ' {
                item += 1;
            }
            if item == end || self.bytes[item] == b'#' {
                return None;
            }
            self.pos(item)
        } else {
            self.pos(start)
        };
        let mut items = Vec::new();
        self.nodes += 1;
        while let Some(line) = self.line() {
            let (start, end, indent, begin) = (line.start, line.end, line.indent, line.begin);
            if indent < column || (indent == column && !self.is_dash(start, end)) {
                break;
            }
            if indent > column {
                return None;
            }
            let mut p = start + 1;
            while p < end && self.bytes[p] == b' ' {
                p += 1;
            }
            if p == end || self.bytes[p] == b'#' {
                // The item is on the lines below.
                self.at += 1;
                let next = self.line()?;
                if next.indent <= column {
                    return None;
                }
                let (start, indent) = (next.start, next.indent);
                items.push(self.block(depth + 1, start, indent)?);
                continue;
            }
            if self.is_dash(p, end) {
                return None;
            }
            if key_end(self.bytes, p, end).is_some() {
                items.push(self.mapping(depth + 1, p, p - begin)?);
                continue;
            }
            items.push(self.inline(depth + 1, p, end)?);
            self.at += 1;
            if self.line().is_some_and(|l| l.indent > column) {
                return None;
            }
        }
        (self.nodes <= MAX_NODES).then_some(Node {
            value: Value::Seq(items),
            pos,
        })
    }

    /// A block mapping whose keys are in `column`; the first key starts at
    /// `offset` of the current line (after a `- ` for a mapping in a
    /// sequence).
    fn mapping(&mut self, depth: usize, offset: usize, column: usize) -> Option<Node> {
        if depth >= MAX_DEPTH {
            return None;
        }
        let pos = self.pos(offset);
        let mut entries = Vec::new();
        self.nodes += 1;
        let mut key_start = offset;
        loop {
            let end = self.line()?.end;
            let colon = key_end(self.bytes, key_start, end)?;
            let key = &self.text[key_start..colon];
            if key.len() > MAX_KEY
                || key.as_bytes().last() == Some(&b' ')
                || !plain_ok(key.as_bytes(), false)
            {
                return None;
            }
            let key_pos = self.pos(key_start);
            let key = self.node(plain_scalar(key.to_owned()), key_pos)?;
            let mut p = colon + 1;
            while p < end && self.bytes[p] == b' ' {
                p += 1;
            }
            let value = if p == end || self.bytes[p] == b'#' {
                let empty = self.pos(colon);
                self.at += 1;
                match self.line() {
                    Some(next) if next.indent > column => {
                        let (start, indent) = (next.start, next.indent);
                        self.block(depth + 1, start, indent)?
                    }
                    Some(next) if next.indent == column && self.is_dash(next.start, next.end) => {
                        self.sequence(depth + 1, column, true)?
                    }
                    _ => self.node(Value::Null, empty)?,
                }
            } else {
                let value = self.inline(depth + 1, p, end)?;
                self.at += 1;
                if self.line().is_some_and(|l| l.indent > column) {
                    return None;
                }
                value
            };
            entries.push((key, value));
            match self.line() {
                Some(line) if line.indent == column => {
                    if self.is_dash(line.start, line.end) {
                        return None;
                    }
                    key_start = line.start;
                }
                Some(line) if line.indent > column => return None,
                _ => break,
            }
        }
        (self.nodes <= MAX_NODES).then_some(Node {
            value: Value::Map(merge_keys(entries)),
            pos,
        })
    }

    /// A value that ends on its line: a scalar or a flow sequence starting
    /// at `offset`, followed by nothing but a comment.
    fn inline(&mut self, depth: usize, offset: usize, end: usize) -> Option<Node> {
        let bytes = self.bytes;
        let pos = self.pos(offset);
        let (node, after) = match bytes[offset] {
            b'[' => self.flow(depth, offset, end)?,
            b'{' => self.flow_map(depth, offset, end)?,
            b'"' | b'\'' => {
                let (text, after) = quoted(self.text, offset, end)?;
                (self.node(Value::Str(text.to_owned()), pos)?, after)
            }
            _ => {
                // A plain scalar runs to the end of the line or to a comment.
                let mut stop = end;
                let mut i = offset;
                while i < end {
                    if bytes[i] == b'#' && i > offset && bytes[i - 1] == b' ' {
                        stop = i;
                        break;
                    }
                    i += 1;
                }
                while stop > offset && bytes[stop - 1] == b' ' {
                    stop -= 1;
                }
                let text = &self.text[offset..stop];
                if !plain_ok(text.as_bytes(), false) {
                    return None;
                }
                (self.node(plain_scalar(text.to_owned()), pos)?, stop)
            }
        };
        rest_is_comment(bytes, after, end).then_some(node)
    }

    /// A flow sequence on one line: `[a, b, "c"]`.
    fn flow(&mut self, depth: usize, offset: usize, end: usize) -> Option<(Node, usize)> {
        if depth >= MAX_DEPTH {
            return None;
        }
        let bytes = self.bytes;
        let pos = self.pos(offset);
        self.nodes += 1;
        let mut items = Vec::new();
        let mut p = skip_spaces(bytes, offset + 1, end);
        if p < end && bytes[p] == b']' {
            let value = Value::Seq(items);
            return Some((Node { value, pos }, p + 1));
        }
        loop {
            if p >= end {
                return None;
            }
            let (item, after) = self.flow_scalar(p, end, b']')?;
            items.push(item);
            match separator(bytes, after, end, b']')? {
                Separator::Next(next) => p = next,
                Separator::Closed(after) => {
                    let value = Value::Seq(items);
                    return Some((Node { value, pos }, after));
                }
            }
        }
    }

    /// A flow mapping on one line, of plain keys and of values that are
    /// scalars or flow sequences: `{allow: tcp/22, from: [office, vpn]}`,
    /// the way a policy's rules are often written one to a line.
    fn flow_map(&mut self, depth: usize, offset: usize, end: usize) -> Option<(Node, usize)> {
        if depth >= MAX_DEPTH {
            return None;
        }
        let bytes = self.bytes;
        let pos = self.pos(offset);
        self.nodes += 1;
        let mut entries = Vec::new();
        let mut p = skip_spaces(bytes, offset + 1, end);
        if p < end && bytes[p] == b'}' {
            let value = Value::Map(entries);
            return Some((Node { value, pos }, p + 1));
        }
        loop {
            let colon = flow_key_end(bytes, p, end)?;
            let key = &self.text[p..colon];
            if key.len() > MAX_KEY || key.ends_with(' ') || !plain_ok(key.as_bytes(), true) {
                return None;
            }
            let key_pos = self.pos(p);
            let key = self.node(plain_scalar(key.to_owned()), key_pos)?;
            let v = skip_spaces(bytes, colon + 1, end);
            if v >= end {
                return None;
            }
            let (value, after) = match bytes[v] {
                b'[' => self.flow(depth + 1, v, end)?,
                _ => self.flow_scalar(v, end, b'}')?,
            };
            entries.push((key, value));
            match separator(bytes, after, end, b'}')? {
                Separator::Next(next) => p = next,
                Separator::Closed(after) => {
                    let value = Value::Map(merge_keys(entries));
                    return Some((Node { value, pos }, after));
                }
            }
        }
    }

    /// A scalar in a flow collection closed by `close`, at `p`: quoted, or
    /// plain up to the next `,` or `close`. Returns it and the offset after
    /// it.
    fn flow_scalar(&mut self, p: usize, end: usize, close: u8) -> Option<(Node, usize)> {
        let bytes = self.bytes;
        let pos = self.pos(p);
        if matches!(bytes[p], b'"' | b'\'') {
            let (text, after) = quoted(self.text, p, end)?;
            return Some((self.node(Value::Str(text.to_owned()), pos)?, after));
        }
        let mut stop = p;
        while stop < end && bytes[stop] != b',' && bytes[stop] != close {
            stop += 1;
        }
        let mut last = stop;
        while last > p && bytes[last - 1] == b' ' {
            last -= 1;
        }
        let text = &self.text[p..last];
        if !plain_ok(text.as_bytes(), true) {
            return None;
        }
        Some((self.node(plain_scalar(text.to_owned()), pos)?, stop))
    }
}

/// What follows an item of a flow collection on its line.
enum Separator {
    /// A comma: the next item starts here.
    Next(usize),
    /// The collection's close: it ends before this offset.
    Closed(usize),
}

/// The separator after an item ending at `after` of a flow collection
/// closed by `close`; `None` for anything else, and for a trailing comma or
/// an empty entry, which are the full parser's.
fn separator(bytes: &[u8], after: usize, end: usize, close: u8) -> Option<Separator> {
    let p = skip_spaces(bytes, after, end);
    if p >= end {
        return None;
    }
    if bytes[p] == close {
        return Some(Separator::Closed(p + 1));
    }
    if bytes[p] != b',' {
        return None;
    }
    let next = skip_spaces(bytes, p + 1, end);
    (next < end && bytes[next] != b',' && bytes[next] != close).then_some(Separator::Next(next))
}

/// The first offset from `p` that is not a space, or `end`.
fn skip_spaces(bytes: &[u8], mut p: usize, end: usize) -> usize {
    while p < end && bytes[p] == b' ' {
        p += 1;
    }
    p
}

/// The offset of the `: ` that ends a plain key of a flow mapping starting
/// at `offset`; `None` when a flow indicator or the line's end comes first
/// (a key without a value, say: the full parser's).
fn flow_key_end(bytes: &[u8], offset: usize, end: usize) -> Option<usize> {
    let mut i = offset;
    while i < end {
        match bytes[i] {
            b':' if i + 1 < end && bytes[i + 1] == b' ' => return (i > offset).then_some(i),
            b',' | b'[' | b']' | b'{' | b'}' => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The offset of the `:` that ends a plain key starting at `offset`, if the
/// content there is a mapping entry (`key:` then a space or the end).
fn key_end(bytes: &[u8], offset: usize, end: usize) -> Option<usize> {
    if matches!(bytes[offset], b'[' | b'{' | b'"' | b'\'' | b'#') {
        return None;
    }
    let mut i = offset;
    while i < end {
        match bytes[i] {
            b'#' if i > offset && bytes[i - 1] == b' ' => return None,
            b':' if i + 1 == end || bytes[i + 1] == b' ' => return (i > offset).then_some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// A quoted scalar on one line without escapes: its text and the offset
/// after the closing quote.
fn quoted(text: &str, offset: usize, end: usize) -> Option<(&str, usize)> {
    let bytes = text.as_bytes();
    let quote = bytes[offset];
    let close = offset + 1 + bytes[offset + 1..end].iter().position(|&b| b == quote)?;
    let inner = &text[offset + 1..close];
    let after = close + 1;
    // `\` escapes in double quotes, `''` in single quotes.
    if (quote == b'"' && inner.contains('\\')) || bytes.get(after) == Some(&quote) {
        return None;
    }
    Some((inner, after))
}

/// True when only spaces and a comment follow `after` on the line.
fn rest_is_comment(bytes: &[u8], after: usize, end: usize) -> bool {
    let mut p = after;
    while p < end && bytes[p] == b' ' {
        p += 1;
    }
    p == end || (bytes[p] == b'#' && p > after)
}

/// True when `s` (not empty, trimmed) is a plain scalar this reader can
/// take as it is: it starts with no indicator (a `-` or `:` only when a
/// character other than a space follows), holds no `: ` or ` #`, and in a
/// flow sequence no flow indicator either.
fn plain_ok(s: &[u8], flow: bool) -> bool {
    let Some(&first) = s.first() else {
        return false;
    };
    let flow_indicator = |b: u8| matches!(b, b',' | b'[' | b']' | b'{' | b'}');
    let safe_next = |i: usize| {
        s.get(i)
            .is_some_and(|&b| b != b' ' && !(flow && flow_indicator(b)))
    };
    match first {
        b'-' | b':' if !safe_next(1) => return false,
        b'?' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>'
        | b'\'' | b'"' | b'%' | b'@' | b'`' => return false,
        _ => {}
    }
    for (i, &b) in s.iter().enumerate() {
        match b {
            b':' if !safe_next(i + 1) => return false,
            b'#' if i > 0 && s[i - 1] == b' ' => return false,
            b if flow && flow_indicator(b) => return false,
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::super::{LoadBudget, parse_full};
    use super::*;
    use proptest::prelude::*;

    /// Whenever the fast reader takes a text, the full parser reads the
    /// same tree from it, every position included. True when it took it.
    fn agrees(text: &str) -> bool {
        let Some((fast, nodes)) = parse(text) else {
            return false;
        };
        let budget = LoadBudget::new();
        match parse_full(text, &budget) {
            Ok(full) => {
                assert_eq!(fast, full, "the readers differ on {text:?}");
                let counted = budget.used.load(std::sync::atomic::Ordering::Relaxed);
                assert_eq!(nodes, counted, "node count of {text:?}");
            }
            Err(e) => panic!("the fast reader took {text:?}, which is invalid: {e:?}"),
        }
        true
    }

    #[test]
    fn reads_what_the_full_parser_reads() {
        let taken = [
            "",
            "# only a comment\n",
            "version: 1\n",
            "a:\nb: 1\n",
            "a:\n  - x\n  -   y\nb:\n- 1\n- k: v\n  j:\n",
            "- a: [x, y ,  ::/0 ]\n  b: c\n",
            "  x: 1\n  y: 'q' # c\n",
            "k: \"d # e: f\"\nj: []\n",
            "k: v\n\n\n  # c\nz: 2  \n",
            "-\n  a: 1\n",
            "a:\n    - x\n",
            "a: b#c\nd: e # f\n",
            "a: 2001:db8::/32\nb: [2001:db8::/32, 10.0.0.0/8]\n",
            "a: 007\nb: 0x1F\nc: 1e3\nd: yes\ne: ~\nf: -1\ng: .inf\n",
            "a: x [y] {z}\nb: a,b\n",
            "<<: x\na: 1\n",
            "a: 1\na: 2\n",
            "security_groups:\n  - id: sg-1\n    ingress:\n      - allow: tcp/22\n        from: [office, vpn]\n        description: SSH from the office\n    egress:\n    - allow: all\n      to: 0.0.0.0/0\n",
            "a:\n  b:\n    c:\n      d: []\n",
            "a: 'it is'\nb: \"x'y\"\n",
            "key with spaces: value with  spaces\n",
            "a: -x\nb: :x\n",
            "a:\n  # comment\n  b: 1\n",
            "a: {b: c}\n",
            "a: {}\nb: { }\n",
            "- {description: service 1, allow: tcp/8001, from: 10.0.3.0/24}\n",
            "- { allow: tcp/22 ,from: [office, vpn], description: 'SSH' } # c\n",
            "a: {b: 2001:db8::/32, c: :x, d: -1, e: ~, f: x y}\n",
            "a: {b: 1, b: 2}\n",
            "a: {<<: x, b: 1}\n",
            "a: {b: [], c: \"d, e\"}\n",
        ];
        for text in taken {
            assert!(agrees(text), "the fast reader refused {text:?}");
        }
        let refused = [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: |\n  text\n",
            "a: {b: {c: d}}\n",
            "a: {b: c,}\n",
            "a: {b, c: d}\n",
            "a: {b:c}\n",
            "a: {b: c\n  , d: e}\n",
            "a: {\"b\": c}\n",
            "- [{a: b}]\n",
            "a: b\n  c\n",
            "a: 'it''s'\n",
            "a: \"\\t\"\n",
            "a:\tb\n",
            "a: é\n",
            "---\na: 1\n",
            "%YAML 1.2\n---\na: 1\n",
            "a: [x,\n  y]\n",
            "a: [x, ]\n",
            "a: b: c\n",
            "- - x\n",
            "a:\n  x\n",
            "? a\n: b\n",
            "\"a\": b\n",
            "a:\n    b: 1\n  c: 2\n",
            "a: 1\n b: 2\n",
            "a\n",
            "a: b\r\n",
        ];
        for text in refused {
            assert!(parse(text).is_none(), "the fast reader took {text:?}");
            // Refused texts go to the full parser: nothing to compare.
        }
    }

    #[test]
    fn takes_every_policy_of_the_repository_it_can_and_reads_it_alike() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut stack = vec![root];
        let (mut files, mut taken) = (0, 0);
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if path.is_dir() {
                    if !name.starts_with('.') && name != "target" && name != "node_modules" {
                        stack.push(path);
                    }
                } else if (name.ends_with(".yaml") || name.ends_with(".yml"))
                    && let Ok(text) = std::fs::read_to_string(&path)
                {
                    files += 1;
                    taken += usize::from(agrees(&text));
                }
            }
        }
        assert!(files > 50, "found only {files} YAML files");
        assert!(taken > files / 2, "took only {taken} of {files} files");
    }

    #[test]
    fn takes_the_generated_benchmark_tree() {
        let dir = std::env::temp_dir().join(format!("moat-fast-yaml-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        moat_testkit::bench::write_policy_tree(&dir, 2, 3);
        for entry in std::fs::read_dir(&dir).expect("listing").flatten() {
            let text = std::fs::read_to_string(entry.path()).expect("reading");
            assert!(agrees(&text), "refused {}", entry.path().display());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Texts built from the pieces of YAML's syntax that the fast reader
    /// decides on.
    fn yamlish() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "a",
            "b",
            "k1",
            "x y",
            ":",
            ": ",
            " ",
            "  ",
            "-",
            "- ",
            "\n",
            "\n  ",
            "\n    ",
            "#",
            " #",
            "[",
            "]",
            ", ",
            ",",
            "'",
            "\"",
            "1",
            "007",
            "::/0",
            "10.0.0.0/8",
            "<<",
            "~",
            "null",
            "-1",
            "{",
            "}",
            "?",
            "*",
            "&",
            "!",
            "|",
            ">",
            "%",
            "@",
            "`",
            "\\",
            "---",
        ]);
        prop::collection::vec(piece, 0..40).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn generated_texts_read_alike(text in yamlish()) {
            agrees(&text);
        }

        #[test]
        fn generated_documents_read_alike(
            lines in prop::collection::vec(
                (0usize..4, prop::sample::select(vec![
                    "a:", "b: 1", "- x", "- k: v", "-", "c: [p, q]", "d: 'q'", "e: \"r\"",
                    "# c", "", "f: x # y", "g: 2001:db8::/32", "- [1, 2]", "h: ~",
                    "- {a: b, c: [p, q]}", "i: {k: 'v', j: ~}", "j: {}", "- {x: 1} # c",
                ])),
                0..14,
            )
        ) {
            let text: String = lines
                .iter()
                .map(|(indent, line)| format!("{}{line}\n", "  ".repeat(*indent)))
                .collect();
            agrees(&text);
        }
    }
}
