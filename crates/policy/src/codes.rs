//! Stable codes of validation diagnostics (`MOAT1xx`) and of lint findings
//! (`MOAT0xx`).
//!
//! A code never changes meaning once released: scripts, editors and
//! `lint_ignore` lists may depend on it. New checks get new codes. Each
//! validation code is documented with an example and its fix in
//! `docs/policy.md`, each lint code in `docs/lint.md`; tests keep both in
//! step with [`ALL`] and [`LINT`].

use crate::diag::Severity;

/// The text is not valid YAML (including tabs used for indentation, several
/// documents in one file, and inputs beyond the parser's safety limits).
pub const YAML_SYNTAX: &str = "MOAT100";
/// A key the format does not define.
pub const UNKNOWN_KEY: &str = "MOAT101";
/// A required key is missing (`version`, `id`, `region`, the peer of a rule).
pub const MISSING_KEY: &str = "MOAT102";
/// A value of the wrong kind (a list where a string belongs, a quoted number).
pub const WRONG_TYPE: &str = "MOAT103";
/// A name that no address set or service defines.
pub const UNKNOWN_NAME: &str = "MOAT104";
/// Address sets or services that refer to themselves, or nest too deeply.
pub const NAME_CYCLE: &str = "MOAT105";
/// Not an IPv4 or IPv6 address or CIDR.
pub const INVALID_CIDR: &str = "MOAT106";
/// A CIDR with host bits set (`10.0.0.1/8`).
pub const HOST_BITS_SET: &str = "MOAT107";
/// A port of 0, above 65535, a reversed range, or not a number.
pub const INVALID_PORT: &str = "MOAT108";
/// Ports on a protocol that has none (`icmp/8`), or none on one that needs
/// them (`tcp`).
pub const PORT_PROTOCOL_MISMATCH: &str = "MOAT109";
/// `icmp` with an IPv6 peer, or `icmpv6` with an IPv4 peer.
pub const FAMILY_MISMATCH: &str = "MOAT110";
/// A priority outside 1-100.
pub const PRIORITY_RANGE: &str = "MOAT111";
/// A description longer than 512 characters.
pub const DESCRIPTION_TOO_LONG: &str = "MOAT112";
/// A rule with both `allow` and `deny`, or neither.
pub const ALLOW_DENY: &str = "MOAT113";
/// `from` on an egress rule or `to` on an ingress rule.
pub const PEER_DIRECTION: &str = "MOAT114";
/// A security group or prefix list id that is not of the form `sg-...` /
/// `pl-...`.
pub const MALFORMED_ID: &str = "MOAT115";
/// A protocol ECS does not know.
pub const UNKNOWN_PROTOCOL: &str = "MOAT116";
/// A value outside its allowed set: mode, group type, nic type, direction,
/// region, lint code, profile name, endpoint.
pub const INVALID_VALUE: &str = "MOAT117";
/// Two rules of one group with the same identity, also after expansion.
pub const DUPLICATE_RULE: &str = "MOAT118";
/// A security group defined more than once.
pub const DUPLICATE_GROUP: &str = "MOAT119";
/// A `version` this moat does not read.
pub const UNSUPPORTED_VERSION: &str = "MOAT120";
/// An `expires` that is not a calendar date `YYYY-MM-DD`.
pub const INVALID_DATE: &str = "MOAT121";
/// `lint_ignore` or a `protect` selector without a reason.
pub const MISSING_REASON: &str = "MOAT122";
/// A file with no content.
pub const EMPTY_FILE: &str = "MOAT123";
/// An address set, service or account defined more than once.
pub const DUPLICATE_NAME: &str = "MOAT124";
/// A name that cannot be an address set or service name (it looks like a
/// CIDR, a group id or a protocol, or has characters names may not use).
pub const INVALID_NAME: &str = "MOAT125";
/// An empty list where at least one entry is needed.
pub const EMPTY_LIST: &str = "MOAT126";
/// A rule whose peer is the group the rule belongs to.
pub const SELF_REFERENCE: &str = "MOAT127";
/// The same key twice in one mapping.
pub const DUPLICATE_KEY: &str = "MOAT128";
/// A file or directory that cannot be read, or a file that is not UTF-8.
pub const UNREADABLE: &str = "MOAT129";
/// No policy files were found.
pub const NO_POLICIES: &str = "MOAT130";
/// A `protect` selector with nothing but a reason, which would protect every
/// rule.
pub const PROTECT_EVERYTHING: &str = "MOAT131";
/// A `protect` selector naming a group no loaded policy defines.
pub const PROTECT_UNKNOWN_GROUP: &str = "MOAT132";
/// `nic_type: internet` on a rule whose peer is a group or prefix list.
pub const NIC_TYPE_PEER: &str = "MOAT133";
/// A `reason` on a rule without `lint_ignore`.
pub const REASON_WITHOUT_IGNORE: &str = "MOAT134";

