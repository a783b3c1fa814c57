//! The `Plan` type: what `moat apply` will do, and why.
//!
//! A plan is plain data. It holds no clock reads, no terminal facts and no
//! field that exists only for one view; every view (text, JSON, CSV,
//! Markdown, drift) is computed from the same value. Groups are sorted by id
//! and changes by rule key, so a plan computed twice from the same inputs is
//! byte-for-byte the same in every view. The one exception is the nonce,
//! which the maker of a plan draws at random for apply's tokens
//! ([`Plan::set_nonce`]) and only the JSON view shows.

use std::fmt;

use jiff::civil::Date;
use moat_policy::policy_tests::TestOutcome;
use moat_policy::{
    Direction, GroupType, Mode, Origin, PolicySet, ProtectSelector, RuleKey, Severity,
    UnmodeledRule,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the plan file layout. It changes whenever a field is removed or
/// changes meaning, or a reader that ignored a new field would apply
/// something else; adding a field that old readers may safely ignore keeps
/// it. Version 2 carries the protect selectors and protected rules apply
/// derives protection from, and the `replace` action.
pub const PLAN_SCHEMA_VERSION: u32 = 2;

/// The value of the `format` field that marks a JSON document as a moat plan.
pub const PLAN_FORMAT: &str = "moat-plan";

/// The version of moat that computes plans.
pub const MOAT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a change does to one rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Authorize a rule that is desired and not live.
    Add,
    /// Modify a live rule in place, by rule id (priority or description).
    Change,
    /// Revoke a live rule by id and authorize it again at once: the only way
    /// to clear its description, which ECS cannot do in place. The rule is
    /// absent between the two calls.
    Replace,
    /// Revoke live rules, by rule id.
    Remove,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Change => "change",
            Action::Replace => "replace",
            Action::Remove => "remove",
        }
    }

    /// The Terraform-style marker the views put in front of a change.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Add => "+",
            Action::Change => "~",
            Action::Replace => "-/+",
            Action::Remove => "-",
        }
    }

    /// True for the actions that act on a live rule (everything but add).
    pub fn touches_live(self) -> bool {
        self != Action::Add
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a change is in the plan.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Reason {
    /// Add: the policy wants the rule and the group does not have it.
    NotLive,
    /// Remove: the rule is live, the group is authoritative, and the policy
    /// does not contain it.
    NotInPolicy,
    /// Remove: the policy rule's `expires` date has passed. `on` is that date,
    /// the last day on which the rule was desired.
    Expired { on: Date },
    /// Remove: another live rule has the same identity; `of` is the id of the
    /// one that is kept.
    Duplicate { of: String },
    /// Change: the priority differs from the policy.
    PriorityDiffers,
    /// Change: the description differs from the policy.
    DescriptionDiffers,
    /// Replace: the policy wants no description, and ECS cannot clear one in
    /// place.
    CannotClearInPlace,
    /// Add: an apply started at `at` revoked this rule to replace it and
    /// stopped before authorizing it again (its journal says so).
    RevokedByInterruptedApply { at: String },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NotLive => f.write_str("not in the live group"),
            Reason::NotInPolicy => f.write_str("not in policy"),
            Reason::Expired { on } => write!(f, "expired on {on}"),
            Reason::Duplicate { of } => write!(f, "duplicate of live rule {of}"),
            Reason::PriorityDiffers => f.write_str("priority differs"),
            Reason::DescriptionDiffers => f.write_str("description differs"),
            Reason::CannotClearInPlace => f.write_str("ECS cannot clear a description in place"),
            Reason::RevokedByInterruptedApply { at } => write!(
                f,
                "revoked by an interrupted apply at {at} (a replace that did not finish)"
            ),
        }
    }
}

/// The attributes of a rule that live outside its identity and can be
/// modified in place.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Attributes {
    pub priority: u8,
    /// Empty when the rule has none.
    pub description: String,
}

/// Where a protection comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtectionSource {
    /// `protected: true` on the policy rule at this origin.
    Rule,
    /// A top-level `protect:` selector at this origin.
    Selector,
}

/// Why `moat apply` refuses this change without `--allow-protected`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Protection {
    pub source: ProtectionSource,
    /// The selector's `reason`, or a fixed sentence for `protected: true`.
    pub reason: String,
    /// Where the rule or the selector is written.
    pub origin: Origin,
}

