//! Writing rules as Terraform: `alicloud_security_group_rule` resources with
//! `import` blocks, and the migration file of `removed` blocks.

use std::collections::{BTreeMap, BTreeSet};

use hcl_edit::expr::Expression;
use moat_policy::{GroupPolicy, Peer, PortRange, RuleKey};

use crate::error::ExportError;
use crate::hcl::{self, BlockSpec};
use crate::imported::{Imported, Source};
use crate::names::{Names, words_of};

const RULE_TYPE: &str = "alicloud_security_group_rule";
const FORMAT: &str = "an alicloud_security_group_rule";

/// The provider's import id of a rule (also its resource id):
/// `<sg>:<type>:<ip_protocol>:<port_range>:<nic_type>:<peer>:<policy>:<priority>`.
///
/// The provider builds it in `resourceAliyunSecurityGroupRuleCreate` and
/// splits it on `:` in `DescribeSecurityGroupRule`, so the colons of an
/// IPv6 peer are written as `_` (and turned back on read). The peer part is
/// the CIDR, the peer group's id, or the prefix list's id.
pub fn import_id(group_id: &str, key: &RuleKey, priority: u8) -> String {
    let peer = match &key.peer {
        Peer::Cidr { cidr } => cidr.to_string().replace(':', "_"),
        Peer::Group { id, .. } => id.clone(),
        Peer::PrefixList { id } => id.clone(),
    };
    format!(
        "{group_id}:{}:{}:{}:{}:{peer}:{}:{priority}",
        key.direction,
        key.protocol,
        key.ports.to_wire(),
        key.nic_type,
        key.verdict,
    )
}

/// HCL for every rule of the groups: one `alicloud_security_group_rule` per
/// rule with a stable, readable name, each followed by an `import` block
/// (Terraform 1.5 and later) so that `terraform plan` adopts the live rule
/// instead of creating a second one. Groups of several regions get one
/// aliased provider configuration per region.
pub fn render_terraform(groups: &[GroupPolicy]) -> Result<String, ExportError> {
    for g in groups {
        for r in &g.rules {
            check(&g.id, &r.rule.key)?;
        }
    }
    let regions: BTreeSet<&str> = groups.iter().map(|g| g.region.as_str()).collect();
    let aliased = regions.len() > 1;
    let alias = |region: &str| region.replace(|c: char| !c.is_ascii_alphanumeric(), "_");

    let mut header = vec![
        "Security group rules exported by moat.".to_owned(),
        "With Terraform 1.5 or later, the import blocks adopt the live rules:".to_owned(),
        "`terraform plan` shows them as imported, with nothing to add or destroy.".to_owned(),
    ];
    if let [only] = regions.iter().copied().collect::<Vec<_>>().as_slice() {
        header.push(format!(
            "The alicloud provider must be configured for region {only}."
        ));
    }
    let mut blocks = Vec::new();
    if aliased {
        for region in &regions {
            blocks.push(
                BlockSpec::new("provider")
                    .label("alicloud")
                    .attr("alias", alias(region))
                    .attr("region", *region),
            );
        }
    }

    let labels = group_labels(groups);
    let mut names = Names::snake();
    for (g, label) in groups.iter().zip(&labels) {
        let provider = aliased
            .then(|| hcl::reference(&format!("alicloud.{}", alias(&g.region))))
            .flatten();
        for r in &g.rules {
            let key = &r.rule.key;
            let name = names.unique(&rule_words(label, key));
            let mut res = BlockSpec::new("resource")
                .label(RULE_TYPE)
                .label(name.clone());
            if let Some(p) = &provider {
                res = res.attr("provider", p.clone());
            }
            res = res
                .attr("security_group_id", g.id.as_str())
                .attr("type", key.direction.as_str())
                .attr("ip_protocol", key.protocol.as_str())
                .attr("port_range", key.ports.to_wire())
                .attr("nic_type", key.nic_type.as_str())
                .attr("policy", key.verdict.as_str())
                .attr("priority", u64::from(r.rule.priority));
            res = match &key.peer {
                Peer::Cidr { cidr } if cidr.addr().is_ipv4() => {
                    res.attr("cidr_ip", cidr.to_string())
                }
                Peer::Cidr { cidr } => res.attr("ipv6_cidr_ip", cidr.to_string()),
                Peer::Group { id, owner } => {
                    res = res.attr("source_security_group_id", id.as_str());
                    match owner {
                        Some(o) => res.attr("source_group_owner_id", o.as_str()),
                        None => res,
                    }
                }
                Peer::PrefixList { id } => res.attr("prefix_list_id", id.as_str()),
            };
            if !r.rule.description.is_empty() {
                res = res.attr("description", hcl::string(&r.rule.description));
            }
            blocks.push(res);

            let to = hcl::reference(&format!("{RULE_TYPE}.{name}"))
                .unwrap_or_else(|| Expression::from(format!("{RULE_TYPE}.{name}")));
            let mut imp = BlockSpec::new("import").attr("to", to);
            if let Some(p) = &provider {
                imp = imp.attr("provider", p.clone());
            }
            blocks.push(imp.attr("id", import_id(&g.id, key, r.rule.priority)));
        }
    }
    Ok(hcl::render(&header, blocks))
}

/// The provider's schema has no source port range and no second address.
fn check(group: &str, key: &RuleKey) -> Result<(), ExportError> {
    let reason = if key.source_ports.is_some() {
        "the provider has no source port range"
    } else if key.local.is_some() {
        "the provider has no second (local) address"
    } else {
        return Ok(());
    };
    Err(ExportError::Unrepresentable {
        group: group.to_owned(),
        key: Box::new(key.clone()),
        format: FORMAT,
        reason,
    })
}

