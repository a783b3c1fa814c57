//! Property tests: no input makes loading panic, every diagnostic points
//! inside the file it names, and rendered policies load back to the same
//! rules.

use std::collections::BTreeMap;

use moat_policy::{
    DesiredRule, Direction, GroupPolicy, LintIgnore, Mode, NicType, Origin, Peer, PortRange,
    Protocol, Rule, RuleKey, Verdict, load_policy_str, render_policy_yaml,
};
use proptest::prelude::*;

/// A valid policy the mutations start from; it uses every feature.
const SEED: &str = r#"version: 1
addresses:
  office: [203.0.113.4/32, 198.51.100.0/28]
  vpn: [10.8.0.0/16]
  admins: [office, vpn]
  internet: [0.0.0.0/0, "::/0"]
services:
  ssh: tcp/22
  web: [tcp/80, tcp/443]
  dns: [udp/53, tcp/53]
security_groups:
  - id: sg-bp1web0000000001
    region: cn-hangzhou
    name: web-prod
    mode: authoritative
    ingress:
      - description: SSH from the admins
        allow: ssh
        from: admins
        protected: true
      - allow: web
        from: internet
        priority: 10
      - deny: tcp/23
        from: internet
      - allow: icmp
        from: 0.0.0.0/0
        lint_ignore: [MOAT001]
        reason: ping is harmless
      - allow: tcp/8000-8080
        from: sg-bp1app0000000001
        expires: 2026-12-31
    egress:
      - allow: dns
        to: [pl-bp1dns000001, 100.100.2.136]
protect:
  - reason: keep the bastion reachable
    group: sg-bp1web0000000001
    service: ssh
    peer: vpn
"#;

/// Asserts that every located diagnostic points at a line of `text` and at
/// most one column past its end.
fn assert_located_inside(text: &str, file: &str) {
    let Err(diags) = load_policy_str(file, text) else {
        return;
    };
    let lines: Vec<&str> = text.split('\n').collect();
    for d in diags.iter() {
        assert_eq!(&*d.origin.file, file, "{d}");
        let (line, column) = (d.origin.line as usize, d.origin.column as usize);
        assert!(
            line >= 1 && line <= lines.len(),
            "{d} outside {} lines",
            lines.len()
        );
        let width = lines[line - 1].chars().count();
        assert!(
            column >= 1 && column <= width + 1,
            "{d} outside a line of {width} characters"
        );
        assert!(d.code.starts_with("MOAT1"), "{d}");
    }
}

