//! The literal grammars of the policy format, as pure functions from a
//! string to a value or a [`Problem`]: services and ports, peers and CIDRs,
//! ids, regions, dates, lint codes, names and free text.
//!
//! Every grammar is strict and one way: a value has one spelling, and text
//! that is not that spelling is refused rather than trimmed or normalised
//! (`" 10.0.0.0/8"`, `10.0.0.0/08`, `010.1.1.1` and `tcp/022` are errors).
//! The exceptions are the ones the format documents: protocol names in any
//! letter case, and IPv6 addresses in any of their valid textual forms.
//!
//! Nothing here knows YAML or locations: the reader calls these functions
//! with the text of a scalar and reports a [`Problem`] where the scalar was
//! written.

use ipnet::IpNet;

use crate::codes;
use crate::document::{PeerRef, ServiceRef};
use crate::model::{CidrError, Peer, PortRange, Protocol, ServiceAtom, parse_cidr_strict};
use crate::suggest::did_you_mean;

/// Why a literal is not valid: a stable code, a message and a hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub code: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

fn problem(code: &'static str, message: String, hint: impl Into<String>) -> Problem {
    Problem {
        code,
        message,
        hint: Some(hint.into()),
    }
}

/// A service: `tcp/22`, `tcp/8000-8080`, `icmp`, `all` (protocols in any
/// letter case), or a name defined under `services`.
pub(crate) fn service(s: &str) -> Result<ServiceRef, Problem> {
    let Some((proto, ports_text)) = s.split_once('/') else {
        return match Protocol::parse(s) {
            Some(p) if p.takes_ports() => Err(problem(
                codes::PORT_PROTOCOL_MISMATCH,
                format!("{p} needs a port"),
                format!("write {p}/PORT, {p}/FROM-TO, or {p}/1-65535 for every port"),
            )),
            Some(p) => Ok(ServiceRef::Atom(ServiceAtom {
                protocol: p,
                ports: PortRange::NotApplicable,
            })),
            None => Ok(ServiceRef::Name(s.to_owned())),
        };
    };
    let Some(protocol) = Protocol::parse(proto) else {
        let protocol_names = Protocol::ALL.into_iter().map(Protocol::as_str);
        let hint = if proto.trim() != proto && Protocol::parse(proto.trim()).is_some() {
            format!("remove the whitespace: {}/{ports_text}", proto.trim())
        } else {
            did_you_mean(proto, protocol_names)
                .unwrap_or_else(|| "protocols are tcp, udp, icmp, icmpv6, gre and all".to_owned())
        };
        return Err(problem(
            codes::UNKNOWN_PROTOCOL,
            format!("unknown protocol {proto:?} in {s:?}"),
            hint,
        ));
    };
    if !protocol.takes_ports() {
        return Err(problem(
            codes::PORT_PROTOCOL_MISMATCH,
            format!("{protocol} takes no ports, found {s:?}"),
            format!("write `{protocol}` alone"),
        ));
    }
    let ports = ports(ports_text, s)?;
    Ok(ServiceRef::Atom(ServiceAtom { protocol, ports }))
}

/// `PORT` or `FROM-TO` of a TCP or UDP service written `whole`.
fn ports(text: &str, whole: &str) -> Result<PortRange, Problem> {
    let (a, b) = text.split_once('-').unwrap_or((text, text));
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(a) || !digits(b) {
        let hint = if text.trim() != text || a.trim() != a || b.trim() != b {
            "remove the whitespace; a port is a number from 1 to 65535, a range is FROM-TO"
        } else {
            "a port is a number from 1 to 65535; a range is FROM-TO"
        };
        return Err(problem(
            codes::INVALID_PORT,
            format!("invalid port {text:?} in {whole:?}"),
            hint,
        ));
    }
    let from = port(a, whole)?;
    let to = port(b, whole)?;
    if from > to {
        return Err(problem(
            codes::INVALID_PORT,
            format!("port range {from}-{to} in {whole:?} runs backwards"),
            format!("write {to}-{from}"),
        ));
    }
    Ok(PortRange::Range { from, to })
}

