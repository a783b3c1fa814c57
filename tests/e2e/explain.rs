//! `moat explain`: the verdict and the deciding rule, desired and live.

use crate::cloud::with_examples;
use crate::common::TestEnv;

#[test]
fn explains_desired_and_live_rules() {
    let env = with_examples();
    let mut all = String::new();
    for args in [
        // Allowed by the office rule of the bastion.
        &[
            "explain",
            "policies/",
            "--group",
            "sg-bp1b4st10n7k2m9x3q8w",
            "--from",
            "203.0.113.5",
            "--port",
            "tcp/22",
        ][..],
        // Nothing matches: ingress default.
        &[
            "explain",
            "policies/",
            "--group",
            "sg-bp1b4st10n7k2m9x3q8w",
            "--from",
            "8.8.8.8",
            "--port",
            "tcp/22",
        ],
        // Only a group rule could allow it: said, not guessed.
        &[
            "explain",
            "policies/",
            "--group",
            "sg-bp1w3b7r2k9m4x6q1z8c",
            "--from",
            "10.0.0.1",
            "--port",
            "tcp/22",
        ],
        // Egress: the workers' closing drop, IPv6.
        &[
            "explain",
            "policies/",
            "--group",
            "sg-bp1w0rk3r5x8m2k6q9n4",
            "--to",
            "2001:db8::1",
            "--port",
            "udp/53",
        ],
        // Live: the local cloud's extra rule.
        &[
            "explain",
            "--local",
            "--live",
            "policies/",
            "--group",
            "sg-bp1a9p5n3v8k2m7x4q6d",
            "--from",
            "198.51.100.1",
            "--port",
            "tcp/3389",
        ],
    ] {
        let run = env.run(args);
        assert_eq!(run.code, Some(0), "{}", run.snapshot());
        all.push_str(&run.snapshot());
    }
    let path = crate::common::repo_root().join("tests/e2e/golden/explain.txt");
    moat_testkit::assert_golden(path, &all);
}

#[test]
fn bad_questions_name_the_flag() {
    let env = TestEnv::new();
    for (args, expected) in [
        (
            &[
                "explain", "--group", "sg-1", "--from", "1.2.3.4", "--port", "tcp",
            ][..],
            "tcp needs a port",
        ),
        (
            &[
                "explain", "--group", "sg-1", "--from", "1.2.3.4", "--port", "icmp/3",
            ],
            "icmp takes no port",
        ),
        (
            &[
                "explain",
                "--group",
                "sg-1",
                "--from",
                "not-an-ip",
                "--port",
                "tcp/22",
            ],
            "--from",
        ),
        (
            &[
                "explain", "--group", "sg-1", "--from", "1.2.3.4", "--port", "tcp/22",
            ],
            "give the policies",
        ),
        (
            &[
                "explain", "--group", "sg-1", "--from", "1.2.3.4", "--to", "1.2.3.5", "--port",
                "tcp/22",
            ],
            "cannot be used with",
        ),
    ] {
        let run = env.run(args);
        assert_eq!(run.code, Some(1), "{}", run.snapshot());
        assert!(
            run.stderr.contains(expected),
            "{expected}: {}",
            run.snapshot()
        );
    }
}

/// Issue 11: a live group is evaluated with its live type: an enterprise
/// group denies egress no rule allows, whatever the policy says.
#[test]
fn live_explain_uses_the_live_group_type() {
    let handle = crate::cloud::emulator();
    let g = moat_emulator::SeedGroup::new("cn-hangzhou", "sg-bp1e2eent000000002")
        .name("ent")
        .vpc_id("vpc-e2e")
        .group_type(moat_emulator::GroupType::Enterprise);
    handle.emulator().seed_groups([g]).expect("seeding");
    let (env, endpoint) = crate::cloud::cloud_env(&handle);
    env.write(
        "ent.yaml",
        "version: 1\nsecurity_groups:\n  - id: sg-bp1e2eent000000002\n    region: cn-hangzhou\n    type: normal\n    ingress: []\n",
    );
    let args = [
        "explain",
        "ent.yaml",
        "--live",
        "--group",
        "sg-bp1e2eent000000002",
        "--to",
        "198.51.100.7",
        "--port",
        "tcp/443",
    ];
    let live = crate::cloud::at(&env, &endpoint, &args);
    live.expect_code(0)
        .expect_stdout("DENY egress tcp/443 to 198.51.100.7")
        .expect_stdout("the policy says type: normal, the live group is enterprise")
        .expect_stdout("ECS denies egress traffic by default in an enterprise group");
    // The desired rules take the policy's type: basic allows egress.
    let desired = crate::cloud::at(
        &env,
        &endpoint,
        &args[..2]
            .iter()
            .chain(&args[3..])
            .copied()
            .collect::<Vec<_>>(),
    );
    desired.expect_code(0).expect_stdout("ALLOW egress tcp/443");
}
