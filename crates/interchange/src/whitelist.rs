//! The CSV whitelist: one rule per row (RFC 4180 quoting) after the header
//! `group_id,region,direction,action,protocol,ports,peer,priority,description`.
//!
//! Values: direction `ingress|egress`, action `accept|drop`, protocol
//! `tcp|udp|icmp|icmpv6|gre|all`, ports `N` or `N-M` (empty for protocols
//! without ports), peer a CIDR, an address, `sg-...` (`ACCOUNT_ID/sg-...`
//! for a group of another account) or `pl-...`, priority
//! 1-100 (empty: the API's default), description free text. A spreadsheet
//! is written by people, so a CIDR with host bits set is refused as a policy
//! refuses it, rather than silently widened or narrowed.

use std::sync::Arc;

use moat_policy::{GroupPolicy, Peer, PortRange, Rule, RuleKey};

use crate::ImportOptions;
use crate::error::{At, CsvError, ErrorKind, ExportError, ImportError, ImportErrors, Location};
use crate::fields::{self, Family, Fault, Field, PortSyntax, Strictness};
use crate::imported::{Assembler, Imported, Source};

/// The header a whitelist starts with, in the order moat writes it.
pub const CSV_HEADER: [&str; 9] = [
    "group_id",
    "region",
    "direction",
    "action",
    "protocol",
    "ports",
    "peer",
    "priority",
    "description",
];

const EXPECTED: &str =
    "group_id, region, direction, action, protocol, ports, peer, priority, description";

/// Reads a CSV whitelist. `options.region` fills empty `region` cells.
pub fn import_csv(
    file: &str,
    text: &str,
    options: &ImportOptions,
) -> Result<Imported, ImportErrors> {
    let file: Arc<str> = Arc::from(file);
    let one = |at: At, kind: ErrorKind| {
        ImportErrors::one(ImportError::new(Location::new(&file, at), kind))
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| one(At::Row(1), ErrorKind::Csv(CsvError(e))))?
        .clone();
    // Column index of each field, in CSV_HEADER order.
    let mut index = [usize::MAX; CSV_HEADER.len()];
    for (i, name) in header.iter().enumerate() {
        let name = name.trim();
        let at = At::Cell {
            row: 1,
            column: i + 1,
            name: name.to_owned(),
        };
        match CSV_HEADER.iter().position(|h| h.eq_ignore_ascii_case(name)) {
            None => {
                return Err(one(
                    at,
                    ErrorKind::UnknownColumn {
                        name: name.to_owned(),
                        expected: EXPECTED,
                    },
                ));
            }
            Some(k) if index[k] != usize::MAX => {
                return Err(one(
                    at,
                    ErrorKind::DuplicateColumn {
                        name: name.to_owned(),
                    },
                ));
            }
            Some(k) => index[k] = i,
        }
    }
    if let Some(k) = index.iter().position(|i| *i == usize::MAX) {
        return Err(one(
            At::Row(1),
            ErrorKind::MissingColumn {
                name: CSV_HEADER[k],
                expected: EXPECTED,
            },
        ));
    }

    let mut asm = Assembler::new(&file, None);
    for (n, record) in reader.records().enumerate() {
        let row = n as u64 + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                asm.error(At::Row(row), None, ErrorKind::Csv(CsvError(e)));
                continue;
            }
        };
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cell = |k: usize| {
            let column = index[k];
            Field::new(
                CSV_HEADER[k],
                record.get(column).unwrap_or_default(),
                At::Cell {
                    row,
                    column: column + 1,
                    name: CSV_HEADER[k].to_owned(),
                },
            )
        };
        match read_row(&cell, options) {
            Ok((group, region, rule)) => {
                asm.rule(
                    &group,
                    Some(&region),
                    rule,
                    Source::Csv { row },
                    At::Row(row),
                );
            }
            Err(f) => asm.error(f.at, None, f.kind),
        }
    }
    asm.finish("no rules in this CSV file (only a header)")
}