/// A non-empty string of ASCII digits as a port, without leading zeros.
fn port(p: &str, whole: &str) -> Result<u16, Problem> {
    let value = p.parse::<u64>().unwrap_or(u64::MAX);
    if p.len() > 1 && p.starts_with('0') && value <= 65535 {
        return Err(problem(
            codes::INVALID_PORT,
            format!("port {p} in {whole:?} has a leading zero"),
            format!("write {value}"),
        ));
    }
    match u16::try_from(value) {
        Ok(0) => Err(problem(
            codes::INVALID_PORT,
            format!("port 0 in {whole:?} is not a port"),
            "ports run from 1 to 65535",
        )),
        Ok(port) => Ok(port),
        Err(_) => Err(problem(
            codes::INVALID_PORT,
            format!("port {p} in {whole:?} is above 65535"),
            "ports run from 1 to 65535",
        )),
    }
}

/// A peer: a CIDR or bare address, `sg-...`, `ACCOUNT/sg-...` (a group of
/// another account), `pl-...`, or the name of an address set.
pub(crate) fn peer(s: &str) -> Result<PeerRef, Problem> {
    let trimmed = s.trim();
    if let Some((owner, group)) = trimmed.split_once('/')
        && id_kind(group).is_some()
    {
        return owned_group(s, owner, group).map(PeerRef::Peer);
    }
    match id_kind(trimmed) {
        Some(kind) => {
            id(s, kind)?;
            return Ok(PeerRef::Peer(match kind {
                IdKind::Group => Peer::group(s),
                IdKind::PrefixList => Peer::PrefixList { id: s.to_owned() },
            }));
        }
        None if looks_like_address(trimmed) => {}
        None => return Ok(PeerRef::Name(s.to_owned())),
    }
    cidr(s).map(|net| PeerRef::Peer(Peer::cidr(net)))
}

/// `ACCOUNT/sg-...`: a security group of another Alibaba Cloud account,
/// the account given by its numeric id as ECS's `SourceGroupOwnerAccount`
/// takes it.
fn owned_group(whole: &str, owner: &str, group: &str) -> Result<Peer, Problem> {
    if whole.trim() != whole {
        return Err(problem(
            codes::MALFORMED_ID,
            format!("malformed peer group {whole:?}"),
            format!("remove the whitespace: {}", whole.trim()),
        ));
    }
    if id_kind(group) != Some(IdKind::Group) {
        return Err(problem(
            codes::MALFORMED_ID,
            format!("{whole:?}: only a security group can belong to another account"),
            format!("write the prefix list alone: {group}"),
        ));
    }
    if owner.is_empty() || owner.len() > 32 || !owner.bytes().all(|b| b.is_ascii_digit()) {
        return Err(problem(
            codes::MALFORMED_ID,
            format!("malformed account id {owner:?} in {whole:?}"),
            format!(
                "a group of another account is written ACCOUNT_ID/{group}, the account id in digits, e.g. 1234567890123456/{group}"
            ),
        ));
    }
    id(group, IdKind::Group)?;
    Ok(Peer::Group {
        id: group.to_owned(),
        owner: Some(owner.to_owned()),
    })
}

/// An IPv4 or IPv6 CIDR with host bits clear, or a bare address (a /32 or
/// /128).
pub(crate) fn cidr(s: &str) -> Result<IpNet, Problem> {
    match parse_cidr_strict(s) {
        Ok(net) => Ok(net),
        Err(CidrError::HostBitsSet { network, .. }) => {
            let host = s.split_once('/').map_or(s, |(a, _)| a);
            Err(problem(
                codes::HOST_BITS_SET,
                format!("{s} has host bits set"),
                format!("the network is {network}; for the single host write {host}"),
            ))
        }
        Err(CidrError::Invalid(_)) => Err(problem(
            codes::INVALID_CIDR,
            format!("{s:?} is not an IPv4 or IPv6 address or CIDR"),
            cidr_hint(s),
        )),
    }
}

