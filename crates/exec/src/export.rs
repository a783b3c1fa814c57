//! Live groups written back as a policy (`moat export`, and the snapshots
//! apply takes before changing anything).
//!
//! The one property that matters is the round trip: planning the written
//! policy against the same live state shows no change. So each identity is
//! written once, from the live rule the diff would keep (the smallest rule
//! id), in authoritative mode, with its description and priority; rules moat
//! cannot model are listed in a comment, and the plan keeps them as they are.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use moat_aliyun::{CallError, GroupFilter, ReadClient};
use moat_policy::{DesiredRule, GroupPolicy, LiveGroup, LiveRule, Mode, Origin, RuleKey};

use crate::read::GroupRef;

/// The group as a policy block that plans to no change against `live`.
pub fn live_to_policy(live: &LiveGroup) -> GroupPolicy {
    let origin = Origin::whole(format!("live:{}", live.id));
    let mut kept: BTreeMap<&RuleKey, &LiveRule> = BTreeMap::new();
    for lr in &live.rules {
        kept.entry(&lr.rule.key)
            .and_modify(|k| {
                if lr.id < k.id {
                    *k = lr;
                }
            })
            .or_insert(lr);
    }
    GroupPolicy {
        id: live.id.clone(),
        region: live.region.clone(),
        name: (!live.name.is_empty()).then(|| live.name.clone()),
        mode: Mode::Authoritative,
        group_type: None,
        account: None,
        stage: None,
        origin: origin.clone(),
        rules: kept
            .into_values()
            .map(|lr| DesiredRule {
                rule: lr.rule.clone(),
                origin: origin.clone(),
                service_name: None,
                peer_name: None,
                protected: false,
                expires: None,
                lint_ignore: None,
            })
            .collect(),
    }
}

/// One policy file holding `groups`, with a comment above it naming every
/// live rule that moat cannot model (which the file therefore leaves out).
pub fn render_export(groups: &[LiveGroup]) -> Result<String, moat_policy::RenderError> {
    let policies: Vec<GroupPolicy> = groups.iter().map(live_to_policy).collect();
    let body = moat_policy::render_policy_yaml(&policies)?;
    let mut out = String::new();
    let unmodeled: Vec<_> = groups
        .iter()
        .flat_map(|g| g.unmodeled.iter().map(move |u| (g, u)))
        .collect();
    if !unmodeled.is_empty() {
        out.push_str(
            "# Live rules moat cannot model are not written below; plans keep them as they are:\n",
        );
        for (g, u) in unmodeled {
            let _ = write!(
                out,
                "#   {} {} {}: {} ({})",
                g.id, u.direction, u.id, u.summary, u.reason
            );
            if !u.description.is_empty() {
                let _ = write!(out, " description: {:?}", u.description);
            }
            out.push('\n');
        }
    }
    out.push_str(&body);
    Ok(out)
}

/// Every group of the client's region, for `moat export --all`.
pub async fn list_region_groups(client: &ReadClient) -> Result<Vec<GroupRef>, CallError> {
    let listed = client
        .describe_security_groups(&GroupFilter::default())
        .await?;
    let mut refs: Vec<GroupRef> = listed
        .value
        .into_iter()
        .map(|g| GroupRef::new(g.id, client.region()))
        .collect();
    refs.sort();
    Ok(refs)
}
