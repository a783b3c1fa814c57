//! Policy tests (`tests:`): reachability assertions over the desired rules,
//! and their evaluation as a pure function.
//!
//! A test holds when every flow it covers gets the expected answer through
//! every group it names. It covers every address of its peers, every port of
//! its services, and for `template:` every group using the template. Under
//! full ECS evaluation (lowest priority number first, drop before accept at
//! equal priority, the group type's default when no rule matches), the flows
//! are split into cells as lint does ([`crate::eval::cells_under`]): every
//! rule applies to a whole cell or none of it, so one decision per cell is
//! exact for every address and port in it. A failure names one address
//! (and port) that gets the other answer, and the rule or default that
//! decided it.
//!
//! Flows are intranet (VPC) flows from an address outside the group: rules
//! naming security groups or prefix lists match no address here
//! ([`crate::eval`]), and a group's inner access policy does not apply.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::eval::{self, AddrRange, Defaults, Space};
use crate::model::{
    Direction, GroupPolicy, GroupType, NicType, Origin, PolicySet, PortRange, Protocol,
    ServiceAtom, Verdict,
};

/// What a test expects for every flow it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Allow,
    Deny,
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Allow => "allow",
            Expect::Deny => "deny",
        }
    }

    /// True when `verdict` is what this expects.
    pub fn holds_for(self, verdict: Verdict) -> bool {
        matches!(
            (self, verdict),
            (Expect::Allow, Verdict::Accept) | (Expect::Deny, Verdict::Drop)
        )
    }
}

/// What a test names: one group, or every group using a template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestTarget {
    Group(String),
    Template(String),
}

/// One test of `tests:`, resolved: names expanded, groups known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyTest {
    pub name: String,
    /// Where the test's entry starts.
    pub origin: Origin,
    pub target: TestTarget,
    /// The groups the test evaluates, sorted (one for `group:`, those using
    /// the template for `template:`).
    pub groups: Vec<String>,
    /// `Ingress` for `from:`, `Egress` for `to:`.
    pub direction: Direction,
    /// The peers' networks, sets expanded, deduplicated, in order written.
    pub peers: Vec<IpNet>,
    /// The services of `port:`, names expanded, deduplicated.
    pub services: Vec<ServiceAtom>,
    pub expect: Expect,
}

/// What decided the flow of a failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DecidedBy {
    /// A rule of the group.
    Rule {
        /// The rule in moat's words (`ingress accept tcp/22 from 0.0.0.0/0`).
        rule: String,
        priority: u8,
        /// The policy rule of that identity; `None` for a live rule the
        /// policy does not have.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin: Option<Origin>,
        /// The template that rule is written in, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        template: Option<String>,
        /// The live rule's id, when the test ran against live rules.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        live_id: Option<String>,
    },
    /// No rule matched: the group type's default.
    Default { group_type: GroupType },
}

/// A flow through a group that does not get the expected answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub group: String,
    /// The first address of the cell that fails.
    pub address: IpAddr,
    /// The service of that cell: a concrete protocol and its first port.
    pub service: String,
    /// What that flow gets instead.
    pub verdict: Verdict,
    pub decided_by: DecidedBy,
}

/// The outcome of one test.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestOutcome {
    pub name: String,
    pub origin: Origin,
    pub expect: Expect,
    pub direction: Direction,
    pub groups: Vec<String>,
    /// True when every flow through every group gets the expected answer.
    pub passed: bool,
    /// One failure per group that fails (the first failing cell).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<Failure>,
    /// Groups whose flows were too entangled to split (more cells than
    /// [`MAX_CELLS`]): the test cannot pass for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undecided: Vec<String>,
    /// Groups that do not exist live (`--live`, the gate): the test cannot
    /// pass for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// The outcomes of all tests of a policy set, in the order written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReport {
    pub tests: Vec<TestOutcome>,
}

impl TestReport {
    pub fn passed(&self) -> usize {
        self.tests.iter().filter(|t| t.passed).count()
    }

    pub fn failed(&self) -> usize {
        self.tests.len() - self.passed()
    }

    /// True when every test passed (also when there are none).
    pub fn all_passed(&self) -> bool {
        self.tests.iter().all(|t| t.passed)
    }
}

/// Cells one test may split one group's flows into, per peer and service.
pub const MAX_CELLS: usize = 100_000;

/// Evaluates every test of `set` against its desired rules, leaving out
/// rules whose `expires` date is before `today` (plans remove them).
pub fn run_tests(set: &PolicySet, today: jiff::civil::Date) -> TestReport {
    run_tests_on(set, |group| Subject::Rules {
        rules: group
            .rules
            .iter()
            .filter(|r| !r.is_expired(today))
            .map(|r| SubjectRule {
                rule: r.rule.clone(),
                live_id: None,
            })
            .collect(),
        group_type: None,
    })
}