fn cidr_hint(s: &str) -> String {
    let trimmed = s.trim();
    if trimmed != s && parse_cidr_strict(trimmed).is_ok() {
        return format!("remove the whitespace: {trimmed}");
    }
    let (address, len) = s.split_once('/').unwrap_or((s, ""));
    if len.len() > 1 && len.starts_with('0') && len.bytes().all(|b| b.is_ascii_digit()) {
        let fixed = format!("{address}/{}", len.trim_start_matches('0'));
        let fixed = if fixed.ends_with('/') {
            format!("{fixed}0")
        } else {
            fixed
        };
        return format!("write the prefix length without leading zeros: {fixed}");
    }
    if let Ok(n) = len.parse::<u32>() {
        if s.contains(':') && n > 128 {
            return "IPv6 prefix lengths run from 0 to 128".to_owned();
        }
        if !s.contains(':') && n > 32 {
            return "IPv4 prefix lengths run from 0 to 32".to_owned();
        }
    }
    let octets: Vec<&str> = address.split('.').collect();
    if octets.len() == 4 && octets.iter().any(|o| o.len() > 1 && o.starts_with('0')) {
        return "write each number of an IPv4 address without leading zeros".to_owned();
    }
    "write a CIDR such as 203.0.113.0/24 or 2001:db8::/32, or a bare address".to_owned()
}

/// Written as an attempt at an address or CIDR rather than a name.
pub(crate) fn looks_like_address(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_digit()) || s.contains(':') || s.contains('/')
}

/// What kind of id a string starts like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdKind {
    Group,
    PrefixList,
}

impl IdKind {
    fn prefix(self) -> &'static str {
        match self {
            IdKind::Group => "sg-",
            IdKind::PrefixList => "pl-",
        }
    }

    fn what(self) -> &'static str {
        match self {
            IdKind::Group => "security group id",
            IdKind::PrefixList => "prefix list id",
        }
    }

    fn example(self) -> &'static str {
        match self {
            IdKind::Group => "sg-bp1fg655nh68xyz9bxyz",
            IdKind::PrefixList => "pl-bp1a2b3c4d5e6f7g8h",
        }
    }
}

/// `sg-...` or `pl-...` in any letter case, which is read as an id (and
/// checked as one) rather than as a name.
pub(crate) fn id_kind(s: &str) -> Option<IdKind> {
    match s.get(..3).map(str::to_ascii_lowercase).as_deref() {
        Some("sg-") => Some(IdKind::Group),
        Some("pl-") => Some(IdKind::PrefixList),
        _ => None,
    }
}

/// An id as ECS writes it: the prefix, then 1 to 64 lowercase letters and
/// digits.
pub(crate) fn id(s: &str, kind: IdKind) -> Result<(), Problem> {
    let (prefix, example) = (kind.prefix(), kind.example());
    let fail = |hint: String| {
        Err(problem(
            codes::MALFORMED_ID,
            format!("malformed {} {s:?}", kind.what()),
            hint,
        ))
    };
    let Some(rest) = s.strip_prefix(prefix) else {
        if s.trim() != s && s.trim().starts_with(prefix) {
            return fail(format!("remove the whitespace: {}", s.trim()));
        }
        return fail(format!(
            "ids start with {prefix} and look like {example}; a name goes in `name:`"
        ));
    };
    if rest.is_empty() || rest.len() > 64 {
        return fail(format!("an id looks like {example}"));
    }
    if rest.chars().any(|c| c.is_ascii_uppercase()) {
        return fail(format!("ids are lowercase: {}", s.to_ascii_lowercase()));
    }
    if s.trim() != s {
        return fail(format!("remove the whitespace: {}", s.trim()));
    }
    if !rest
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return fail(format!(
            "after {prefix} an id has only lowercase letters and digits, like {example}"
        ));
    }
    Ok(())
}

/// A region id: two lowercase letters, then `-` and lowercase letters or
/// digits, one or more times (`cn-hangzhou`, `ap-southeast-1`).
pub(crate) fn region(s: &str) -> Result<(), Problem> {
    let mut parts = s.split('-');
    let head = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    let ok = head.len() == 2
        && head.chars().all(|c| c.is_ascii_lowercase())
        && !rest.is_empty()
        && rest.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if ok {
        return Ok(());
    }
    Err(problem(
        codes::INVALID_VALUE,
        format!("invalid region {s:?}"),
        "a region id looks like cn-hangzhou or ap-southeast-1",
    ))
}

