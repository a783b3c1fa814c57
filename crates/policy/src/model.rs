//! The canonical rule model shared by every crate.
//!
//! A [`Rule`] is one ECS security group rule in normalised form, whether it
//! came from a policy file or from the live API. Its [`RuleKey`] is exactly the
//! set of fields ECS itself uses to decide that two rules are the same (the
//! reference, section 3.1): direction, protocol, port range, source port range,
//! NIC type, policy (accept/drop), the peer and the optional second ("local")
//! address. Priority and description sit outside the key: a difference there is
//! a change made in place, never a new rule.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Priority ECS assigns when a request leaves it out.
pub const DEFAULT_PRIORITY: u8 = 1;
/// Lowest priority a user may give (priorities run 1 = first .. 100 = last).
pub const MAX_PRIORITY: u8 = 100;
/// Longest rule description ECS accepts, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 512;

/// Which way traffic flows through the group.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub const ALL: [Direction; 2] = [Direction::Ingress, Direction::Egress];

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }

    /// Parses `ingress` / `egress` in any letter case.
    pub fn parse(s: &str) -> Option<Direction> {
        match s.to_ascii_lowercase().as_str() {
            "ingress" => Some(Direction::Ingress),
            "egress" => Some(Direction::Egress),
            _ => None,
        }
    }

    /// The word that introduces the peer in this direction (`from` / `to`).
    pub fn peer_word(self) -> &'static str {
        match self {
            Direction::Ingress => "from",
            Direction::Egress => "to",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// IP protocol of a rule. ECS also accepts IANA numbers in some regions; such
/// live rules are kept as [`UnmodeledRule`]s instead of being squeezed in here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Gre,
    All,
}

impl Protocol {
    pub const ALL: [Protocol; 6] = [
        Protocol::Tcp,
        Protocol::Udp,
        Protocol::Icmp,
        Protocol::Icmpv6,
        Protocol::Gre,
        Protocol::All,
    ];

    /// Lowercase name, as moat writes it and as ECS accepts it in requests.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::Icmpv6 => "icmpv6",
            Protocol::Gre => "gre",
            Protocol::All => "all",
        }
    }

    /// Parses a protocol name in any letter case (responses use `TCP`, `ALL`).
    pub fn parse(s: &str) -> Option<Protocol> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
    }

    /// Only TCP and UDP rules carry ports; every other protocol uses `-1/-1`.
    pub fn takes_ports(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A destination (or source) port range.
///
/// `NotApplicable` is the API's `-1/-1`, used by protocols without ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortRange {
    NotApplicable,
    Range { from: u16, to: u16 },
}

/// Why a wire port range (`start/end`) could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PortRangeError {
    #[error("port range {0:?} is not of the form start/end")]
    Malformed(String),
    #[error("port {0} is outside 1-65535")]
    OutOfRange(i64),
    #[error("port range {from}/{to} runs backwards")]
    Reversed { from: u16, to: u16 },
}

impl PortRange {
    /// Every TCP or UDP port, as ECS writes it (`1/65535`).
    pub const ALL_PORTS: PortRange = PortRange::Range { from: 1, to: 65535 };

    pub fn single(port: u16) -> PortRange {
        PortRange::Range {
            from: port,
            to: port,
        }
    }

    /// True when the range includes `port`. `NotApplicable` (a protocol without
    /// ports, such as `all`) covers every port.
    pub fn contains(self, port: u16) -> bool {
        match self {
            PortRange::NotApplicable => true,
            PortRange::Range { from, to } => from <= port && port <= to,
        }
    }

    /// Number of ports in the range (65535 for `NotApplicable`).
    pub fn width(self) -> u32 {
        match self {
            PortRange::NotApplicable => 65535,
            PortRange::Range { from, to } => u32::from(to) - u32::from(from) + 1,
        }
    }

    /// True when every port of `other` is also in `self`.
    pub fn covers(self, other: PortRange) -> bool {
        match (self, other) {
            (PortRange::NotApplicable, _) => true,
            (PortRange::Range { .. }, PortRange::NotApplicable) => false,
            (PortRange::Range { from, to }, PortRange::Range { from: f, to: t }) => {
                from <= f && t <= to
            }
        }
    }

