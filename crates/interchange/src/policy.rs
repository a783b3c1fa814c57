//! Writing an import as a moat policy.
//!
//! Unlike `moat export`, which writes one policy rule per peer, an import
//! starts from a format where the same network is repeated in every rule
//! that uses it (a Terraform resource or a spreadsheet row per rule), so a
//! CIDR that appears in more than one rule becomes a named address set, and
//! rules that share everything but their service and peer are written as
//! one policy rule whose services and peers multiply out to exactly the
//! imported rules. The text is loaded back before it is returned: anything
//! but the same rules is an error, never a policy that would plan changes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use ipnet::IpNet;
use moat_policy::model::DEFAULT_PRIORITY;
use moat_policy::{Direction, Mode, NicType, Peer, ServiceAtom, Verdict, load_policy_str};

use crate::error::{At, ErrorKind, ImportError, ImportErrors, Location};
use crate::imported::{Imported, ImportedGroup, ImportedRule};

/// The imported groups as one policy file, every group in `mode`.
/// Authoritative groups lose the live rules the source did not hold at the
/// next apply; additive groups leave them alone.
pub fn render_policy(imported: &Imported, mode: Mode) -> Result<String, ImportErrors> {
    let mut errors = Vec::new();
    for g in &imported.groups {
        for r in &g.rules {
            if let Some(reason) = unrepresentable(r) {
                let mut e = ImportError::new(
                    Location::new(&imported.file, At::Whole),
                    ErrorKind::Unrepresentable { reason },
                );
                e.subject = Some(format!("{} (rule `{}`)", r.sources[0], r.rule.key));
                errors.push(e);
            }
        }
    }
    if !errors.is_empty() {
        return Err(ImportErrors(errors));
    }

    let sets = address_sets(imported);
    let mut out = String::from("version: 1\n");
    if !sets.is_empty() {
        out.push_str("addresses:\n");
        let mut by_name: Vec<(&String, &IpNet)> = sets.iter().map(|(n, s)| (s, n)).collect();
        by_name.sort();
        for (name, net) in by_name {
            let _ = writeln!(out, "  {}: [{}]", scalar(name), scalar(&net.to_string()));
        }
    }
    if imported.groups.is_empty() {
        out.push_str("security_groups: []\n");
    } else {
        out.push_str("security_groups:\n");
    }
    for g in &imported.groups {
        write_group(&mut out, g, &sets, mode);
    }
    verify(imported, &out)?;
    Ok(out)
}

fn unrepresentable(r: &ImportedRule) -> Option<&'static str> {
    let key = &r.rule.key;
    if key.source_ports.is_some() {
        Some("a source port range has no policy syntax")
    } else if key.local.is_some() {
        Some("a rule's second (local) address has no policy syntax")
    } else {
        None
    }
}

/// CIDRs used by more than one rule, and the name of each set.
fn address_sets(imported: &Imported) -> HashMap<IpNet, String> {
    let mut uses: BTreeMap<IpNet, usize> = BTreeMap::new();
    for g in &imported.groups {
        for r in &g.rules {
            if let Some(net) = r.rule.key.peer.as_cidr() {
                *uses.entry(net).or_default() += 1;
            }
        }
    }
    uses.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(net, _)| (net, set_name(net)))
        .collect()
}

/// `any-ipv4`, `any-ipv6`, `host-203.0.113.7`, `net-10.0.0.0-8`,
/// `net-2001-db8---32`: the address with `:` as `-` (a name may not hold
/// `:` or `/`), then the prefix length after the last `-`. Distinct
/// networks get distinct names: IPv4 text holds no `-`, IPv6 text no `.`.
pub(crate) fn set_name(net: IpNet) -> String {
    let addr = net.addr().to_string().replace(':', "-");
    match (net.prefix_len(), net.max_prefix_len()) {
        (0, 32) => "any-ipv4".to_owned(),
        (0, _) => "any-ipv6".to_owned(),
        (len, max) if len == max => format!("host-{addr}"),
        (len, _) => format!("net-{addr}-{len}"),
    }
}