/// Evaluates every test of `set` against the live rules of its groups
/// (`moat test --live`, the promotion gate). A group of a test that is not
/// among `live` does not exist, and the test fails for it.
pub fn run_tests_live(set: &PolicySet, live: &[crate::model::LiveGroup]) -> TestReport {
    run_tests_on(set, |group| {
        match live
            .iter()
            .find(|l| l.id == group.id && l.region == group.region)
        {
            Some(l) => Subject::Rules {
                rules: l
                    .rules
                    .iter()
                    .map(|r| SubjectRule {
                        rule: r.rule.clone(),
                        live_id: Some(r.id.clone()),
                    })
                    .collect(),
                group_type: l.group_type,
            },
            None => Subject::Missing,
        }
    })
}

/// What one group of a test is evaluated against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// These rules, under `group_type` (the live type when it was read;
    /// `None`: the type the policy states, else basic).
    Rules {
        rules: Vec<SubjectRule>,
        group_type: Option<GroupType>,
    },
    /// The group does not exist: every test naming it fails.
    Missing,
}

/// A rule a test is evaluated against, with its live id when it is live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectRule {
    pub rule: crate::model::Rule,
    pub live_id: Option<String>,
}

/// Evaluates every test of `set` against the rules `rules_of` gives for
/// each of its groups: the desired rules, the live ones, or those a plan
/// leaves.
pub fn run_tests_on(
    set: &PolicySet,
    mut rules_of: impl FnMut(&GroupPolicy) -> Subject,
) -> TestReport {
    let mut cache: std::collections::HashMap<&str, Subject> = std::collections::HashMap::new();
    let mut tests = Vec::with_capacity(set.tests.len());
    for test in &set.tests {
        for id in &test.groups {
            if !cache.contains_key(id.as_str())
                && let Some(group) = set.group(id)
            {
                cache.insert(id.as_str(), rules_of(group));
            }
        }
        tests.push(run_test(set, test, &|id| cache.get(id)));
    }
    TestReport { tests }
}

/// Evaluates one test against the rules `rules_of` gives for each group
/// (`None` for a group the set does not hold, which is not evaluated).
pub fn run_test<'s>(
    set: &PolicySet,
    test: &PolicyTest,
    rules_of: &dyn Fn(&str) -> Option<&'s Subject>,
) -> TestOutcome {
    let mut failures = Vec::new();
    let mut undecided = Vec::new();
    let mut missing = Vec::new();
    for id in &test.groups {
        let (Some(group), Some(subject)) = (set.group(id), rules_of(id)) else {
            // Loading only resolves tests to groups it loaded.
            continue;
        };
        let (subject_rules, subject_type) = match subject {
            Subject::Rules { rules, group_type } => (rules, *group_type),
            Subject::Missing => {
                missing.push(id.clone());
                continue;
            }
        };
        let rules: Vec<&crate::model::Rule> = subject_rules.iter().map(|r| &r.rule).collect();
        let group_type = subject_type.or(group.group_type).unwrap_or_default();
        let defaults = Defaults::of(group_type);
        match first_failure(test, &rules, defaults) {
            Ok(None) => {}
            Ok(Some((cell_range, protocol, ports, verdict, rule))) => {
                let decided_by = match rule {
                    Some(r) => {
                        // `rules` holds references into `subject_rules`, in order.
                        let live_id = subject_rules
                            .iter()
                            .find(|s| std::ptr::eq(&s.rule, r))
                            .and_then(|s| s.live_id.clone());
                        // The policy rule of that identity, when the policy has one.
                        let d = group.rules.iter().find(|d| d.rule.key == r.key);
                        DecidedBy::Rule {
                            rule: r.key.to_string(),
                            priority: r.priority,
                            origin: d.map(|d| d.origin.clone()),
                            template: d.and_then(|d| set.template_of(d)).map(|t| t.name.clone()),
                            live_id,
                        }
                    }
                    None => DecidedBy::Default { group_type },
                };
                failures.push(Failure {
                    group: id.clone(),
                    address: first_address(cell_range),
                    service: service_text(protocol, ports),
                    verdict,
                    decided_by,
                });
            }
            Err(eval::TooManyCells { .. }) => undecided.push(id.clone()),
        }
    }
    TestOutcome {
        name: test.name.clone(),
        origin: test.origin.clone(),
        expect: test.expect,
        direction: test.direction,
        groups: test.groups.clone(),
        passed: failures.is_empty() && undecided.is_empty() && missing.is_empty(),
        failures,
        undecided,
        missing,
    }
}