impl fmt::Display for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.source {
            ProtectionSource::Rule => "rule",
            ProtectionSource::Selector => "protect selector",
        };
        write!(f, "{} ({what} at {})", self.reason, self.origin)
    }
}

/// A rule the policy marks `protected: true`, carried in the plan so that
/// apply can tell, from the live rule itself, that a change touches it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProtectedRule {
    pub key: RuleKey,
    /// Where the policy rule is written.
    pub origin: Origin,
}

/// How a change alters what can reach the group (or what the group can
/// reach), under ECS evaluation: priority first, then drop over accept.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExposureKind {
    /// Traffic that was not allowed before becomes allowed, from (or to)
    /// addresses outside the private ranges.
    NewPublicExposure,
    /// Traffic that was not allowed before becomes allowed.
    Opens,
    /// Traffic that was allowed before is no longer allowed.
    Closes,
    /// The change alters no verdict: another rule decides the traffic.
    NoEffect,
    /// Reachability cannot be computed (a group or prefix-list peer, whose
    /// members moat cannot see).
    Unknown,
}

impl ExposureKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ExposureKind::NewPublicExposure => "new public exposure",
            ExposureKind::Opens => "opens",
            ExposureKind::Closes => "closes",
            ExposureKind::NoEffect => "no effect",
            ExposureKind::Unknown => "effect unknown",
        }
    }
}

/// One sentence about reachability, with the kind for filtering.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Exposure {
    pub kind: ExposureKind,
    /// What the views print, e.g. `new public exposure: tcp/3306 from 0.0.0.0/0`.
    pub note: String,
}

impl fmt::Display for Exposure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.note)
    }
}

/// Severity of a lint finding as the plan file stores it (the policy crate's
/// [`Severity`] is only ever written, never read back).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingSeverity {
    Error,
    Warning,
}

impl FindingSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingSeverity::Error => "error",
            FindingSeverity::Warning => "warning",
        }
    }
}

impl From<Severity> for FindingSeverity {
    fn from(s: Severity) -> FindingSeverity {
        match s {
            Severity::Error => FindingSeverity::Error,
            Severity::Warning => FindingSeverity::Warning,
        }
    }
}

impl fmt::Display for FindingSeverity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lint finding attached to a change (or a group), as the plan stores it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PlanFinding {
    pub code: String,
    pub severity: FindingSeverity,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    pub origin: Origin,
    /// The `lint_ignore` reason when the policy suppresses the finding; a
    /// suppressed finding is still shown in the plan, with that reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<String>,
}

impl fmt::Display for PlanFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]: {}", self.severity, self.code, self.message)?;
        if let Some(reason) = &self.suppressed {
            write!(f, " (ignored: {reason})")?;
        }
        Ok(())
    }
}

/// One change to one rule identity of one group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub action: Action,
    /// Never empty. A change lists every attribute that differs.
    pub reasons: Vec<Reason>,
    pub key: RuleKey,
    /// The live attributes (remove, change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Attributes>,
    /// The desired attributes (add, change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Attributes>,
    /// The live rule ids the change touches: the one modified, or the ones
    /// revoked. Empty for an add.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub live_ids: Vec<String>,
    /// The policy rule behind the change, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// Shown to the reviewer. Apply does not read it: it derives protection
    /// from [`Plan::protect`], [`GroupPlan::protected`] and the live rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<Protection>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposure: Vec<Exposure>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<PlanFinding>,
    /// The template the policy rule behind the change is written in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The policy tests this change breaks: after the plan, a flow of the
    /// test gets the other answer, decided by the rule this change brings
    /// (or by what decides once the rule this change revokes is gone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breaks_tests: Vec<TestRef>,
}

/// A policy test, by name and where it is written.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TestRef {
    pub name: String,
    pub origin: Origin,
}

impl fmt::Display for TestRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({})", self.name, self.origin)
    }
}

impl Change {
    pub fn direction(&self) -> Direction {
        self.key.direction
    }

    /// Sort order of changes within a group: by key (direction first), then
    /// action, then the live ids, so duplicates of one identity stay stable.
    pub(crate) fn sort_key(&self) -> (&RuleKey, Action, &[String]) {
        (&self.key, self.action, &self.live_ids)
    }
}

/// Whether the group named in the policy was found live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupStatus {
    Present,
    /// The policy names a group that does not exist in its region. moat does
    /// not create groups, so nothing is planned for it and apply refuses.
    Missing,
}

