//! Readable, stable names for exported resources and address sets.

use std::collections::BTreeSet;

/// The lowercase ASCII words of a text: runs of letters and digits.
pub(crate) fn words_of(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Hands out names built from words, unique within one file: a name that
/// is taken gets `_2`, `_3`, ... (or `2`, `3` when joined without a
/// separator). Names depend only on the words and the order of requests,
/// so the same input always gives the same names.
#[derive(Debug)]
pub(crate) struct Names {
    style: Style,
    used: BTreeSet<String>,
}

#[derive(Clone, Copy, Debug)]
enum Style {
    /// `web_ingress_tcp_22`: Terraform resource names.
    Snake,
    /// `WebIngressTcp22`: ROS logical ids (letters and digits only).
    Pascal,
}

impl Names {
    pub fn snake() -> Names {
        Names {
            style: Style::Snake,
            used: BTreeSet::new(),
        }
    }

    pub fn pascal() -> Names {
        Names {
            style: Style::Pascal,
            used: BTreeSet::new(),
        }
    }

    pub fn unique(&mut self, words: &[String]) -> String {
        let base = match self.style {
            Style::Snake => words.join("_"),
            Style::Pascal => pascal(words),
        };
        let mut name = base.clone();
        let mut n = 2;
        while self.used.contains(&name) {
            name = match self.style {
                Style::Snake => format!("{base}_{n}"),
                Style::Pascal => format!("{base}N{n}"),
            };
            n += 1;
        }
        self.used.insert(name.clone());
        name
    }
}

/// `["web", "ingress", "203", "0"]` becomes `WebIngress203x0`: words are
/// capitalised, and two numbers in a row are kept apart by an `x`.
fn pascal(words: &[String]) -> String {
    let mut out = String::new();
    let mut last_numeric = false;
    for w in words.iter().flat_map(|w| words_of(w)) {
        let numeric = w.starts_with(|c: char| c.is_ascii_digit());
        if numeric && last_numeric {
            out.push('x');
        }
        let mut chars = w.chars();
        if let Some(c) = chars.next() {
            out.push(c.to_ascii_uppercase());
            out.extend(chars);
        }
        last_numeric = w.ends_with(|c: char| c.is_ascii_digit());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_stable() {
        let mut n = Names::snake();
        let w = words_of("sg-bp1 ingress 10.0.0.0/8");
        assert_eq!(n.unique(&w), "sg_bp1_ingress_10_0_0_0_8");
        assert_eq!(n.unique(&w), "sg_bp1_ingress_10_0_0_0_8_2");
        let mut p = Names::pascal();
        assert_eq!(p.unique(&w), "SgBp1Ingress10x0x0x0x8");
        assert_eq!(p.unique(&w), "SgBp1Ingress10x0x0x0x8N2");
    }
}