/// The attributes a policy rule gives all its atomic rules.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Attrs<'a> {
    verdict: Verdict,
    nic_type: NicType,
    priority: u8,
    description: &'a str,
}

fn write_group(out: &mut String, g: &ImportedGroup, sets: &HashMap<IpNet, String>, mode: Mode) {
    let _ = writeln!(out, "  - id: {}", scalar(&g.id));
    let _ = writeln!(out, "    region: {}", scalar(&g.region));
    if let Some(name) = &g.name {
        let _ = writeln!(out, "    name: {}", scalar(name));
    }
    if let Some(t) = g.group_type {
        let _ = writeln!(out, "    type: {t}");
    }
    let _ = writeln!(out, "    mode: {mode}");
    for direction in Direction::ALL {
        let rules: Vec<&ImportedRule> = g
            .rules
            .iter()
            .filter(|r| r.rule.key.direction == direction)
            .collect();
        if rules.is_empty() {
            let _ = writeln!(out, "    {direction}: []");
            continue;
        }
        let _ = writeln!(out, "    {direction}:");
        for block in blocks(&rules) {
            write_rule(out, direction, &block, sets);
        }
    }
}

/// One policy rule: attributes, services, peers.
struct Block<'a> {
    attrs: Attrs<'a>,
    services: Vec<ServiceAtom>,
    peers: Vec<&'a Peer>,
}

/// Partitions rules into policy rules whose services x peers are exactly
/// those rules: within one set of attributes, peers with the same set of
/// services share a policy rule. Blocks come in the order of their first
/// rule (the rules are sorted by key).
fn blocks<'a>(rules: &[&'a ImportedRule]) -> Vec<Block<'a>> {
    let mut order: Vec<Attrs<'a>> = Vec::new();
    let mut by_attrs: HashMap<Attrs<'a>, Vec<(&'a Peer, BTreeSet<ServiceAtom>)>> = HashMap::new();
    for r in rules {
        let key = &r.rule.key;
        let attrs = Attrs {
            verdict: key.verdict,
            nic_type: key.nic_type,
            priority: r.rule.priority,
            description: &r.rule.description,
        };
        let peers = by_attrs.entry(attrs.clone()).or_insert_with(|| {
            order.push(attrs);
            Vec::new()
        });
        match peers.iter_mut().find(|(p, _)| *p == &key.peer) {
            Some((_, services)) => {
                services.insert(key.service());
            }
            None => peers.push((&key.peer, BTreeSet::from([key.service()]))),
        }
    }
    let mut out = Vec::new();
    for attrs in order {
        let peers = by_attrs.remove(&attrs).unwrap_or_default();
        let mut groups: Vec<(BTreeSet<ServiceAtom>, Vec<&Peer>)> = Vec::new();
        for (peer, services) in peers {
            match groups.iter_mut().find(|(s, _)| *s == services) {
                Some((_, ps)) => ps.push(peer),
                None => groups.push((services, vec![peer])),
            }
        }
        for (services, peers) in groups {
            out.push(Block {
                attrs: attrs.clone(),
                services: services.into_iter().collect(),
                peers,
            });
        }
    }
    out
}

fn write_rule(
    out: &mut String,
    direction: Direction,
    b: &Block<'_>,
    sets: &HashMap<IpNet, String>,
) {
    let mut lead = "      - ";
    let mut line = |out: &mut String, text: String| {
        let _ = writeln!(out, "{lead}{text}");
        lead = "        ";
    };
    if !b.attrs.description.is_empty() {
        line(out, format!("description: {}", scalar(b.attrs.description)));
    }
    let verb = match b.attrs.verdict {
        Verdict::Accept => "allow",
        Verdict::Drop => "deny",
    };
    let services: Vec<String> = b.services.iter().map(|s| scalar(&s.to_string())).collect();
    line(out, format!("{verb}: {}", list(&services)));
    let peers: Vec<String> = b
        .peers
        .iter()
        .map(|p| match p.as_cidr().and_then(|n| sets.get(&n)) {
            Some(name) => scalar(name),
            None => scalar(&p.policy_text()),
        })
        .collect();
    line(out, format!("{}: {}", direction.peer_word(), list(&peers)));
    if b.attrs.priority != DEFAULT_PRIORITY {
        line(out, format!("priority: {}", b.attrs.priority));
    }
    if b.attrs.nic_type != NicType::default() {
        line(out, format!("nic_type: {}", b.attrs.nic_type));
    }
}