    /// Parses the wire form `start/end` (`22/22`, `-1/-1`).
    pub fn parse_wire(s: &str) -> Result<PortRange, PortRangeError> {
        let malformed = || PortRangeError::Malformed(s.to_owned());
        let (a, b) = s.trim().split_once('/').ok_or_else(malformed)?;
        let a: i64 = a.trim().parse().map_err(|_| malformed())?;
        let b: i64 = b.trim().parse().map_err(|_| malformed())?;
        if a == -1 && b == -1 {
            return Ok(PortRange::NotApplicable);
        }
        let port = |v: i64| {
            u16::try_from(v)
                .ok()
                .filter(|p| *p != 0)
                .ok_or(PortRangeError::OutOfRange(v))
        };
        let (from, to) = (port(a)?, port(b)?);
        if from > to {
            return Err(PortRangeError::Reversed { from, to });
        }
        Ok(PortRange::Range { from, to })
    }

    /// The wire form `start/end`.
    pub fn to_wire(self) -> String {
        match self {
            PortRange::NotApplicable => "-1/-1".to_owned(),
            PortRange::Range { from, to } => format!("{from}/{to}"),
        }
    }
}

impl fmt::Display for PortRange {
    /// Policy form: `22`, `8000-8080`, or nothing for `-1/-1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PortRange::NotApplicable => Ok(()),
            PortRange::Range { from, to } if from == to => write!(f, "{from}"),
            PortRange::Range { from, to } => write!(f, "{from}-{to}"),
        }
    }
}

impl Serialize for PortRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_wire())
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PortRange::parse_wire(&s).map_err(serde::de::Error::custom)
    }
}

/// A protocol together with its port range: what a policy calls a service
/// (`tcp/22`, `udp/53`, `icmp`, `all`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServiceAtom {
    pub protocol: Protocol,
    pub ports: PortRange,
}

impl fmt::Display for ServiceAtom {
    /// Policy form: `tcp/22`, `tcp/8000-8080`, `icmp`, `all`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ports {
            PortRange::NotApplicable => f.write_str(self.protocol.as_str()),
            ports => write!(f, "{}/{}", self.protocol, ports),
        }
    }
}

/// Allow or deny: the API's `Policy` field (`accept` / `drop`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Accept,
    Drop,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Drop => "drop",
        }
    }

    /// Parses `accept` / `drop` in any letter case (responses say `Accept`).
    pub fn parse(s: &str) -> Option<Verdict> {
        match s.to_ascii_lowercase().as_str() {
            "accept" => Some(Verdict::Accept),
            "drop" => Some(Verdict::Drop),
            _ => None,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The network interface type a rule applies to. VPC groups only know
/// `intranet`, which is why it is the default.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum NicType {
    #[default]
    Intranet,
    Internet,
}

impl NicType {
    pub fn as_str(self) -> &'static str {
        match self {
            NicType::Intranet => "intranet",
            NicType::Internet => "internet",
        }
    }

    pub fn parse(s: &str) -> Option<NicType> {
        match s.to_ascii_lowercase().as_str() {
            "intranet" => Some(NicType::Intranet),
            "internet" => Some(NicType::Internet),
            _ => None,
        }
    }
}

impl fmt::Display for NicType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The other end of a rule: the source of an ingress rule, the destination of
/// an egress rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Peer {
    /// An IPv4 or IPv6 network in canonical form (host bits clear, IPv6
    /// compressed).
    Cidr { cidr: IpNet },
    /// Another security group, optionally in another account.
    Group {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
    },
    /// A managed prefix list (`pl-...`).
    PrefixList { id: String },
}

impl Peer {
    pub fn cidr(cidr: IpNet) -> Peer {
        Peer::Cidr { cidr: cidr.trunc() }
    }

    pub fn group(id: impl Into<String>) -> Peer {
        Peer::Group {
            id: id.into(),
            owner: None,
        }
    }

    /// The peer as a policy writes it: the CIDR, the id, or
    /// `ACCOUNT/sg-...` for a group of another account.
    pub fn policy_text(&self) -> String {
        match self {
            Peer::Cidr { cidr } => cidr.to_string(),
            Peer::Group { id, owner: None } => id.clone(),
            Peer::Group {
                id,
                owner: Some(owner),
            } => format!("{owner}/{id}"),
            Peer::PrefixList { id } => id.clone(),
        }
    }

