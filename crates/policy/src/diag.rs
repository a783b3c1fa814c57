//! Diagnostics: what validation and lint say about a policy, and where.
//!
//! A [`Diagnostic`] is data (location, severity, stable code, message, hint);
//! [`render_text`] is one view of it, the compiler-style form
//! `path:line:col: error[CODE]: message` followed by the hint. Validation codes
//! are `MOAT1xx`, lint codes `MOAT0xx`; both are stable and documented.

use std::fmt;
use std::io::{self, Write};

use serde::Serialize;

use crate::model::Origin;

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding about a policy, located in a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub origin: Origin,
    pub severity: Severity,
    /// Stable code (`MOAT101`, `MOAT001`, ...).
    pub code: &'static str,
    /// A lowercase sentence fragment saying what is wrong.
    pub message: String,
    /// What to do about it, if there is something useful to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(origin: Origin, code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            origin,
            severity: Severity::Error,
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub fn warning(origin: Origin, code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(origin, code, message)
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// Sort key: file, line, column, then code, so reports are stable.
    fn sort_key(&self) -> (&str, u32, u32, &str, &str) {
        (
            &self.origin.file,
            self.origin.line,
            self.origin.column,
            self.code,
            &self.message,
        )
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}[{}]: {}",
            self.origin, self.severity, self.code, self.message
        )
    }
}

/// Every diagnostic of one run, reported together.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// Sorts by location and removes exact repeats.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        self.0.dedup();
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self
            .0
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        write!(f, "{errors} error(s) in policy")
    }
}

impl std::error::Error for Diagnostics {}

impl FromIterator<Diagnostic> for Diagnostics {
    fn from_iter<I: IntoIterator<Item = Diagnostic>>(iter: I) -> Self {
        Diagnostics(iter.into_iter().collect())
    }
}

/// Where the loader collects diagnostics: every one up to a limit, and a
/// count of the rest, so that no input can make the report itself take
/// unbounded memory.
#[derive(Debug)]
pub(crate) struct Sink {
    pub kept: Vec<Diagnostic>,
    limit: usize,
    /// Problems found beyond the limit, and the file of the first of them.
    pub dropped: usize,
    pub first_dropped: Option<Origin>,
}

impl Sink {
    pub fn new(limit: usize) -> Sink {
        Sink {
            kept: Vec::new(),
            limit,
            dropped: 0,
            first_dropped: None,
        }
    }

    pub fn push(&mut self, d: Diagnostic) {
        if self.kept.len() < self.limit {
            self.kept.push(d);
        } else {
            self.dropped += 1;
            self.first_dropped.get_or_insert(d.origin);
        }
    }

    /// Problems reported so far, kept or not.
    pub fn count(&self) -> usize {
        self.kept.len() + self.dropped
    }

    /// Room left before problems are only counted.
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.kept.len())
    }

    /// Takes over what `other` collected as if each of its problems had
    /// been pushed here in turn; exact when `other` was made with at least
    /// the [`room`](Sink::room) this sink has now.
    pub fn push_all(&mut self, other: Sink) {
        for d in other.kept {
            self.push(d);
        }
        self.dropped += other.dropped;
        if let Some(first) = other.first_dropped {
            self.first_dropped.get_or_insert(first);
        }
    }

    /// Takes over what `other` collected, within this sink's limit.
    pub fn append(&mut self, other: Sink) {
        if let Some(first) = other.first_dropped {
            self.first_dropped.get_or_insert(first);
        }
        self.dropped += other.dropped;
        for d in other.kept {
            self.push(d);
        }
    }
}

/// Writes diagnostics in the compiler-style text form:
///
/// ```text
/// policies/web.yaml:12:15: error[MOAT104]: unknown address set "ofice"
///   = hint: did you mean "office"?
/// ```
pub fn render_text<'a>(
    diags: impl IntoIterator<Item = &'a Diagnostic>,
    out: &mut dyn Write,
) -> io::Result<()> {
    // File names and values from policies may hold control characters.
    for d in diags {
        writeln!(out, "{}", crate::printable::escape(&d.to_string()))?;
        if let Some(hint) = &d.hint {
            writeln!(out, "  = hint: {}", crate::printable::escape(hint))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u32, column: u32) -> Origin {
        Origin {
            file: "policies/web.yaml".into(),
            line,
            column,
        }
    }

    #[test]
    fn text_form_has_location_code_and_hint() {
        let mut diags = Diagnostics::default();
        diags.push(Diagnostic::warning(
            at(9, 3),
            "MOAT010",
            "rule has no description",
        ));
        diags.push(
            Diagnostic::error(at(2, 7), "MOAT104", "unknown address set \"ofice\"")
                .with_hint("did you mean \"office\"?"),
        );
        diags.sort();
        let mut out = Vec::new();
        render_text(diags.iter(), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "policies/web.yaml:2:7: error[MOAT104]: unknown address set \"ofice\"\n  \
             = hint: did you mean \"office\"?\n\
             policies/web.yaml:9:3: warning[MOAT010]: rule has no description\n"
        );
        assert!(diags.has_errors());
    }
}
