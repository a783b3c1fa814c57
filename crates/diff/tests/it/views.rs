//! Golden files for every view of a set of plans a user could see.
//! Bless with `MOAT_BLESS=1 cargo test -p moat-diff` and review the diff.

use std::path::PathBuf;

use moat_diff::{
    DiffOptions, FindingRef, MARKDOWN_LIMIT, Plan, RenderOptions, diff, render_csv,
    render_drift_json, render_drift_text, render_json, render_markdown, render_text,
};
use moat_policy::{Diagnostic, Direction, Mode, PolicySet};
use moat_testkit::assert_golden;

use crate::support::*;

type View = fn(&Plan, &RenderOptions, &mut dyn std::io::Write) -> std::io::Result<()>;

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn render(view: View, plan: &Plan, options: &RenderOptions) -> String {
    let mut out = Vec::new();
    view(plan, options, &mut out).expect("rendering into a Vec");
    String::from_utf8(out).expect("views write UTF-8")
}

fn plan_of(p: &PolicySet, live: &[moat_policy::LiveGroup], remove_unmodeled: bool) -> Plan {
    let options = DiffOptions {
        today: TODAY,
        remove_unmodeled,
    };
    diff(p, live, &options)
}

fn empty() -> Plan {
    let p = policy(vec![group(
        "sg-t4nexample01",
        Mode::Authoritative,
        vec![want("ingress accept tcp/443 from 0.0.0.0/0", 1, "web", 12)],
    )]);
    let l = live(
        "sg-t4nexample01",
        vec![have(
            "sgr-web",
            "ingress accept tcp/443 from 0.0.0.0/0",
            1,
            "web",
        )],
    );
    plan_of(&p, &[l], false)
}

fn adds_only() -> Plan {
    let p = policy(vec![group(
        "sg-t4nexample01",
        Mode::Additive,
        vec![
            want(
                "ingress accept tcp/443 from 0.0.0.0/0",
                1,
                "HTTPS from anywhere",
                12,
            ),
            want(
                "ingress accept tcp/80 from 0.0.0.0/0",
                1,
                "HTTP from anywhere",
                12,
            ),
            want("egress accept tcp/53 to 10.0.0.2/32", 1, "", 20),
        ],
    )]);
    let l = live(
        "sg-t4nexample01",
        vec![have(
            "sgr-other",
            "ingress accept tcp/8080 from 10.0.0.0/8",
            1,
            "not ours",
        )],
    );
    plan_of(&p, &[l], false)
}

