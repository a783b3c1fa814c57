//! The least-privilege RAM policy moat needs for a set of groups.
//!
//! A drift job only reads; an apply role also changes rules and tags the
//! groups it changes (its lease). Neither needs
//! more than the groups its policies name, so the document lists each group's
//! resource name rather than a wildcard. `DescribeSecurityGroups` is the one
//! exception: it lists groups, so it is granted on the region's groups
//! (`securitygroup/*`), and only when asked for (`moat export --all`).

use std::collections::BTreeSet;

use moat_wire::Action;
use serde_json::{Value, json};

/// What the role will be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `moat plan`, `moat drift`, `moat export --group`.
    ReadOnly,
    /// Also `moat apply`.
    Apply,
}

/// Actions a role needs on each named group.
fn group_actions(access: Access) -> Vec<Action> {
    let mut actions = vec![Action::DescribeSecurityGroupAttribute];
    if access == Access::Apply {
        actions.extend([
            Action::AuthorizeSecurityGroup,
            Action::AuthorizeSecurityGroupEgress,
            Action::ModifySecurityGroupRule,
            Action::ModifySecurityGroupEgressRule,
            Action::RevokeSecurityGroup,
            Action::RevokeSecurityGroupEgress,
            // The lease apply holds on the groups it changes (a tag).
            Action::ListTagResources,
            Action::TagResources,
            Action::UntagResources,
        ]);
    }
    actions
}

/// The resource name of one group in any account (`*`): the role is
/// attached in the account that owns the groups.
pub fn group_arn(region: &str, group_id: &str) -> String {
    format!("acs:ecs:{region}:*:securitygroup/{group_id}")
}

/// The RAM policy document (version 1) for these `(region, group id)` pairs.
/// With `list_groups`, `ecs:DescribeSecurityGroups` is granted in each region.
pub fn ram_policy(groups: &[(String, String)], access: Access, list_groups: bool) -> Value {
    let resources: BTreeSet<String> = groups
        .iter()
        .map(|(region, id)| group_arn(region, id))
        .collect();
    let actions: Vec<String> = group_actions(access)
        .into_iter()
        .map(|a| format!("ecs:{a}"))
        .collect();
    let mut statements = vec![json!({
        "Effect": "Allow",
        "Action": actions,
        "Resource": resources,
    })];
    if list_groups {
        let regions: BTreeSet<String> = groups
            .iter()
            .map(|(region, _)| format!("acs:ecs:{region}:*:securitygroup/*"))
            .collect();
        statements.push(json!({
            "Effect": "Allow",
            "Action": [format!("ecs:{}", Action::DescribeSecurityGroups)],
            "Resource": regions,
        }));
    }
    json!({ "Version": "1", "Statement": statements })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups() -> Vec<(String, String)> {
        vec![
            ("cn-hangzhou".into(), "sg-b".into()),
            ("cn-hangzhou".into(), "sg-a".into()),
        ]
    }

    #[test]
    fn read_only_grants_no_mutating_action() {
        let doc = ram_policy(&groups(), Access::ReadOnly, false);
        let text = doc.to_string();
        for a in Action::ALL.into_iter().filter(|a| a.is_mutating()) {
            assert!(!text.contains(&format!("ecs:{a}\"")), "{a} in {text}");
        }
        assert_eq!(
            doc["Statement"][0]["Resource"],
            json!([
                "acs:ecs:cn-hangzhou:*:securitygroup/sg-a",
                "acs:ecs:cn-hangzhou:*:securitygroup/sg-b"
            ])
        );
        assert_eq!(doc["Statement"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn apply_adds_rule_changes_but_never_group_creation_or_deletion() {
        let doc = ram_policy(&groups(), Access::Apply, true);
        let text = doc.to_string();
        assert!(text.contains("ecs:RevokeSecurityGroupEgress"));
        assert!(text.contains("ecs:ModifySecurityGroupRule"));
        assert!(text.contains("ecs:TagResources"));
        assert!(!text.contains("DeleteSecurityGroup"));
        assert!(!text.contains("CreateSecurityGroup"));
        assert_eq!(
            doc["Statement"][1]["Resource"],
            json!(["acs:ecs:cn-hangzhou:*:securitygroup/*"])
        );
    }
}
