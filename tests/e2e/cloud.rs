//! What the tests that talk to a cloud share: the example policies in a
//! scratch directory, an emulator with known keys, and call counts.

use std::fmt::Write as _;

use moat_emulator::{AccessKey, EmulatorConfig, EmulatorHandle, SeedGroup};
use moat_policy::{Direction, NicType, Peer, PortRange, Protocol, Rule, RuleKey, Verdict};

use crate::common::{Run, TestEnv, repo_root};

pub const TODAY: &str = "2026-11-25";
pub const KEY_ID: &str = "LTAI5tE2ePlanTestKey01";
pub const KEY_SECRET: &str = "e2e-plan-test-secret";

/// A scratch directory holding a copy of the example policies (and of the
/// directories in `policies/`, such as the rollout example).
pub fn with_examples() -> TestEnv {
    let env = TestEnv::new().env("MOAT_TODAY", TODAY);
    copy_examples(&env, &repo_root().join("policies"), "policies");
    env
}

fn copy_examples(env: &TestEnv, dir: &std::path::Path, to: &str) {
    for entry in std::fs::read_dir(dir).expect("the examples exist") {
        let path = entry.expect("a directory entry").path();
        let name = path
            .file_name()
            .expect("a file name")
            .to_string_lossy()
            .into_owned();
        if path.is_dir() {
            copy_examples(env, &path, &format!("{to}/{name}"));
        } else {
            env.write(
                &format!("{to}/{name}"),
                std::fs::read(&path).expect("readable"),
            );
        }
    }
}

/// Seeds `handle` with an empty group per id and writes `many.yaml`, a
/// policy giving each of them 150 rules (two authorize calls per group),
/// for the tests that need an apply still working when they act on it.
pub fn many_rules(handle: &EmulatorHandle, ids: &[String]) -> (TestEnv, String) {
    let mut policy = String::from("version: 1\nsecurity_groups:\n");
    let mut seeds = Vec::new();
    for (g, id) in ids.iter().enumerate() {
        seeds.push(SeedGroup::new("cn-hangzhou", id).vpc_id("vpc-e2e"));
        let _ = writeln!(
            policy,
            "  - id: {id}\n    region: cn-hangzhou\n    ingress:"
        );
        for r in 0..150 {
            let _ = writeln!(
                policy,
                "      - {{description: rule {r}, allow: tcp/{}, from: 10.{g}.{}.0/24}}",
                1000 + r,
                r % 250
            );
        }
    }
    handle.emulator().seed_groups(seeds).expect("seeding");
    let (env, endpoint) = cloud_env(handle);
    env.write("many.yaml", &policy);
    (env, endpoint)
}

/// An environment whose credentials are those the emulator accepts.
pub fn cloud_env(handle: &EmulatorHandle) -> (TestEnv, String) {
    let env = TestEnv::new()
        .env("MOAT_TODAY", TODAY)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", KEY_SECRET)
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true");
    (env, handle.endpoint())
}

pub fn emulator() -> EmulatorHandle {
    emulator_with(|_| {})
}

/// An emulator with the test keys and whatever else `tweak` sets (faults).
pub fn emulator_with(tweak: impl FnOnce(&mut EmulatorConfig)) -> EmulatorHandle {
    let mut config = EmulatorConfig {
        access_keys: vec![AccessKey::new(KEY_ID, KEY_SECRET)],
        id_seed: Some(5),
        ..EmulatorConfig::default()
    };
    tweak(&mut config);
    moat_emulator::start(config).expect("the emulator starts")
}

pub fn rule(
    direction: Direction,
    protocol: Protocol,
    ports: PortRange,
    peer: &str,
    description: &str,
) -> Rule {
    Rule {
        key: RuleKey {
            direction,
            protocol,
            ports,
            peer: Peer::cidr(peer.parse().expect("cidr")),
            verdict: Verdict::Accept,
            nic_type: NicType::Intranet,
            source_ports: None,
            local: None,
        },
        priority: 1,
        description: description.to_owned(),
    }
}

/// Seeds `group`, named `app` in cn-hangzhou, with one rule: SSH from the
/// office range (what the accounts and roles policies start from).
pub fn seed_office_ssh(handle: &EmulatorHandle, group: &str) {
    let ssh = rule(
        Direction::Ingress,
        Protocol::Tcp,
        PortRange::single(22),
        "203.0.113.0/28",
        "SSH from the office",
    );
    let seeded = SeedGroup::new("cn-hangzhou", group)
        .name("app")
        .vpc_id("vpc-e2e")
        .rule(
            moat_emulator::Direction::Ingress,
            moat_aliyun::convert::to_permission(&ssh),
        );
    handle.emulator().seed_groups([seeded]).expect("seeded");
}

/// Calls that change rules or groups (the lease's tag calls are apart:
/// [`lock_calls`]).
pub fn mutating_calls(handle: &EmulatorHandle) -> u64 {
    let stats = handle.emulator().stats();
    stats
        .calls
        .iter()
        .filter(|(action, _)| !action.starts_with("Describe") && !is_tag_action(action))
        .map(|(_, c)| c.ok + c.error)
        .sum()
}

fn is_tag_action(action: &str) -> bool {
    matches!(
        action,
        "TagResources" | "ListTagResources" | "UntagResources"
    )
}

/// Calls of the lease: TagResources, ListTagResources, UntagResources.
pub fn lock_calls(handle: &EmulatorHandle) -> u64 {
    let stats = handle.emulator().stats();
    stats
        .calls
        .iter()
        .filter(|(action, _)| is_tag_action(action))
        .map(|(_, c)| c.ok + c.error)
        .sum()
}

/// The number in `... in N API calls` of the closing line of an
/// apply (the last one in `stdout`).
pub fn summary_calls(stdout: &str) -> u64 {
    let head = stdout
        .rsplit_once(" API call")
        .map(|(head, _)| head)
        .unwrap_or_default();
    head.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no call count in {stdout}"))
}

/// Runs `moat ARGS... --endpoint ENDPOINT` in `env`.
pub fn at(env: &TestEnv, endpoint: &str, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["--endpoint", endpoint]);
    env.run(&all)
}
