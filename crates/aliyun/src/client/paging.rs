//! Paged reads: `DescribeSecurityGroups` and `DescribeSecurityGroupAttribute`
//! followed through `NextToken` to the end, with the bookkeeping that stops a
//! service that loops.

use std::collections::HashSet;
use std::time::Duration;

use moat_policy::model::{Direction, InnerAccessPolicy, LiveGroup, NicType};
use moat_wire::{
    Action, DescribeSecurityGroupAttributeResponse, DescribeSecurityGroupsResponse,
    ListTagResourcesResponse, tag_limits,
};

use super::ReadClient;
use crate::actions::{self, GroupFilter, GroupSummary, MAX_GROUP_IDS_PER_FILTER, ResourceTag};
use crate::convert::{self, ReadRule};
use crate::error::{CallError, CallErrorKind, PagingError};
use crate::observe::{CallInfo, Outcome};

/// A paged read that needs more pages than this is refused as runaway.
const MAX_PAGES: u32 = 10_000;

impl ReadClient {
    /// Lists the region's groups matching `filter`, following `NextToken` to
    /// the end (more than 100 ids are read in several filtered passes).
    pub async fn describe_security_groups(
        &self,
        filter: &GroupFilter,
    ) -> Result<Outcome<Vec<GroupSummary>>, CallError> {
        let mut groups = Vec::new();
        let mut calls = Vec::new();
        let chunks: Vec<GroupFilter> = if filter.ids.is_empty() {
            vec![filter.clone()]
        } else {
            filter
                .ids
                .chunks(MAX_GROUP_IDS_PER_FILTER)
                .map(|ids| GroupFilter {
                    ids: ids.to_vec(),
                    ..filter.clone()
                })
                .collect()
        };
        for chunk in &chunks {
            let mut pager = Pager::new(Action::DescribeSecurityGroups, None);
            let mut token: Option<String> = None;
            loop {
                let req = actions::describe_security_groups(self.region(), chunk, token.as_deref());
                let (resp, info) = self.execute::<DescribeSecurityGroupsResponse>(&req).await?;
                pager.page(&info)?;
                calls.push(info);
                groups.extend(
                    resp.security_groups
                        .security_group
                        .iter()
                        .map(GroupSummary::from),
                );
                match pager.next(resp.next_token.as_str())? {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
        }
        Ok(Outcome {
            value: groups,
            calls,
        })
    }

    /// Every tag of the security groups `group_ids` (`ListTagResources`, 50
    /// groups a call, following `NextToken` to the end).
    pub async fn list_tag_resources(
        &self,
        group_ids: &[String],
    ) -> Result<Outcome<Vec<ResourceTag>>, CallError> {
        let mut tags = Vec::new();
        let mut calls = Vec::new();
        for chunk in group_ids.chunks(tag_limits::RESOURCES_PER_CALL) {
            let mut pager = Pager::new(Action::ListTagResources, None);
            let mut token: Option<String> = None;
            loop {
                let req = actions::list_tag_resources(self.region(), chunk, token.as_deref());
                let (resp, info) = self.execute::<ListTagResourcesResponse>(&req).await?;
                pager.page(&info)?;
                calls.push(info);
                tags.extend(resp.tag_resources.tag_resource.iter().map(|t| ResourceTag {
                    resource_id: t.resource_id.to_string(),
                    key: t.tag_key.to_string(),
                    value: t.tag_value.to_string(),
                }));
                match pager.next(resp.next_token.as_str())? {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
        }
        Ok(Outcome { value: tags, calls })
    }

    /// Reads every rule of a group (`direction` `None`: both directions),
    /// `rules_page_size` rules a page, following `NextToken` to the end.
    /// Each wire rule becomes a canonical [`moat_policy::model::LiveRule`]
    /// or, when moat cannot model it, an
    /// [`moat_policy::model::UnmodeledRule`]; none is dropped. The read
    /// fails closed: a repeated page token, a rule seen twice or a rule of
    /// unknown direction makes it an error rather than a partial result.
    ///
    /// A classic-network group (no `VpcId`) answers one NIC type per read,
    /// internet by default (reference 2.2), so its intranet rules are read in
    /// a second pass; a VPC group needs one.
    pub async fn describe_security_group_attribute(
        &self,
        group_id: &str,
        direction: Option<Direction>,
    ) -> Result<Outcome<LiveGroup>, CallError> {
        let mut group = LiveGroup {
            id: group_id.to_owned(),
            region: self.region().to_owned(),
            name: String::new(),
            rules: Vec::new(),
            unmodeled: Vec::new(),
            group_type: None,
            inner_access: None,
        };
        let mut calls = Vec::new();
        let mut earlier: HashSet<String> = HashSet::new();
        let vpc_id = self
            .read_rule_pages(
                group_id,
                direction,
                None,
                &mut group,
                &mut calls,
                &mut earlier,
            )
            .await?;
        if vpc_id.trim().is_empty() {
            self.read_rule_pages(
                group_id,
                direction,
                Some(NicType::Intranet),
                &mut group,
                &mut calls,
                &mut earlier,
            )
            .await?;
        }
        Ok(Outcome {
            value: group,
            calls,
        })
    }

    /// One pass of paged reads, appending to `group`. Rules whose id an
    /// earlier pass returned are skipped; a rule repeated within the pass is
    /// an error. Returns the group's `VpcId`.
    async fn read_rule_pages(
        &self,
        group_id: &str,
        direction: Option<Direction>,
        nic_type: Option<NicType>,
        group: &mut LiveGroup,
        calls: &mut Vec<CallInfo>,
        earlier: &mut HashSet<String>,
    ) -> Result<String, CallError> {
        let mut pager = Pager::new(Action::DescribeSecurityGroupAttribute, Some(group_id));
        let mut seen: HashSet<String> = HashSet::new();
        let mut token: Option<String> = None;
        let mut vpc_id = String::new();
        loop {
            let mut req = actions::describe_security_group_attribute(
                self.region(),
                group_id,
                direction,
                self.shared.rules_page_size,
                token.as_deref(),
            );
            if let Some(nic) = nic_type {
                req.set("NicType", nic.as_str());
            }
            let (resp, info) = self
                .execute::<DescribeSecurityGroupAttributeResponse>(&req)
                .await?;
            pager.page(&info)?;
            if group.name.is_empty() {
                group.name = resp.security_group_name.to_string();
            }
            if vpc_id.is_empty() {
                vpc_id = resp.vpc_id.to_string();
            }
            if group.inner_access.is_none() {
                group.inner_access = InnerAccessPolicy::parse(resp.inner_access_policy.as_str());
            }
            for p in &resp.permissions.permission {
                let read = convert::read_permission(p, direction)
                    .map_err(|e| pager.error(&info, CallErrorKind::UnreadableRule(e)))?;
                let id = match &read {
                    ReadRule::Live(l) => &l.id,
                    ReadRule::Unmodeled(u) => &u.id,
                };
                if !id.is_empty() {
                    if !seen.insert(id.clone()) {
                        let e = PagingError::DuplicateRule {
                            rule_id: id.clone(),
                        };
                        return Err(pager.error(&info, CallErrorKind::Paging(e)));
                    }
                    if earlier.contains(id) {
                        continue;
                    }
                }
                match read {
                    ReadRule::Live(l) => group.rules.push(l),
                    ReadRule::Unmodeled(u) => group.unmodeled.push(u),
                }
            }
            let attempts = info.attempts;
            calls.push(info);
            match pager
                .next(resp.next_token.as_str())
                .map_err(|e| CallError { attempts, ..e })?
            {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        earlier.extend(seen);
        Ok(vpc_id)
    }
}

/// Bookkeeping of a paged read: page count and the tokens seen, so a
/// service that loops is caught instead of followed forever.
pub(super) struct Pager {
    action: Action,
    group: Option<String>,
    pages: u32,
    tokens: HashSet<String>,
}

impl Pager {
    pub(super) fn new(action: Action, group: Option<&str>) -> Pager {
        Pager {
            action,
            group: group.map(str::to_owned),
            pages: 0,
            tokens: HashSet::new(),
        }
    }

    pub(super) fn error(&self, info: &CallInfo, kind: CallErrorKind) -> CallError {
        CallError {
            action: self.action,
            group: self.group.clone(),
            attempts: info.attempts,
            elapsed: info.elapsed,
            kind,
        }
    }

    pub(super) fn page(&mut self, info: &CallInfo) -> Result<(), CallError> {
        self.pages += 1;
        if self.pages > MAX_PAGES {
            return Err(self.error(
                info,
                CallErrorKind::Paging(PagingError::TooManyPages { pages: MAX_PAGES }),
            ));
        }
        Ok(())
    }

    /// The token of the next page, `None` after the last page.
    pub(super) fn next(&mut self, token: &str) -> Result<Option<String>, CallError> {
        let token = token.trim();
        if token.is_empty() {
            return Ok(None);
        }
        if !self.tokens.insert(token.to_owned()) {
            return Err(CallError {
                action: self.action,
                group: self.group.clone(),
                attempts: 1,
                elapsed: Duration::ZERO,
                kind: CallErrorKind::Paging(PagingError::RepeatedToken {
                    token: token.to_owned(),
                }),
            });
        }
        Ok(Some(token.to_owned()))
    }
}
