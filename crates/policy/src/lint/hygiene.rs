//! Checks of single rules: MOAT004 (very wide port range), MOAT007 (no
//! description), MOAT008 (expires soon) and MOAT009 (expired).

use super::{Emitter, PEER};
use crate::codes;
use crate::model::{Direction, GroupPolicy, PortRange, Verdict};

/// An ingress accept of more ports than this (and not all of them) is "very
/// wide" (MOAT004).
pub const WIDE_PORT_RANGE_LIMIT: u32 = 1000;

/// Lint warns about a rule's `expires` this many days ahead (MOAT008); on
/// the day itself the rule is still desired.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

pub(super) fn check<'g>(
    group: &'g GroupPolicy,
    today: jiff::civil::Date,
    emit: &mut Emitter<'g, '_>,
) {
    for rule in &group.rules {
        let key = &rule.rule.key;
        if rule.rule.description.trim().is_empty() {
            emit.emit(
                rule,
                codes::NO_DESCRIPTION,
                "rule has no description".to_owned(),
                "add `description:` saying what the rule is for and who asked (a ticket); \
                 it is stored on the ECS rule and shown in plans"
                    .to_owned(),
            );
        }
        if let Some(expires) = rule.expires {
            if rule.is_expired(today) {
                emit.emit(
                    rule,
                    codes::EXPIRED,
                    format!(
                        "rule expired on {expires}: it is no longer desired and the next plan removes it"
                    ),
                    "delete the rule from the policy, or move `expires` forward if the access is \
                     still needed"
                        .to_owned(),
                );
            } else {
                // A calendar difference in days cannot fail between two valid
                // dates; if it did, the rule is simply not reported as soon.
                let days = today
                    .until(expires)
                    .map_or(i64::MAX, |s| i64::from(s.get_days()));
                if days <= EXPIRY_WARNING_DAYS {
                    let when = match days {
                        0 => "today (its last day)".to_owned(),
                        1 => "tomorrow".to_owned(),
                        n => format!("in {n} days"),
                    };
                    emit.emit(
                        rule,
                        codes::EXPIRES_SOON,
                        format!("rule expires on {expires}, {when}"),
                        "the first plan after that day removes the rule; move `expires` forward \
                         if the access is still needed"
                            .to_owned(),
                    );
                }
            }
        }
        if rule.is_expired(today) {
            continue;
        }
        if key.direction == Direction::Ingress
            && key.verdict == Verdict::Accept
            && key.protocol.takes_ports()
            && key.ports != PortRange::ALL_PORTS
            && key.ports.width() > WIDE_PORT_RANGE_LIMIT
        {
            emit.emit_about_peer(
                rule,
                codes::WIDE_PORT_RANGE,
                format!(
                    "{} opens {} ports from {PEER}",
                    key.service(),
                    key.ports.width(),
                ),
                "allow the ports the service uses; a service can list several \
                 (`[tcp/80, tcp/443]`)"
                    .to_owned(),
            );
        }
    }
}