/// A calendar date written exactly `YYYY-MM-DD`, and a day that exists.
pub(crate) fn date(s: &str) -> Result<jiff::civil::Date, Problem> {
    let fail = || {
        problem(
            codes::INVALID_DATE,
            format!("{s:?} is not a calendar date"),
            "write the last day the rule is desired as YYYY-MM-DD, e.g. 2026-12-31",
        )
    };
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return Err(fail());
    }
    // The shape check leaves only ASCII digits in these ranges.
    let number = |range: std::ops::Range<usize>| s.get(range).and_then(|t| t.parse::<i16>().ok());
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
        return Err(fail());
    };
    let (Ok(month), Ok(day)) = (i8::try_from(month), i8::try_from(day)) else {
        return Err(fail());
    };
    jiff::civil::Date::new(year, month, day).map_err(|_| fail())
}

/// A lint code a rule may opt out of: `MOAT0` and two digits.
pub(crate) fn lint_code(s: &str) -> Result<(), Problem> {
    let b = s.as_bytes();
    if b.len() == 7 && s.starts_with("MOAT0") && b[5..].iter().all(u8::is_ascii_digit) {
        return Ok(());
    }
    let hint = if s.to_ascii_uppercase().starts_with("MOAT1") {
        "validation errors (MOAT1xx) cannot be ignored; fix the policy instead"
    } else {
        "lint codes look like MOAT001"
    };
    Err(problem(
        codes::INVALID_VALUE,
        format!("{s:?} is not a lint code"),
        hint,
    ))
}

/// What a name names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameKind {
    AddressSet,
    Service,
    Account,
    Stage,
    Template,
}

impl NameKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NameKind::AddressSet => "address set",
            NameKind::Service => "service",
            NameKind::Account => "account",
            NameKind::Stage => "stage",
            NameKind::Template => "template",
        }
    }
}

/// Names of address sets and services: a letter, then letters, digits,
/// `_`, `-` and `.`; never something that reads as a literal peer or
/// service.
pub(crate) fn name(s: &str, kind: NameKind) -> Result<(), Problem> {
    let what = kind.as_str();
    let (message, hint) = if s.contains('/') && kind == NameKind::Service {
        (
            format!("service name {s:?} looks like a service itself"),
            format!("name the service, e.g. `web: {s}`"),
        )
    } else if looks_like_address(s) {
        (
            format!("{what} name {s:?} looks like an address"),
            format!("name the {what} and list the address under it, e.g. `office: [{s}]`"),
        )
    } else if id_kind(s).is_some() {
        (
            format!("{what} name {s:?} looks like an id"),
            "names starting with sg- or pl- would be read as ids; choose another name".to_owned(),
        )
    } else if kind == NameKind::Service && Protocol::parse(s).is_some() {
        (
            format!("service name {s:?} is a protocol"),
            format!("`{s}` already means the protocol; choose another name"),
        )
    } else if !is_name(s) {
        (
            format!("invalid {what} name {s:?}"),
            "names start with a letter and use letters, digits, `_`, `-` and `.`".to_owned(),
        )
    } else {
        return Ok(());
    };
    Err(problem(codes::INVALID_NAME, message, hint))
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// An aliyun CLI profile name: one word of printable characters (the CLI
/// stores profiles by name in its configuration file and takes the name as
/// `--profile NAME`).
pub(crate) fn profile(s: &str) -> Result<(), Problem> {
    if !s.is_empty() && s.chars().all(|c| !c.is_whitespace() && !c.is_control()) {
        return Ok(());
    }
    Err(problem(
        codes::INVALID_VALUE,
        format!("invalid profile name {s:?}"),
        "a profile is named as in `aliyun configure --profile NAME`: one word, no spaces",
    ))
}

/// An account's endpoint: `http://` or `https://`, a host, and optionally a
/// port and a path. Whether plain http is allowed (loopback only, unless
/// the user says otherwise) is for the client to decide.
pub(crate) fn endpoint(s: &str) -> Result<(), Problem> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    let host = rest.map(|r| r.split('/').next().unwrap_or_default());
    let ok = host.is_some_and(|h| !h.is_empty() && !h.starts_with(':'))
        && s.chars().all(|c| !c.is_whitespace() && !c.is_control());
    if ok {
        return Ok(());
    }
    Err(problem(
        codes::INVALID_VALUE,
        format!("invalid endpoint {s:?}"),
        "write a URL with its scheme and host, e.g. https://ecs.cn-hangzhou.aliyuncs.com",
    ))
}

