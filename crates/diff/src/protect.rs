//! Which live rules are protected, decided the same way when a plan is made
//! and when apply checks it.
//!
//! The plan shows the reviewer a [`Protection`] on each change, but apply
//! does not trust that field: it derives protection again from what the plan
//! carries under its hash (the protect selectors and the rules the policy
//! marks `protected: true`) and from the live rule the change touches, read
//! moments before. Both sides call these functions, so they cannot disagree.

use moat_policy::{ProtectSelector, Rule, UnmodeledRule};

use crate::diff::PROTECTED_RULE_REASON;
use crate::plan::{ProtectedRule, Protection, ProtectionSource};

/// The protection of live rule `live` of group `group_id`: `protected: true`
/// on the policy rule of the same identity first, then the first selector
/// that matches (selectors also protect live rules the policy no longer
/// contains).
pub fn protection_of(
    selectors: &[ProtectSelector],
    protected: &[ProtectedRule],
    group_id: &str,
    live: &Rule,
) -> Option<Protection> {
    if let Some(p) = protected.iter().find(|p| p.key == live.key) {
        return Some(Protection {
            source: ProtectionSource::Rule,
            reason: PROTECTED_RULE_REASON.to_owned(),
            origin: p.origin.clone(),
        });
    }
    selectors
        .iter()
        .find(|s| s.matches(group_id, live))
        .map(selector_protection)
}

/// The protection of an unmodeled live rule. Such a rule has no service or
/// peer moat can compare, so a selector whose other fields match is taken
/// to protect it: refusing a removal by mistake is recoverable, revoking a
/// protected rule is not.
pub fn unmodeled_protection(
    selectors: &[ProtectSelector],
    group_id: &str,
    u: &UnmodeledRule,
) -> Option<Protection> {
    selectors
        .iter()
        .find(|s| {
            s.group.as_deref().is_none_or(|g| g == group_id)
                && s.direction.is_none_or(|d| d == u.direction)
                && s.description_prefix
                    .as_deref()
                    .is_none_or(|p| u.description.starts_with(p))
        })
        .map(selector_protection)
}

fn selector_protection(s: &ProtectSelector) -> Protection {
    Protection {
        source: ProtectionSource::Selector,
        reason: s.reason.clone(),
        origin: s.origin.clone(),
    }
}