/// Free text (a description, name, reason or description prefix) holding a
/// control character: C0 other than tab and line breaks, DEL, C1, or a
/// bidirectional control.
pub const CONTROL_CHARACTER: &str = "MOAT135";

/// A policy that expands past moat's limits: a group of more than 10,000
/// ECS rules, more than 1,000,000 rules or 256 MiB of copied text in all,
/// names that resolve to more than 4,000,000 members, a protect selector
/// of more than 10,000 services or peers.
pub const EXPANSION_LIMIT: &str = "MOAT136";

/// More problems than one report shows: the last diagnostic of a report
/// counts the ones left out.
pub const TOO_MANY_PROBLEMS: &str = "MOAT137";

/// A group's `account:` that no `accounts:` entry defines.
pub const UNKNOWN_ACCOUNT: &str = "MOAT138";

/// A `use:` or a test's `template:` naming a template no loaded policy
/// defines.
pub const UNKNOWN_TEMPLATE: &str = "MOAT139";

/// Templates that use themselves, directly or through others.
pub const TEMPLATE_CYCLE: &str = "MOAT140";

/// A group's `stage:` not in `stages:`, or files listing different stages.
pub const UNKNOWN_STAGE: &str = "MOAT141";

/// A test that names no group: neither `group` nor `template` (or both), a
/// group no loaded policy defines, or a template no group uses.
pub const TEST_WITHOUT_GROUP: &str = "MOAT142";

/// A test's peer that stands for no addresses moat can check (a security
/// group or prefix list id).
pub const TEST_PEER_NOT_ADDRESS: &str = "MOAT143";

/// Every validation code with a short title, in code order.
pub const ALL: &[(&str, &str)] = &[
    (YAML_SYNTAX, "invalid YAML"),
    (UNKNOWN_KEY, "unknown key"),
    (MISSING_KEY, "missing key"),
    (WRONG_TYPE, "wrong type"),
    (UNKNOWN_NAME, "unknown address set or service"),
    (NAME_CYCLE, "name cycle"),
    (INVALID_CIDR, "invalid address or CIDR"),
    (HOST_BITS_SET, "host bits set"),
    (INVALID_PORT, "invalid port"),
    (PORT_PROTOCOL_MISMATCH, "ports do not fit the protocol"),
    (FAMILY_MISMATCH, "ICMP version does not fit the peer"),
    (PRIORITY_RANGE, "priority outside 1-100"),
    (DESCRIPTION_TOO_LONG, "description too long"),
    (ALLOW_DENY, "allow and deny"),
    (PEER_DIRECTION, "peer key does not fit the direction"),
    (MALFORMED_ID, "malformed id"),
    (UNKNOWN_PROTOCOL, "unknown protocol"),
    (INVALID_VALUE, "invalid value"),
    (DUPLICATE_RULE, "duplicate rule"),
    (DUPLICATE_GROUP, "group defined twice"),
    (UNSUPPORTED_VERSION, "unsupported version"),
    (INVALID_DATE, "invalid date"),
    (MISSING_REASON, "missing reason"),
    (EMPTY_FILE, "empty file"),
    (DUPLICATE_NAME, "name defined twice"),
    (INVALID_NAME, "invalid name"),
    (EMPTY_LIST, "empty list"),
    (SELF_REFERENCE, "group refers to itself"),
    (DUPLICATE_KEY, "duplicate key"),
    (UNREADABLE, "unreadable file"),
    (NO_POLICIES, "no policy files"),
    (PROTECT_EVERYTHING, "protect selector without criteria"),
    (PROTECT_UNKNOWN_GROUP, "protect names an unknown group"),
    (NIC_TYPE_PEER, "nic type does not fit the peer"),
    (REASON_WITHOUT_IGNORE, "reason without lint_ignore"),
    (CONTROL_CHARACTER, "control character in text"),
    (EXPANSION_LIMIT, "expansion limit"),
    (TOO_MANY_PROBLEMS, "too many problems"),
    (UNKNOWN_ACCOUNT, "unknown account"),
    (UNKNOWN_TEMPLATE, "unknown template"),
    (TEMPLATE_CYCLE, "template cycle"),
    (UNKNOWN_STAGE, "unknown stage"),
    (TEST_WITHOUT_GROUP, "test names no group"),
    (TEST_PEER_NOT_ADDRESS, "test peer is not an address"),
];