/// What happens to a live rule moat cannot model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnmodeledAction {
    /// Left alone: the group is additive, or the caller did not ask for
    /// unmodeled rules to be removed.
    Keep,
    /// Revoked by id: the group is authoritative and the caller asked for it.
    Remove,
}

/// A live rule moat cannot model, and what the plan does with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmodeledEntry {
    pub action: UnmodeledAction,
    pub rule: UnmodeledRule,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<Protection>,
}

/// Everything planned for one security group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPlan {
    pub id: String,
    pub region: String,
    /// The account the policy puts the group in (a name of
    /// [`Plan::accounts`]); `None`: the account moat is run with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The name the policy gives (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The name the group has live; absent when the group is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_name: Option<String>,
    /// The `type:` the policy states for the group, if any.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub group_type: Option<GroupType>,
    /// The type the group has live (`SecurityGroupType`); absent when the
    /// group is missing or its type was not read. Views warn when it
    /// differs from `type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_type: Option<GroupType>,
    pub mode: Mode,
    /// Where the group's block starts in the policy.
    pub origin: Origin,
    /// The rollout stage of the group (`stage:`), when the policies have
    /// stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    pub status: GroupStatus,
    /// Fingerprint of the live rules the plan was computed from (see
    /// [`crate::fingerprint`]); absent when the group is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    pub changes: Vec<Change>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmodeled: Vec<UnmodeledEntry>,
    /// The rules the policy marks `protected: true` that a change of this
    /// group touches (sorted by key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected: Vec<ProtectedRule>,
    /// Lint findings about the group rather than one rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<PlanFinding>,
    /// The instances the group's changes reach (`moat plan --instances`);
    /// `None` when they were not read. Not part of the hash: it explains
    /// the changes and decides nothing apply does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blast_radius: Option<crate::blast::BlastRadius>,
}

impl GroupPlan {
    /// The changes of one direction, in plan order.
    pub fn changes_in(&self, direction: Direction) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(move |c| c.key.direction == direction)
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action {
                Action::Add => s.add += 1,
                Action::Change => s.change += 1,
                // As Terraform counts a replacement: one rule goes, one comes.
                Action::Replace => {
                    s.add += 1;
                    s.remove += 1;
                    s.replace += 1;
                }
                Action::Remove => s.remove += 1,
            }
        }
        s.remove += self
            .unmodeled
            .iter()
            .filter(|u| u.action == UnmodeledAction::Remove)
            .count();
        s
    }

    /// True when apply has something to do for this group.
    pub fn has_changes(&self) -> bool {
        !self.summary().is_empty()
    }

    /// Live rules moat cannot model that the plan keeps.
    pub fn kept_unmodeled(&self) -> impl Iterator<Item = &UnmodeledEntry> {
        self.unmodeled
            .iter()
            .filter(|u| u.action == UnmodeledAction::Keep)
    }

    /// True when the live group differs from its policy: it is missing, the
    /// plan changes it, or it is authoritative and holds rules moat cannot
    /// model (which the plan keeps, so apply alone does not bring it in
    /// line). Unmodeled rules of an additive group are not drift. A policy
    /// that states another type than the live group's is drift too: the
    /// policy no longer describes the cloud (and moat cannot change a
    /// group's type).
    pub fn drifts(&self) -> bool {
        self.status == GroupStatus::Missing
            || self.has_changes()
            || self.type_mismatch().is_some()
            || (self.mode == Mode::Authoritative && self.kept_unmodeled().next().is_some())
    }

    /// True when the name the policy gives differs from the live name.
    pub fn name_differs(&self) -> bool {
        match (&self.name, &self.live_name) {
            (Some(policy), Some(live)) => policy != live,
            _ => false,
        }
    }

    /// The stated and the live type, when the policy states a type the
    /// live group does not have.
    pub fn type_mismatch(&self) -> Option<(GroupType, GroupType)> {
        match (self.group_type, self.live_type) {
            (Some(policy), Some(live)) if policy != live => Some((policy, live)),
            _ => None,
        }
    }
}

/// Counts of what a plan does, as in `Plan: 3 to add, 1 to change, 2 to remove.`
/// Unmodeled rules that the plan revokes count as removals; a replace counts
/// as one add and one remove (as Terraform counts it), and `replace` says
/// how many of those there are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub remove: usize,
    #[serde(default)]
    pub replace: usize,
}