    pub fn as_cidr(&self) -> Option<IpNet> {
        match self {
            Peer::Cidr { cidr } => Some(*cidr),
            _ => None,
        }
    }

    pub fn is_ipv6(&self) -> bool {
        matches!(self, Peer::Cidr { cidr: IpNet::V6(_) })
    }

    pub fn is_ipv4(&self) -> bool {
        matches!(self, Peer::Cidr { cidr: IpNet::V4(_) })
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Cidr { cidr } => write!(f, "{cidr}"),
            Peer::Group { id, owner: None } => f.write_str(id),
            Peer::Group {
                id,
                owner: Some(owner),
            } => write!(f, "{id} (account {owner})"),
            Peer::PrefixList { id } => f.write_str(id),
        }
    }
}

/// Why a CIDR or address could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("{0:?} is not an IPv4 or IPv6 address or network")]
    Invalid(String),
    #[error("{given} has host bits set; the network is {network}")]
    HostBitsSet { given: String, network: IpNet },
}

/// Parses a CIDR or a bare address (which becomes /32 or /128) and refuses
/// host bits, as a policy must. The result is canonical.
///
/// The text must be exactly an address, optionally followed by `/` and a
/// prefix length in decimal without leading zeros: whitespace, signs and
/// leading zeros (`010.1.1.1`, `10.0.0.0/08`) are refused rather than read
/// one way or another. IPv6 addresses may be written in any of their valid
/// forms (RFC 4291), which all mean one address.
pub fn parse_cidr_strict(s: &str) -> Result<IpNet, CidrError> {
    let invalid = || CidrError::Invalid(s.to_owned());
    let (address, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let address = IpAddr::from_str(address).map_err(|_| invalid())?;
    let net = match len {
        None => IpNet::from(address),
        Some(l) => {
            let canonical = !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_digit())
                && (l == "0" || !l.starts_with('0'));
            let len: u8 = l.parse().ok().filter(|_| canonical).ok_or_else(invalid)?;
            IpNet::new(address, len).map_err(|_| invalid())?
        }
    };
    if net.trunc() != net {
        return Err(CidrError::HostBitsSet {
            given: s.to_owned(),
            network: net.trunc(),
        });
    }
    Ok(net)
}

/// Parses a CIDR or a bare address and clears host bits, as the live side
/// needs: the reconciler normalises on its own side because whether ECS does
/// so is unconfirmed (reference 3.1).
pub fn parse_cidr_lenient(s: &str) -> Result<IpNet, CidrError> {
    parse_cidr_any(s).map(|n| n.trunc())
}

fn parse_cidr_any(s: &str) -> Result<IpNet, CidrError> {
    let t = s.trim();
    if let Ok(net) = IpNet::from_str(t) {
        return Ok(net);
    }
    IpAddr::from_str(t)
        .map(IpNet::from)
        .map_err(|_| CidrError::Invalid(s.to_owned()))
}

/// The identity of a rule: the fields ECS compares to decide that two rules
/// are the same (reference 3.1). Field order is the sort order of plans.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RuleKey {
    pub direction: Direction,
    pub protocol: Protocol,
    pub ports: PortRange,
    pub peer: Peer,
    pub verdict: Verdict,
    pub nic_type: NicType,
    /// Source port range of a quintuple rule; `None` when not restricted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ports: Option<PortRange>,
    /// The optional second address of a quintuple rule: the destination of an
    /// ingress rule or the source of an egress rule, i.e. the group's own side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<IpNet>,
}

impl RuleKey {
    pub fn service(&self) -> ServiceAtom {
        ServiceAtom {
            protocol: self.protocol,
            ports: self.ports,
        }
    }
}

impl fmt::Display for RuleKey {
    /// One-line form used in plans and messages, e.g.
    /// `ingress accept tcp/22 from 203.0.113.0/24`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {}",
            self.direction,
            self.verdict,
            self.service(),
            self.direction.peer_word(),
            self.peer
        )?;
        if self.nic_type != NicType::Intranet {
            write!(f, " nic {}", self.nic_type)?;
        }
        if let Some(sp) = self.source_ports {
            write!(f, " source-ports {}", sp.to_wire())?;
        }
        if let Some(local) = self.local {
            let word = match self.direction {
                Direction::Ingress => "to",
                Direction::Egress => "from",
            };
            write!(f, " {word} {local}")?;
        }
        Ok(())
    }
}