/// Free text (`description`, `name`, `reason`, `description_prefix`): any
/// characters but those that act instead of being shown.
///
/// Refused are the C0 control characters other than tab, line feed and
/// carriage return (NUL, BEL, ESC, ...), DEL, the C1 controls (NEL among
/// them), and the bidirectional embedding, override and isolate controls,
/// which make text read differently from what it holds. ECS documents a rule
/// description only as 1 to 512 characters and answers
/// `InvalidSecurityGroupDiscription.Malformed` for one it refuses, without
/// naming characters; moat shows descriptions in plans and on terminals,
/// where these characters would act. Tabs and line breaks pass: YAML block
/// scalars and imported rules carry them, and the views escape them.
pub(crate) fn text(s: &str, what: &str) -> Result<(), Problem> {
    let Some(c) = s.chars().find(|c| is_forbidden_in_text(*c)) else {
        return Ok(());
    };
    let code = u32::from(c);
    let name = control_name(c)
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    let hint = match c {
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => {
            "bidirectional controls make text read differently from what it holds; remove it"
                .to_owned()
        }
        _ => format!(
            "remove it from the {what}; control characters would act on terminals instead of being shown"
        ),
    };
    Err(problem(
        codes::CONTROL_CHARACTER,
        format!("{what} holds the control character U+{code:04X}{name}"),
        hint,
    ))
}