impl Summary {
    pub fn is_empty(&self) -> bool {
        self.add == 0 && self.change == 0 && self.remove == 0
    }
}

impl std::ops::AddAssign for Summary {
    fn add_assign(&mut self, o: Summary) {
        self.add += o.add;
        self.change += o.change;
        self.remove += o.remove;
        self.replace += o.replace;
    }
}

impl fmt::Display for Summary {
    /// The summary line every view ends with.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            f.write_str("No changes.")
        } else {
            write!(
                f,
                "Plan: {} to add, {} to change, {} to remove.",
                self.add, self.change, self.remove
            )
        }
    }
}

/// A computed plan: per group, what to add, change and remove, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub schema_version: u32,
    /// The moat version that computed the plan.
    pub moat_version: String,
    /// Sorted by group id.
    pub groups: Vec<GroupPlan>,
    /// The policy's top-level protect selectors that can match a rule of
    /// the plan's groups. Apply derives protection from these and the live
    /// rules, so a saved plan keeps protecting what the policy protected.
    pub protect: Vec<ProtectSelector>,
    /// 128 random bits drawn when the plan was made, as 32 lowercase hex
    /// digits; empty in a plan file written before plans had one. Apply
    /// mixes it into every ClientToken: the same plan (file) always sends
    /// the same tokens, and another plan of the same changes other ones
    /// (see [`Plan::set_nonce`]). Not part of the hash (two plans of the
    /// same changes keep the same hash), but signed.
    pub nonce: String,
    /// The HMAC-SHA256 signature of a plan file saved with a key
    /// (`hmac-sha256:` and 64 hex digits); `None` when unsigned.
    pub signature: Option<String>,
    /// The share of the policies' groups this plan covers (`--shard`);
    /// `None` for all of them. Not part of the hash: it decides nothing
    /// apply does, only how `moat report merge` checks the shards.
    pub shard: Option<crate::shard::Shard>,
    /// The groups a partial plan was limited to (`--group`, like
    /// Terraform's `-target`), sorted; empty for a plan of every group of
    /// the policies. Not part of the hash (the groups are), but signed.
    pub targets: Vec<String>,
    /// The accounts the groups name, with the profile and endpoint each is
    /// reached through (sorted by name); empty when no group names one.
    /// Part of the hash: it decides where apply sends its calls.
    pub accounts: Vec<PlanAccount>,
    /// The policies' rollout order (`stages:`); empty without stages. The
    /// views group by stage when it is not empty. Not part of the hash.
    pub stages: Vec<String>,
    /// The policy tests evaluated on the rules the groups will have once
    /// the plan is applied (in the order written). Not part of the hash:
    /// they explain, apply does not act on them.
    pub tests: Vec<TestOutcome>,
}

/// An account of the policies' `accounts:` block, as a plan carries it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PlanAccount {
    pub name: String,
    /// The aliyun CLI profile holding the account's credentials.
    pub profile: String,
    /// The endpoint the account's calls go to instead of the region's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl PlanAccount {
    pub fn of(account: &moat_policy::Account) -> PlanAccount {
        PlanAccount {
            name: account.name.clone(),
            profile: account.profile.clone(),
            endpoint: account.endpoint.clone(),
        }
    }
}

/// The bytes of a plan's nonce.
pub const NONCE_BYTES: usize = 16;