fn list(items: &[String]) -> String {
    match items {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// A YAML scalar that reads back as exactly `s`: plain when that is
/// unambiguous, double-quoted with escapes otherwise.
pub(crate) fn scalar(s: &str) -> String {
    let plain_char = |c: char| c.is_ascii_alphanumeric() || " ._/-()@+,".contains(c);
    let reserved = matches!(
        s.to_ascii_lowercase().as_str(),
        "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~"
    );
    let plain = !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(plain_char)
        && !s.ends_with(' ')
        && !s.contains(", ")
        && !s.contains(',')
        && !reserved;
    if plain {
        return s.to_owned();
    }
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            // YAML allows only printable characters in a quoted scalar, and
            // readers may take the separators and the byte-order mark for
            // line breaks or drop them.
            c if needs_escape(c) => {
                let code = u32::from(c);
                if code <= 0xFFFF {
                    let _ = write!(q, "\\u{code:04X}");
                } else {
                    let _ = write!(q, "\\U{code:08X}");
                }
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn needs_escape(c: char) -> bool {
    let code = u32::from(c);
    !matches!(code, 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..)
        || matches!(code, 0x2028 | 0x2029 | 0xFEFF)
}

/// Loads the text and checks that it holds exactly the imported rules.
fn verify(imported: &Imported, text: &str) -> Result<(), ImportErrors> {
    let fail = |message: String| {
        ImportErrors::one(ImportError::new(
            Location::new(&imported.file, At::Whole),
            ErrorKind::Policy { message },
        ))
    };
    let set = load_policy_str(&imported.file, text).map_err(|d| {
        let messages: Vec<String> =
            d.0.iter()
                .map(|d| format!("{} {}", d.code, d.message))
                .collect();
        fail(messages.join("; "))
    })?;
    let loaded: BTreeMap<&str, BTreeSet<&moat_policy::Rule>> = set
        .groups
        .iter()
        .map(|g| (g.id.as_str(), g.rules.iter().map(|r| &r.rule).collect()))
        .collect();
    for g in &imported.groups {
        let want: BTreeSet<&moat_policy::Rule> = g.rules.iter().map(|r| &r.rule).collect();
        if loaded.get(g.id.as_str()) != Some(&want) {
            return Err(fail(format!(
                "the policy written for group {} does not load back to the imported rules",
                g.id
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_names_are_distinct_and_legal() {
        let names: Vec<String> = [
            "0.0.0.0/0",
            "::/0",
            "203.0.113.7/32",
            "10.0.0.0/8",
            "2001:db8::/32",
            "2001:db8::1/128",
        ]
        .iter()
        .map(|s| set_name(s.parse().unwrap()))
        .collect();
        assert_eq!(
            names,
            [
                "any-ipv4",
                "any-ipv6",
                "host-203.0.113.7",
                "net-10.0.0.0-8",
                "net-2001-db8---32",
                "host-2001-db8--1"
            ]
        );
    }

    #[test]
    fn scalars_read_back() {
        for s in [
            "tcp/22", "web prod", "2024", "yes", "a: b", "# x", "::/0", "é", "x\u{7f}y", "",
            " lead", "[a]",
        ] {
            let text = format!("v: {}\n", scalar(s));
            let back: BTreeMap<String, String> =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            assert_eq!(back["v"], s, "{text}");
        }
    }
}