/// One ECS rule in canonical form.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rule {
    pub key: RuleKey,
    /// 1 (evaluated first) ..= 100; live system rules may carry larger values.
    pub priority: u8,
    /// Empty when the rule has none.
    pub description: String,
}

/// Where something came from in a policy file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Origin {
    /// The path as the user gave it (or as found inside a directory they gave).
    pub file: Arc<str>,
    /// 1-based; 0 when the origin is the whole file or directory (it could
    /// not be read, or holds no policy).
    pub line: u32,
    /// 1-based; 0 together with `line`.
    pub column: u32,
}

impl Origin {
    /// The whole file or directory at `path`, not a place inside it.
    pub fn whole(path: impl Into<Arc<str>>) -> Origin {
        Origin {
            file: path.into(),
            line: 0,
            column: 0,
        }
    }
}

impl fmt::Display for Origin {
    /// `file:line:column`, or only `file` for a whole file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return f.write_str(&self.file);
        }
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Lint codes a rule opts out of, with the reason the policy gives.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LintIgnore {
    pub codes: Vec<String>,
    pub reason: String,
}

/// One atomic desired rule, expanded from a policy rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredRule {
    pub rule: Rule,
    /// The policy rule (list item) this atomic rule was expanded from.
    pub origin: Origin,
    /// The service name the rule was written with, if it used one (`ssh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<Arc<str>>,
    /// The address set name the peer came from, if any (`office`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_name: Option<Arc<str>>,
    /// `protected: true` on the policy rule.
    #[serde(default)]
    pub protected: bool,
    /// The last day on which the rule is desired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<jiff::civil::Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lint_ignore: Option<LintIgnore>,
}

impl DesiredRule {
    /// True once `today` is past the `expires` date: the rule is no longer
    /// desired (it stays desired through the whole of its `expires` day).
    pub fn is_expired(&self, today: jiff::civil::Date) -> bool {
        self.expires.is_some_and(|d| today > d)
    }

    /// True when the rule opts out of lint `code`.
    pub fn ignores(&self, code: &str) -> bool {
        self.lint_ignore
            .as_ref()
            .is_some_and(|li| li.codes.iter().any(|c| c == code))
    }
}

/// How much of a group a policy owns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Rules not in the policy are removed.
    #[default]
    Authoritative,
    /// Only ensure the policy's rules exist.
    Additive,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Authoritative => "authoritative",
            Mode::Additive => "additive",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type of a security group: the API's `SecurityGroupType` (`normal`,
/// `enterprise`), which the console calls basic and advanced. The type sets
/// what ECS does with a flow no rule decides: a basic group accepts inbound
/// traffic from instances of the same group (its [`InnerAccessPolicy`]) and
/// all outbound traffic; an enterprise group denies both directions. One
/// network interface carries groups of one type only.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum GroupType {
    /// A basic security group (the API's default).
    #[default]
    Normal,
    /// An enterprise (advanced) security group.
    Enterprise,
}

impl GroupType {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupType::Normal => "normal",
            GroupType::Enterprise => "enterprise",
        }
    }

    /// Parses the API's `SecurityGroupType` in any letter case.
    pub fn parse(s: &str) -> Option<GroupType> {
        match s.to_ascii_lowercase().as_str() {
            "normal" => Some(GroupType::Normal),
            "enterprise" => Some(GroupType::Enterprise),
            _ => None,
        }
    }
}

impl fmt::Display for GroupType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A group's `InnerAccessPolicy`: whether instances of the group reach each
/// other whatever the rules say (`Accept`, the default of a basic group), or
/// only as the rules allow (`Drop`; always so in an enterprise group, where
/// it cannot be changed). ModifySecurityGroupPolicy sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum InnerAccessPolicy {
    Accept,
    Drop,
}

impl InnerAccessPolicy {
    /// What a group of `group_type` has when nothing changed it.
    pub fn default_for(group_type: GroupType) -> InnerAccessPolicy {
        match group_type {
            GroupType::Normal => InnerAccessPolicy::Accept,
            GroupType::Enterprise => InnerAccessPolicy::Drop,
        }
    }

