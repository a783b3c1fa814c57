//! Lint checks, one policy each, through one helper: `check(rules, expected)`
//! writes the ingress (and egress) rules into a one-group policy, lints it and
//! compares the findings as `line CODE [ignored]` plus the message.

use super::*;
use crate::load_policy_str;

fn today() -> jiff::civil::Date {
    jiff::civil::date(2026, 6, 1)
}

/// A policy with one group whose ingress rules are `ingress` (YAML list
/// items indented by six spaces) and whose egress rules are `egress`.
fn policy(ingress: &str, egress: &str) -> String {
    let mut text = String::from(
        "# one group\nversion: 1\naddresses:\n  internet: [0.0.0.0/0, \"::/0\"]\n  office: [203.0.113.0/28]\n  \
         vpc: [10.0.0.0/8]\nsecurity_groups:\n  - id: sg-bp1web0000000001\n    region: cn-hangzhou\n",
    );
    if !ingress.is_empty() {
        text.push_str("    ingress:\n");
        text.push_str(ingress);
    }
    if !egress.is_empty() {
        text.push_str("    egress:\n");
        text.push_str(egress);
    }
    text
}

fn findings_of(text: &str) -> Vec<Finding> {
    let set = match load_policy_str("p.yaml", text) {
        Ok(set) => set,
        Err(diags) => panic!("invalid test policy: {:#?}\n{text}", diags.0),
    };
    lint(&set, today())
}

/// `LINE CODE message` per reported finding (expanded rules merged), with
/// ` [ignored: reason]` for suppressed ones.
fn summary(text: &str) -> Vec<String> {
    let findings = findings_of(text);
    reports(&findings)
        .iter()
        .map(|r| {
            let f = r.finding;
            let mut s = format!(
                "{} {} {}",
                f.diagnostic.origin.line, f.diagnostic.code, f.diagnostic.message
            );
            if let Some(reason) = &f.suppressed {
                s.push_str(&format!(" [ignored: {reason}]"));
            }
            s
        })
        .collect()
}

