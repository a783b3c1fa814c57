//! Rules that never decide anything: MOAT005 (shadowed by a broader rule of
//! the same verdict) and MOAT006 (overridden by a rule of the other verdict
//! that ECS evaluates first).
//!
//! Both compare one rule with one other that covers every flow of it, which
//! is exact for group and prefix-list peers too (they cover only themselves).

use super::Emitter;
use crate::codes;
use crate::eval::evaluation_order;
use crate::model::{DesiredRule, Direction, Peer, Protocol, RuleKey, Verdict};

pub(super) fn check(effective: &[&DesiredRule], emit: &mut Emitter<'_, '_>) {
    for direction in Direction::ALL {
        let rules: Vec<&DesiredRule> = effective
            .iter()
            .copied()
            .filter(|r| r.rule.key.direction == direction)
            .collect();
        for &rule in &rules {
            check_rule(rule, &rules, emit);
        }
    }
}

fn check_rule(rule: &DesiredRule, rules: &[&DesiredRule], emit: &mut Emitter<'_, '_>) {
    let mut shadowing: Option<&DesiredRule> = None;
    let mut overriding: Option<&DesiredRule> = None;
    let me = &rule.rule;
    for &other in rules {
        let o = &other.rule;
        if o.key == me.key || !covers(&o.key, &me.key) {
            continue;
        }
        let first =
            |best: Option<&DesiredRule>| best.is_none_or(|b| evaluation_order(o, &b.rule).is_lt());
        if o.key.verdict == me.key.verdict {
            if o.priority <= me.priority && first(shadowing) {
                shadowing = Some(other);
            }
        } else {
            // At equal priority a drop wins, so a drop overrides an accept of
            // the same priority, and an accept overrides a drop only from a
            // strictly better one.
            let before = match o.key.verdict {
                Verdict::Drop => o.priority <= me.priority,
                Verdict::Accept => o.priority < me.priority,
            };
            if before && first(overriding) {
                overriding = Some(other);
            }
        }
    }
    // An overridden rule is reported as such only: whether a broader rule of
    // its own verdict exists no longer matters.
    if let Some(o) = overriding {
        let (message, hint) = match me.key.verdict {
            Verdict::Accept => (
                format!(
                    "accept never applies: {} (priority {}, {}) denies all of it first",
                    describe(&o.rule.key),
                    o.rule.priority,
                    o.origin
                ),
                "remove this rule, or give it a better priority (a lower number) than the drop \
                 if the access is wanted",
            ),
            Verdict::Drop => (
                format!(
                    "drop never applies: {} (priority {}, {}) allows all of it first",
                    describe(&o.rule.key),
                    o.rule.priority,
                    o.origin
                ),
                "give the drop a better priority (a lower number) than the accept, or remove it",
            ),
        };
        emit.emit(rule, codes::OVERRIDDEN_RULE, message, hint.to_owned());
    } else if let Some(s) = shadowing {
        let verb = match me.key.verdict {
            Verdict::Accept => "allowed",
            Verdict::Drop => "denied",
        };
        emit.emit(
            rule,
            codes::SHADOWED_RULE,
            format!(
                "rule is redundant: everything it matches is already {verb} by {} (priority {}, {})",
                describe(&s.rule.key),
                s.rule.priority,
                s.origin
            ),
            "remove this rule, or narrow the broader one if this rule is the one meant".to_owned(),
        );
    }
}

/// `verdict service from/to peer`, without the direction (it is the rule's
/// own).
fn describe(key: &RuleKey) -> String {
    let text = key.to_string();
    let direction = key.direction.as_str();
    text.strip_prefix(direction)
        .map_or(text.clone(), |t| t.trim_start().to_owned())
}

/// True when every flow `inner` matches, `outer` matches too.
pub(crate) fn covers(outer: &RuleKey, inner: &RuleKey) -> bool {
    if outer.direction != inner.direction || outer.nic_type != inner.nic_type {
        return false;
    }
    let protocol = outer.protocol == Protocol::All || outer.protocol == inner.protocol;
    if !protocol {
        return false;
    }
    // `All` and protocols without ports carry `NotApplicable`, which covers
    // every port; a TCP or UDP range covers a range of the same protocol.
    if outer.protocol.takes_ports() && !outer.ports.covers(inner.ports) {
        return false;
    }
    let peer = match (&outer.peer, &inner.peer) {
        (Peer::Cidr { cidr: o }, Peer::Cidr { cidr: i }) => o.contains(i),
        (o, i) => o == i,
    };
    if !peer {
        return false;
    }
    let source_ports = match (outer.source_ports, inner.source_ports) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(o), Some(i)) => o.covers(i),
    };
    let local = match (outer.local, inner.local) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(o), Some(i)) => o.contains(&i),
    };
    source_ports && local
}
