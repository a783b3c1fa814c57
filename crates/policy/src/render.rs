//! Writing groups back as a policy in the DESIGN 3 format.
//!
//! `moat export` writes live rules with this, and `apply` its rollback
//! snapshots, so the one property that matters is the round trip: loading
//! the text gives back exactly the same rules (identity, priority,
//! description) and attributes. Rules of a group that differ only in their
//! service are written as one policy rule with a list of services, which is
//! what a person would write and expands back to the same rules.

use std::fmt::Write as _;

use crate::model::{
    DEFAULT_PRIORITY, DesiredRule, Direction, GroupPolicy, NicType, Peer, RuleKey, Verdict,
};
use crate::yaml::scalar;

/// A rule the policy format cannot express.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("rule `{key}` of group {group} cannot be written as a policy: {reason}")]
    Unrepresentable {
        group: String,
        key: Box<RuleKey>,
        reason: &'static str,
    },
}

/// Renders groups as one policy file (without a schema modeline, which
/// depends on where the file is written). A group's `account:` is not
/// written: it says how to reach the group, and would need the `accounts:`
/// block of the policies it was loaded from.
///
/// Errors when a rule uses something the format has no words for: a source
/// port range or a second ("local") address.
pub fn render_policy_yaml(groups: &[GroupPolicy]) -> Result<String, RenderError> {
    let mut out = String::from("version: 1\n");
    if groups.is_empty() {
        out.push_str("security_groups: []\n");
        return Ok(out);
    }
    out.push_str("security_groups:\n");
    for g in groups {
        write_group(&mut out, g)?;
    }
    Ok(out)
}

fn write_group(out: &mut String, g: &GroupPolicy) -> Result<(), RenderError> {
    let _ = writeln!(out, "  - id: {}", scalar(&g.id));
    let _ = writeln!(out, "    region: {}", scalar(&g.region));
    if let Some(name) = &g.name {
        let _ = writeln!(out, "    name: {}", scalar(name));
    }
    let _ = writeln!(out, "    mode: {}", g.mode);
    if let Some(t) = g.group_type {
        let _ = writeln!(out, "    type: {t}");
    }
    for direction in Direction::ALL {
        let rules: Vec<&DesiredRule> = g
            .rules
            .iter()
            .filter(|r| r.rule.key.direction == direction)
            .collect();
        if rules.is_empty() {
            let _ = writeln!(out, "    {direction}: []");
            continue;
        }
        let _ = writeln!(out, "    {direction}:");
        for block in blocks(&rules) {
            for r in &block {
                check(g, r)?;
            }
            write_rule(out, &block);
        }
    }
    Ok(())
}

/// Everything of a rule except its service: rules that agree on all of it
/// are written as one policy rule.
fn same_but_service(a: &DesiredRule, b: &DesiredRule) -> bool {
    let (ka, kb) = (&a.rule.key, &b.rule.key);
    ka.direction == kb.direction
        && ka.peer == kb.peer
        && ka.verdict == kb.verdict
        && ka.nic_type == kb.nic_type
        && ka.source_ports == kb.source_ports
        && ka.local == kb.local
        && a.rule.priority == b.rule.priority
        && a.rule.description == b.rule.description
        && a.protected == b.protected
        && a.expires == b.expires
        && a.lint_ignore == b.lint_ignore
}

/// Groups rules into policy rules, in the order their first rule appears.
/// Linear in practice: a new rule is compared with the open blocks only.
fn blocks<'a>(rules: &[&'a DesiredRule]) -> Vec<Vec<&'a DesiredRule>> {
    let mut blocks: Vec<Vec<&DesiredRule>> = Vec::new();
    let mut index: std::collections::HashMap<BlockKey<'a>, usize> =
        std::collections::HashMap::new();
    for r in rules {
        let key = BlockKey::of(r);
        match index.get(&key) {
            Some(&i) if same_but_service(blocks[i][0], r) => blocks[i].push(r),
            _ => {
                index.insert(key, blocks.len());
                blocks.push(vec![r]);
            }
        }
    }
    blocks
}

/// The hashable part of [`same_but_service`].
#[derive(PartialEq, Eq, Hash)]
struct BlockKey<'a> {
    peer: &'a Peer,
    verdict: Verdict,
    nic_type: NicType,
    priority: u8,
    description: &'a str,
}

impl<'a> BlockKey<'a> {
    fn of(r: &'a DesiredRule) -> Self {
        BlockKey {
            peer: &r.rule.key.peer,
            verdict: r.rule.key.verdict,
            nic_type: r.rule.key.nic_type,
            priority: r.rule.priority,
            description: &r.rule.description,
        }
    }
}