fn codes_of(text: &str) -> Vec<String> {
    summary(text)
        .iter()
        .map(|s| s.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

/// One described ingress rule.
fn rule(fields: &str) -> String {
    let mut s = String::from("      - description: test rule\n");
    for f in fields.split(';') {
        s.push_str(&format!("        {}\n", f.trim()));
    }
    s
}

// Lines: rules start at line 11 when there is an ingress list; each `rule`
// with N fields takes N + 1 lines.

#[test]
fn ssh_from_ipv6_everywhere_is_an_error() {
    let text = policy(&rule("allow: tcp/22; from: \"::/0\""), "");
    assert_eq!(
        summary(&text),
        ["11 MOAT001 management port tcp/22 (SSH) is open to the internet from ::/0"]
    );
}

#[test]
fn ssh_from_ipv4_mapped_ipv6_everywhere_is_flagged_like_ipv4() {
    // `::ffff:0.0.0.0/96` is the IPv4 space written as IPv6.
    let text = policy(&rule("allow: tcp/22; from: \"::ffff:0.0.0.0/96\""), "");
    assert_eq!(
        summary(&text),
        ["11 MOAT001 management port tcp/22 (SSH) is open to the internet from ::ffff:0.0.0.0/96"]
    );
    // Within it, the mapped IPv4 networks are judged as IPv4: a mapped
    // private range is private, a mapped /16 of public space is wide.
    let text = policy(
        &[
            rule("allow: tcp/3306; from: \"::ffff:10.0.0.0/104\""),
            rule("allow: tcp/3389; from: \"::ffff:8.8.0.0/112\""),
        ]
        .concat(),
        "",
    );
    assert_eq!(codes_of(&text), ["14 MOAT001"], "{:#?}", summary(&text));
    // A drop written in IPv4 closes what the mapped accept opens.
    let text = policy(
        &[
            rule("allow: tcp/22; from: \"::ffff:0.0.0.0/96\"; priority: 50"),
            rule("deny: tcp/22; from: 0.0.0.0/0; priority: 1"),
        ]
        .concat(),
        "",
    );
    assert_eq!(summary(&text), Vec::<String>::new());
}

#[test]
fn all_protocols_from_anywhere_trips_every_exposure_check() {
    let text = policy(&rule("allow: all; from: 0.0.0.0/0"), "");
    assert_eq!(
        codes_of(&text),
        ["11 MOAT001", "11 MOAT002", "11 MOAT003", "11 MOAT011"],
        "{:#?}",
        summary(&text)
    );
    let s = summary(&text);
    assert!(
        s[0].contains("tcp/22 (SSH), tcp/3389 (RDP) and udp/3389 (RDP) are open"),
        "{s:?}"
    );
    assert!(
        s[2].ends_with("all protocols are open to the internet from 0.0.0.0/0"),
        "{s:?}"
    );
}

#[test]
fn clear_text_and_control_plane_services_from_the_internet_are_errors() {
    let text = policy(
        &[
            rule("allow: [tcp/23, tcp/2375]; from: 0.0.0.0/0"),
            // An office range is an allowlist, as for SSH.
            rule("allow: tcp/5900; from: office"),
        ]
        .concat(),
        "",
    );
    assert_eq!(
        summary(&text),
        [
            "11 MOAT011 service tcp/23 (Telnet) is open to the internet from 0.0.0.0/0",
            "11 MOAT011 service tcp/2375 (Docker API) is open to the internet from 0.0.0.0/0",
        ]
    );
}

#[test]
fn a_port_range_covering_a_database_port_exposes_it() {
    let text = policy(&rule("allow: tcp/1-65535; from: 198.51.100.0/24"), "");
    // A /24 is not "the internet" for MOAT001 and MOAT003, but no public
    // address may reach a database.
    assert_eq!(
        summary(&text),
        [
            "11 MOAT002 database and cache ports tcp/1433 (SQL Server), tcp/1521 (Oracle), \
          tcp/3306 (MySQL), tcp/5432 (PostgreSQL), tcp/6379 (Redis), tcp/9200 (Elasticsearch), \
          tcp/11211 (Memcached) and tcp/27017 (MongoDB) are reachable from public addresses in \
          198.51.100.0/24"
        ]
    );
    let text = policy(&rule("allow: tcp/3000-4000; from: internet"), "");
    let s = summary(&text);
    assert!(
        s[0].ends_with("from 0.0.0.0/0 and ::/0 (set \"internet\")"),
        "{s:#?}"
    );
    assert_eq!(
        codes_of(&text),
        ["11 MOAT001", "11 MOAT002", "11 MOAT004"],
        "{:#?}",
        summary(&text)
    );
}

#[test]
fn group_and_prefix_list_peers_are_not_public() {
    let text = policy(
        &[
            rule("allow: tcp/22; from: sg-bp1bastion00001"),
            rule("allow: all; from: pl-bp1mirrors00001"),
            rule("allow: tcp/3306; from: sg-bp1app000000001"),
        ]
        .concat(),
        "",
    );
    assert_eq!(summary(&text), Vec::<String>::new());
}

#[test]
fn a_drop_of_better_priority_removes_the_exposure() {
    let text = policy(
        &[
            rule("allow: tcp/22; from: 0.0.0.0/0; priority: 100"),
            rule("deny: tcp/22; from: 0.0.0.0/0; priority: 1"),
        ]
        .concat(),
        "",
    );
    // No exposure, and the accept is reported as useless instead.
    assert_eq!(codes_of(&text), ["11 MOAT006"], "{:#?}", summary(&text));
    let s = summary(&text);
    assert!(
        s[0].contains("drop tcp/22 from 0.0.0.0/0 (priority 1, p.yaml:15:9)"),
        "{s:?}"
    );
}

#[test]
fn a_drop_of_worse_priority_does_not() {
    let text = policy(
        &[
            rule("allow: tcp/22; from: 0.0.0.0/0; priority: 1"),
            rule("deny: tcp/22; from: 0.0.0.0/0; priority: 100"),
        ]
        .concat(),
        "",
    );
    assert_eq!(
        codes_of(&text),
        ["11 MOAT001", "15 MOAT006"],
        "{:#?}",
        summary(&text)
    );
}

#[test]
fn at_equal_priority_the_drop_wins() {
    let text = policy(
        &[
            rule("allow: tcp/22; from: 0.0.0.0/0; priority: 5"),
            rule("deny: all; from: 0.0.0.0/0; priority: 5"),
        ]
        .concat(),
        "",
    );
    assert_eq!(codes_of(&text), ["11 MOAT006"], "{:#?}", summary(&text));
}

#[test]
fn a_partial_drop_leaves_the_rest_exposed() {
    let text = policy(
        &[
            rule("allow: tcp/22; from: 0.0.0.0/0; priority: 10"),
            rule("deny: tcp/22; from: 1.0.0.0/8; priority: 1"),
        ]
        .concat(),
        "",
    );
    assert_eq!(
        summary(&text),
        [
            "11 MOAT001 management port tcp/22 (SSH) is open to the internet from 0.0.0.0/0 \
          (partly closed by drops of better priority)"
        ]
    );
}

#[test]
fn private_sources_are_fine() {
    let text = policy(
        &[
            rule("allow: tcp/22; from: vpc"),
            rule("allow: tcp/3306; from: 172.16.0.0/12"),
            rule("allow: all; from: 192.168.0.0/16"),
            rule("allow: tcp/6379; from: \"fd00::/8\""),
        ]
        .concat(),
        "",
    );
    assert_eq!(summary(&text), Vec::<String>::new());
}

#[test]
fn an_office_range_may_reach_ssh_but_not_a_database() {
    let text = policy(
        &[
            rule("allow: tcp/22; from: office"),
            rule("allow: tcp/5432; from: office"),
        ]
        .concat(),
        "",
    );
    assert_eq!(
        summary(&text),
        [
            "14 MOAT002 database port tcp/5432 (PostgreSQL) is reachable from public addresses in \
          203.0.113.0/28 (set \"office\")"
        ]
    );
}

#[test]
fn splitting_the_internet_in_halves_does_not_hide_it() {
    let text = policy(&rule("allow: tcp/3389; from: [0.0.0.0/1, 128.0.0.0/1]"), "");
    assert_eq!(
        summary(&text),
        [
            "11 MOAT001 management port tcp/3389 (RDP) is open to the internet from 0.0.0.0/1 and \
             128.0.0.0/1"
        ]
    );
}

#[test]
fn lint_ignore_keeps_the_finding_with_its_reason() {
    let text = policy(
        "      - description: honeypot\n        allow: tcp/22\n        from: internet\n        \
         lint_ignore: [MOAT001]\n        reason: this host exists to be attacked\n",
        "",
    );
    let findings = findings_of(&text);
    assert_eq!(findings.len(), 2, "one per address family: {findings:#?}");
    assert!(
        findings
            .iter()
            .all(|f| f.suppressed.as_deref() == Some("this host exists to be attacked"))
    );
    assert_eq!(
        Summary::of(&findings),
        Summary {
            errors: 0,
            warnings: 0,
            ignored: 2
        }
    );
    assert_eq!(findings[0].group.as_deref(), Some("sg-bp1web0000000001"));
    assert!(findings.iter().all(|f| f.key.is_some()));
}

#[test]
fn an_ignore_that_suppresses_nothing_is_reported() {
    let text = policy(
        "      - description: office ssh\n        allow: tcp/22\n        from: office\n        \
         lint_ignore: [MOAT001, MOAT099, MOAT008]\n        reason: we said so\n",
        "",
    );
    assert_eq!(
        summary(&text),
        [
            "11 MOAT010 `lint_ignore` lists MOAT001 but the rule has no MOAT001 finding",
            "11 MOAT010 `lint_ignore` names MOAT099, which is not a lint code",
        ]
    );
}

#[test]
fn shadowed_rules_are_redundant() {
    let text = policy(
        &[
            rule("allow: tcp/80; from: 0.0.0.0/0"),
            rule("allow: tcp/80; from: office; priority: 50"),
            rule("allow: tcp/80; from: 198.51.100.0/24"),
            rule("allow: all; from: vpc; priority: 20"),
            rule("allow: tcp/8080; from: 10.1.0.0/16; priority: 30"),
            // Same coverage, better priority: not shadowed, the /8 is not
            // evaluated first.
            rule("allow: udp/53; from: 10.2.0.0/16; priority: 10"),
        ]
        .concat(),
        "",
    );
    assert_eq!(
        codes_of(&text),
        ["14 MOAT005", "18 MOAT005", "25 MOAT005"],
        "{:#?}",
        summary(&text)
    );
    assert!(
        summary(&text)[0]
            .contains("already allowed by accept tcp/80 from 0.0.0.0/0 (priority 1, p.yaml:11:9)")
    );
}

#[test]
fn a_drop_under_a_better_accept_never_applies() {
    let text = policy(
        &[
            rule("allow: tcp/443; from: 0.0.0.0/0; priority: 1"),
            rule("deny: tcp/443; from: 198.51.100.7; priority: 50"),
        ]
        .concat(),
        "",
    );
    assert_eq!(codes_of(&text), ["15 MOAT006"], "{:#?}", summary(&text));
}

#[test]
fn group_peers_shadow_only_themselves() {
    let text = policy(
        &[
            rule("allow: all; from: sg-bp1app000000001"),
            rule("allow: tcp/22; from: sg-bp1app000000001"),
            rule("allow: tcp/22; from: sg-bp1app000000002"),
        ]
        .concat(),
        "",
    );
    assert_eq!(codes_of(&text), ["14 MOAT005"], "{:#?}", summary(&text));
}

#[test]
fn missing_descriptions_and_wide_ranges_warn() {
    let text = policy(
        "      - allow: tcp/8000-9100\n        from: vpc\n      - allow: tcp/1-65535\n        from: vpc\n",
        "",
    );
    assert_eq!(
        summary(&text),
        [
            "11 MOAT004 tcp/8000-9100 opens 1101 ports from 10.0.0.0/8 (set \"vpc\")",
            "11 MOAT005 rule is redundant: everything it matches is already allowed by \
             accept tcp/1-65535 from 10.0.0.0/8 (priority 1, p.yaml:13:9)",
            "11 MOAT007 rule has no description",
            "13 MOAT007 rule has no description",
        ]
    );
}

#[test]
fn expiry_warns_ahead_and_reports_expired_rules() {
    let text = policy(
        &[
            rule("allow: tcp/443; from: office; expires: 2026-06-01"),
            rule("allow: tcp/443; from: 198.51.100.0/28; expires: 2026-06-15"),
            rule("allow: tcp/443; from: 198.51.100.16/28; expires: 2026-06-16"),
            rule("allow: tcp/22; from: 0.0.0.0/0; expires: 2026-05-31"),
        ]
        .concat(),
        "",
    );
    assert_eq!(
        summary(&text),
        [
            "11 MOAT008 rule expires on 2026-06-01, today (its last day)",
            "15 MOAT008 rule expires on 2026-06-15, in 14 days",
            // Expired: reported, and no longer part of what the group exposes.
            "23 MOAT009 rule expired on 2026-05-31: it is no longer desired and the next plan removes it",
        ]
    );
}

#[test]
fn default_egress_patterns_are_not_flagged() {
    let text = policy(
        "",
        &[
            rule("allow: all; to: internet"),
            rule("allow: tcp/1-65535; to: 0.0.0.0/0; priority: 2"),
        ]
        .concat(),
    );
    // The second is redundant under the first, nothing more.
    assert_eq!(codes_of(&text), ["14 MOAT005"], "{:#?}", summary(&text));
}

#[test]
fn findings_are_sorted_and_deterministic() {
    let text = policy(
        &[
            "      - allow: all\n        from: internet\n".to_owned(),
            rule("allow: tcp/22; from: vpc"),
        ]
        .concat(),
        "",
    );
    let a = findings_of(&text);
    let b = findings_of(&text);
    assert_eq!(a, b);
    let keys: Vec<_> = a.iter().map(Finding::sort_key).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}
