//! Text from outside moat (live rules, group names, file names, values in
//! policies) made safe to print on a terminal: the one escaping function
//! every text view uses.
//!
//! Control characters (C0, DEL, C1) and the Unicode controls that reorder
//! or hide text (bidirectional embeddings, overrides and isolates, the
//! zero-width marks) are written as Rust writes them in a string literal
//! (`\u{1b}`, `\0`, `\t`, `\n`), so an ESC in a live description cannot
//! move the cursor or set a window title, and a NUL or BEL shows as what
//! it is. Everything else, printable Unicode included, is left alone.

use std::borrow::Cow;

/// Whether `c` is written escaped.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}'
        )
}

/// Whether `s` holds a character [`is_unsafe`] says so (line breaks
/// aside when `but_line_breaks`). A scan of the bytes: only C0 controls,
/// DEL and the first bytes of the ranges that hold the others (C1 controls
/// start with 0xC2, the Unicode controls with 0xE2, the byte order mark
/// with 0xEF) are looked at as characters. Most text has none of them, and
/// decoding every character of a large JSON plan took a fifth of its
/// rendering.
fn has_unsafe(s: &str, but_line_breaks: bool) -> bool {
    let bytes = s.as_bytes();
    // Without branches, so that a block of bytes is tested at once.
    let suspect = |b: u8| {
        (b < 0x20) & !(but_line_breaks & (b == b'\n'))
            | (b == 0x7f)
            | (b == 0xc2)
            | (b == 0xe2)
            | (b == 0xef)
    };
    const BLOCK: usize = 64;
    for (n, block) in bytes.chunks(BLOCK).enumerate() {
        if !block.iter().fold(false, |any, &b| any | suspect(b)) {
            continue;
        }
        for (k, &b) in block.iter().enumerate() {
            let i = n * BLOCK + k;
            // ASCII, or a first byte (never inside a character): `i` is a
            // character boundary.
            if suspect(b) && (b < 0x80 || s[i..].chars().next().is_some_and(is_unsafe)) {
                return true;
            }
        }
    }
    false
}

/// `s` with every character [`is_unsafe`] says so escaped; borrowed when
/// there is none, which is nearly always.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !has_unsafe(s, false) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            match c {
                '\0' => out.push_str("\\0"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                _ => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`escape`] of every line of `s`, keeping the line breaks: for a
/// multi-line text that is printed as it is.
pub fn escape_lines(s: &str) -> Cow<'_, str> {
    if !has_unsafe(s, true) {
        return Cow::Borrowed(s);
    }
    let lines: Vec<Cow<'_, str>> = s.split('\n').map(escape).collect();
    Cow::Owned(lines.join("\n"))
}

/// JSON text with every character [`is_unsafe`] says so, but the line
/// break, written as a `\uXXXX` escape: the same JSON, safe to print.
/// (JSON writers escape C0 controls already, but not DEL, C1 or the
/// Unicode controls; a raw line break can only be whitespace between
/// tokens.)
pub fn escape_json(json: &str) -> Cow<'_, str> {
    if !has_unsafe(json, true) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if c != '\n' && is_unsafe(c) {
            // Every unsafe character is in the Basic Multilingual Plane.
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::{escape, escape_json, escape_lines, has_unsafe, is_unsafe};

    #[test]
    fn the_byte_scan_finds_what_decoding_finds() {
        let mut buf = [0u8; 4];
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let s: &str = c.encode_utf8(&mut buf);
            assert_eq!(has_unsafe(s, false), is_unsafe(c), "{c:?}");
            assert_eq!(has_unsafe(s, true), c != '\n' && is_unsafe(c), "{c:?}");
        }
        // Safe characters that share a first byte with unsafe ones.
        assert!(!has_unsafe("a \u{a0} \u{2192} \u{2014} \u{ff01}\n", true));
        assert!(has_unsafe("a \u{2192} \u{202e}", true));
    }

    #[test]
    fn json_stays_the_same_json() {
        let text = "{\n  \"d\": \"a\u{7f}b\u{9b}c\u{202e}\"\n}";
        let escaped = escape_json(text);
        assert_eq!(escaped, "{\n  \"d\": \"a\\u007fb\\u009bc\\u202e\"\n}");
        let a: serde_json::Value = serde_json::from_str(text).unwrap();
        let b: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn controls_are_escaped_and_the_rest_is_left_alone() {
        let cases = [
            ("web 443", "web 443"),
            ("日本語 ok", "日本語 ok"),
            ("a\u{1b}[2Jb", "a\\u{1b}[2Jb"),
            ("bell\u{7}", "bell\\u{7}"),
            ("nul\0", "nul\\0"),
            ("tab\there", "tab\\there"),
            ("two\nlines\r", "two\\nlines\\r"),
            ("del\u{7f}", "del\\u{7f}"),
            ("c1\u{9b}31m", "c1\\u{9b}31m"),
            ("rtl\u{202e}txt", "rtl\\u{202e}txt"),
            ("zw\u{200b}j", "zw\\u{200b}j"),
        ];
        for (input, want) in cases {
            assert_eq!(escape(input), want, "{input:?}");
        }
    }

    #[test]
    fn lines_keep_their_breaks() {
        assert_eq!(escape_lines("a\u{1b}\nb\n"), "a\\u{1b}\nb\n");
        assert_eq!(escape_lines("plain\ntext"), "plain\ntext");
    }
}
