//! Deciding a flow through a network interface: the rules of all the
//! security groups it carries, combined.
//!
//! ECS sorts the rules of every group of the interface together, by
//! priority and then drop before accept, exactly as it sorts one group's
//! (ECS user guide, "Security group overview": "the rules from all
//! associated security groups are sorted by priority"). The groups of one
//! interface are all basic or all enterprise ("Basic and advanced security
//! groups": a resource cannot carry both types), so one set of defaults
//! applies when no rule matches. A basic group whose `InnerAccessPolicy` is
//! `Accept` lets instances of the same group reach each other over the
//! internal network whatever its rules say; with `Drop` (always so for an
//! enterprise group) the rules decide (API reference,
//! ModifySecurityGroupPolicy).

use std::cmp::Ordering;

use super::addr::is_public;
use super::flow::{Defaults, Flow, evaluation_order, matches, matches_but_peer};
use crate::model::{GroupType, InnerAccessPolicy, NicType, Peer, Rule, Verdict};

/// One security group as an interface carries it: its id, type, inner
/// access policy and rules (both directions; rules of other directions or
/// NIC types than a flow's simply do not match it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupOnInterface<'a> {
    pub id: &'a str,
    pub group_type: GroupType,
    pub inner_access: InnerAccessPolicy,
    pub rules: Vec<&'a Rule>,
}

impl<'a> GroupOnInterface<'a> {
    /// A group with the inner access policy its type has by default
    /// (`Accept` for a basic group, `Drop` for an enterprise one).
    pub fn new(
        id: &'a str,
        group_type: GroupType,
        rules: impl IntoIterator<Item = &'a Rule>,
    ) -> GroupOnInterface<'a> {
        GroupOnInterface {
            id,
            group_type,
            inner_access: InnerAccessPolicy::default_for(group_type),
            rules: rules.into_iter().collect(),
        }
    }

    /// The same group with the inner access policy read from the cloud.
    pub fn with_inner_access(mut self, inner_access: InnerAccessPolicy) -> GroupOnInterface<'a> {
        self.inner_access = inner_access;
        self
    }

    /// True when instances of this group reach each other whatever the
    /// rules say. An enterprise group never does, whatever was read.
    fn admits_members(&self) -> bool {
        self.group_type == GroupType::Normal && self.inner_access == InnerAccessPolicy::Accept
    }
}

/// Groups of both types on one interface, which ECS refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "an interface cannot carry basic and enterprise security groups together \
     ({normal} is basic, {enterprise} is enterprise)"
)]
pub struct MixedGroupTypes {
    pub normal: String,
    pub enterprise: String,
}

/// The security groups of one network interface, in the order the
/// interface lists them (which only decides which of two identical rules
/// is named).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface<'a> {
    groups: Vec<GroupOnInterface<'a>>,
}

impl<'a> Interface<'a> {
    /// The interface carrying `groups`, all of one type.
    pub fn new(groups: Vec<GroupOnInterface<'a>>) -> Result<Interface<'a>, MixedGroupTypes> {
        let normal = groups.iter().find(|g| g.group_type == GroupType::Normal);
        let enterprise = groups
            .iter()
            .find(|g| g.group_type == GroupType::Enterprise);
        if let (Some(n), Some(e)) = (normal, enterprise) {
            return Err(MixedGroupTypes {
                normal: n.id.to_owned(),
                enterprise: e.id.to_owned(),
            });
        }
        Ok(Interface { groups })
    }

    /// An interface with one group of `group_type` (and its default inner
    /// access policy): how `moat explain --group` sees a group.
    pub fn single(
        id: &'a str,
        group_type: GroupType,
        rules: impl IntoIterator<Item = &'a Rule>,
    ) -> Interface<'a> {
        Interface {
            groups: vec![GroupOnInterface::new(id, group_type, rules)],
        }
    }

    /// An interface with this one group (of its type and inner access
    /// policy).
    pub fn single_group(group: GroupOnInterface<'a>) -> Interface<'a> {
        Interface {
            groups: vec![group],
        }
    }

    /// An interface with one basic group of these rules: what moat assumed
    /// for every group before it knew about interfaces.
    pub fn single_basic(id: &'a str, rules: impl IntoIterator<Item = &'a Rule>) -> Interface<'a> {
        Interface::single(id, GroupType::Normal, rules)
    }