fn check(g: &GroupPolicy, r: &DesiredRule) -> Result<(), RenderError> {
    let key = &r.rule.key;
    let reason = if key.source_ports.is_some() {
        Some("source port ranges have no policy syntax")
    } else if key.local.is_some() {
        Some("a rule's second (local) address has no policy syntax")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(RenderError::Unrepresentable {
            group: g.id.clone(),
            key: Box::new(key.clone()),
            reason,
        }),
        None => Ok(()),
    }
}

fn write_rule(out: &mut String, block: &[&DesiredRule]) {
    let first = block[0];
    let key = &first.rule.key;
    let mut indent = "      - ";
    let mut line = |out: &mut String, text: String| {
        let _ = writeln!(out, "{indent}{text}");
        indent = "        ";
    };
    if !first.rule.description.is_empty() {
        line(
            out,
            format!("description: {}", scalar(&first.rule.description)),
        );
    }
    let verb = match key.verdict {
        Verdict::Accept => "allow",
        Verdict::Drop => "deny",
    };
    let services: Vec<String> = block
        .iter()
        .map(|r| scalar(&r.rule.key.service().to_string()))
        .collect();
    let services = match services.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    };
    line(out, format!("{verb}: {services}"));
    line(
        out,
        format!(
            "{}: {}",
            key.direction.peer_word(),
            scalar(&key.peer.policy_text())
        ),
    );
    if first.rule.priority != DEFAULT_PRIORITY {
        line(out, format!("priority: {}", first.rule.priority));
    }
    if key.nic_type != NicType::default() {
        line(out, format!("nic_type: {}", key.nic_type));
    }
    if first.protected {
        line(out, "protected: true".to_owned());
    }
    if let Some(date) = first.expires {
        line(out, format!("expires: {date}"));
    }
    if let Some(li) = &first.lint_ignore {
        let codes: Vec<String> = li.codes.iter().map(|c| scalar(c)).collect();
        line(out, format!("lint_ignore: [{}]", codes.join(", ")));
        line(out, format!("reason: {}", scalar(&li.reason)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load_policy_str;

    #[test]
    fn rules_differing_only_in_service_share_a_policy_rule() {
        let text = "version: 1\nsecurity_groups:\n  - id: sg-bp1a\n    region: cn-hangzhou\n    \
                    ingress:\n      - description: web\n        allow: [tcp/443, tcp/80]\n        \
                    from: \"::/0\"\n        priority: 7\n";
        let set = load_policy_str("in.yaml", text).expect("valid");
        let out = render_policy_yaml(&set.groups).expect("representable");
        assert_eq!(
            out,
            "version: 1\nsecurity_groups:\n  - id: sg-bp1a\n    region: cn-hangzhou\n    \
             mode: authoritative\n    ingress:\n      - description: web\n        \
             allow: [tcp/80, tcp/443]\n        from: \"::/0\"\n        priority: 7\n    egress: []\n"
        );
    }

    #[test]
    fn rules_without_policy_syntax_are_refused() {
        let text = "version: 1\nsecurity_groups:\n  - id: sg-bp1a\n    region: cn-hangzhou\n    \
                    ingress:\n      - allow: tcp/22\n        from: sg-bp1b\n";
        let mut set = load_policy_str("in.yaml", text).expect("valid");
        set.groups[0].rules[0].rule.key.source_ports = Some(crate::PortRange::single(1024));
        let err = render_policy_yaml(&set.groups).expect_err("source ports");
        assert!(err.to_string().contains("source port"), "{err}");
    }

    #[test]
    fn a_peer_group_of_another_account_reads_back_as_written() {
        let text = "version: 1\nsecurity_groups:\n  - id: sg-bp1a\n    region: cn-hangzhou\n    \
                    ingress:\n      - allow: tcp/22\n        from: sg-bp1b\n";
        let mut set = load_policy_str("in.yaml", text).expect("valid");
        let peer = Peer::Group {
            id: "sg-bp1b".into(),
            owner: Some("1234567890123456".into()),
        };
        set.groups[0].rules[0].rule.key.peer = peer.clone();
        let out = render_policy_yaml(&set.groups).expect("cross-account peer");
        assert!(
            out.contains("from: \"1234567890123456/sg-bp1b\"\n"),
            "{out}"
        );
        let back = load_policy_str("out.yaml", &out).expect("reads back");
        assert_eq!(back.groups[0].rules[0].rule.key.peer, peer);
    }

    #[test]
    fn no_groups_is_an_empty_policy() {
        let out = render_policy_yaml(&[]).expect("empty");
        assert!(load_policy_str("empty.yaml", &out).is_ok_and(|s| s.groups.is_empty()));
    }
}