fn mutate(seed: &str, ops: &[(u8, usize, usize, String)]) -> String {
    let mut lines: Vec<String> = seed.lines().map(str::to_owned).collect();
    for (op, a, b, snippet) in ops {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let i = a % lines.len();
        let j = b % lines.len();
        match op % 6 {
            0 => {
                lines.remove(i);
            }
            1 => lines.swap(i, j),
            2 => {
                let copy = lines[i].clone();
                lines.insert(j, copy);
            }
            3 => {
                // Replace a stretch of a line (on character boundaries).
                let chars: Vec<char> = lines[i].chars().collect();
                let start = b % (chars.len() + 1);
                let end = (start + a % 5).min(chars.len());
                let mut s: String = chars[..start].iter().collect();
                s.push_str(snippet);
                s.extend(&chars[end..]);
                lines[i] = s;
            }
            4 => lines.insert(i, snippet.clone()),
            _ => {
                let indent = " ".repeat(b % 8);
                lines[i] = format!("{indent}{}", lines[i].trim_start());
            }
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

fn snippet() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("\t".to_owned()),
        Just(": ".to_owned()),
        Just("- ".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("{".to_owned()),
        Just("&a ".to_owned()),
        Just("*a".to_owned()),
        Just("<<: *a".to_owned()),
        Just("---".to_owned()),
        Just("~".to_owned()),
        Just("\"".to_owned()),
        Just("0".to_owned()),
        Just("99999999999999999999999999".to_owned()),
        Just("1e999".to_owned()),
        Just("::/0".to_owned()),
        Just("10.0.0.1/8".to_owned()),
        Just("sg-".to_owned()),
        Just("tcp/0".to_owned()),
        Just("icmpv6".to_owned()),
        Just("office".to_owned()),
        Just("!!binary".to_owned()),
        Just("é✓🚀".to_owned()),
        "[ -~]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(text in "[a-z0-9 :,#&*!|>'\"\\[\\]{}/.\\-\\n\\t~?%@`]{0,300}") {
        assert_located_inside(&text, "random.yaml");
    }

    #[test]
    fn random_unicode_never_panics(text in "\\PC{0,200}") {
        assert_located_inside(&text, "unicode.yaml");
    }

    #[test]
    fn mutated_policies_never_panic(
        ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>(), snippet()), 1..6)
    ) {
        let text = mutate(SEED, &ops);
        assert_located_inside(&text, "mutated.yaml");
    }
}

#[test]
fn the_seed_is_valid() {
    if let Err(diags) = load_policy_str("seed.yaml", SEED) {
        panic!("{diags:?}");
    }
}

// ---- round trip of render_policy_yaml ----

fn origin() -> Origin {
    Origin {
        file: "generated".into(),
        line: 1,
        column: 1,
    }
}

fn service() -> impl Strategy<Value = (Protocol, PortRange)> {
    prop_oneof![
        (
            prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)],
            1u16..=65535,
            0u16..100
        )
            .prop_map(|(p, from, width)| (
                p,
                PortRange::Range {
                    from,
                    to: from.saturating_add(width)
                }
            )),
        prop_oneof![
            Just(Protocol::Icmp),
            Just(Protocol::Icmpv6),
            Just(Protocol::Gre),
            Just(Protocol::All)
        ]
        .prop_map(|p| (p, PortRange::NotApplicable)),
    ]
}

fn peer() -> impl Strategy<Value = Peer> {
    prop_oneof![
        (any::<u32>(), 0u8..=32).prop_map(|(a, len)| {
            let net = ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(a), len).expect("length <= 32");
            Peer::cidr(net.into())
        }),
        (any::<u128>(), 0u8..=128).prop_map(|(a, len)| {
            let net = ipnet::Ipv6Net::new(std::net::Ipv6Addr::from(a), len).expect("length <= 128");
            Peer::cidr(net.into())
        }),
        "[a-z0-9]{1,20}".prop_map(|s| Peer::group(format!("sg-{s}"))),
        "[a-z0-9]{1,20}".prop_map(|s| Peer::PrefixList {
            id: format!("pl-{s}")
        }),
    ]
}

/// Characters a policy's text may not hold (MOAT135): controls other than
/// tab and line breaks, bidirectional controls.
fn forbidden_in_text(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Any text a policy may hold as a description: up to 512 characters of
/// any kind but controls, with a bias towards the symbols YAML cares about.
fn description() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "\\PC{0,40}",
        "[ -~]{0,60}",
        any::<String>().prop_map(|s| s.chars().take(512).collect()),
        Just("yes".to_owned()),
        Just("null".to_owned()),
        Just("  padded  ".to_owned()),
        Just("# not a comment: - [x] {y} &z *w !v | > ' \" % @ `".to_owned()),
        Just("多语言 описание ✓ 🚀\u{2028}\u{feff}".to_owned()),
        Just("é".repeat(512)),
    ]
    .prop_map(|s| s.chars().filter(|c| !forbidden_in_text(*c)).collect())
}