    pub fn groups(&self) -> &[GroupOnInterface<'a>] {
        &self.groups
    }

    /// The type of the interface's groups (basic for an interface without
    /// groups, which ECS does not allow anyway).
    pub fn group_type(&self) -> GroupType {
        self.groups
            .first()
            .map_or(GroupType::Normal, |g| g.group_type)
    }

    /// What the interface does with a flow no rule of any group matches.
    pub fn defaults(&self) -> Defaults {
        Defaults::of(self.group_type())
    }

    /// Every rule of every group, with its group, in interface order.
    pub fn rules(&self) -> impl Iterator<Item = GroupRule<'a>> + '_ {
        self.groups.iter().flat_map(|g| {
            g.rules.iter().map(move |r| GroupRule {
                group: g.id,
                rule: r,
            })
        })
    }

    /// Every rule of every group, for [`super::cells_under`] with
    /// [`Interface::defaults`].
    pub fn all_rules(&self) -> Vec<&'a Rule> {
        self.rules().map(|gr| gr.rule).collect()
    }

    /// How many rules the interface's groups hold together (ECS allows
    /// 1,000 across the groups of one interface).
    pub fn rule_count(&self) -> usize {
        self.groups.iter().map(|g| g.rules.len()).sum()
    }
}

/// A rule and the group it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupRule<'a> {
    pub group: &'a str,
    pub rule: &'a Rule,
}

/// What moat knows about the other end of a flow: which security groups
/// its interface carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerGroups<'a> {
    /// Only the address is known (the internet, `--from ADDR`): rules whose
    /// peer is a security group match nothing, and no inner access policy
    /// applies.
    Unknown,
    /// The other end is an instance moat has read, carrying these groups.
    Known(&'a [String]),
}

impl PeerGroups<'_> {
    fn carries(&self, group: &str) -> bool {
        match self {
            PeerGroups::Unknown => false,
            PeerGroups::Known(groups) => groups.iter().any(|g| g == group),
        }
    }
}

/// What decided a flow through an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decider<'a> {
    /// The first matching rule in evaluation order, of this group.
    Rule(GroupRule<'a>),
    /// The other end carries this basic group too, whose inner access
    /// policy is `Accept`: ECS lets it through before any rule.
    InnerAccess { group: &'a str },
    /// No rule matched: the default of the groups' type.
    Default { group_type: GroupType },
}

/// The verdict for a flow through an interface and what decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterfaceDecision<'a> {
    pub verdict: Verdict,
    pub decider: Decider<'a>,
}

impl<'a> InterfaceDecision<'a> {
    /// The deciding rule, when a rule decided.
    pub fn rule(&self) -> Option<&'a Rule> {
        match self.decider {
            Decider::Rule(gr) => Some(gr.rule),
            _ => None,
        }
    }

    /// The group whose rule or inner access policy decided.
    pub fn group(&self) -> Option<&'a str> {
        match self.decider {
            Decider::Rule(gr) => Some(gr.group),
            Decider::InnerAccess { group } => Some(group),
            Decider::Default { .. } => None,
        }
    }
}

/// True when `rule` applies to `flow` given what is known of the other end.
fn matches_peer(rule: &Rule, flow: &Flow, peer: PeerGroups<'_>) -> bool {
    match &rule.key.peer {
        Peer::Cidr { .. } => matches(rule, flow),
        Peer::Group { id, .. } => peer.carries(id) && matches_but_peer(rule, flow),
        Peer::PrefixList { .. } => false,
    }
}

/// True when moat cannot tell whether the rule's peer holds the other end.
fn undecidable_peer(rule: &Rule, peer: PeerGroups<'_>) -> bool {
    match &rule.key.peer {
        Peer::Cidr { .. } => false,
        Peer::Group { .. } => peer == PeerGroups::Unknown,
        Peer::PrefixList { .. } => true,
    }
}