fn mixed() -> Plan {
    let mut ssh = want(
        "ingress accept tcp/22 from 10.8.0.0/16",
        1,
        "SSH from office and VPN for the on-call engineers, see runbook OPS-7",
        8,
    );
    ssh.protected = true;
    let mut vendor = want(
        "ingress accept tcp/22 from 198.51.100.77/32",
        1,
        "vendor debugging, ticket OPS-123",
        30,
    );
    vendor.expires = Some(jiff::civil::date(2026, 2, 27));
    let mut p = policy(vec![group(
        "sg-t4nexample01",
        Mode::Authoritative,
        vec![
            ssh,
            vendor,
            want("ingress accept tcp/443 from 0.0.0.0/0", 1, "HTTPS", 14),
            want("ingress drop tcp/23 from 0.0.0.0/0", 1, "no telnet", 18),
            want("ingress accept tcp/3306 from 0.0.0.0/0", 10, "mysql", 22),
            want("egress accept all to 0.0.0.0/0", 100, "outbound", 40),
        ],
    )]);
    let mut sel = selector("bastion access must never be cut by automation", 3);
    sel.description_prefix = Some("[core]".into());
    p.protect.push(sel);
    let l = live(
        "sg-t4nexample01",
        vec![
            have(
                "sgr-ssh",
                "ingress accept tcp/22 from 10.8.0.0/16",
                5,
                "SSH from the office for the on-call engineers, see runbook OPS-7",
            ),
            have(
                "sgr-vendor",
                "ingress accept tcp/22 from 198.51.100.77/32",
                1,
                "vendor debugging, ticket OPS-123",
            ),
            have(
                "sgr-web1",
                "ingress accept tcp/443 from 0.0.0.0/0",
                1,
                "HTTPS",
            ),
            have(
                "sgr-web2",
                "ingress accept tcp/443 from 0.0.0.0/0",
                1,
                "HTTPS (copy)",
            ),
            have(
                "sgr-telnet",
                "ingress drop tcp/23 from 0.0.0.0/0",
                1,
                "telnet",
            ),
            have(
                "sgr-core",
                "ingress accept tcp/3389 from 10.0.0.0/8",
                1,
                "[core] rdp jump host",
            ),
            have("sgr-old", "ingress accept tcp/8080 from 0.0.0.0/0", 1, ""),
            have("sgr-out", "egress accept all to 0.0.0.0/0", 1, "outbound"),
        ],
    );
    let mut plan = plan_of(&p, &[l], false);
    let mysql = Diagnostic::warning(
        origin("policies/web.yaml", 22, 7),
        "MOAT002",
        "database port tcp/3306 is open to 0.0.0.0/0",
    )
    .with_hint("allow it from the application tier's group or a private range");
    let https = Diagnostic::warning(
        origin("policies/web.yaml", 14, 7),
        "MOAT010",
        "rule has a short description",
    );
    let group_level = Diagnostic::warning(
        origin("policies/web.yaml", 3, 5),
        "MOAT020",
        "group has no egress restriction",
    );
    let unrelated = Diagnostic::warning(
        origin("policies/web.yaml", 99, 7),
        "MOAT010",
        "rule has no description",
    );
    let mysql_key = key("ingress accept tcp/3306 from 0.0.0.0/0");
    let https_key = key("ingress accept tcp/443 from 0.0.0.0/0");
    let untouched = key("ingress accept tcp/9999 from 10.0.0.0/8");
    plan.attach_findings([
        FindingRef {
            diagnostic: &mysql,
            group: Some("sg-t4nexample01"),
            key: Some(&mysql_key),
            suppressed: None,
        },
        FindingRef {
            diagnostic: &https,
            group: Some("sg-t4nexample01"),
            key: Some(&https_key),
            suppressed: Some("the name says it all"),
        },
        FindingRef {
            diagnostic: &group_level,
            group: Some("sg-t4nexample01"),
            key: None,
            suppressed: None,
        },
        FindingRef {
            diagnostic: &unrelated,
            group: Some("sg-t4nexample01"),
            key: Some(&untouched),
            suppressed: None,
        },
        FindingRef {
            diagnostic: &unrelated,
            group: None,
            key: None,
            suppressed: None,
        },
    ]);
    plan
}

fn unicode() -> Plan {
    let p = policy(vec![group(
        "sg-t4nexample02",
        Mode::Authoritative,
        vec![
            want(
                "ingress accept tcp/443 from 203.0.113.0/24",
                1,
                "Büro München — HTTPS 🔒",
                5,
            ),
            want(
                "ingress accept tcp/22 from 203.0.113.0/24",
                1,
                "运维跳板机 SSH \"quoted\", with comma",
                6,
            ),
        ],
    )]);
    let l = live(
        "sg-t4nexample02",
        vec![
            have(
                "sgr-u1",
                "ingress accept tcp/443 from 203.0.113.0/24",
                1,
                "Buero Muenchen - HTTPS",
            ),
            have(
                "sgr-u2",
                "ingress accept udp/5000-5100 from 203.0.113.0/24",
                1,
                "媒体\tstream",
            ),
        ],
    );
    plan_of(&p, &[l], false)
}

