//! Round trips: exporting groups to Terraform, ROS or CSV and importing the
//! result gives back exactly the same canonical rules. The Terraform trip
//! goes through a state as `terraform apply` of the exported HCL would
//! leave it (see `common::apply_like_terraform`).

mod common;

use std::collections::BTreeMap;

use common::{apply_like_terraform, hcl_blocks, options, read};
use moat_interchange::{
    import_csv, import_ros, import_terraform, render_csv, render_policy, render_ros,
    render_terraform,
};
use moat_policy::{
    DesiredRule, Direction, GroupPolicy, Mode, NicType, Origin, Peer, PortRange, Protocol, Rule,
    RuleKey, Verdict, load_policy_str,
};
use proptest::prelude::*;

type Rules = Vec<(String, String, Vec<Rule>)>;

fn expected(groups: &[GroupPolicy]) -> Rules {
    let mut v: Rules = groups
        .iter()
        .filter(|g| !g.rules.is_empty())
        .map(|g| {
            let mut rules: Vec<Rule> = g.rules.iter().map(|r| r.rule.clone()).collect();
            rules.sort();
            (g.id.clone(), g.region.clone(), rules)
        })
        .collect();
    v.sort();
    v
}

fn terraform_trip(groups: &[GroupPolicy]) -> Result<Rules, String> {
    let hcl = render_terraform(groups).map_err(|e| e.to_string())?;
    let state = apply_like_terraform(&hcl_blocks(&hcl));
    let region = groups.first().map(|g| g.region.as_str());
    let imported = import_terraform("terraform.tfstate", &state, &options(region, &[]))
        .map_err(|e| format!("{e}\n{hcl}"))?;
    render_policy(&imported, Mode::Authoritative).map_err(|e| e.to_string())?;
    Ok(common::rules(&imported))
}

fn ros_trip(groups: &[GroupPolicy]) -> Result<Rules, String> {
    let ros = render_ros(groups).map_err(|e| e.to_string())?;
    let region = groups.first().map(|g| g.region.as_str());
    let imported = import_ros("template.json", &ros, &options(region, &[]))
        .map_err(|e| format!("{e}\n{ros}"))?;
    Ok(common::rules(&imported))
}

fn csv_trip(groups: &[GroupPolicy]) -> Result<Rules, String> {
    let csv = render_csv(groups).map_err(|e| e.to_string())?;
    let imported = import_csv("whitelist.csv", &csv, &options(None, &[]))
        .map_err(|e| format!("{e}\n{csv}"))?;
    Ok(common::rules(&imported))
}

fn example() -> Vec<GroupPolicy> {
    load_policy_str("groups.yaml", &read("export/groups.yaml"))
        .unwrap_or_else(|d| panic!("{d:?}"))
        .groups
}

#[test]
fn terraform_export_then_import_gives_the_same_rules() {
    let groups = example();
    assert_eq!(terraform_trip(&groups), Ok(expected(&groups)));
}

#[test]
fn ros_export_then_import_gives_the_same_rules() {
    let groups = example();
    assert_eq!(ros_trip(&groups), Ok(expected(&groups)));
}

#[test]
fn csv_export_then_import_gives_the_same_rules() {
    let groups = example();
    assert_eq!(csv_trip(&groups), Ok(expected(&groups)));
}