/// A label per group for resource names: its name when every group has a
/// distinct one that makes a name, else its id.
pub(crate) fn group_labels(groups: &[GroupPolicy]) -> Vec<String> {
    let by_name: Vec<Option<String>> = groups
        .iter()
        .map(|g| {
            g.name
                .as_deref()
                .map(|n| words_of(n).join("_"))
                .filter(|n| n.starts_with(|c: char| c.is_ascii_alphabetic()))
        })
        .collect();
    let distinct: BTreeSet<&String> = by_name.iter().flatten().collect();
    let use_names = by_name.iter().all(Option::is_some) && distinct.len() == groups.len();
    groups
        .iter()
        .zip(by_name)
        .map(|(g, n)| match n {
            Some(n) if use_names => n,
            _ => words_of(&g.id).join("_"),
        })
        .collect()
}

/// The words of a rule's name: group, direction, protocol, ports, peer,
/// and what differs from the defaults.
pub(crate) fn rule_words(group_label: &str, key: &RuleKey) -> Vec<String> {
    let mut words = vec![group_label.to_owned(), key.direction.to_string()];
    words.push(key.protocol.to_string());
    match key.ports {
        PortRange::NotApplicable => {}
        PortRange::Range { from, to } if from == to => words.push(from.to_string()),
        PortRange::Range { from, to } => {
            words.push(from.to_string());
            words.push(to.to_string());
        }
    }
    match &key.peer {
        Peer::Cidr { cidr } if cidr.prefix_len() == 0 => words.push(
            if cidr.addr().is_ipv4() {
                "any_ipv4"
            } else {
                "any_ipv6"
            }
            .to_owned(),
        ),
        Peer::Cidr { cidr } => words.extend(words_of(&cidr.to_string())),
        Peer::Group { id, .. } | Peer::PrefixList { id } => words.extend(words_of(id)),
    }
    if key.verdict == moat_policy::Verdict::Drop {
        words.push("drop".to_owned());
    }
    if key.nic_type == moat_policy::NicType::Internet {
        words.push("internet".to_owned());
    }
    words
}

/// The migration file for an import from Terraform: a `removed` block
/// (Terraform 1.7 and later) for every resource whose rules moat now owns,
/// with `destroy = false` so that Terraform forgets them without revoking
/// them, and the equivalent `terraform state rm` commands as comments for
/// older versions. `None` when the import did not come from Terraform.
pub fn render_migration(imported: &Imported) -> Option<String> {
    let mut resources: BTreeSet<&str> = BTreeSet::new();
    let mut instances: BTreeMap<&str, ()> = BTreeMap::new();
    for g in &imported.groups {
        for r in &g.rules {
            for s in &r.sources {
                if let Source::Terraform { address, resource } = s {
                    resources.insert(resource);
                    instances.insert(address, ());
                }
            }
        }
    }
    if resources.is_empty() {
        return None;
    }
    let mut header = vec![
        format!(
            "moat now manages the security group rules these Terraform resources held (read from {}).",
            imported.file
        ),
        "Terraform 1.7 and later: delete the resource blocks from the configuration, add this"
            .to_owned(),
        "file, and run `terraform apply`; Terraform forgets the rules and does not revoke them."
            .to_owned(),
        "Older Terraform: delete the resource blocks and run these commands instead:".to_owned(),
    ];
    for address in instances.keys() {
        header.push(format!("  terraform state rm {}", shell_quote(address)));
    }
    let blocks = resources
        .into_iter()
        .map(|resource| {
            let from = hcl::reference(resource).unwrap_or_else(|| Expression::from(resource));
            BlockSpec::new("removed")
                .attr("from", from)
                .block(BlockSpec::new("lifecycle").attr("destroy", false))
        })
        .collect();
    Some(hcl::render(&header, blocks))
}

/// Single quotes for a POSIX shell, so that `["key"]` and `*` reach
/// Terraform unchanged.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_policy::{Direction, NicType, Protocol, Verdict};

    fn key(peer: Peer) -> RuleKey {
        RuleKey {
            direction: Direction::Ingress,
            protocol: Protocol::Tcp,
            ports: PortRange::single(22),
            peer,
            verdict: Verdict::Accept,
            nic_type: NicType::Intranet,
            source_ports: None,
            local: None,
        }
    }

    #[test]
    fn import_ids_are_the_providers() {
        let v4 = key(Peer::cidr("203.0.113.0/24".parse().unwrap()));
        assert_eq!(
            import_id("sg-bp1a", &v4, 1),
            "sg-bp1a:ingress:tcp:22/22:intranet:203.0.113.0/24:accept:1"
        );
        let v6 = key(Peer::cidr("2001:db8::/32".parse().unwrap()));
        assert_eq!(
            import_id("sg-bp1a", &v6, 7),
            "sg-bp1a:ingress:tcp:22/22:intranet:2001_db8__/32:accept:7"
        );
        let mut all = key(Peer::PrefixList { id: "pl-x1".into() });
        all.protocol = Protocol::All;
        all.ports = PortRange::NotApplicable;
        all.verdict = Verdict::Drop;
        assert_eq!(
            import_id("sg-bp1a", &all, 100),
            "sg-bp1a:ingress:all:-1/-1:intranet:pl-x1:drop:100"
        );
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(shell_quote(r#"a.b["k"]"#), r#"'a.b["k"]'"#);
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