fn ipv6() -> Plan {
    let p = policy(vec![group(
        "sg-t4nexample03",
        Mode::Authoritative,
        vec![
            want("ingress accept tcp/443 from ::/0", 1, "HTTPS over IPv6", 5),
            want(
                "ingress accept icmpv6 from 2001:db8::/32",
                1,
                "ping6 from the lab",
                6,
            ),
            want("egress drop all to ::/0", 100, "no IPv6 egress", 9),
        ],
    )]);
    let l = live(
        "sg-t4nexample03",
        vec![
            have(
                "sgr-v6a",
                "ingress accept tcp/22 from ::/0",
                1,
                "ssh over v6",
            ),
            have("sgr-v6b", "egress drop all to ::/0", 1, "no IPv6 egress"),
        ],
    );
    plan_of(&p, &[l], false)
}

fn peers() -> Plan {
    let p = policy(vec![group(
        "sg-t4nexample04",
        Mode::Authoritative,
        vec![
            want(
                "ingress accept tcp/3306 from sg-t4napp000001",
                1,
                "mysql from the app tier",
                5,
            ),
            want(
                "ingress accept tcp/3306 from sg-t4nbatch0001@1234567890",
                1,
                "mysql from batch (other account)",
                6,
            ),
            want(
                "egress accept tcp/443 to pl-t4nexample",
                1,
                "HTTPS to the partner prefix list",
                9,
            ),
        ],
    )]);
    let l = live(
        "sg-t4nexample04",
        vec![have(
            "sgr-p1",
            "ingress accept tcp/3306 from sg-t4nold0000001",
            1,
            "old app tier",
        )],
    );
    plan_of(&p, &[l], false)
}

fn unmodeled_rules() -> Vec<Plan> {
    let make = |mode: Mode, remove: bool| {
        let mut p = policy(vec![group("sg-t4nexample05", mode, vec![])]);
        let mut sel = selector("core tunnels stay up", 7);
        sel.description_prefix = Some("[core]".into());
        p.protect.push(sel);
        let mut l = live("sg-t4nexample05", vec![]);
        l.unmodeled.push(unmodeled(
            "sgr-gre",
            Direction::Ingress,
            "[core] GRE tunnel",
        ));
        l.unmodeled
            .push(unmodeled("sgr-num", Direction::Egress, ""));
        plan_of(&p, &[l], remove)
    };
    vec![
        make(Mode::Authoritative, false),
        make(Mode::Authoritative, true),
        make(Mode::Additive, false),
    ]
}

/// Clearing a description is a replace in every view; a rule an
/// interrupted replace revoked is named when the plan adds it back.
fn replace() -> Plan {
    let p = policy(vec![group(
        "sg-t4nexample07",
        Mode::Authoritative,
        vec![
            want("ingress accept tcp/22 from 10.8.0.0/16", 1, "", 4),
            want("ingress accept tcp/443 from 0.0.0.0/0", 5, "", 5),
        ],
    )]);
    let l = live(
        "sg-t4nexample07",
        vec![have(
            "sgr-ssh",
            "ingress accept tcp/22 from 10.8.0.0/16",
            1,
            "SSH from the VPN (temporary)",
        )],
    );
    let mut plan = plan_of(&p, &[l], false);
    for c in &mut plan.groups[0].changes {
        if c.action == moat_diff::Action::Add {
            c.reasons
                .push(moat_diff::Reason::RevokedByInterruptedApply {
                    at: "2026-03-01T10:15:00Z".into(),
                });
        }
    }
    plan
}

fn missing_and_renamed() -> Plan {
    let p = policy(vec![
        group(
            "sg-t4nexample06",
            Mode::Authoritative,
            vec![want("ingress accept icmp from 10.0.0.0/8", 1, "ping", 5)],
        ),
        group(
            "sg-t4ngone00001",
            Mode::Authoritative,
            vec![want("ingress accept icmp from 10.0.0.0/8", 1, "ping", 5)],
        ),
    ]);
    let mut l = live(
        "sg-t4nexample06",
        vec![have(
            "sgr-ping",
            "ingress accept icmp from 10.0.0.0/8",
            1,
            "ping",
        )],
    );
    l.name = "web-old".into();
    plan_of(&p, &[l], false)
}

