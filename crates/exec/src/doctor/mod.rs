//! `moat doctor`: the runbook users follow when "port 22 times out", run
//! as far as an API can, from outside to inside. Each step is data (id,
//! status, a one-line finding, evidence ids, the commands a person runs
//! for what the API cannot see, when it started and how long it took); the
//! CLI renders a run as text, JSON or Markdown.
//!
//! Steps, in order: `instance` (running, and for a public peer a public
//! address), `security-groups` (all groups of the interface combined),
//! `network-acl` (the vSwitch's stateless ACL, both ways), `host-firewall`
//! and `listening` (manual: the commands for this port), `probe` (a TCP
//! connect from where moat runs, with `--probe`), `next` (capture filter
//! and logs). Every step runs, also after one has failed.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use moat_policy::{Direction, Protocol};
use serde::{Deserialize, Serialize};

mod steps;

use steps::{
    Outcome, host_firewall_step, instance_step, listening_step, network_acl_step, next_step,
    probe_step, public_address, security_groups_step,
};

use crate::network::{InterfaceTarget, InterfaceView, NetworkReadError, read_interface};
use crate::session::Reader;

/// The version of the JSON form of a run.
pub const DOCTOR_SCHEMA_VERSION: u32 = 1;

/// The question: which flow, to or from where, and what to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// `Ingress`: the peer opens the flow to the instance (`--from`).
    pub direction: Direction,
    pub protocol: Protocol,
    pub port: Option<u16>,
    pub peer: IpAddr,
    /// `--probe HOST:PORT`, resolved.
    pub probe: Option<ProbeTarget>,
    pub probe_timeout: Duration,
}

/// Where `--probe` connects: as given, and the address it resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeTarget {
    pub given: String,
    pub address: SocketAddr,
}

/// The id of a step, in runbook order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepId {
    Instance,
    SecurityGroups,
    NetworkAcl,
    HostFirewall,
    Listening,
    Probe,
    Next,
}

impl StepId {
    pub fn as_str(self) -> &'static str {
        match self {
            StepId::Instance => "instance",
            StepId::SecurityGroups => "security-groups",
            StepId::NetworkAcl => "network-acl",
            StepId::HostFirewall => "host-firewall",
            StepId::Listening => "listening",
            StepId::Probe => "probe",
            StepId::Next => "next",
        }
    }
}

/// How a step came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Pass,
    Fail,
    /// The API cannot see it: the step says what to run.
    Manual,
    Skipped,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pass => "pass",
            StepStatus::Fail => "fail",
            StepStatus::Manual => "manual",
            StepStatus::Skipped => "skipped",
        }
    }
}

/// One step of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub id: StepId,
    pub status: StepStatus,
    pub finding: String,
    /// Ids of what the finding rests on (instance, interface, group, rule,
    /// ACL entry, EIP).
    pub evidence: Vec<String>,
    /// Commands to run by hand, for this flow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// RFC 3339.
    pub started_at: String,
    pub duration_ms: u64,
}

/// The instance (or interface) a run is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub region: String,
    pub interface: String,
    pub vswitch: String,
    pub private_addresses: Vec<String>,
    /// The public IP or EIP the instance is reached at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_address: Option<String>,
    pub security_groups: Vec<String>,
}

/// The flow a run is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowSummary {
    /// `ingress` (`--from`) or `egress` (`--to`).
    pub direction: Direction,
    pub protocol: Protocol,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub peer: String,
}

/// A whole run: the JSON form is this, field for field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoctorRun {
    pub schema_version: u32,
    pub instance: InstanceSummary,
    pub flow: FlowSummary,
    pub steps: Vec<Step>,
    /// The first step that failed, or null.
    pub first_failure: Option<StepId>,
}

impl DoctorRun {
    pub fn failed(&self) -> bool {
        self.first_failure.is_some()
    }
}

/// Why a run could not start: the question does not fit the instance.
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error(transparent)]
    Read(#[from] NetworkReadError),
    #[error(
        "instance {id} is {status}, not Running: start it first (a stopped instance passes no traffic)"
    )]
    NotRunning { id: String, status: String },
    #[error("{peer} is an {peer_family} address but {interface} has no {peer_family} address")]
    FamilyMismatch {
        peer: IpAddr,
        peer_family: &'static str,
        interface: String,
    },
}

fn family(a: IpAddr) -> &'static str {
    match a {
        IpAddr::V4(_) => "IPv4",
        IpAddr::V6(_) => "IPv6",
    }
}

/// Reads the target and runs every step.
pub async fn run_doctor(
    reader: &Reader,
    region: &str,
    target: &InterfaceTarget,
    question: &Question,
) -> Result<DoctorRun, DoctorError> {
    let started = jiff::Timestamp::now();
    let t0 = Instant::now();
    let view = read_interface(reader, region, target).await?;
    if let Some(i) = &view.instance
        && !i.is_running()
    {
        return Err(DoctorError::NotRunning {
            id: i.id.clone(),
            status: i.status.clone(),
        });
    }
    if !view
        .interface
        .private_addresses
        .iter()
        .any(|a| family(*a) == family(question.peer))
    {
        return Err(DoctorError::FamilyMismatch {
            peer: question.peer,
            peer_family: family(question.peer),
            interface: view.interface.id.clone(),
        });
    }
    let mut steps = Vec::with_capacity(7);
    steps.push(timed(started, t0, || instance_step(&view, question)));
    steps.push(now(|| security_groups_step(&view, question)));
    steps.push(now(|| network_acl_step(&view, question)));
    steps.push(now(|| host_firewall_step(question)));
    steps.push(now(|| listening_step(question)));
    let probe_start = jiff::Timestamp::now();
    let probe_t0 = Instant::now();
    let probe = probe_step(&view, question).await;
    steps.push(timed(probe_start, probe_t0, || probe));
    steps.push(now(|| next_step(&view, question)));
    let first_failure = steps
        .iter()
        .find(|s| s.status == StepStatus::Fail)
        .map(|s| s.id);
    Ok(DoctorRun {
        schema_version: DOCTOR_SCHEMA_VERSION,
        instance: summary(&view, region),
        flow: FlowSummary {
            direction: question.direction,
            protocol: question.protocol,
            port: question.port,
            peer: question.peer.to_string(),
        },
        steps,
        first_failure,
    })
}

fn timed(started: jiff::Timestamp, t0: Instant, f: impl FnOnce() -> Outcome) -> Step {
    let o = f();
    Step {
        id: o.id,
        status: o.status,
        finding: o.finding,
        evidence: o.evidence,
        commands: o.commands,
        started_at: started
            .round(jiff::Unit::Millisecond)
            .map_or_else(|_| started.to_string(), |t| t.to_string()),
        duration_ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

fn now(f: impl FnOnce() -> Outcome) -> Step {
    timed(jiff::Timestamp::now(), Instant::now(), f)
}

fn summary(view: &InterfaceView, region: &str) -> InstanceSummary {
    InstanceSummary {
        id: view.instance.as_ref().map(|i| i.id.clone()),
        name: view
            .instance
            .as_ref()
            .map(|i| i.name.clone())
            .filter(|n| !n.is_empty()),
        status: view.instance.as_ref().map(|i| i.status.clone()),
        region: region.to_owned(),
        interface: view.interface.id.clone(),
        vswitch: view.interface.vswitch_id.clone(),
        private_addresses: view
            .interface
            .private_addresses
            .iter()
            .map(ToString::to_string)
            .collect(),
        public_address: public_address(view).map(|(a, _)| a.to_string()),
        security_groups: view.interface.security_group_ids.clone(),
    }
}
