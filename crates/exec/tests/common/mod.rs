//! Helpers shared by the apply tests: an emulator on loopback, a client with
//! short retry delays, rules, desired policies and plans.
#![allow(dead_code)]

use std::time::Duration;

use moat_aliyun::convert::to_permission;
use moat_aliyun::wire::{Action as WireAction, Permission};
use moat_aliyun::{Client, ClientConfig, Credentials, RetryPolicy};
use moat_diff::{DiffOptions, Plan, diff};
use moat_emulator::{
    AccessKey, Direction as WireDirection, EmulatorConfig, EmulatorHandle, FaultConfig, SeedGroup,
    Stats,
};
use moat_exec::{GroupRef, Reader, Session, read_groups, render_export};
use moat_policy::{
    Direction, LiveGroup, LiveRule, NicType, Peer, PolicySet, PortRange, Protocol, Rule, RuleKey,
    Verdict,
};

pub const REGION: &str = "cn-hangzhou";
pub const KEY_ID: &str = "LTAI5tApplyTestKey001";
pub const KEY_SECRET: &str = "apply-test-secret-do-not-log";

pub fn emulator(faults: FaultConfig, id_seed: u64) -> EmulatorHandle {
    emulator_with(faults, id_seed, |_| {})
}

/// An emulator with whatever else `tweak` sets (a lower rule quota, say).
pub fn emulator_with(
    faults: FaultConfig,
    id_seed: u64,
    tweak: impl FnOnce(&mut EmulatorConfig),
) -> EmulatorHandle {
    let mut config = EmulatorConfig {
        access_keys: vec![AccessKey::new(KEY_ID, KEY_SECRET)],
        id_seed: Some(id_seed),
        faults,
        ..EmulatorConfig::default()
    };
    tweak(&mut config);
    moat_emulator::start(config).expect("the emulator starts on loopback")
}

/// A session without a journal.
pub fn session(client: &Client) -> Session {
    Session::new(client.clone())
}

pub fn reader(client: &Client) -> Reader {
    Reader::new(client.read_only())
}

/// A client without a rate limit whose retries wait only milliseconds.
pub fn client(handle: &EmulatorHandle, max_attempts: u32) -> Client {
    client_with(
        handle,
        None,
        RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            max_elapsed: Duration::from_secs(5),
        },
    )
}

pub fn client_with(handle: &EmulatorHandle, max_rps: Option<f64>, retry: RetryPolicy) -> Client {
    client_as(handle, KEY_SECRET, max_rps, retry)
}

/// A client that signs with `secret` (the right one or not).
pub fn client_as(
    handle: &EmulatorHandle,
    secret: &str,
    max_rps: Option<f64>,
    retry: RetryPolicy,
) -> Client {
    let mut c = ClientConfig::with_credentials(REGION, Credentials::access_key(KEY_ID, secret));
    c.endpoint = Some(handle.endpoint());
    c.max_rps = max_rps;
    c.timeout = Duration::from_secs(10);
    c.retry = retry;
    Client::new(&c).expect("client config")
}

pub fn rule(direction: Direction, port: u16, cidr: &str) -> Rule {
    rule_of(
        direction,
        Protocol::Tcp,
        PortRange::single(port),
        Peer::cidr(cidr.parse().expect("cidr")),
    )
}

/// An accept rule of priority 1 without a description.
pub fn rule_of(direction: Direction, protocol: Protocol, ports: PortRange, peer: Peer) -> Rule {
    Rule {
        key: RuleKey {
            direction,
            protocol,
            ports,
            peer,
            verdict: Verdict::Accept,
            nic_type: NicType::Intranet,
            source_ports: None,
            local: None,
        },
        priority: 1,
        description: String::new(),
    }
}

pub fn with(mut r: Rule, priority: u8, description: &str) -> Rule {
    r.priority = priority;
    r.description = description.to_owned();
    r
}

fn wire_direction(d: Direction) -> WireDirection {
    match d {
        Direction::Ingress => WireDirection::Ingress,
        Direction::Egress => WireDirection::Egress,
    }
}

pub fn seed_group(handle: &EmulatorHandle, id: &str, rules: &[Rule]) {
    seed_groups(handle, &[(id, rules.to_vec())]);
}