    /// The API's spelling (`Accept`, `Drop`).
    pub fn as_str(self) -> &'static str {
        match self {
            InnerAccessPolicy::Accept => "Accept",
            InnerAccessPolicy::Drop => "Drop",
        }
    }

    /// Parses `Accept` / `Drop` in any letter case, as the API does.
    pub fn parse(s: &str) -> Option<InnerAccessPolicy> {
        match s.to_ascii_lowercase().as_str() {
            "accept" => Some(InnerAccessPolicy::Accept),
            "drop" => Some(InnerAccessPolicy::Drop),
            _ => None,
        }
    }
}

impl fmt::Display for InnerAccessPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The desired state of one security group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPolicy {
    pub id: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub mode: Mode,
    /// The `type:` the policy states for the group, if any. Live reads tell
    /// the truth; a stated type that differs from it is reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_type: Option<GroupType>,
    /// The `account:` the group belongs to: a name of [`PolicySet::accounts`]
    /// (validated). `None`: the account moat is run with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The `stage:` the group belongs to, one of [`PolicySet::stages`]
    /// (validated). `None`: the group is in no stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Where the group's block starts.
    pub origin: Origin,
    /// Expanded rules of both directions, sorted by key, identities unique.
    pub rules: Vec<DesiredRule>,
}

/// A top-level `protect:` selector. Every field that is set must match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectSelector {
    pub reason: String,
    pub origin: Origin,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// The service, resolved to protocol and ports; matches any one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<ServiceAtom>>,
    /// The peer, resolved (a set expands to its members); matches any one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peers: Option<Vec<Peer>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_prefix: Option<String>,
}

impl ProtectSelector {
    /// True when the rule of group `group_id` matches every field given.
    pub fn matches(&self, group_id: &str, rule: &Rule) -> bool {
        let key = &rule.key;
        self.group.as_deref().is_none_or(|g| g == group_id)
            && self.direction.is_none_or(|d| d == key.direction)
            && self
                .services
                .as_ref()
                .is_none_or(|s| s.contains(&key.service()))
            && self.peers.as_ref().is_none_or(|p| p.contains(&key.peer))
            && self
                .description_prefix
                .as_deref()
                .is_none_or(|p| rule.description.starts_with(p))
    }
}

/// A cloud account of the top-level `accounts:` block: the credentials and
/// API endpoint of the groups that name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub name: String,
    /// The aliyun CLI profile holding the account's credentials.
    pub profile: String,
    /// An endpoint for this account instead of the region's, as written
    /// (an `http(s)://` URL with a host; the client checks the rest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Where the account's entry is written.
    pub origin: Origin,
}

/// Everything loaded from a set of policy files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySet {
    /// Sorted by group id.
    pub groups: Vec<GroupPolicy>,
    pub protect: Vec<ProtectSelector>,
    /// The `accounts:` of all files, sorted by name; empty without one. Every
    /// group's `account` names one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<Account>,
    /// The rollout order of `stages:`, earliest first; empty without one.
    /// Every group's `stage` is one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<String>,
    /// The `templates:` of all files, sorted by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<Template>,
    /// The `tests:` of all files, in the order written (file by file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<crate::policy_tests::PolicyTest>,
}

/// A template of `templates:`: a named set of policy rules groups include
/// with `use:`. The ECS rules a template gives a group keep the origin of
/// the template's rule (its file and line), so [`PolicySet::template_of`]
/// names the template a rule came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub name: String,
    /// Where the template's name is written.
    pub origin: Origin,
    /// The origins of its own policy rules (not those of the templates it
    /// uses), sorted: the order written, as they are all in one file.
    pub rules: Vec<Origin>,
    /// The groups that use it, directly or through other templates, sorted.
    pub groups: Vec<String>,
}

impl PolicySet {
    pub fn group(&self, id: &str) -> Option<&GroupPolicy> {
        self.groups.iter().find(|g| g.id == id)
    }

