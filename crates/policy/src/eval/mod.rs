//! ECS evaluation as pure functions: security group rules, the groups of a
//! network interface together, and the stateless network ACL of a vSwitch.
//!
//! ECS decides a flow with the rules of the group's direction (and NIC type)
//! that match it: the matching rule with the lowest priority number wins, at
//! equal priority a drop beats an accept, and when no rule matches the
//! group type's default applies ([`Defaults`]: a basic group denies ingress
//! and allows egress, an enterprise group denies both). [`decide`] answers
//! that for one concrete [`Flow`] through one basic group and names the
//! deciding rule (what `moat explain` shows).
//!
//! What decides a flow in the cloud is the interface: the rules of all its
//! groups are combined and ordered as if they were one group's, the
//! defaults are those of the groups' type, and a basic group whose
//! `InnerAccessPolicy` is `Accept` lets its own instances in whatever the
//! rules say. [`Interface`] and [`decide_interface`] evaluate that, naming
//! the deciding group. The vSwitch's network ACL is evaluated separately
//! ([`decide_acl`]): it is stateless, so a flow must pass it both ways.
//!
//! Lint needs more than single flows: which public addresses can reach a
//! service at all. [`cells`] splits a block of flows ([`Space`]) into cells
//! on which every rule applies fully or not at all, and decides each cell
//! once, so the answer is exact without trying every address.
//!
//! Rules whose peer is a security group or a prefix list stand for addresses
//! moat cannot see. They never match an address here: such a rule is not an
//! exposure to the internet, and a drop naming a group does not close one.
//! Only a flow whose other end is known to carry that group (an instance
//! moat has read, [`PeerGroups::Known`]) matches a group rule.
//!
//! Addresses and networks within `::ffff:0:0/96` (IPv4-mapped IPv6) stand
//! for the IPv4 addresses they map to everywhere in this module
//! ([`unmap`], [`AddrRange::of`]).
//!
//! The code is split by concern: `flow` decides one flow through one group,
//! `interface` combines groups, `acl` evaluates network ACLs, `addr` does
//! address arithmetic and `cells` splits blocks of flows.

mod acl;
mod addr;
mod cells;
mod flow;
mod interface;

pub use acl::{
    AclDecider, AclDecision, AclEntry, AclEvaluation, AclFlow, EPHEMERAL_PORTS, NetworkAcl,
    ReplySpan, SERVICE_ADDRESSES, decide_acl, decide_acl_entries,
};
pub use addr::{
    AddrRange, IPV4_MAPPED, PRIVATE_V4, PRIVATE_V6, is_public, merge, net_contains, public_count,
    public_parts, unmap, unmap_net,
};
pub use cells::{Cell, Space, TooManyCells, cells, cells_under};
pub use flow::{
    Decision, Defaults, Explanation, Flow, decide, default_verdict, evaluation_order, explain,
    matches,
};
pub use interface::{
    Decider, GroupOnInterface, GroupRule, Interface, InterfaceDecision, InterfaceExplanation,
    MixedGroupTypes, PeerGroups, decide_interface, explain_interface,
};

#[cfg(test)]
mod acl_tests;
#[cfg(test)]
mod interface_tests;
#[cfg(test)]
mod tests;