type FirstFailure<'a> = (
    AddrRange,
    Protocol,
    PortRange,
    Verdict,
    Option<&'a crate::model::Rule>,
);

/// The first cell, over every peer and service of the test, whose decision
/// is not the expected one.
fn first_failure<'a>(
    test: &PolicyTest,
    rules: &[&'a crate::model::Rule],
    defaults: Defaults,
) -> Result<Option<FirstFailure<'a>>, eval::TooManyCells> {
    for service in &test.services {
        for peer in &test.peers {
            let space = Space {
                direction: test.direction,
                nic_type: NicType::Intranet,
                protocol: service.protocol,
                ports: service.ports,
                peer: *peer,
            };
            let cells = eval::cells_under(rules, &space, MAX_CELLS, defaults)?;
            if let Some(c) = cells
                .iter()
                .find(|c| !test.expect.holds_for(c.decision.verdict))
            {
                return Ok(Some((
                    c.addresses,
                    c.protocol,
                    c.ports,
                    c.decision.verdict,
                    c.decision.rule,
                )));
            }
        }
    }
    Ok(None)
}

fn first_address(range: AddrRange) -> IpAddr {
    if range.v6 {
        IpAddr::V6(std::net::Ipv6Addr::from(range.first))
    } else {
        // A v4 range holds 32-bit values by construction.
        IpAddr::V4(std::net::Ipv4Addr::from(
            u32::try_from(range.first).unwrap_or(u32::MAX),
        ))
    }
}

/// `tcp/3306`, `icmp`, `all` (a protocol moat does not model, for `all`).
fn service_text(protocol: Protocol, ports: PortRange) -> String {
    match ports {
        PortRange::Range { from, .. } if protocol.takes_ports() => format!("{protocol}/{from}"),
        _ => protocol.to_string(),
    }
}

/// One test's lines of the text report: its status, then a line per
/// failing group (the plan's views print these too).
pub fn render_outcome(t: &TestOutcome) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let status = if t.passed { "pass" } else { "FAIL" };
    let _ = writeln!(out, "{status} {}: {}", t.origin, t.name);
    for f in &t.failures {
        let word = t.direction.peer_word();
        let verdict = match f.verdict {
            Verdict::Accept => "accepted",
            Verdict::Drop => "dropped",
        };
        let by = match &f.decided_by {
            DecidedBy::Rule {
                rule,
                priority,
                origin,
                template,
                live_id,
            } => {
                let mut by = match live_id {
                    Some(id) => format!("by `{rule}` (priority {priority}, live rule {id})"),
                    None => format!("by `{rule}` (priority {priority})"),
                };
                match origin {
                    Some(origin) => {
                        let _ = write!(by, " at {origin}");
                    }
                    None => by.push_str(" not in the policy"),
                }
                if let Some(t) = template {
                    let _ = write!(by, " (template {t})");
                }
                by
            }
            DecidedBy::Default { group_type } => format!(
                "by the default of {} group (no rule matches)",
                crate::names::article(group_type.as_str())
            ),
        };
        let _ = writeln!(
            out,
            "  {}: {} {word} {} is {verdict} {by}, expected {}",
            f.group,
            f.service,
            f.address,
            t.expect.as_str()
        );
    }
    for g in &t.missing {
        let _ = writeln!(out, "  {g}: the group does not exist");
    }
    for g in &t.undecided {
        let _ = writeln!(
            out,
            "  {g}: too many overlapping rules to decide every flow (more than {MAX_CELLS} cells)"
        );
    }
    out
}

/// The report as text, one line per test and an indented line per failure:
///
/// ```text
/// FAIL policies/tests.yaml:12:5: the database port is closed to everyone
///   sg-bp1web0000000001: tcp/3306 from 0.0.0.0 is accepted by `ingress accept tcp/3306 from 0.0.0.0/0` (priority 1) at policies/web.yaml:9:9 (template web)
/// 1 test: 0 passed, 1 failed
/// ```
pub fn render_test_report(report: &TestReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for t in &report.tests {
        out.push_str(&render_outcome(t));
    }
    let n = report.tests.len();
    let _ = writeln!(
        out,
        "{n} test{}: {} passed, {} failed",
        if n == 1 { "" } else { "s" },
        report.passed(),
        report.failed()
    );
    out
}

impl Failure {
    /// The flow of the failure (the first address and port of the failing
    /// cell), to decide it again against other rules.
    pub fn flow(&self, direction: Direction) -> Option<eval::Flow> {
        let (protocol, port) = match self.service.split_once('/') {
            Some((p, port)) => (Protocol::parse(p)?, Some(port.parse().ok()?)),
            None => (Protocol::parse(&self.service)?, None),
        };
        Some(eval::Flow::new(direction, protocol, port, self.address))
    }
}