prop_compose! {
    fn desired_rule()(
        direction in prop_oneof![Just(Direction::Ingress), Just(Direction::Egress)],
        (protocol, ports) in service(),
        peer in peer(),
        verdict in prop_oneof![Just(Verdict::Accept), Just(Verdict::Drop)],
        internet in any::<bool>(),
        priority in 1u8..=100,
        description in description(),
        protected in any::<bool>(),
        expires in proptest::option::of((2000i16..2100, 1i8..=12, 1i8..=28)),
        lint_ignore in proptest::option::of((proptest::collection::vec("MOAT0[0-9]{2}", 1..3), "[a-z][ -~]{0,30}")),
    ) -> DesiredRule {
        // Keep the combinations ECS (and the policy format) accept.
        let peer = match (protocol, &peer) {
            (Protocol::Icmp, p) if p.is_ipv6() => Peer::cidr("10.0.0.0/8".parse().expect("cidr")),
            (Protocol::Icmpv6, p) if p.is_ipv4() => Peer::cidr("fd00::/8".parse().expect("cidr")),
            _ => peer,
        };
        let nic_type = if internet && matches!(peer, Peer::Cidr { .. }) {
            NicType::Internet
        } else {
            NicType::Intranet
        };
        DesiredRule {
            rule: Rule {
                key: RuleKey {
                    direction,
                    protocol,
                    ports,
                    peer,
                    verdict,
                    nic_type,
                    source_ports: None,
                    local: None,
                },
                priority,
                description,
            },
            origin: origin(),
            service_name: None,
            peer_name: None,
            protected,
            expires: expires.map(|(y, m, d)| jiff::civil::date(y, m, d)),
            lint_ignore: lint_ignore.map(|(codes, reason)| LintIgnore { codes, reason }),
        }
    }
}

prop_compose! {
    fn group(index: usize)(
        id in "[a-z0-9]{1,20}",
        name in proptest::option::of(description()),
        additive in any::<bool>(),
        rules in proptest::collection::vec(desired_rule(), 0..25),
        // Some rules share all but their service, so that they are written
        // as one policy rule with a list of services.
        siblings in proptest::collection::vec(service(), 0..4),
    ) -> GroupPolicy {
        let id = format!("sg-{index}x{id}");
        let mut by_key: BTreeMap<RuleKey, DesiredRule> = BTreeMap::new();
        for r in rules {
            if matches!(&r.rule.key.peer, Peer::Group { id: peer, .. } if *peer == id) {
                continue;
            }
            if let Some(first) = by_key.values().next().cloned() {
                for (protocol, ports) in &siblings {
                    let mut sibling = first.clone();
                    sibling.rule.key.protocol = *protocol;
                    sibling.rule.key.ports = *ports;
                    if !(matches!(protocol, Protocol::Icmp) && sibling.rule.key.peer.is_ipv6()
                        || matches!(protocol, Protocol::Icmpv6) && sibling.rule.key.peer.is_ipv4())
                    {
                        by_key.insert(sibling.rule.key.clone(), sibling.clone());
                    }
                }
            }
            by_key.insert(r.rule.key.clone(), r);
        }
        GroupPolicy {
            id,
            region: "cn-hangzhou".to_owned(),
            name,
            mode: if additive { Mode::Additive } else { Mode::Authoritative },
            group_type: None,
            account: None,
            stage: None,
            origin: origin(),
            rules: by_key.into_values().collect(),
        }
    }
}

fn groups() -> impl Strategy<Value = Vec<GroupPolicy>> {
    (0usize..4).prop_flat_map(|n| (0..n).map(group).collect::<Vec<_>>())
}

/// The parts of a group that a policy file carries.
fn comparable(g: &GroupPolicy) -> impl PartialEq + std::fmt::Debug + '_ {
    let rules: Vec<_> = g
        .rules
        .iter()
        .map(|r| (&r.rule, r.protected, r.expires, &r.lint_ignore))
        .collect();
    (&g.id, &g.region, &g.name, g.mode, rules)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn rendered_policies_load_back_to_the_same_rules(groups in groups()) {
        let text = render_policy_yaml(&groups).expect("generated rules are representable");
        let loaded = match load_policy_str("rendered.yaml", &text) {
            Ok(set) => set,
            Err(diags) => panic!("{text}\n{diags:#?}"),
        };
        let mut expected = groups.clone();
        expected.sort_by(|a, b| a.id.cmp(&b.id));
        prop_assert_eq!(loaded.groups.len(), expected.len());
        for (l, e) in loaded.groups.iter().zip(&expected) {
            prop_assert_eq!(comparable(l), comparable(e), "{}", text);
        }
    }
}