/// True for a nonce a plan file may carry: empty, or [`NONCE_BYTES`] as
/// lowercase hex.
pub(crate) fn valid_nonce(nonce: &str) -> bool {
    nonce.is_empty()
        || (nonce.len() == NONCE_BYTES * 2
            && nonce
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

impl Plan {
    /// Sets the plan's nonce. The caller draws the bytes when it makes the
    /// plan (this crate reads neither the clock nor the system's random
    /// number generator). A plan without one (an empty nonce) sends
    /// the tokens earlier versions sent, which the service answers from its
    /// idempotency record when the same changes were applied before.
    pub fn set_nonce(&mut self, bytes: [u8; NONCE_BYTES]) {
        self.nonce = crate::sign::hex(&bytes);
    }

    /// Whether the plan covers only some groups of the policies.
    pub fn is_partial(&self) -> bool {
        !self.targets.is_empty()
    }

    /// A plan of the current schema with no protect selectors.
    pub fn new(groups: Vec<GroupPlan>) -> Plan {
        Plan {
            schema_version: PLAN_SCHEMA_VERSION,
            moat_version: MOAT_VERSION.to_owned(),
            groups,
            protect: Vec::new(),
            nonce: String::new(),
            signature: None,
            shard: None,
            accounts: Vec::new(),
            targets: Vec::new(),
            stages: Vec::new(),
            tests: Vec::new(),
        }
    }

    /// The plan of `groups` (sorted here) under `policy`, carrying the
    /// policy's protect selectors that can apply to them.
    pub fn from_groups(policy: &PolicySet, mut groups: Vec<GroupPlan>) -> Plan {
        groups.sort_by(|a, b| (&a.id, &a.region).cmp(&(&b.id, &b.region)));
        let protect = policy
            .protect
            .iter()
            .filter(|s| {
                s.group
                    .as_deref()
                    .is_none_or(|id| groups.iter().any(|g| g.id == id))
            })
            .cloned()
            .collect();
        let accounts = policy
            .accounts
            .iter()
            .filter(|a| groups.iter().any(|g| g.account.as_deref() == Some(&a.name)))
            .map(PlanAccount::of)
            .collect();
        Plan {
            protect,
            accounts,
            stages: policy.stages.clone(),
            ..Plan::new(groups)
        }
    }

    /// The stages of the plan's groups in rollout order, each with its
    /// counts (`None` for groups without a stage, last); empty when the
    /// policies have no stages.
    pub fn summary_by_stage(&self) -> Vec<(Option<&str>, Summary)> {
        if self.stages.is_empty() {
            return Vec::new();
        }
        let mut out: Vec<(Option<&str>, Summary)> = Vec::new();
        let stages = self.stages.iter().map(|s| Some(s.as_str())).chain([None]);
        for stage in stages {
            let mut groups = self
                .groups
                .iter()
                .filter(|g| g.stage.as_deref() == stage)
                .peekable();
            if groups.peek().is_none() {
                continue;
            }
            let mut s = Summary::default();
            for g in groups {
                s += g.summary();
            }
            out.push((stage, s));
        }
        out
    }

    /// The plan's groups grouped by stage in rollout order (groups without
    /// a stage last); one run of all groups when there are no stages.
    pub fn groups_by_stage(&self) -> Vec<(Option<&str>, Vec<&GroupPlan>)> {
        if self.stages.is_empty() {
            return vec![(None, self.groups.iter().collect())];
        }
        let stages = self.stages.iter().map(|s| Some(s.as_str())).chain([None]);
        stages
            .map(|stage| {
                let groups = self
                    .groups
                    .iter()
                    .filter(|g| g.stage.as_deref() == stage)
                    .collect::<Vec<_>>();
                (stage, groups)
            })
            .filter(|(_, groups)| !groups.is_empty())
            .collect()
    }

    /// The summary line: [`Summary`]'s, then with stages the counts of each
    /// (`Stage test: 1 to add, 0 to change, 0 to remove; stage prod: no
    /// changes.`).
    pub fn summary_line(&self) -> String {
        let mut line = self.summary().to_string();
        let stages = self.summary_by_stage();
        if stages.is_empty() {
            return line;
        }
        let parts: Vec<String> = stages
            .iter()
            .map(|(stage, s)| {
                let name = match stage {
                    Some(stage) => format!("stage {stage}"),
                    None => "no stage".to_owned(),
                };
                if s.is_empty() {
                    format!("{name}: no changes")
                } else {
                    format!(
                        "{name}: {} to add, {} to change, {} to remove",
                        s.add, s.change, s.remove
                    )
                }
            })
            .collect();
        let mut by = parts.join("; ");
        if let Some(first) = by.get(..1) {
            by = format!("{}{}", first.to_uppercase(), &by[1..]);
        }
        line.push(' ');
        line.push_str(&by);
        line.push('.');
        line
    }

    /// The tests that fail on the planned result.
    pub fn failing_tests(&self) -> impl Iterator<Item = &TestOutcome> {
        self.tests.iter().filter(|t| !t.passed)
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for g in &self.groups {
            s += g.summary();
        }
        s
    }

    /// True when apply would make at least one call.
    pub fn has_changes(&self) -> bool {
        !self.summary().is_empty()
    }

    /// Groups the policy names that do not exist live.
    pub fn missing_groups(&self) -> impl Iterator<Item = &GroupPlan> {
        self.groups
            .iter()
            .filter(|g| g.status == GroupStatus::Missing)
    }

    /// Every change that touches a protected rule, with its group.
    pub fn protected_changes(&self) -> impl Iterator<Item = (&GroupPlan, &Change)> {
        self.groups.iter().flat_map(|g| {
            g.changes
                .iter()
                .filter(|c| c.protection.is_some())
                .map(move |c| (g, c))
        })
    }

    /// How many changes (and unmodeled removals) touch protected rules;
    /// apply refuses the plan without `--allow-protected` when this is not 0.
    pub fn protected_count(&self) -> usize {
        self.groups
            .iter()
            .map(|g| {
                g.changes.iter().filter(|c| c.protection.is_some()).count()
                    + g.unmodeled
                        .iter()
                        .filter(|u| u.action == UnmodeledAction::Remove && u.protection.is_some())
                        .count()
            })
            .sum()
    }

    /// True when some group differs from its policy (see
    /// [`GroupPlan::drifts`]).
    pub fn drifts(&self) -> bool {
        self.groups.iter().any(GroupPlan::drifts)
    }

    /// A stable hash of everything apply acts on: `sha256:` and 64 hex
    /// digits.
    ///
    /// It covers the schema version; per group the id, region, mode,
    /// status, live fingerprint, each change's action, key, desired
    /// attributes and live ids, the unmodeled rules it removes and the
    /// protected rules; and the protect selectors. Editing any of these
    /// (deleting a selector, a protected rule, a change) changes the hash,
    /// which loading checks. It leaves out what only explains a decision
    /// (reasons, origins of changes, exposure notes, lint findings, the
    /// `protection` shown on a change) and the moat version, so the same
    /// decisions always hash the same. It leaves out the nonce too: the hash
    /// names the changes that were reviewed, and two plans of the same
    /// changes share it. Apply derives its idempotency tokens from the hash
    /// and the nonce, so a re-run of one plan (file), after an upgrade too,
    /// cannot apply twice.
    ///
    /// The bytes hashed are the compact JSON of a fixed structure (struct
    /// fields in declaration order, no whitespace), which is canonical
    /// because serde_json writes struct fields in declaration order.
    pub fn hash(&self) -> String {
        #[derive(Serialize)]
        struct GroupDecisions<'a> {
            id: &'a str,
            region: &'a str,
            // Absent for a group of the default account, so the hashes of
            // plans without accounts are those earlier versions computed.
            #[serde(skip_serializing_if = "Option::is_none")]
            account: Option<&'a str>,
            mode: Mode,
            status: GroupStatus,
            fingerprint: Option<&'a str>,
            changes: Vec<ChangeDecision<'a>>,
            unmodeled_removals: Vec<&'a str>,
            protected: &'a [ProtectedRule],
        }
        #[derive(Serialize)]
        struct ChangeDecision<'a> {
            action: Action,
            key: &'a RuleKey,
            after: Option<&'a Attributes>,
            live_ids: &'a [String],
        }
        let groups: Vec<GroupDecisions<'_>> = self
            .groups
            .iter()
            .map(|g| GroupDecisions {
                id: &g.id,
                region: &g.region,
                account: g.account.as_deref(),
                mode: g.mode,
                status: g.status,
                fingerprint: g.fingerprint.as_deref(),
                changes: g
                    .changes
                    .iter()
                    .map(|c| ChangeDecision {
                        action: c.action,
                        key: &c.key,
                        after: c.after.as_ref(),
                        live_ids: &c.live_ids,
                    })
                    .collect(),
                unmodeled_removals: g
                    .unmodeled
                    .iter()
                    .filter(|u| u.action == UnmodeledAction::Remove)
                    .map(|u| u.rule.id.as_str())
                    .collect(),
                protected: &g.protected,
            })
            .collect();
        // Serialising plain structs of strings, numbers and enums into a
        // Vec cannot fail; an empty input would still hash deterministically.
        let bytes = if self.accounts.is_empty() {
            serde_json::to_vec(&(self.schema_version, groups, &self.protect))
        } else {
            serde_json::to_vec(&(self.schema_version, groups, &self.protect, &self.accounts))
        }
        .unwrap_or_default();
        sha256_hex(&bytes)
    }
}

/// `sha256:` followed by the lowercase hex digest of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in digest.iter() {
        // Writing into a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}
