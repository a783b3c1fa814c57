//! Laying out HCL the way `terraform fmt` does, with hcl-edit.
//!
//! hcl-edit holds the syntax tree and its whitespace ("decor") separately,
//! and its encoder handles quoting, escapes and template markers (`${` in a
//! description is written `$${`). This module only decides the whitespace:
//! two spaces per level, `=` aligned over a run of consecutive attributes,
//! a blank line before a nested block and between top-level blocks, and
//! comments above a block. The result is what `terraform fmt` would write.

use hcl_edit::expr::Expression;
use hcl_edit::structure::{Attribute, Block, BlockLabel, Body, Structure};
use hcl_edit::{Decor, Decorate, Decorated, Ident};

/// A block to lay out.
#[derive(Debug)]
pub(crate) struct BlockSpec {
    pub ident: &'static str,
    pub labels: Vec<String>,
    pub items: Vec<Item>,
    /// Comment lines written above the block (without the `# `).
    pub comments: Vec<String>,
}

impl BlockSpec {
    pub fn new(ident: &'static str) -> BlockSpec {
        BlockSpec {
            ident,
            labels: Vec::new(),
            items: Vec::new(),
            comments: Vec::new(),
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> BlockSpec {
        self.labels.push(label.into());
        self
    }

    pub fn attr(mut self, key: &'static str, value: impl Into<Expression>) -> BlockSpec {
        self.items.push(Item::Attr(key, value.into()));
        self
    }

    pub fn block(mut self, block: BlockSpec) -> BlockSpec {
        self.items.push(Item::Block(block));
        self
    }
}

#[derive(Debug)]
pub(crate) enum Item {
    Attr(&'static str, Expression),
    Block(BlockSpec),
}

/// A reference such as `alicloud_security_group_rule.ssh` or
/// `module.net.alicloud_security_group_rule.ssh["a"]`, parsed by hcl-edit
/// so that it is written as an expression, not a string. `None` when the
/// text is not a valid HCL expression.
pub(crate) fn reference(address: &str) -> Option<Expression> {
    address.parse::<Expression>().ok()
}

/// A quoted string of free text (a description), written so that it reads
/// back as exactly `text`.
///
/// hcl-edit escapes template markers (`${` as `$${`, `%{` as `%%{`), but
/// its escaper steps over the character after a `$` or `%`, so a marker
/// right after one (`$%{`, `%${`, `$${`) is left unescaped and the file no
/// longer parses, or reads back changed. Each literal piece given to it here
/// starts at a `$` or `%` and holds no other, which its escaper handles.
pub(crate) fn string(text: &str) -> Expression {
    if !text.contains(['$', '%']) {
        return Expression::from(text);
    }
    let mut pieces: Vec<String> = Vec::new();
    for ch in text.chars() {
        match pieces.last_mut() {
            Some(last) if ch != '$' && ch != '%' => last.push(ch),
            _ => pieces.push(ch.to_string()),
        }
    }
    Expression::StringTemplate(pieces.into_iter().collect())
}

/// The file: a leading comment, then the blocks with a blank line between.
pub(crate) fn render(header: &[String], blocks: Vec<BlockSpec>) -> String {
    let mut body = Body::new();
    let mut first = true;
    for spec in blocks {
        let mut prefix = String::new();
        if first {
            for line in header {
                prefix.push_str(&comment(line));
            }
            if !header.is_empty() {
                prefix.push('\n');
            }
        } else {
            prefix.push('\n');
        }
        for line in &spec.comments {
            prefix.push_str(&comment(line));
        }
        let mut block = build(spec, 0);
        block.decor_mut().set_prefix(prefix);
        body.push(Structure::Block(block));
        first = false;
    }
    let mut out = body.to_string();
    if out.is_empty() {
        for line in header {
            out.push_str(&comment(line));
        }
    }
    out
}

fn comment(line: &str) -> String {
    if line.is_empty() {
        "#\n".to_owned()
    } else {
        format!("# {line}\n")
    }
}

fn indent(level: usize) -> String {
    "  ".repeat(level)
}

fn build(spec: BlockSpec, level: usize) -> Block {
    let mut block = Block::new(Decorated::new(Ident::new_sanitized(spec.ident)));
    block.labels = spec
        .labels
        .into_iter()
        .map(|l| BlockLabel::String(Decorated::new(l)))
        .collect();
    let inner = indent(level + 1);
    // The width of each run of consecutive attributes, for alignment.
    let mut widths = vec![0usize; spec.items.len()];
    let mut run_start = 0;
    for i in 0..=spec.items.len() {
        let is_attr = matches!(spec.items.get(i), Some(Item::Attr(..)));
        if !is_attr {
            let width = spec.items[run_start..i]
                .iter()
                .map(|it| match it {
                    Item::Attr(k, _) => k.chars().count(),
                    Item::Block(_) => 0,
                })
                .max()
                .unwrap_or(0);
            widths[run_start..i].fill(width);
            run_start = i + 1;
        }
    }
    for (i, item) in spec.items.into_iter().enumerate() {
        match item {
            Item::Attr(key, value) => {
                // `widths` has an entry per item, and the width of a run is
                // at least the length of each key in it.
                let pad = widths[i].saturating_sub(key.chars().count()) + 1;
                let mut key = Decorated::new(Ident::new_sanitized(key));
                key.decor_mut().set_suffix(" ".repeat(pad));
                let mut attr = Attribute::new(key, value);
                attr.decor_mut().set_prefix(inner.clone());
                block.body.push(Structure::Attribute(attr));
            }
            Item::Block(nested) => {
                let mut prefix = if block.body.is_empty() {
                    String::new()
                } else {
                    "\n".to_owned()
                };
                prefix.push_str(&inner);
                let mut b = build(nested, level + 1);
                b.decor_mut().set_prefix(prefix);
                block.body.push(Structure::Block(b));
            }
        }
    }
    *block.body.decor_mut() = Decor::new("", indent(level));
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_markers_in_free_text_read_back_as_written() {
        for text in [
            "plain",
            "a ${x}",
            "100%{",
            "t$%{",
            "r${'}/t$%{",
            "%${x}",
            "$${y}",
            "$$${z}",
            "%%{w}",
            "ends with $",
            "ends with %",
            "$",
            "%{",
            "管$%{理",
        ] {
            let file = render(
                &[],
                vec![BlockSpec::new("b").attr("description", string(text))],
            );
            let body: Body = file
                .parse()
                .unwrap_or_else(|e| panic!("{text:?}: {e}\n{file}"));
            let attr = body
                .blocks()
                .next()
                .and_then(|b| b.body.attributes().next().cloned())
                .unwrap_or_else(|| panic!("{file}"));
            let read = match &attr.value {
                Expression::String(s) => s.value().clone(),
                Expression::StringTemplate(t) => t
                    .iter()
                    .map(|e| match e {
                        hcl_edit::template::Element::Literal(l) => l.value().clone(),
                        other => panic!("{text:?} read back as a template: {other:?}"),
                    })
                    .collect(),
                other => panic!("{other:?}"),
            };
            assert_eq!(read, text, "{file}");
        }
    }

    #[test]
    fn layout_is_terraform_fmt() {
        let to = reference("alicloud_security_group_rule.ssh").expect("a reference");
        let blocks = vec![
            BlockSpec::new("resource")
                .label("alicloud_security_group_rule")
                .label("ssh")
                .attr("type", "ingress")
                .attr("priority", 1u64)
                .attr("description", "a ${x} \"q\""),
            BlockSpec::new("removed")
                .attr("from", to)
                .block(BlockSpec::new("lifecycle").attr("destroy", false)),
        ];
        let out = render(&["header".to_owned()], blocks);
        assert_eq!(
            out,
            "# header\n\nresource \"alicloud_security_group_rule\" \"ssh\" {\n  type        = \"ingress\"\n  priority    = 1\n  description = \"a $${x} \\\"q\\\"\"\n}\n\nremoved {\n  from = alicloud_security_group_rule.ssh\n\n  lifecycle {\n    destroy = false\n  }\n}\n"
        );
        let parsed: Body = out.parse().expect("hcl-edit reads what it wrote");
        assert_eq!(parsed.blocks().count(), 2);
    }
}