/// Creates a group with `rules` and, as they are, wire permissions moat
/// would never write (unmodeled or oddly spelled ones).
pub fn seed_group_raw(handle: &EmulatorHandle, id: &str, rules: &[Rule], raw: Vec<Permission>) {
    let mut g = SeedGroup::new(REGION, id)
        .name(format!("{id}-name"))
        .vpc_id("vpc-apply");
    for r in rules {
        g = g.rule(wire_direction(r.key.direction), to_permission(r));
    }
    for p in raw {
        g = g.rule(WireDirection::Ingress, p);
    }
    handle.emulator().seed_groups([g]).expect("seeding");
}

/// Creates each group (in a VPC) with its rules.
pub fn seed_groups<S: AsRef<str>>(handle: &EmulatorHandle, groups: &[(S, Vec<Rule>)]) {
    let seeds = groups.iter().map(|(id, rules)| {
        let id = id.as_ref();
        let mut g = SeedGroup::new(REGION, id)
            .name(format!("{id}-name"))
            .vpc_id("vpc-apply");
        for r in rules {
            g = g.rule(wire_direction(r.key.direction), to_permission(r));
        }
        g
    });
    handle.emulator().seed_groups(seeds).expect("seeding");
}

/// A policy that wants exactly `rules` in each group (authoritative).
pub fn desired<S: AsRef<str>>(groups: &[(S, Vec<Rule>)]) -> PolicySet {
    let live: Vec<LiveGroup> = groups
        .iter()
        .map(|(id, rules)| LiveGroup {
            id: id.as_ref().to_owned(),
            region: REGION.to_owned(),
            name: format!("{}-name", id.as_ref()),
            rules: rules
                .iter()
                .enumerate()
                .map(|(n, r)| LiveRule {
                    id: format!("sgr-want{n}"),
                    rule: r.clone(),
                    create_time: String::new(),
                })
                .collect(),
            unmodeled: Vec::new(),
            group_type: None,
            inner_access: None,
        })
        .collect();
    let text = render_export(&live).expect("renders");
    moat_policy::load_policy_str("desired.yaml", &text)
        .unwrap_or_else(|d| panic!("the desired policy loads: {d:?}\n{text}"))
}

pub fn today() -> jiff::civil::Date {
    jiff::civil::date(2026, 11, 25)
}

pub async fn live(client: &Client, ids: &[&str]) -> Vec<LiveGroup> {
    let refs: Vec<GroupRef> = ids.iter().map(|id| GroupRef::new(*id, REGION)).collect();
    read_groups(&reader(client), &refs, 4)
        .await
        .expect("read")
        .groups
}

pub async fn make_plan(client: &Client, set: &PolicySet) -> (Plan, Vec<LiveGroup>) {
    let refs: Vec<GroupRef> = set
        .groups
        .iter()
        .map(|g| GroupRef::new(g.id.clone(), g.region.clone()))
        .collect();
    let state = read_groups(&reader(client), &refs, 8).await.expect("read");
    let plan = diff(set, &state.groups, &DiffOptions::new(today()));
    (plan, state.groups)
}

/// Mutating calls the emulator counted (faults and errors included).
pub fn mutating_calls(stats: &Stats) -> u64 {
    stats
        .calls
        .iter()
        .filter(|(name, _)| WireAction::parse(name).is_some_and(|a| a.is_mutating()))
        .map(|(_, c)| c.ok + c.error)
        .sum()
}

/// Calls of every action that failed (faults included).
pub fn errors(stats: &Stats) -> u64 {
    stats.calls.values().map(|c| c.error).sum()
}

/// Rules of a group as comparable values (ids left out), sorted.
pub fn rule_set(g: &LiveGroup) -> Vec<Rule> {
    let mut rules: Vec<Rule> = g.rules.iter().map(|r| r.rule.clone()).collect();
    rules.sort();
    rules
}

pub fn rule_ids(groups: &[LiveGroup]) -> Vec<String> {
    let mut ids: Vec<String> = groups
        .iter()
        .flat_map(|g| {
            g.rules
                .iter()
                .map(|r| r.id.clone())
                .chain(g.unmodeled.iter().map(|u| u.id.clone()))
        })
        .collect();
    ids.sort();
    ids
}