/// The group whose inner access policy lets `flow` through, if any: only
/// over the internal network, and only between members of one basic group.
fn inner_access<'a>(iface: &Interface<'a>, flow: &Flow, peer: PeerGroups<'_>) -> Option<&'a str> {
    if flow.nic_type != NicType::Intranet {
        return None;
    }
    iface
        .groups
        .iter()
        .find(|g| g.admits_members() && peer.carries(g.id))
        .map(|g| g.id)
}

/// Decides `flow` through `iface` under ECS evaluation: a basic group's
/// inner access policy for its own members first, then the first matching
/// rule of all groups in evaluation order, then the groups' default.
///
/// With one basic group and an unknown peer this is exactly [`super::decide`].
pub fn decide_interface<'a>(
    iface: &Interface<'a>,
    flow: &Flow,
    peer: PeerGroups<'_>,
) -> InterfaceDecision<'a> {
    if let Some(group) = inner_access(iface, flow, peer) {
        return InterfaceDecision {
            verdict: Verdict::Accept,
            decider: Decider::InnerAccess { group },
        };
    }
    // `min_by` keeps the first of equal elements: of two identical rules
    // in two groups, the one of the group listed first is named.
    let best = iface
        .rules()
        .filter(|gr| matches_peer(gr.rule, flow, peer))
        .min_by(|a, b| evaluation_order(a.rule, b.rule));
    match best {
        Some(gr) => InterfaceDecision {
            verdict: gr.rule.key.verdict,
            decider: Decider::Rule(gr),
        },
        None => InterfaceDecision {
            verdict: iface.defaults().verdict(flow.direction),
            decider: Decider::Default {
                group_type: iface.group_type(),
            },
        },
    }
}

/// A decision through an interface with what a person debugging it needs
/// besides the decider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceExplanation<'a> {
    pub decision: InterfaceDecision<'a>,
    /// Other rules that match the flow, in evaluation order.
    pub overridden: Vec<GroupRule<'a>>,
    /// Rules evaluated before the decision whose peer moat cannot check
    /// (a security group of an unknown other end, a prefix list) and which
    /// match the flow in everything else: one of them decides instead if
    /// the other end belongs to that peer.
    pub undecidable: Vec<GroupRule<'a>>,
    /// Basic groups with inner access `Accept` that would let a denied flow
    /// through if its other end (an internal address moat knows nothing
    /// more of) were an instance of the same group.
    pub if_member: Vec<&'a str>,
}

/// Decides `flow` like [`decide_interface`], and says which other rules
/// match and what moat cannot check that could decide instead.
pub fn explain_interface<'a>(
    iface: &Interface<'a>,
    flow: &Flow,
    peer: PeerGroups<'_>,
) -> InterfaceExplanation<'a> {
    let decision = decide_interface(iface, flow, peer);
    let deciding = decision.rule();
    let is_deciding = |gr: &GroupRule<'_>| deciding.is_some_and(|d| std::ptr::eq(gr.rule, d));
    let mut overridden: Vec<GroupRule<'a>> = iface
        .rules()
        .filter(|gr| matches_peer(gr.rule, flow, peer))
        .filter(|gr| !is_deciding(gr))
        .collect();
    overridden.sort_by(|a, b| evaluation_order(a.rule, b.rule));
    let mut undecidable: Vec<GroupRule<'a>> = match decision.decider {
        // Nothing comes before a member's inner access.
        Decider::InnerAccess { .. } => Vec::new(),
        _ => iface
            .rules()
            .filter(|gr| undecidable_peer(gr.rule, peer) && matches_but_peer(gr.rule, flow))
            .filter(|gr| deciding.is_none_or(|d| evaluation_order(gr.rule, d) == Ordering::Less))
            .collect(),
    };
    undecidable.sort_by(|a, b| evaluation_order(a.rule, b.rule));
    let if_member = if decision.verdict == Verdict::Drop
        && peer == PeerGroups::Unknown
        && flow.nic_type == NicType::Intranet
        && !is_public(flow.address)
    {
        iface
            .groups
            .iter()
            .filter(|g| g.admits_members())
            .map(|g| g.id)
            .collect()
    } else {
        Vec::new()
    };
    InterfaceExplanation {
        decision,
        overridden,
        undecidable,
        if_member,
    }
}