/// The policy says basic; the live group is enterprise. The egress accept
/// opens (enterprise denies egress by default) and every view says the
/// stated type is wrong.
fn wrong_type() -> Plan {
    let mut g = group(
        "sg-t4nexample07",
        Mode::Additive,
        vec![want(
            "egress accept tcp/443 to 0.0.0.0/0",
            1,
            "https out",
            5,
        )],
    );
    g.group_type = Some(moat_policy::GroupType::Normal);
    let p = policy(vec![g]);
    let mut l = live("sg-t4nexample07", vec![]);
    l.group_type = Some(moat_policy::GroupType::Enterprise);
    plan_of(&p, &[l], false)
}

/// Control characters in everything that comes from outside: live
/// descriptions, live rule ids and names, the policy's file name. Every
/// view shows them escaped, never raw.
fn controls() -> Plan {
    let mut g = group(
        "sg-t4nexample09",
        Mode::Authoritative,
        vec![want(
            "ingress accept tcp/443 from 10.0.0.0/8",
            1,
            "https",
            5,
        )],
    );
    g.origin = origin("policies/\u{1b}]0;pwned\u{7}web.yaml", 3, 5);
    for r in &mut g.rules {
        r.origin = origin("policies/\u{1b}]0;pwned\u{7}web.yaml", 5, 7);
    }
    let p = policy(vec![g]);
    let mut l = live(
        "sg-t4nexample09",
        vec![
            have(
                "sgr-esc",
                "ingress accept tcp/443 from 10.0.0.0/8",
                1,
                "clear\u{1b}[2J\u{7}screen\0nul",
            ),
            have(
                "sgr-\u{1b}[31mred",
                "ingress accept tcp/22 from 10.0.0.0/8",
                1,
                "rtl\u{202e}txt",
            ),
        ],
    );
    l.name = "web\u{1b}[1mbold".into();
    l.unmodeled
        .push(unmodeled("sgr-\u{9b}2J", Direction::Ingress, "bell\u{7}"));
    plan_of(&p, &[l], false)
}

/// A plan limited by `--group` to one of the policy's groups: every view
/// opens by saying it is partial (CSV: a row with status `partial`).
fn partial() -> Plan {
    let mut plan = adds_only();
    plan.targets = vec!["sg-t4nexample01".to_owned()];
    plan
}

/// `mixed` as `moat plan --instances` shows it: the group is on seven
/// instances (and a detached interface); its first change that opens
/// something does so on three of them, the others' other groups decide
/// their flows.
fn blast_radius() -> Plan {
    let mut plan = mixed();
    let g = &mut plan.groups[0];
    let instances: Vec<String> = (1..=7).map(|n| format!("i-bp1blast000000000{n}")).collect();
    let opening = g
        .changes
        .iter()
        .find(|c| {
            c.exposure
                .iter()
                .any(|e| e.kind == moat_diff::ExposureKind::NewPublicExposure)
        })
        .expect("mixed opens something to the internet");
    let exposure = opening
        .exposure
        .iter()
        .find(|e| e.kind == moat_diff::ExposureKind::NewPublicExposure)
        .expect("found above");
    let note = moat_diff::BlastNote {
        action: opening.action,
        key: opening.key.clone(),
        kind: exposure.kind.clone(),
        note: exposure.note.clone(),
        instance_count: 3,
        instances: instances[..3].to_vec(),
        interfaces: 4,
    };
    g.blast_radius = Some(moat_diff::BlastRadius {
        instance_count: instances.len(),
        instances,
        interfaces: 9,
        notes: vec![note],
    });
    plan
}

fn cases() -> Vec<(&'static str, Plan)> {
    let mut unmodeled = unmodeled_rules().into_iter();
    vec![
        ("empty", empty()),
        ("adds-only", adds_only()),
        ("mixed", mixed()),
        ("unicode", unicode()),
        ("ipv6", ipv6()),
        ("peers", peers()),
        ("unmodeled-kept", unmodeled.next().expect("two cases")),
        ("unmodeled-removed", unmodeled.next().expect("three cases")),
        ("unmodeled-additive", unmodeled.next().expect("three cases")),
        ("missing-and-renamed", missing_and_renamed()),
        ("wrong-type", wrong_type()),
        ("replace", replace()),
        ("controls", controls()),
        ("partial", partial()),
        ("blast-radius", blast_radius()),
    ]
}