fn is_forbidden_in_text(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn control_name(c: char) -> Option<&'static str> {
    Some(match c {
        '\0' => "NUL",
        '\u{7}' => "BEL",
        '\u{8}' => "backspace",
        '\u{1B}' => "ESC",
        '\u{7F}' => "DEL",
        '\u{85}' => "next line",
        '\u{202E}' => "right-to-left override",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every grammar on one table: the input, and what it reads as (the
    /// canonical form, `name X` for a name, `ok` for a check without a
    /// value) or the code and message of the problem.
    fn check(grammar: &str, input: &str, expected: &str) {
        let shown = |r: Result<String, Problem>| match r {
            Ok(v) => v,
            Err(p) => format!("{} {}", p.code, p.message),
        };
        let ok = |r: Result<(), Problem>| r.map(|()| "ok".to_owned());
        let actual = match grammar {
            "service" => shown(service(input).map(|s| match s {
                ServiceRef::Atom(a) => a.to_string(),
                ServiceRef::Name(n) => format!("name {n}"),
            })),
            "peer" => shown(peer(input).map(|p| match p {
                PeerRef::Peer(p) => p.to_string(),
                PeerRef::Name(n) => format!("name {n}"),
            })),
            "group id" => shown(ok(id(input, IdKind::Group))),
            "region" => shown(ok(region(input))),
            "date" => shown(date(input).map(|d| d.to_string())),
            "lint code" => shown(ok(lint_code(input))),
            "set name" => shown(ok(name(input, NameKind::AddressSet))),
            "service name" => shown(ok(name(input, NameKind::Service))),
            "account name" => shown(ok(name(input, NameKind::Account))),
            "profile" => shown(ok(profile(input))),
            "endpoint" => shown(ok(endpoint(input))),
            "text" => shown(ok(text(input, "description"))),
            other => panic!("no grammar {other}"),
        };
        assert_eq!(actual, expected, "{grammar} {input:?}");
    }

    #[test]
    #[rustfmt::skip]
    fn literals() {
        for (grammar, input, expected) in [
            // Services.
            ("service", "tcp/22", "tcp/22"),
            ("service", "TCP/8000-8080", "tcp/8000-8080"),
            ("service", "udp/53-53", "udp/53"),
            ("service", "tcp/1-65535", "tcp/1-65535"),
            ("service", "ICMPv6", "icmpv6"),
            ("service", "all", "all"),
            ("service", "gre", "gre"),
            ("service", "ssh", "name ssh"),
            ("service", "tcp/0", "MOAT108 port 0 in \"tcp/0\" is not a port"),
            ("service", "tcp/65536", "MOAT108 port 65536 in \"tcp/65536\" is above 65535"),
            ("service", "tcp/99999999999999999999999", "MOAT108 port 99999999999999999999999 in \"tcp/99999999999999999999999\" is above 65535"),
            ("service", "tcp/443-80", "MOAT108 port range 443-80 in \"tcp/443-80\" runs backwards"),
            ("service", "tcp/-1", "MOAT108 invalid port \"-1\" in \"tcp/-1\""),
            ("service", "tcp/+22", "MOAT108 invalid port \"+22\" in \"tcp/+22\""),
            ("service", "tcp/022", "MOAT108 port 022 in \"tcp/022\" has a leading zero"),
            ("service", "tcp/80-0443", "MOAT108 port 0443 in \"tcp/80-0443\" has a leading zero"),
            ("service", "tcp/22 ", "MOAT108 invalid port \"22 \" in \"tcp/22 \""),
            ("service", "tcp/ 22", "MOAT108 invalid port \" 22\" in \"tcp/ 22\""),
            ("service", "tcp/80 - 90", "MOAT108 invalid port \"80 - 90\" in \"tcp/80 - 90\""),
            ("service", "tcp/", "MOAT108 invalid port \"\" in \"tcp/\""),
            ("service", "tcp/22/23", "MOAT108 invalid port \"22/23\" in \"tcp/22/23\""),
            ("service", " tcp/22", "MOAT116 unknown protocol \" tcp\" in \" tcp/22\""),
            ("service", "icmp/8", "MOAT109 icmp takes no ports, found \"icmp/8\""),
            ("service", "tcp", "MOAT109 tcp needs a port"),
            ("service", "tpc/22", "MOAT116 unknown protocol \"tpc\" in \"tpc/22\""),
            ("service", "6/22", "MOAT116 unknown protocol \"6\" in \"6/22\""),
            // Peers and CIDRs.
            ("peer", "10.0.0.1", "10.0.0.1/32"),
            ("peer", "10.0.0.0/8", "10.0.0.0/8"),
            ("peer", "0.0.0.0/0", "0.0.0.0/0"),
            ("peer", "2001:0DB8:0::/32", "2001:db8::/32"),
            ("peer", "::1", "::1/128"),
            ("peer", "::/0", "::/0"),
            ("peer", "::ffff:0.0.0.0/96", "::ffff:0.0.0.0/96"),
            ("peer", "sg-bp1abc", "sg-bp1abc"),
            ("peer", "pl-x1", "pl-x1"),
            ("peer", "1234567890123456/sg-bp1abc", "sg-bp1abc (account 1234567890123456)"),
            ("peer", "12ab/sg-bp1abc", "MOAT115 malformed account id \"12ab\" in \"12ab/sg-bp1abc\""),
            ("peer", "/sg-bp1abc", "MOAT115 malformed account id \"\" in \"/sg-bp1abc\""),
            ("peer", "123/pl-x1", "MOAT115 \"123/pl-x1\": only a security group can belong to another account"),
            ("peer", "123/sg-BP1", "MOAT115 malformed security group id \"sg-BP1\""),
            ("peer", " 123/sg-bp1abc", "MOAT115 malformed peer group \" 123/sg-bp1abc\""),
            ("peer", "office", "name office"),
            ("peer", "10.0.0.1/8", "MOAT107 10.0.0.1/8 has host bits set"),
            ("peer", "10.0.0.0/33", "MOAT106 \"10.0.0.0/33\" is not an IPv4 or IPv6 address or CIDR"),
            ("peer", "::/129", "MOAT106 \"::/129\" is not an IPv4 or IPv6 address or CIDR"),
            ("peer", "300.1.1.1", "MOAT106 \"300.1.1.1\" is not an IPv4 or IPv6 address or CIDR"),
            ("peer", "010.1.1.1", "MOAT106 \"010.1.1.1\" is not an IPv4 or IPv6 address or CIDR"),
            ("peer", "10.0.0.0/08", "MOAT106 \"10.0.0.0/08\" is not an IPv4 or IPv6 address or CIDR"),
            ("peer", "0.0.0.0/00", "MOAT106 \"0.0.0.0/00\" is not an IPv4 or IPv6 address or CIDR"),
            ("peer", "10.0.0.0/+8", "MOAT106 \"10.0.0.0/+8\" is not an IPv4 or IPv6 address or CIDR"),
            ("peer", "10.0.0.0/", "MOAT106 \"10.0.0.0/\" is not an IPv4 or IPv6 address or CIDR"),
            ("peer", "10.0.0.0/8/8", "MOAT106 \"10.0.0.0/8/8\" is not an IPv4 or IPv6 address or CIDR"),
            ("peer", " 10.0.0.0/8", "MOAT106 \" 10.0.0.0/8\" is not an IPv4 or IPv6 address or CIDR"),
            ("peer", "10.0.0.0/8 ", "MOAT106 \"10.0.0.0/8 \" is not an IPv4 or IPv6 address or CIDR"),
            ("peer", "10.0.0.0 /8", "MOAT106 \"10.0.0.0 /8\" is not an IPv4 or IPv6 address or CIDR"),
            ("peer", "10.0.0.0/ 8", "MOAT106 \"10.0.0.0/ 8\" is not an IPv4 or IPv6 address or CIDR"),
            ("peer", "10.1", "MOAT106 \"10.1\" is not an IPv4 or IPv6 address or CIDR"),
            ("peer", "fe80::1%eth0", "MOAT106 \"fe80::1%eth0\" is not an IPv4 or IPv6 address or CIDR"),
            ("peer", "sg-BP1", "MOAT115 malformed security group id \"sg-BP1\""),
            ("peer", "sg-", "MOAT115 malformed security group id \"sg-\""),
            ("peer", "pl-a_b", "MOAT115 malformed prefix list id \"pl-a_b\""),
            ("peer", " sg-bp1abc", "MOAT115 malformed security group id \" sg-bp1abc\""),
            ("peer", "sg-bp1abc ", "MOAT115 malformed security group id \"sg-bp1abc \""),
            ("peer", "SG-bp1abc", "MOAT115 malformed security group id \"SG-bp1abc\""),
            // Ids, regions, dates, lint codes.
            ("group id", "sg-bp1fg655nh68xyz9bxyz", "ok"),
            ("group id", "web-prod", "MOAT115 malformed security group id \"web-prod\""),
            ("group id", &format!("sg-{}", "a".repeat(65)), &format!("MOAT115 malformed security group id \"sg-{}\"", "a".repeat(65) ),
            ),
            ("region", "cn-hangzhou", "ok"),
            ("region", "ap-southeast-1", "ok"),
            ("region", "cn-Hangzhou", "MOAT117 invalid region \"cn-Hangzhou\""),
            ("region", " cn-hangzhou", "MOAT117 invalid region \" cn-hangzhou\""),
            ("region", "cn-", "MOAT117 invalid region \"cn-\""),
            ("region", "hangzhou", "MOAT117 invalid region \"hangzhou\""),
            ("date", "2026-12-31", "2026-12-31"),
            ("date", "2028-02-29", "2028-02-29"),
            ("date", "2026-02-29", "MOAT121 \"2026-02-29\" is not a calendar date"),
            ("date", "2026-13-01", "MOAT121 \"2026-13-01\" is not a calendar date"),
            ("date", "2026-1-01", "MOAT121 \"2026-1-01\" is not a calendar date"),
            ("date", "31.12.2026", "MOAT121 \"31.12.2026\" is not a calendar date"),
            ("date", "2026-12-31T00:00", "MOAT121 \"2026-12-31T00:00\" is not a calendar date"),
            ("date", " 2026-12-31", "MOAT121 \" 2026-12-31\" is not a calendar date"),
            ("lint code", "MOAT001", "ok"),
            ("lint code", "MOAT101", "MOAT117 \"MOAT101\" is not a lint code"),
            ("lint code", "moat001", "MOAT117 \"moat001\" is not a lint code"),
            ("lint code", "MOAT001 ", "MOAT117 \"MOAT001 \" is not a lint code"),
            // Names.
            ("set name", "office", "ok"),
            ("set name", "eu.vpn-2_b", "ok"),
            ("set name", "10.0.0.0/8", "MOAT125 address set name \"10.0.0.0/8\" looks like an address"),
            ("set name", "sg-web", "MOAT125 address set name \"sg-web\" looks like an id"),
            ("set name", "office ", "MOAT125 invalid address set name \"office \""),
            ("set name", "_office", "MOAT125 invalid address set name \"_office\""),
            ("set name", "büro", "MOAT125 invalid address set name \"büro\""),
            ("service name", "tcp", "MOAT125 service name \"tcp\" is a protocol"),
            ("service name", "tcp/22", "MOAT125 service name \"tcp/22\" looks like a service itself"),
            // Accounts.
            ("account name", "prod", "ok"),
            ("account name", "prod eu", "MOAT125 invalid account name \"prod eu\""),
            ("profile", "prod-ro", "ok"),
            ("profile", "", "MOAT117 invalid profile name \"\""),
            ("profile", "prod ro", "MOAT117 invalid profile name \"prod ro\""),
            ("endpoint", "https://ecs.cn-hangzhou.aliyuncs.com", "ok"),
            ("endpoint", "http://127.0.0.1:8080/", "ok"),
            ("endpoint", "http://[::1]:9", "ok"),
            ("endpoint", "ecs.cn-hangzhou.aliyuncs.com", "MOAT117 invalid endpoint \"ecs.cn-hangzhou.aliyuncs.com\""),
            ("endpoint", "ftp://example.com", "MOAT117 invalid endpoint \"ftp://example.com\""),
            ("endpoint", "https://", "MOAT117 invalid endpoint \"https://\""),
            ("endpoint", "https:// example.com", "MOAT117 invalid endpoint \"https:// example.com\""),
            // Free text.
            ("text", "SSH from the office, ticket OPS-123", "ok"),
            ("text", "统一 ünïcödé ✓ 🚀 \u{a0}", "ok"),
            ("text", "", "ok"),
            ("text", "a\0b", "MOAT135 description holds the control character U+0000 (NUL)"),
            ("text", "\u{1b}[31mred", "MOAT135 description holds the control character U+001B (ESC)"),
            ("text", "bell\u{7}", "MOAT135 description holds the control character U+0007 (BEL)"),
            ("text", "two\nlines\r\n\tand a tab", "ok"),
            ("text", "a\u{2028}b\u{2029}", "ok"),
            ("text", "next\u{85}line", "MOAT135 description holds the control character U+0085 (next line)"),
            ("text", "form\u{c}feed", "MOAT135 description holds the control character U+000C"),
            ("text", "del\u{7f}", "MOAT135 description holds the control character U+007F (DEL)"),
            ("text", "c1\u{9b}", "MOAT135 description holds the control character U+009B"),
            ("text", "evil\u{202e}txt", "MOAT135 description holds the control character U+202E (right-to-left override)"),
            ("text", "iso\u{2066}late", "MOAT135 description holds the control character U+2066"),
        ] {
            check(grammar, input, expected);
        }
    }

    #[test]
    fn hints_name_the_one_spelling() {
        let hint = |r: Result<IpNet, Problem>| r.err().and_then(|p| p.hint).unwrap_or_default();
        assert_eq!(
            hint(cidr(" 10.0.0.0/8")),
            "remove the whitespace: 10.0.0.0/8"
        );
        assert_eq!(
            hint(cidr("10.0.0.0/08")),
            "write the prefix length without leading zeros: 10.0.0.0/8"
        );
        assert_eq!(
            hint(cidr("0.0.0.0/00")),
            "write the prefix length without leading zeros: 0.0.0.0/0"
        );
        assert_eq!(
            hint(cidr("010.1.1.1")),
            "write each number of an IPv4 address without leading zeros"
        );
        assert_eq!(
            hint(cidr("10.0.0.0/33")),
            "IPv4 prefix lengths run from 0 to 32"
        );
        let service_hint = |s: &str| service(s).err().and_then(|p| p.hint).unwrap_or_default();
        assert_eq!(service_hint("tcp/022"), "write 22");
        assert_eq!(service_hint(" tcp/22"), "remove the whitespace: tcp/22");
        assert!(service_hint("tcp/22 ").starts_with("remove the whitespace"));
        let id_hint = |s: &str| {
            id(s, IdKind::Group)
                .err()
                .and_then(|p| p.hint)
                .unwrap_or_default()
        };
        assert_eq!(id_hint(" sg-bp1abc"), "remove the whitespace: sg-bp1abc");
        assert_eq!(id_hint("sg-bp1abc\t"), "remove the whitespace: sg-bp1abc");
    }
}
