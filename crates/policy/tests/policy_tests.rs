//! Golden tests of policy test evaluation: each policy under
//! `data/tests/` is loaded, its `tests:` run against the desired rules on a
//! fixed day, and the report compared with `<case>.expected` (the text view,
//! then the JSON). Bless with `MOAT_BLESS=1 cargo test -p moat-policy --test
//! policy_tests`.

use std::path::PathBuf;

use moat_policy::policy_tests::{DecidedBy, Expect, render_test_report, run_tests};
use moat_policy::{load_policies, load_policy_str};
use moat_testkit::assert_golden;

const TODAY: jiff::civil::Date = jiff::civil::date(2026, 12, 1);

#[test]
fn reports_match_their_golden_files() {
    let dir = PathBuf::from("tests/data/tests");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/data/tests exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    for case in cases {
        let set = load_policies(std::slice::from_ref(&case))
            .unwrap_or_else(|d| panic!("{}: {d}", case.display()));
        let report = run_tests(&set, TODAY);
        let json = serde_json::to_string_pretty(&report).expect("a report is JSON");
        let actual = format!("{}\n{json}\n", render_test_report(&report));
        assert_golden(case.with_extension("expected"), &actual);
    }
}

fn policy(rules: &str, tests: &str) -> String {
    format!(
        "version: 1\nsecurity_groups:\n  - id: sg-bp1t00000000000001\n    region: cn-hangzhou\n    ingress:\n{rules}tests:\n{tests}"
    )
}

fn test(from: &str, port: &str, expect: &str) -> String {
    format!(
        "  - name: t\n    group: sg-bp1t00000000000001\n    from: {from}\n    port: {port}\n    expect: {expect}\n"
    )
}

/// A CIDR holds only when every address in it gets the answer: one address
/// the other way at either end of the range fails the test, and the failure
/// names that address.
#[test]
fn one_address_anywhere_in_the_range_fails_the_test() {
    for (hole, named) in [
        ("10.0.0.0", "10.0.0.0"),
        ("10.255.255.255", "10.255.255.255"),
        ("10.128.7.9", "10.128.7.9"),
    ] {
        let text = policy(
            &format!("      - allow: tcp/22\n        from: {hole}\n"),
            &test("10.0.0.0/8", "tcp/22", "deny"),
        );
        let set = load_policy_str("p.yaml", &text).expect("valid");
        let report = run_tests(&set, TODAY);
        let t = &report.tests[0];
        assert!(!t.passed, "{hole}");
        assert_eq!(t.failures[0].address.to_string(), named);
        assert!(matches!(t.failures[0].decided_by, DecidedBy::Rule { .. }));
        // The opposite expectation fails too, at an address outside the hole.
        let text = policy(
            &format!("      - allow: tcp/22\n        from: {hole}\n"),
            &test("10.0.0.0/8", "tcp/22", "allow"),
        );
        let set = load_policy_str("p.yaml", &text).expect("valid");
        let t = &run_tests(&set, TODAY).tests[0];
        assert!(!t.passed);
        assert_ne!(t.failures[0].address.to_string(), named);
        assert!(matches!(
            t.failures[0].decided_by,
            DecidedBy::Default { .. }
        ));
    }
}

/// Every port of a range is checked, and a failure names the port.
#[test]
fn every_port_of_a_range_is_checked() {
    let text = policy(
        "      - allow: tcp/2222\n        from: 0.0.0.0/0\n",
        &test("192.0.2.1", "tcp/2000-3000", "deny"),
    );
    let set = load_policy_str("p.yaml", &text).expect("valid");
    let t = &run_tests(&set, TODAY).tests[0];
    assert!(!t.passed);
    assert_eq!(t.failures[0].service, "tcp/2222");
    assert_eq!(t.expect, Expect::Deny);
}

/// The same test against a group without the rule passes: tests are
/// computed, not recorded.
#[test]
fn a_test_passes_once_the_rule_is_gone() {
    let text = policy(
        "      - allow: tcp/80\n        from: 0.0.0.0/0\n",
        &test("0.0.0.0/0", "tcp/2000-3000", "deny"),
    );
    let set = load_policy_str("p.yaml", &text).expect("valid");
    let report = run_tests(&set, TODAY);
    assert!(report.all_passed(), "{}", render_test_report(&report));
}

/// Against live rules, a rule the policy does not have decides by its live
/// id (no origin), one it has keeps the policy's origin, and a group that is
/// not live fails the test.
#[test]
fn live_rules_name_their_id_and_a_missing_group_fails() {
    use moat_policy::policy_tests::run_tests_live;
    use moat_policy::{LiveGroup, LiveRule};
    let text = policy(
        "      - allow: tcp/443\n        from: 0.0.0.0/0\n",
        &test("0.0.0.0/0", "tcp/22", "deny"),
    );
    let set = load_policy_str("p.yaml", &text).expect("valid");
    let desired = &set.groups[0].rules[0].rule;
    let mut stray = desired.clone();
    stray.key.ports = moat_policy::PortRange::single(22);
    let mut live = LiveGroup::empty("sg-bp1t00000000000001", "cn-hangzhou");
    live.rules = vec![
        LiveRule {
            id: "sgr-1".into(),
            rule: desired.clone(),
            create_time: String::new(),
        },
        LiveRule {
            id: "sgr-2".into(),
            rule: stray,
            create_time: String::new(),
        },
    ];
    let t = &run_tests_live(&set, std::slice::from_ref(&live)).tests[0];
    assert!(!t.passed);
    match &t.failures[0].decided_by {
        DecidedBy::Rule {
            origin, live_id, ..
        } => {
            assert_eq!(origin, &None);
            assert_eq!(live_id.as_deref(), Some("sgr-2"));
        }
        other => panic!("decided by {other:?}"),
    }
    assert!(render_test_report(&run_tests_live(&set, std::slice::from_ref(&live))).contains(
        "by `ingress accept tcp/22 from 0.0.0.0/0` (priority 1, live rule sgr-2) not in the policy"
    ));
    let t = &run_tests_live(&set, &[]).tests[0];
    assert!(!t.passed);
    assert_eq!(t.missing, ["sg-bp1t00000000000001"]);
}

/// Keeping the groups of a stage or a shard drops the tests of no kept
/// group, and keeps only kept groups in the others.
#[test]
fn retaining_groups_trims_the_tests() {
    let text = "version: 1\nsecurity_groups:\n  - id: sg-bp1t00000000000001\n    region: cn-hangzhou\n  - id: sg-bp1t00000000000002\n    region: cn-hangzhou\ntests:\n  - name: one\n    group: sg-bp1t00000000000001\n    from: 0.0.0.0/0\n    port: tcp/22\n    expect: deny\n  - name: two\n    group: sg-bp1t00000000000002\n    from: 0.0.0.0/0\n    port: tcp/22\n    expect: deny\n";
    let mut set = load_policy_str("p.yaml", text).expect("valid");
    set.retain_groups(|g| g.id.ends_with('2'));
    assert_eq!(set.tests.len(), 1);
    assert_eq!(set.tests[0].name, "two");
}