    pub fn account(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.name == name)
    }

    /// The account of a group: `None` for a group without `account:` (the
    /// credentials moat is run with).
    pub fn account_of(&self, group: &GroupPolicy) -> Option<&Account> {
        group.account.as_deref().and_then(|n| self.account(n))
    }

    /// The template a desired rule came from, if it came from one: the
    /// template whose policy rule is at the rule's origin.
    pub fn template_of(&self, rule: &DesiredRule) -> Option<&Template> {
        self.templates
            .iter()
            .find(|t| t.rules.binary_search(&rule.origin).is_ok())
    }

    /// Keeps only the groups `keep` accepts (a shard, a stage), and of the
    /// tests and templates only what names them: a test none of whose
    /// groups is kept is dropped, so it is neither run nor reported as
    /// passing on no group.
    pub fn retain_groups(&mut self, keep: impl Fn(&GroupPolicy) -> bool) {
        self.groups.retain(|g| keep(g));
        let kept: std::collections::HashSet<&str> =
            self.groups.iter().map(|g| g.id.as_str()).collect();
        for t in &mut self.tests {
            t.groups.retain(|id| kept.contains(id.as_str()));
        }
        self.tests.retain(|t| !t.groups.is_empty());
        for t in &mut self.templates {
            t.groups.retain(|id| kept.contains(id.as_str()));
        }
    }

    /// The stages before `stage` in rollout order (empty for the first, and
    /// for a stage not in `stages`).
    pub fn stages_before(&self, stage: &str) -> &[String] {
        match self.stages.iter().position(|s| s == stage) {
            Some(i) => &self.stages[..i],
            None => &[],
        }
    }

    /// The groups of a stage, in group order.
    pub fn stage_groups<'a>(&'a self, stage: &'a str) -> impl Iterator<Item = &'a GroupPolicy> {
        self.groups
            .iter()
            .filter(move |g| g.stage.as_deref() == Some(stage))
    }

    /// Every (account, region) pair of the groups, each once, sorted (the
    /// groups without `account:` first, as `None`): one client each.
    pub fn account_regions(&self) -> Vec<(Option<&Account>, &str)> {
        let mut pairs: Vec<(Option<&str>, &str)> = self
            .groups
            .iter()
            .map(|g| (g.account.as_deref(), g.region.as_str()))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        pairs
            .into_iter()
            .map(|(a, r)| (a.and_then(|a| self.account(a)), r))
            .collect()
    }

    /// The first selector protecting this rule of that group, if any.
    pub fn protection(&self, group_id: &str, rule: &Rule) -> Option<&ProtectSelector> {
        self.protect.iter().find(|p| p.matches(group_id, rule))
    }
}

/// A live rule as read from the API, with its ECS rule id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LiveRule {
    /// `sgr-...`
    pub id: String,
    pub rule: Rule,
    /// As the API gave it (`YYYY-MM-DDThh:mm:ssZ`); empty when absent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub create_time: String,
}

/// A live rule moat cannot express in its model (a numeric protocol, a port
/// list, a malformed field). It is shown in plans and exports, never silently
/// dropped.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UnmodeledRule {
    pub id: String,
    pub direction: Direction,
    /// What the rule looks like, for people (`IpProtocol=47 PortRange=-1/-1 ...`).
    pub summary: String,
    /// Why moat cannot model it.
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// The live state of one group as read from the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveGroup {
    pub id: String,
    pub region: String,
    #[serde(default)]
    pub name: String,
    /// Both directions, in the order the API returned them.
    pub rules: Vec<LiveRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmodeled: Vec<UnmodeledRule>,
    /// The group's `SecurityGroupType` (DescribeSecurityGroups), when it
    /// was read: what decides the defaults of its evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_type: Option<GroupType>,
    /// The group's `InnerAccessPolicy` (DescribeSecurityGroupAttribute),
    /// when the answer had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_access: Option<InnerAccessPolicy>,
}