fn check_all(view: View, ext: &str, options: &RenderOptions) {
    for (name, plan) in cases() {
        assert_golden(
            golden(&format!("{name}.{ext}")),
            &render(view, &plan, options),
        );
    }
}

#[test]
fn text_view_golden() {
    check_all(render_text, "txt", &RenderOptions::default());
}

#[test]
fn text_view_with_colour_golden() {
    let colour = RenderOptions {
        color: true,
        ..RenderOptions::default()
    };
    for (name, plan) in cases()
        .into_iter()
        .filter(|(n, _)| ["mixed", "missing-and-renamed", "replace", "controls"].contains(n))
    {
        assert_golden(
            golden(&format!("{name}.color.txt")),
            &render(render_text, &plan, &colour),
        );
    }
}

#[test]
fn json_view_golden() {
    check_all(render_json, "json", &RenderOptions::default());
}

#[test]
fn csv_view_golden() {
    check_all(render_csv, "csv", &RenderOptions::default());
}

#[test]
fn markdown_view_golden() {
    check_all(render_markdown, "md", &RenderOptions::default());
}

#[test]
fn drift_views_golden() {
    for (name, plan) in cases().into_iter().filter(|(n, _)| {
        [
            "empty",
            "mixed",
            "missing-and-renamed",
            "wrong-type",
            "unmodeled-kept",
            "unmodeled-additive",
            "replace",
            "controls",
            "partial",
        ]
        .contains(n)
    }) {
        let o = RenderOptions::default();
        assert_golden(
            golden(&format!("{name}.drift.txt")),
            &render(render_drift_text, &plan, &o),
        );
        assert_golden(
            golden(&format!("{name}.drift.json")),
            &render(render_drift_json, &plan, &o),
        );
    }
}

#[test]
fn summary_line_is_exact() {
    for (name, plan) in cases() {
        let text = render(render_text, &plan, &RenderOptions::default());
        let last = text.lines().last().unwrap_or_default();
        let s = plan.summary();
        let expected = if s.is_empty() {
            "No changes.".to_owned()
        } else {
            format!(
                "Plan: {} to add, {} to change, {} to remove.",
                s.add, s.change, s.remove
            )
        };
        assert_eq!(last, expected, "case {name}");
    }
}

#[test]
fn colour_only_when_asked() {
    let plan = mixed();
    let plain = render(render_text, &plan, &RenderOptions::default());
    assert!(!plain.contains('\x1b'));
    let colour = render(
        render_text,
        &plan,
        &RenderOptions {
            color: true,
            ..RenderOptions::default()
        },
    );
    assert!(colour.contains("\x1b[32m") && colour.contains("\x1b[31m"));
    for view in [render_json as View, render_csv, render_markdown] {
        assert!(
            !render(
                view,
                &plan,
                &RenderOptions {
                    color: true,
                    ..RenderOptions::default()
                }
            )
            .contains('\x1b')
        );
    }
}

/// 2,000 groups of adds: far over the comment limit.
fn huge() -> Plan {
    let groups = (0..2000)
        .map(|i| {
            let rules = (0..5)
                .map(|j| {
                    want(
                        &format!("ingress accept tcp/{} from 10.{}.0.0/16", 1000 + j, i % 250),
                        1,
                        "bulk",
                        5 + j,
                    )
                })
                .collect();
            group(&format!("sg-huge{i:05}"), Mode::Authoritative, rules)
        })
        .collect();
    let live: Vec<_> = (0..2000)
        .map(|i| live(&format!("sg-huge{i:05}"), vec![]))
        .collect();
    plan_of(&policy(groups), &live, false)
}