#[test]
fn terraform_import_then_export_then_import_is_stable() {
    let first = import_terraform(
        "terraform.tfstate",
        &read("terraform/state-v4.tfstate"),
        &options(Some("cn-hangzhou"), &[]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(terraform_trip(&first.policies()), Ok(common::rules(&first)));
    assert_eq!(ros_trip(&first.policies()), Ok(common::rules(&first)));
    assert_eq!(csv_trip(&first.policies()), Ok(common::rules(&first)));
}

fn peer(n: u8) -> impl Strategy<Value = Peer> {
    prop_oneof![
        (any::<u32>(), 0u8..=32).prop_map(|(a, len)| Peer::cidr(
            ipnet::Ipv4Net::new(a.into(), len)
                .expect("prefix within 32")
                .into()
        )),
        (any::<u128>(), 0u8..=128).prop_map(|(a, len)| Peer::cidr(
            ipnet::Ipv6Net::new(a.into(), len)
                .expect("prefix within 128")
                .into()
        )),
        (0u8..4).prop_map(move |k| Peer::group(format!("sg-bp1peer{}{k}", n + 1))),
        (0u8..4).prop_map(move |k| Peer::Group {
            id: format!("sg-bp1partner{}{k}", n + 1),
            owner: Some(format!("123456789012345{k}")),
        }),
        (0u8..4).prop_map(|k| Peer::PrefixList {
            id: format!("pl-bp1list{k}")
        }),
    ]
}

fn rule(n: u8, internet: bool) -> impl Strategy<Value = Rule> {
    let protocol = prop::sample::select(Protocol::ALL.to_vec());
    (
        protocol,
        (1u16..=65535, 1u16..=65535),
        peer(n),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        1u8..=100,
        "[a-zA-Z0-9 ,;:\"'$%{}\\\\/é管-]{0,24}",
    )
        .prop_filter_map(
            "ECS refuses the combination",
            move |(p, (a, b), peer, ingress, drop, nic, priority, description)| {
                let family_ok = !matches!((p, &peer), (Protocol::Icmp, x) if x.is_ipv6())
                    && !matches!((p, &peer), (Protocol::Icmpv6, x) if x.is_ipv4());
                let nic_type = if internet && nic && matches!(peer, Peer::Cidr { .. }) {
                    NicType::Internet
                } else {
                    NicType::Intranet
                };
                family_ok.then(|| Rule {
                    key: RuleKey {
                        direction: if ingress {
                            Direction::Ingress
                        } else {
                            Direction::Egress
                        },
                        protocol: p,
                        ports: if p.takes_ports() {
                            PortRange::Range {
                                from: a.min(b),
                                to: a.max(b),
                            }
                        } else {
                            PortRange::NotApplicable
                        },
                        peer,
                        verdict: if drop { Verdict::Drop } else { Verdict::Accept },
                        nic_type,
                        source_ports: None,
                        local: None,
                    },
                    priority,
                    description,
                })
            },
        )
}

fn groups(internet: bool) -> impl Strategy<Value = Vec<GroupPolicy>> {
    prop::collection::vec(
        (0u8..3).prop_flat_map(move |n| (Just(n), prop::collection::vec(rule(n, internet), 1..10))),
        1..3,
    )
    .prop_map(|gs| {
        let mut by_id: BTreeMap<String, BTreeMap<RuleKey, Rule>> = BTreeMap::new();
        for (n, rules) in gs {
            let entry = by_id.entry(format!("sg-bp1grp{n}")).or_default();
            for r in rules {
                entry.entry(r.key.clone()).or_insert(r);
            }
        }
        by_id
            .into_iter()
            .map(|(id, rules)| GroupPolicy {
                id,
                region: "cn-hangzhou".into(),
                name: None,
                mode: Mode::Authoritative,
                group_type: None,
                account: None,
                stage: None,
                origin: Origin::whole("generated"),
                rules: rules
                    .into_values()
                    .map(|rule| DesiredRule {
                        rule,
                        origin: Origin::whole("generated"),
                        service_name: None,
                        peer_name: None,
                        protected: false,
                        expires: None,
                        lint_ignore: None,
                    })
                    .collect(),
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_rules_survive_terraform(gs in groups(true)) {
        prop_assert_eq!(terraform_trip(&gs), Ok(expected(&gs)));
    }

    #[test]
    fn any_rules_survive_ros(gs in groups(true)) {
        prop_assert_eq!(ros_trip(&gs), Ok(expected(&gs)));
    }

    #[test]
    fn any_rules_survive_csv(gs in groups(false)) {
        prop_assert_eq!(csv_trip(&gs), Ok(expected(&gs)));
    }
}