impl LiveGroup {
    /// A group of `id` in `region` with no rules and nothing else known.
    pub fn empty(id: impl Into<String>, region: impl Into<String>) -> LiveGroup {
        LiveGroup {
            id: id.into(),
            region: region.into(),
            name: String::new(),
            rules: Vec::new(),
            unmodeled: Vec::new(),
            group_type: None,
            inner_access: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_range_wire_round_trip() {
        for s in ["22/22", "1/65535", "-1/-1", "8000/8080"] {
            assert_eq!(PortRange::parse_wire(s).map(|p| p.to_wire()), Ok(s.into()));
        }
        assert!(matches!(
            PortRange::parse_wire("0/22"),
            Err(PortRangeError::OutOfRange(0))
        ));
        assert!(matches!(
            PortRange::parse_wire("80/22"),
            Err(PortRangeError::Reversed { .. })
        ));
        assert!(PortRange::parse_wire("22").is_err());
        assert!(PortRange::parse_wire("1/65536").is_err());
    }

    #[test]
    fn cidr_parsing_is_canonical() {
        assert_eq!(
            parse_cidr_strict("10.0.0.1").map(|n| n.to_string()),
            Ok("10.0.0.1/32".into())
        );
        assert_eq!(
            parse_cidr_strict("2001:0db8:0000::/32").map(|n| n.to_string()),
            Ok("2001:db8::/32".into())
        );
        assert!(matches!(
            parse_cidr_strict("10.0.0.1/8"),
            Err(CidrError::HostBitsSet { .. })
        ));
        assert_eq!(
            parse_cidr_lenient("10.0.0.1/8").map(|n| n.to_string()),
            Ok("10.0.0.0/8".into())
        );
        assert!(parse_cidr_strict("10.0.0.256").is_err());
    }

    #[test]
    fn protocol_parse_is_case_insensitive() {
        assert_eq!(Protocol::parse("TCP"), Some(Protocol::Tcp));
        assert_eq!(Protocol::parse("ICMPv6"), Some(Protocol::Icmpv6));
        assert_eq!(Protocol::parse("47"), None);
    }

    #[test]
    fn protect_selector_matches_all_given_fields() {
        let rule = Rule {
            key: RuleKey {
                direction: Direction::Ingress,
                protocol: Protocol::Tcp,
                ports: PortRange::single(22),
                peer: Peer::cidr("10.8.0.0/16".parse().unwrap()),
                verdict: Verdict::Accept,
                nic_type: NicType::Intranet,
                source_ports: None,
                local: None,
            },
            priority: 1,
            description: "[core] vpn ssh".into(),
        };
        let mut sel = ProtectSelector {
            reason: "r".into(),
            origin: Origin {
                file: "p.yaml".into(),
                line: 1,
                column: 1,
            },
            group: Some("sg-1".into()),
            direction: Some(Direction::Ingress),
            services: Some(vec![rule.key.service()]),
            peers: Some(vec![rule.key.peer.clone()]),
            description_prefix: Some("[core]".into()),
        };
        assert!(sel.matches("sg-1", &rule));
        assert!(!sel.matches("sg-2", &rule));
        sel.direction = Some(Direction::Egress);
        assert!(!sel.matches("sg-1", &rule));
    }

    #[test]
    fn account_regions_are_distinct_pairs() {
        let group = |id: &str, region: &str, account: Option<&str>| GroupPolicy {
            id: id.into(),
            region: region.into(),
            account: account.map(Into::into),
            ..GroupPolicy::default()
        };
        let account = |name: &str| Account {
            name: name.into(),
            profile: format!("{name}-profile"),
            endpoint: None,
            origin: Origin::default(),
        };
        let set = PolicySet {
            groups: vec![
                group("sg-1", "cn-shanghai", Some("prod")),
                group("sg-2", "cn-hangzhou", Some("prod")),
                group("sg-3", "cn-hangzhou", None),
                group("sg-4", "cn-hangzhou", Some("prod")),
                group("sg-5", "cn-hangzhou", Some("dev")),
            ],
            accounts: vec![account("dev"), account("prod")],
            ..PolicySet::default()
        };
        let pairs: Vec<(Option<&str>, &str)> = set
            .account_regions()
            .into_iter()
            .map(|(a, r)| (a.map(|a| a.profile.as_str()), r))
            .collect();
        assert_eq!(
            pairs,
            [
                (None, "cn-hangzhou"),
                (Some("dev-profile"), "cn-hangzhou"),
                (Some("prod-profile"), "cn-hangzhou"),
                (Some("prod-profile"), "cn-shanghai"),
            ]
        );
        assert_eq!(
            set.account_of(&set.groups[0]).map(|a| a.name.as_str()),
            Some("prod")
        );
        assert!(set.account_of(&set.groups[2]).is_none());
    }

    #[test]
    fn rule_key_display() {
        let key = RuleKey {
            direction: Direction::Egress,
            protocol: Protocol::All,
            ports: PortRange::NotApplicable,
            peer: Peer::cidr("0.0.0.0/0".parse().unwrap()),
            verdict: Verdict::Drop,
            nic_type: NicType::Intranet,
            source_ports: None,
            local: None,
        };
        assert_eq!(key.to_string(), "egress drop all to 0.0.0.0/0");
    }
}