// Lint codes (`MOAT0xx`). Lint runs on valid policies only.

/// A management port (SSH tcp/22, RDP tcp/3389 and udp/3389) open to the
/// internet: more public addresses than a /24 (IPv4) or a /48 (IPv6) holds.
pub const MANAGEMENT_PORT_OPEN: &str = "MOAT001";
/// A database or cache port reachable from any public address.
pub const DATA_PORT_PUBLIC: &str = "MOAT002";
/// An accept of all protocols or all ports open to the internet.
pub const ALL_PORTS_OPEN: &str = "MOAT003";
/// An ingress accept of more than 1,000 ports that is not all of them.
pub const WIDE_PORT_RANGE: &str = "MOAT004";
/// A rule every flow of which a broader rule of the same verdict and a
/// better or equal priority already decides.
pub const SHADOWED_RULE: &str = "MOAT005";
/// A rule every flow of which a rule of the other verdict decides first (an
/// accept under a drop of better or equal priority, a drop under an accept
/// of strictly better priority).
pub const OVERRIDDEN_RULE: &str = "MOAT006";
/// A rule without a description.
pub const NO_DESCRIPTION: &str = "MOAT007";
/// A rule whose `expires` date is at most [`crate::lint::EXPIRY_WARNING_DAYS`]
/// days away.
pub const EXPIRES_SOON: &str = "MOAT008";
/// A rule whose `expires` date has passed.
pub const EXPIRED: &str = "MOAT009";
/// A `lint_ignore` entry that suppresses nothing, or names no lint code.
pub const UNUSED_IGNORE: &str = "MOAT010";
/// A clear-text or control-plane service (FTP, Telnet, SMB, VNC, the Docker
/// API, etcd, the Kubernetes API, the kubelet) open to the internet, in the
/// sense of [`MANAGEMENT_PORT_OPEN`].
pub const RISKY_SERVICE_OPEN: &str = "MOAT011";

/// Every lint code with its severity and a short title, in code order.
pub const LINT: &[(&str, Severity, &str)] = &[
    (
        MANAGEMENT_PORT_OPEN,
        Severity::Error,
        "management port open to the internet",
    ),
    (
        DATA_PORT_PUBLIC,
        Severity::Error,
        "database or cache port reachable from public addresses",
    ),
    (
        ALL_PORTS_OPEN,
        Severity::Error,
        "all protocols or all ports open to the internet",
    ),
    (WIDE_PORT_RANGE, Severity::Warning, "very wide port range"),
    (
        SHADOWED_RULE,
        Severity::Warning,
        "rule shadowed by a broader rule",
    ),
    (
        OVERRIDDEN_RULE,
        Severity::Warning,
        "rule overridden by a rule of the other verdict",
    ),
    (
        NO_DESCRIPTION,
        Severity::Warning,
        "rule without description",
    ),
    (EXPIRES_SOON, Severity::Warning, "rule expires soon"),
    (EXPIRED, Severity::Warning, "rule has expired"),
    (
        UNUSED_IGNORE,
        Severity::Warning,
        "lint_ignore suppresses nothing",
    ),
    (
        RISKY_SERVICE_OPEN,
        Severity::Error,
        "clear-text or control-plane service open to the internet",
    ),
];

/// The severity of lint code `code`, if it is one.
pub fn lint_severity(code: &str) -> Option<Severity> {
    LINT.iter().find(|(c, _, _)| *c == code).map(|(_, s, _)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_sorted_and_in_the_validation_range() {
        for pair in ALL.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{:?} before {:?}", pair[0], pair[1]);
        }
        for (code, _) in ALL {
            assert!(code.len() == 7 && code.starts_with("MOAT1"), "{code}");
        }
    }

    #[test]
    fn lint_codes_are_unique_sorted_and_in_the_lint_range() {
        for pair in LINT.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{:?} before {:?}", pair[0], pair[1]);
        }
        for (code, _, _) in LINT {
            assert!(code.len() == 7 && code.starts_with("MOAT0"), "{code}");
        }
        assert_eq!(lint_severity(MANAGEMENT_PORT_OPEN), Some(Severity::Error));
        assert_eq!(lint_severity("MOAT099"), None);
    }
}