#[test]
fn markdown_is_cut_under_the_limit_with_a_note() {
    let plan = huge();
    let md = render(render_markdown, &plan, &RenderOptions::default());
    assert!(
        md.chars().count() <= MARKDOWN_LIMIT,
        "{} chars",
        md.chars().count()
    );
    assert!(
        md.chars().count() > MARKDOWN_LIMIT - 2000,
        "the budget is used"
    );
    assert!(md.contains("> **Cut:** this comment shows"), "visible note");
    assert_eq!(
        md.matches("<details>").count(),
        md.matches("</details>").count()
    );
    assert_eq!(md.matches("```").count() % 2, 0, "fences are closed");
    // The head and the tail are golden; the middle is the same blocks.
    let head: String = md.lines().take(40).collect::<Vec<_>>().join("\n");
    let tail: Vec<&str> = md.lines().rev().take(12).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    assert_golden(golden("huge.md.head"), &format!("{head}\n"));
    assert_golden(golden("huge.md.tail"), &format!("{}\n", tail.join("\n")));

    let small = RenderOptions {
        markdown_limit: 3000,
        ..RenderOptions::default()
    };
    let md = render(render_markdown, &plan, &small);
    assert!(md.chars().count() <= 3000);
    assert!(md.contains("the next one in part") || md.contains("in full, to stay"));
    let tiny = RenderOptions {
        markdown_limit: 50,
        ..RenderOptions::default()
    };
    assert!(render(render_markdown, &plan, &tiny).chars().count() <= 50);
}

#[test]
fn markdown_fence_outlasts_backticks_in_descriptions() {
    let p = policy(vec![group(
        "sg-1",
        Mode::Authoritative,
        vec![want(
            "ingress accept tcp/22 from 10.0.0.0/8",
            1,
            "run ````rm```` <b>not</b>",
            5,
        )],
    )]);
    let plan = plan_of(&p, &[live("sg-1", vec![])], false);
    let md = render(render_markdown, &plan, &RenderOptions::default());
    assert!(md.contains("`````diff\n"), "{md}");
}

#[test]
fn a_drift_report_read_back_writes_the_text_of_the_run_that_made_it() {
    // What `moat report merge` of one shard's drift JSON prints must be what
    // `moat drift` printed: the unmodeled rules' notes and the verdict too.
    for (name, plan) in cases() {
        let o = RenderOptions::default();
        let json = render(render_drift_json, &plan, &o);
        let back: moat_diff::DriftReport = serde_json::from_str(&json).expect("drift JSON");
        let mut text = Vec::new();
        moat_diff::render_drift_report_text(&back, &mut text).expect("rendered");
        assert_eq!(
            String::from_utf8(text).expect("UTF-8"),
            render(render_drift_text, &plan, &o),
            "{name}"
        );
    }
}

#[test]
fn no_view_writes_a_control_character_raw() {
    let plan = controls();
    let o = RenderOptions::default();
    let views: [(&str, View); 6] = [
        ("text", render_text),
        ("csv", render_csv),
        ("markdown", render_markdown),
        ("drift", render_drift_text),
        ("drift markdown", moat_diff::render_drift_markdown),
        ("json", render_json),
    ];
    for (name, view) in views {
        let out = render(view, &plan, &o);
        let raw: Vec<char> = out
            .chars()
            .filter(|&c| c != '\n' && c != '\r' && moat_policy::printable::is_unsafe(c))
            .collect();
        assert!(raw.is_empty(), "{name} writes {raw:?} raw:\n{out}");
    }
    // With colour, the only escape sequences are moat's own.
    let coloured = render(
        render_text,
        &plan,
        &RenderOptions {
            color: true,
            ..RenderOptions::default()
        },
    );
    assert!(!coloured.contains("\u{1b}]0;"), "{coloured}");
    assert!(!coloured.contains("\u{1b}[2J"), "{coloured}");
    assert!(!coloured.contains('\u{7}'), "{coloured}");
}