fn read_row(
    cell: &dyn Fn(usize) -> Field,
    options: &ImportOptions,
) -> Result<(String, String, Rule), Fault> {
    let required = |k: usize| {
        let f = cell(k);
        if f.text.trim().is_empty() {
            Err(Fault::new(
                f.at,
                ErrorKind::Missing {
                    field: CSV_HEADER[k].to_owned(),
                },
            ))
        } else {
            Ok(f)
        }
    };
    let group = fields::group_id(&required(0)?)?;
    let region_cell = cell(1);
    let region = match (region_cell.text.trim(), &options.region) {
        ("", Some(r)) => r.clone(),
        ("", None) => {
            return Err(Fault::new(
                region_cell.at,
                ErrorKind::Missing {
                    field: "region".into(),
                },
            ));
        }
        (r, _) => r.to_owned(),
    };
    let direction = fields::direction(&required(2)?)?;
    let verdict = fields::verdict(Some(&required(3)?))?;
    let protocol = fields::protocol(&required(4)?)?;
    let ports = fields::ports(protocol, Some(&cell(5)), "ports", PortSyntax::Dash)?;
    let peer_cell = required(6)?;
    let text = peer_cell.text.trim();
    let peer = if text.starts_with("sg-") {
        Peer::group(fields::group_id(&peer_cell)?)
    } else if let Some((owner, group)) = text.split_once('/')
        && group.starts_with("sg-")
        && !owner.is_empty()
        && owner.bytes().all(|b| b.is_ascii_digit())
    {
        // A group of another account, written as a policy writes it.
        let group_cell = Field::new(peer_cell.name.clone(), group, peer_cell.at.clone());
        Peer::Group {
            id: fields::group_id(&group_cell)?,
            owner: Some(owner.to_owned()),
        }
    } else if let Some(rest) = text.strip_prefix("pl-") {
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Fault::new(
                peer_cell.at.clone(),
                ErrorKind::UnknownValue {
                    field: "peer".into(),
                    value: peer_cell.text.clone(),
                    expected: "a CIDR, an address, sg-... or pl-...",
                },
            ));
        }
        Peer::PrefixList {
            id: text.to_owned(),
        }
    } else {
        Peer::cidr(fields::cidr(&peer_cell, Family::Any, Strictness::Strict)?)
    };
    let priority = fields::priority(fields::set(Some(cell(7))).as_ref())?;
    let description = cell(8).text;
    let key = RuleKey {
        direction,
        protocol,
        ports,
        peer,
        verdict,
        nic_type: moat_policy::NicType::Intranet,
        source_ports: None,
        local: None,
    };
    fields::check(&group, &key).map_err(|kind| Fault::new(peer_cell.at.clone(), kind))?;
    Ok((
        group,
        region,
        Rule {
            key,
            priority,
            description,
        },
    ))
}

/// The rules of the groups as a CSV whitelist, one row per rule.
pub fn render_csv(groups: &[GroupPolicy]) -> Result<String, ExportError> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let mut rows: Vec<Vec<String>> = vec![CSV_HEADER.iter().map(|s| (*s).to_owned()).collect()];
    for g in groups {
        for r in &g.rules {
            let key = &r.rule.key;
            let reason = if key.source_ports.is_some() {
                Some("the whitelist has no source port column")
            } else if key.local.is_some() {
                Some("the whitelist has no second address column")
            } else if key.nic_type != moat_policy::NicType::Intranet {
                Some("the whitelist has no NIC type column")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(ExportError::Unrepresentable {
                    group: g.id.clone(),
                    key: Box::new(key.clone()),
                    format: "a CSV row",
                    reason,
                });
            }
            let ports = match key.ports {
                PortRange::NotApplicable => String::new(),
                p => p.to_string(),
            };
            rows.push(vec![
                g.id.clone(),
                g.region.clone(),
                key.direction.to_string(),
                key.verdict.to_string(),
                key.protocol.to_string(),
                ports,
                key.peer.policy_text(),
                r.rule.priority.to_string(),
                r.rule.description.clone(),
            ]);
        }
    }
    for row in rows {
        // Writing to a Vec cannot fail; a failure would only lose the row,
        // which the round-trip tests would catch.
        let _ = w.write_record(&row);
    }
    let bytes = w.into_inner().unwrap_or_default();
    Ok(String::from_utf8(bytes).unwrap_or_default())
}
