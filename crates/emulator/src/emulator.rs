//! The emulator's core: configuration, request dispatch, the actions, the
//! idempotency cache and the hooks the server and callers use (stats,
//! faults, seeding, persistence).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use moat_wire::{
    API_VERSION, Action, CreateSecurityGroupResponse, DescribeSecurityGroupAttributeResponse,
    DescribeSecurityGroupsResponse, ErrorBody, ListTagResourcesResponse, LooseString, Permissions,
    RequestIdResponse, SecurityGroup, SecurityGroups, Tag, Tags,
};
use sha1::{Digest as _, Sha1};

use crate::auth::{AccessKey, Authenticator};
use crate::clock::{Clock, SystemClock, format_timestamp};
use crate::error::{ApiError, EmulatorError, SeedError};
use crate::faults::{Fault, FaultConfig, FaultState};
use crate::ids::IdGen;
use crate::model::{Direction, Group, GroupType, Peer, Rule, State, TagPair, render_rule};
use crate::params::Params;
use crate::persist::{
    SeedGroup, StateFile, group_from_record, load_state_file, new_rule_id, record_of,
    save_state_file, valid_group_id,
};
use crate::rules::{
    RuleContext, RuleSelection, ValidRule, modified_rule, read_selection, validate,
};
use crate::stats::Stats;
use crate::tags::{self, TagUse};

/// Default for `--rules-per-group`: rules of both directions together
/// (reference 5: 200 in the docs up to late 2024).
pub const DEFAULT_RULES_PER_GROUP: usize = 200;
/// Rules that reference another group, per basic group (reference 5).
pub const MAX_GROUP_REFERENCE_RULES: usize = 20;
/// Most ids in a `SecurityGroupIds` filter.
const MAX_FILTER_IDS: usize = 100;
/// Most ClientTokens remembered; the oldest are forgotten first. The
/// service's retention period is UNCONFIRMED (reference 5).
const MAX_CLIENT_TOKENS: usize = 100_000;

/// Regions the emulator knows without being told. Any region that holds a
/// seeded or loaded group is known as well.
pub const KNOWN_REGIONS: &[&str] = &[
    "cn-qingdao",
    "cn-beijing",
    "cn-zhangjiakou",
    "cn-huhehaote",
    "cn-wulanchabu",
    "cn-hangzhou",
    "cn-shanghai",
    "cn-nanjing",
    "cn-fuzhou",
    "cn-wuhan-lr",
    "cn-shenzhen",
    "cn-heyuan",
    "cn-guangzhou",
    "cn-chengdu",
    "cn-hongkong",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-3",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ap-south-1",
    "us-east-1",
    "us-west-1",
    "eu-west-1",
    "eu-central-1",
    "me-east-1",
    "me-central-1",
    "cn-shanghai-finance-1",
    "cn-shenzhen-finance-1",
    "cn-beijing-finance-1",
];

/// How to run an emulator.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Where to listen; port 0 picks a free one. Loopback only unless
    /// `allow_non_loopback` is set.
    pub listen: SocketAddr,
    pub allow_non_loopback: bool,
    /// Keys accepted; when empty, the demo pair of [`AccessKey::demo`].
    pub access_keys: Vec<AccessKey>,
    /// Rules per group, both directions together.
    pub rules_per_group: usize,
    pub faults: FaultConfig,
    /// Loaded at start when it exists; rewritten after every change.
    pub state_file: Option<PathBuf>,
    /// The time source for Timestamp checks and creation times.
    pub clock: Arc<dyn Clock>,
    /// Seed for group, rule and request ids; random when `None`.
    pub id_seed: Option<u64>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            allow_non_loopback: false,
            access_keys: Vec::new(),
            rules_per_group: DEFAULT_RULES_PER_GROUP,
            faults: FaultConfig::default(),
            state_file: None,
            clock: Arc::new(SystemClock),
            id_seed: None,
        }
    }
}

/// One API answer: HTTP status and JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub request_id: String,
}

/// A successful answer before its RequestId is set; kept as data so that a
/// ClientToken replay can answer again with a fresh RequestId.
#[derive(Clone, Debug)]
enum Answer {
    Empty,
    Created(String),
    Groups(Box<DescribeSecurityGroupsResponse>),
    Attribute {
        body: Box<DescribeSecurityGroupAttributeResponse>,
        snapshot_policy_ids: bool,
    },
    TagList(Box<ListTagResourcesResponse>),
}

impl Answer {
    fn render(self, request_id: &str) -> String {
        let rid = LooseString(request_id.to_owned());
        let json = match self {
            Answer::Empty => serde_json::to_string(&RequestIdResponse { request_id: rid }),
            Answer::Created(id) => serde_json::to_string(&CreateSecurityGroupResponse {
                request_id: rid,
                security_group_id: LooseString(id),
            }),
            Answer::Groups(mut body) => {
                body.request_id = rid;
                serde_json::to_string(&body)
            }
            Answer::TagList(mut body) => {
                body.request_id = rid;
                serde_json::to_string(&body)
            }
            Answer::Attribute {
                mut body,
                snapshot_policy_ids,
            } => {
                body.request_id = rid;
                if snapshot_policy_ids {
                    serde_json::to_value(&body).and_then(|mut v| {
                        if let Some(obj) = v.as_object_mut() {
                            obj.insert(
                                "SnapshotPolicyIds".to_owned(),
                                serde_json::json!({"SnapshotPolicyId": []}),
                            );
                        }
                        serde_json::to_string(&v)
                    })
                } else {
                    serde_json::to_string(&body)
                }
            }
        };
        // Serialising these plain structs cannot fail (string keys, no
        // non-finite floats); an empty object is the harmless fallback.
        json.unwrap_or_else(|_| "{}".to_owned())
    }
}

/// What a mutating call left behind for its ClientToken.
#[derive(Debug)]
struct TokenEntry {
    fingerprint: [u8; 20],
    answer: Answer,
}

#[derive(Debug, Default)]
struct TokenCache {
    entries: HashMap<String, TokenEntry>,
    order: VecDeque<String>,
}

impl TokenCache {
    fn insert(&mut self, token: String, entry: TokenEntry) {
        if self.entries.len() >= MAX_CLIENT_TOKENS
            && let Some(old) = self.order.pop_front()
        {
            self.entries.remove(&old);
        }
        self.order.push_back(token.clone());
        self.entries.insert(token, entry);
    }
}

#[derive(Debug)]
struct Inner {
    state: State,
    ids: IdGen,
    tokens: TokenCache,
    /// Bumped on every change, so that state file writes never go backwards.
    version: u64,
}

/// The emulated cloud. Shared by the HTTP server and the caller through an
/// `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Emulator {
    auth: Authenticator,
    clock: Arc<dyn Clock>,
    rules_per_group: usize,
    state_file: Option<PathBuf>,
    inner: Mutex<Inner>,
    request_ids: Mutex<IdGen>,
    stats: Mutex<Stats>,
    faults: Mutex<FaultState>,
    /// The version last written to the state file.
    written: Mutex<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock cannot leave the state half-changed:
    // every action validates everything before it changes anything.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Parameters that belong to signing or transport, not to the business of
/// the call; ClientToken replays compare everything else.
const NON_BUSINESS_PARAMS: &[&str] = &[
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "SignatureType",
    "Timestamp",
    "AccessKeyId",
    "SecurityToken",
    "Format",
    "ClientToken",
];

fn fingerprint(params: &Params) -> [u8; 20] {
    let mut h = Sha1::new();
    for (k, v) in params.iter() {
        if NON_BUSINESS_PARAMS.contains(&k) || v.is_empty() {
            continue;
        }
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

fn bad_next_token() -> ApiError {
    // The odd capitalisation is the service's own (reference 2.1).
    ApiError::bad(
        "InValidParameter.NextToken",
        "The specified NextToken is not valid.",
    )
}

fn int_param(params: &Params, name: &str, code: &'static str) -> Result<Option<i64>, ApiError> {
    params
        .get(name)
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| ApiError::invalid(code, name))
        })
        .transpose()
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, ApiError> {
    params
        .get(name)
        .ok_or_else(|| ApiError::missing("MissingParameter", name))
}

impl Emulator {
    /// Builds an emulator from its configuration, loading the state file
    /// when one is configured and exists.
    pub fn new(config: &EmulatorConfig) -> Result<Emulator, EmulatorError> {
        let keys = if config.access_keys.is_empty() {
            vec![AccessKey::demo()]
        } else {
            config.access_keys.clone()
        };
        let seed = config.id_seed;
        let emulator = Emulator {
            auth: Authenticator::new(keys),
            clock: config.clock.clone(),
            rules_per_group: config.rules_per_group,
            state_file: config.state_file.clone(),
            inner: Mutex::new(Inner {
                state: State::default(),
                ids: seed.map_or_else(IdGen::from_entropy, IdGen::new),
                tokens: TokenCache::default(),
                version: 0,
            }),
            request_ids: Mutex::new(
                seed.map_or_else(IdGen::from_entropy, |s| IdGen::new(s ^ 0x0005_EED0_F1D5)),
            ),
            stats: Mutex::new(Stats::default()),
            faults: Mutex::new(FaultState::new(config.faults.clone())),
            written: Mutex::new(0),
        };
        if let Some(path) = &config.state_file
            && path.exists()
        {
            let file = load_state_file(path)?;
            emulator.install(&file, false)?;
        }
        Ok(emulator)
    }

    // ---- stats, faults, seeding and persistence ----------------------------

    /// Calls counted so far, per action.
    pub fn stats(&self) -> Stats {
        lock(&self.stats).clone()
    }

    /// Zeroes the call counts.
    pub fn reset_stats(&self) {
        *lock(&self.stats) = Stats::default();
    }

    pub(crate) fn record_call(&self, action: &str, ok: bool) {
        lock(&self.stats).record(action, ok);
    }

    pub fn faults(&self) -> FaultConfig {
        lock(&self.faults).config().clone()
    }

    /// Replaces the fault configuration; with a seed the fault sequence
    /// starts again from its beginning.
    pub fn set_faults(&self, config: FaultConfig) -> Result<(), crate::faults::FaultConfigError> {
        config.validate()?;
        lock(&self.faults).set(config);
        Ok(())
    }

    /// The fault for the next call, and the latency to add before answering.
    pub(crate) fn next_fault(&self) -> (Option<Fault>, std::time::Duration) {
        let mut f = lock(&self.faults);
        (f.decide(Instant::now()), f.latency())
    }

    /// True when no group exists in any region.
    pub fn is_empty(&self) -> bool {
        lock(&self.inner).state.is_empty()
    }

    /// Creates a group with an explicit id and its rules, without signing
    /// anything. Rules are validated as the API validates them (peers are
    /// not looked up and quotas do not apply, so that groups may be seeded in
    /// any order). Fails, changing nothing, when the id exists.
    pub fn seed_group(&self, group: SeedGroup) -> Result<(), SeedError> {
        self.seed_groups([group])
    }

    /// Creates several groups at once: all of them or, on the first error,
    /// none; the state file is written once.
    pub fn seed_groups(
        &self,
        groups: impl IntoIterator<Item = SeedGroup>,
    ) -> Result<(), SeedError> {
        let records: Vec<_> = groups.into_iter().map(SeedGroup::into_record).collect();
        let now = self.clock.now();
        let snapshot = {
            let mut inner = lock(&self.inner);
            let mut built: Vec<Group> = Vec::with_capacity(records.len());
            for record in &records {
                let id = &record.security_group_id;
                if inner.state.group_id_taken(id) || built.iter().any(|g| &g.id == id) {
                    return Err(SeedError::GroupExists { id: id.clone() });
                }
                built.push(group_from_record(record, now, &mut inner.ids)?);
            }
            if built.is_empty() {
                return Ok(());
            }
            for g in built {
                inner
                    .state
                    .regions
                    .entry(g.region.clone())
                    .or_default()
                    .insert(g.id.clone(), g);
            }
            self.changed(&mut inner)
        };
        self.persist(snapshot);
        Ok(())
    }

    /// The whole state in state file form.
    pub fn snapshot(&self) -> StateFile {
        snapshot_of(&lock(&self.inner).state)
    }

    /// Replaces the whole state (all or nothing) with the file's groups.
    pub fn replace_state(&self, file: &StateFile) -> Result<(), EmulatorError> {
        self.install(file, true)
    }

    fn install(&self, file: &StateFile, persist: bool) -> Result<(), EmulatorError> {
        let now = self.clock.now();
        let mut inner = lock(&self.inner);
        let mut state = State::default();
        for record in &file.groups {
            if state.group_id_taken(&record.security_group_id) {
                return Err(SeedError::GroupExists {
                    id: record.security_group_id.clone(),
                }
                .into());
            }
            let g = group_from_record(record, now, &mut inner.ids)?;
            state
                .regions
                .entry(g.region.clone())
                .or_default()
                .insert(g.id.clone(), g);
        }
        inner.state = state;
        let snapshot = self.changed(&mut inner);
        drop(inner);
        if persist {
            self.persist(snapshot);
        }
        Ok(())
    }

    /// Writes the current state to `path` atomically.
    pub fn save_state(&self, path: &std::path::Path) -> Result<(), EmulatorError> {
        save_state_file(path, &self.snapshot())
    }

    /// Marks a change; returns what to write to the state file, if any.
    fn changed(&self, inner: &mut Inner) -> Option<(u64, StateFile)> {
        inner.version += 1;
        self.state_file
            .as_ref()
            .map(|_| (inner.version, snapshot_of(&inner.state)))
    }

    /// Writes a snapshot unless a newer one was written already. A failed
    /// write is logged and the change stays in memory: the call it belongs
    /// to did succeed.
    fn persist(&self, snapshot: Option<(u64, StateFile)>) {
        let (Some((version, file)), Some(path)) = (snapshot, &self.state_file) else {
            return;
        };
        let mut written = lock(&self.written);
        if *written >= version {
            return;
        }
        match save_state_file(path, &file) {
            Ok(()) => *written = version,
            Err(e) => tracing::error!(error = %e, "state file not written"),
        }
    }

    // ---- the API -----------------------------------------------------------

    /// Answers one API request, as the HTTP server does but without faults:
    /// authentication, the action, the JSON answer. Counts the call.
    pub fn handle(&self, method: &str, params: &Params) -> Reply {
        let request_id = lock(&self.request_ids).request_id();
        let result = self.dispatch(method, params);
        self.record_call(params.raw("Action").unwrap_or_default(), result.is_ok());
        match result {
            Ok(answer) => Reply {
                status: 200,
                body: answer.render(&request_id),
                request_id,
            },
            Err(e) => self.error_reply(&e, params, request_id),
        }
    }

    /// Carries a call out without counting it (a dropped connection counts
    /// it as an error itself).
    pub(crate) fn handle_uncounted(&self, method: &str, params: &Params) {
        let _ = self.dispatch(method, params);
    }

    /// The JSON body of an error answer (reference 1.9).
    pub fn error_reply(&self, e: &ApiError, params: &Params, request_id: String) -> Reply {
        let region = params.get("RegionId").unwrap_or("cn-hangzhou");
        let body = ErrorBody {
            request_id: LooseString(request_id.clone()),
            host_id: LooseString(format!("ecs.{region}.aliyuncs.com")),
            code: LooseString(e.code.to_string()),
            message: LooseString(e.message.clone()),
            recommend: LooseString(format!(
                "https://api.aliyun.com/troubleshoot?q={}&product=Ecs&requestId={request_id}",
                e.code
            )),
        };
        Reply {
            status: e.status,
            body: serde_json::to_string(&body).unwrap_or_else(|_| "{}".to_owned()),
            request_id,
        }
    }

    pub(crate) fn next_request_id(&self) -> String {
        lock(&self.request_ids).request_id()
    }

    fn dispatch(&self, method: &str, params: &Params) -> Result<Answer, ApiError> {
        let action = required(params, "Action")?;
        let version = required(params, "Version")?;
        if version != API_VERSION {
            return Err(ApiError::bad(
                "InvalidVersion",
                "Specified parameter Version is not valid.",
            ));
        }
        // 403 InvalidAction is the ECS table's entry (reference 4.4).
        let action = Action::parse(action).ok_or_else(|| {
            ApiError::new(
                403,
                "InvalidAction",
                "Specified api is not found, please check your url and method.",
            )
        })?;
        let now = self.clock.now();
        self.auth.authenticate(method, params, now)?;
        let region = params
            .get("RegionId")
            .ok_or_else(|| ApiError::missing("MissingParameter.RegionId", "RegionId"))?;

        let mut inner = lock(&self.inner);
        if !KNOWN_REGIONS.contains(&region) && !inner.state.regions.contains_key(region) {
            return Err(ApiError::new(
                404,
                "InvalidRegionId.NotFound",
                "The specified RegionId does not exist.",
            ));
        }
        if !action.is_mutating() {
            return match action {
                Action::DescribeSecurityGroups => describe_groups(&inner.state, region, params),
                Action::ListTagResources => tags::list_tag_resources(&inner.state, region, params)
                    .map(|body| Answer::TagList(Box::new(body))),
                _ => describe_attribute(&inner.state, region, params),
            };
        }

        let token = params.get("ClientToken");
        let fp = fingerprint(params);
        if let Some(t) = token {
            // The code for a malformed token is UNCONFIRMED; the limits are
            // documented (at most 64 ASCII characters, reference 2.3).
            if t.len() > 64 || !t.is_ascii() {
                return Err(ApiError::invalid(
                    "InvalidClientToken.Malformed",
                    "ClientToken",
                ));
            }
            if let Some(entry) = inner.tokens.entries.get(t) {
                if entry.fingerprint != fp {
                    return Err(ApiError::bad(
                        "IdempotentParameterMismatch",
                        "The request uses the same client token as a previous, but non-identical request.",
                    ));
                }
                return Ok(entry.answer.clone());
            }
        }
        let (answer, changed) = self.mutate(&mut inner, action, region, params, now)?;
        if let Some(t) = token {
            inner.tokens.insert(
                t.to_owned(),
                TokenEntry {
                    fingerprint: fp,
                    answer: answer.clone(),
                },
            );
        }
        let snapshot = if changed {
            self.changed(&mut inner)
        } else {
            None
        };
        drop(inner);
        self.persist(snapshot);
        Ok(answer)
    }

    fn mutate(
        &self,
        inner: &mut Inner,
        action: Action,
        region: &str,
        params: &Params,
        now: i64,
    ) -> Result<(Answer, bool), ApiError> {
        let Inner { state, ids, .. } = inner;
        match action {
            Action::AuthorizeSecurityGroup => {
                self.authorize(state, ids, region, params, Direction::Ingress, now)
            }
            Action::AuthorizeSecurityGroupEgress => {
                self.authorize(state, ids, region, params, Direction::Egress, now)
            }
            Action::RevokeSecurityGroup => revoke(state, region, params, Direction::Ingress),
            Action::RevokeSecurityGroupEgress => revoke(state, region, params, Direction::Egress),
            Action::ModifySecurityGroupRule => {
                modify_rule(state, region, params, Direction::Ingress)
            }
            Action::ModifySecurityGroupEgressRule => {
                modify_rule(state, region, params, Direction::Egress)
            }
            Action::CreateSecurityGroup => create_group(state, ids, region, params, now),
            Action::DeleteSecurityGroup => delete_group(state, region, params),
            Action::ModifySecurityGroupAttribute => modify_group(state, region, params),
            Action::TagResources => {
                tags::tag_resources(state, region, params).map(|c| (Answer::Empty, c))
            }
            Action::UntagResources => {
                tags::untag_resources(state, region, params).map(|c| (Answer::Empty, c))
            }
            Action::DescribeSecurityGroups
            | Action::DescribeSecurityGroupAttribute
            | Action::ListTagResources => Ok((Answer::Empty, false)),
        }
    }

    fn authorize(
        &self,
        state: &mut State,
        ids: &mut IdGen,
        region: &str,
        params: &Params,
        direction: Direction,
        now: i64,
    ) -> Result<(Answer, bool), ApiError> {
        let gid = required(params, "SecurityGroupId")?;
        let group = state
            .group(region, gid)
            .ok_or_else(ApiError::group_not_found)?;
        let RuleSelection::Rules(raws) = read_selection(params, direction, false)? else {
            return Err(ApiError::missing("MissingParameter", "Permissions"));
        };
        let ctx = RuleContext {
            direction,
            classic: group.is_classic(),
            wide_priority: false,
        };
        // Every entry is validated before anything changes: a batch is all
        // or nothing (UNCONFIRMED for the service, reference 7.8).
        let valid: Vec<ValidRule> = raws
            .iter()
            .map(|raw| validate(raw, ctx))
            .collect::<Result<_, _>>()?;
        check_no_duplicates(&valid)?;
        for v in &valid {
            check_peer_group(state, group, v, direction)?;
        }
        // Authorizing a rule that exists is a silent success that keeps the
        // existing priority and description (reference 2.3, 3.1).
        let new: Vec<&ValidRule> = valid
            .iter()
            .filter(|v| group.rule_by_identity(&v.identity).is_none())
            .collect();
        if group.rule_count() + new.len() > self.rules_per_group {
            // 403 as on the ingress pages (reference 4.4).
            return Err(ApiError::new(
                403,
                "AuthorizationLimitExceed",
                format!(
                    "The number of rules in the security group would exceed the limit of {}.",
                    self.rules_per_group
                ),
            ));
        }
        let new_refs = new
            .iter()
            .filter(|v| v.identity.is_group_reference())
            .count();
        if new_refs > 0 && group.group_reference_count() + new_refs > MAX_GROUP_REFERENCE_RULES {
            return Err(ApiError::bad(
                "AuthorizedGroupRule.LimitExceed",
                format!(
                    "A security group can hold at most {MAX_GROUP_REFERENCE_RULES} rules that reference other security groups."
                ),
            ));
        }
        let changed = !new.is_empty();
        let new: Vec<ValidRule> = new.into_iter().cloned().collect();
        let Some(group) = state.group_mut(region, gid) else {
            return Err(ApiError::group_not_found());
        };
        for v in new {
            let id = new_rule_id(group, ids);
            group.insert(Rule {
                id,
                identity: v.identity,
                priority: v.priority,
                description: v.description,
                create_time: now,
            });
        }
        Ok((Answer::Empty, changed))
    }
}

fn snapshot_of(state: &State) -> StateFile {
    StateFile {
        groups: state
            .regions
            .values()
            .flat_map(|groups| groups.values().map(move |g| record_of(g, groups)))
            .collect(),
        ..StateFile::default()
    }
}

fn check_no_duplicates(valid: &[ValidRule]) -> Result<(), ApiError> {
    let mut seen = HashSet::with_capacity(valid.len());
    for v in valid {
        if !seen.insert(&v.identity) {
            return Err(ApiError::bad(
                "InvalidParam.DuplicatePermissions",
                "The request contains the same rule more than once.",
            ));
        }
    }
    Ok(())
}

/// Checks a rule that names another group: not in an advanced group, not the
/// group itself, and (within the caller's own account) an existing group of
/// the region.
fn check_peer_group(
    state: &State,
    group: &Group,
    rule: &ValidRule,
    direction: Direction,
) -> Result<(), ApiError> {
    let Peer::Group { id, owner } = &rule.identity.peer else {
        return Ok(());
    };
    if group.group_type == GroupType::Enterprise {
        return Err(ApiError::bad(
            "InvalidGroupAuthParameter.OperationDenied",
            "Advanced security groups cannot hold rules that reference security groups.",
        ));
    }
    if id == &group.id {
        return Err(ApiError::bad(
            "InvalidSecurityGroup.IsSame",
            "A security group cannot reference itself in a rule.",
        ));
    }
    // A group of another account cannot be seen from here; it is taken on
    // trust, as its owner's account would be asked.
    if owner.is_empty() && state.group(&group.region, id).is_none() {
        return Err(match direction {
            Direction::Ingress => ApiError::new(
                404,
                "InvalidSourceGroupId.NotFound",
                "The specified SourceGroupId does not exist.",
            ),
            Direction::Egress => ApiError::new(
                404,
                "InvalidDestGroupId.NotFound",
                "The specified DestGroupId does not exist.",
            ),
        });
    }
    Ok(())
}

fn not_found_rule(direction: Direction) -> ApiError {
    // Since 2024-07-08 revoking a rule that does not exist fails. The docs
    // name InvalidParam.SecurityGroupRuleId for ingress and
    // InvalidSecurityGroupRule.RuleNotExist for egress; which applies where is
    // UNCONFIRMED (reference 2.4), so the emulator follows the docs per
    // direction, also for a Permissions-based revoke that matches nothing.
    match direction {
        Direction::Ingress => ApiError::bad(
            "InvalidParam.SecurityGroupRuleId",
            "The specified security group rule does not exist.",
        ),
        Direction::Egress => ApiError::bad(
            "InvalidSecurityGroupRule.RuleNotExist",
            "The specified security group rule does not exist.",
        ),
    }
}

fn revoke(
    state: &mut State,
    region: &str,
    params: &Params,
    direction: Direction,
) -> Result<(Answer, bool), ApiError> {
    let gid = required(params, "SecurityGroupId")?;
    let group = state
        .group(region, gid)
        .ok_or_else(ApiError::group_not_found)?;
    let doomed: Vec<String> = match read_selection(params, direction, true)? {
        RuleSelection::Ids(ids) => {
            let mut seen = HashSet::with_capacity(ids.len());
            for id in &ids {
                if !seen.insert(id.as_str()) {
                    return Err(ApiError::bad(
                        "InvalidParam.SecurityGroupRuleIdRepeated",
                        format!("The security group rule id {id} is given more than once."),
                    ));
                }
                match group.rule_by_id(id) {
                    Some(r) if r.identity.direction == direction => {}
                    _ => return Err(not_found_rule(direction)),
                }
            }
            ids
        }
        RuleSelection::Rules(raws) => {
            let ctx = RuleContext {
                direction,
                classic: group.is_classic(),
                wide_priority: true,
            };
            let valid: Vec<ValidRule> = raws
                .iter()
                .map(|raw| validate(raw, ctx))
                .collect::<Result<_, _>>()?;
            check_no_duplicates(&valid)?;
            valid
                .iter()
                .map(|v| {
                    group
                        .rule_by_identity(&v.identity)
                        .map(|r| r.id.clone())
                        .ok_or_else(|| not_found_rule(direction))
                })
                .collect::<Result<_, _>>()?
        }
    };
    let Some(group) = state.group_mut(region, gid) else {
        return Err(ApiError::group_not_found());
    };
    for id in &doomed {
        group.remove(id);
    }
    Ok((Answer::Empty, !doomed.is_empty()))
}

fn modify_rule(
    state: &mut State,
    region: &str,
    params: &Params,
    direction: Direction,
) -> Result<(Answer, bool), ApiError> {
    let gid = required(params, "SecurityGroupId")?;
    let rule_id = required(params, "SecurityGroupRuleId")?;
    let group = state
        .group(region, gid)
        .ok_or_else(ApiError::group_not_found)?;
    let rule = group
        .rule_by_id(rule_id)
        .filter(|r| r.identity.direction == direction)
        .ok_or_else(|| {
            ApiError::new(
                404,
                "InvalidSecurityGroupRuleId.NotFound",
                "The specified SecurityGroupRuleId does not exist.",
            )
        })?;
    let ctx = RuleContext {
        direction,
        classic: group.is_classic(),
        // A stored system rule may sit above 100; only a priority the request
        // sets must be in the API's range.
        wide_priority: params.get("Priority").is_none(),
    };
    let valid = modified_rule(rule, params, ctx)?;
    if valid.identity.peer != rule.identity.peer {
        check_peer_group(state, group, &valid, direction)?;
    }
    if let Some(other) = group.rule_by_identity(&valid.identity)
        && other.id != rule.id
    {
        return Err(ApiError::bad(
            "InvalidOperation.RuleDuplicate",
            format!("The modified rule would be the same as rule {}.", other.id),
        ));
    }
    let changed = valid.identity != rule.identity
        || valid.priority != rule.priority
        || valid.description != rule.description;
    let Some(group) = state.group_mut(region, gid) else {
        return Err(ApiError::group_not_found());
    };
    group.update(rule_id, valid.identity, valid.priority, valid.description);
    Ok((Answer::Empty, changed))
}

fn check_group_name(name: &str) -> Result<(), ApiError> {
    let n = name.chars().count();
    let first_ok = name.chars().next().is_some_and(char::is_alphabetic);
    let chars_ok = name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, ':' | '_' | '.' | '-'));
    if !(2..=128).contains(&n)
        || !first_ok
        || !chars_ok
        || name.starts_with("http://")
        || name.starts_with("https://")
    {
        return Err(ApiError::invalid(
            "InvalidSecurityGroupName.Malformed",
            "SecurityGroupName",
        ));
    }
    Ok(())
}

fn check_group_description(d: &str) -> Result<(), ApiError> {
    let n = d.chars().count();
    if !(2..=256).contains(&n) || d.starts_with("http://") || d.starts_with("https://") {
        // The code is UNCONFIRMED; the limits are documented (reference 2.6).
        return Err(ApiError::invalid(
            "InvalidDescription.Malformed",
            "Description",
        ));
    }
    Ok(())
}

fn create_group(
    state: &mut State,
    ids: &mut IdGen,
    region: &str,
    params: &Params,
    now: i64,
) -> Result<(Answer, bool), ApiError> {
    let name = params.get("SecurityGroupName").unwrap_or_default();
    if !name.is_empty() {
        check_group_name(name)?;
    }
    let description = params.get("Description").unwrap_or_default();
    if !description.is_empty() {
        check_group_description(description)?;
    }
    let group_type = match params.get("SecurityGroupType") {
        None => GroupType::Normal,
        Some(t) => GroupType::parse(t).ok_or_else(|| {
            ApiError::invalid("InvalidParameter.SecurityGroupType", "SecurityGroupType")
        })?,
    };
    let tags = tags::read_tags(params, TagUse::Set)?;
    let id = loop {
        let id = format!("sg-{}", ids.suffix(20));
        if !state.group_id_taken(&id) {
            break id;
        }
    };
    let mut g = Group::new(id.clone(), region.to_owned(), now);
    g.name = name.to_owned();
    g.description = description.to_owned();
    g.vpc_id = params.get("VpcId").unwrap_or_default().to_owned();
    g.group_type = group_type;
    g.resource_group_id = params.get("ResourceGroupId").unwrap_or_default().to_owned();
    g.tags = tags
        .into_iter()
        .map(|t| TagPair {
            key: t.key,
            value: t.value.unwrap_or_default(),
        })
        .collect();
    state
        .regions
        .entry(region.to_owned())
        .or_default()
        .insert(id.clone(), g);
    Ok((Answer::Created(id), true))
}

fn delete_group(
    state: &mut State,
    region: &str,
    params: &Params,
) -> Result<(Answer, bool), ApiError> {
    let gid = required(params, "SecurityGroupId")?;
    let groups = state
        .regions
        .get_mut(region)
        .ok_or_else(ApiError::group_not_found)?;
    if !groups.contains_key(gid) {
        return Err(ApiError::group_not_found());
    }
    if let Some(other) = groups.values().find(|g| g.id != gid && g.references(gid)) {
        // The code for deleting a group that others still reference is
        // UNCONFIRMED (reference 2.6).
        return Err(ApiError::new(
            403,
            "DependencyViolation",
            format!(
                "The specified security group is referenced by rules of security group {}.",
                other.id
            ),
        ));
    }
    groups.remove(gid);
    Ok((Answer::Empty, true))
}

fn modify_group(
    state: &mut State,
    region: &str,
    params: &Params,
) -> Result<(Answer, bool), ApiError> {
    let gid = required(params, "SecurityGroupId")?;
    let name = params.get("SecurityGroupName");
    let description = params.get("Description");
    if let Some(n) = name {
        check_group_name(n)?;
    }
    if let Some(d) = description {
        check_group_description(d)?;
    }
    let group = state
        .group_mut(region, gid)
        .ok_or_else(ApiError::group_not_found)?;
    let mut changed = false;
    if let Some(n) = name
        && group.name != n
    {
        group.name = n.to_owned();
        changed = true;
    }
    if let Some(d) = description
        && group.description != d
    {
        group.description = d.to_owned();
        changed = true;
    }
    Ok((Answer::Empty, changed))
}

fn describe_groups(state: &State, region: &str, params: &Params) -> Result<Answer, ApiError> {
    if params
        .get("DryRun")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        // The HTTP status of DryRunOperation is UNCONFIRMED (reference 4.4).
        return Err(ApiError::bad(
            "DryRunOperation",
            "Request validation has been passed with DryRun flag set.",
        ));
    }
    let ids_filter: Option<HashSet<String>> = match params.get("SecurityGroupIds") {
        None => None,
        Some(json) => {
            let ids: Vec<String> = serde_json::from_str(json)
                .map_err(|_| ApiError::invalid("InvalidParameter", "SecurityGroupIds"))?;
            if ids.len() > MAX_FILTER_IDS {
                return Err(ApiError::invalid("InvalidParameter", "SecurityGroupIds"));
            }
            Some(ids.into_iter().collect())
        }
    };
    let id_filter = params.get("SecurityGroupId");
    let vpc = params.get("VpcId");
    let name = params.get("SecurityGroupName");
    let rg = params.get("ResourceGroupId");
    let group_type = match params.get("SecurityGroupType") {
        None => None,
        Some(t) => Some(GroupType::parse(t).ok_or_else(|| {
            ApiError::invalid("InvalidParameter.SecurityGroupType", "SecurityGroupType")
        })?),
    };
    let network = match params.get("NetworkType") {
        None => None,
        Some(n) if n.eq_ignore_ascii_case("vpc") => Some(false),
        Some(n) if n.eq_ignore_ascii_case("classic") => Some(true),
        Some(_) => return Err(ApiError::invalid("InvalidParameter", "NetworkType")),
    };
    let tags = tags::read_tags(params, TagUse::Filter)?;
    let keep = |g: &Group| {
        id_filter.is_none_or(|id| g.id == id)
            && ids_filter.as_ref().is_none_or(|ids| ids.contains(&g.id))
            && vpc.is_none_or(|v| g.vpc_id == v)
            && name.is_none_or(|n| g.name == n)
            && rg.is_none_or(|r| g.resource_group_id == r)
            && group_type.is_none_or(|t| g.group_type == t)
            && network.is_none_or(|classic| g.is_classic() == classic)
            && tags.iter().all(|t| t.matches(&g.tags))
    };
    let empty = BTreeMap::new();
    let groups = state.regions.get(region).unwrap_or(&empty);
    let render = |g: &Group| SecurityGroup {
        security_group_id: LooseString(g.id.clone()),
        security_group_name: LooseString(g.name.clone()),
        description: LooseString(g.description.clone()),
        security_group_type: LooseString(g.group_type.as_str().to_owned()),
        vpc_id: LooseString(g.vpc_id.clone()),
        creation_time: LooseString(format_timestamp(g.creation_time)),
        ecs_count: 0,
        available_instance_amount: 0,
        resource_group_id: LooseString(g.resource_group_id.clone()),
        service_managed: false,
        tags: Tags {
            tag: g
                .tags
                .iter()
                .map(|t| Tag {
                    tag_key: LooseString(t.key.clone()),
                    tag_value: LooseString(t.value.clone()),
                })
                .collect(),
        },
        rule_count: g.rule_count() as i64,
        group_to_group_rule_count: g.group_reference_count() as i64,
    };
    let token_style = params.get("MaxResults").is_some() || params.get("NextToken").is_some();
    let legacy_style = params.get("PageNumber").is_some() || params.get("PageSize").is_some();
    let mut out = DescribeSecurityGroupsResponse {
        region_id: LooseString(region.to_owned()),
        ..DescribeSecurityGroupsResponse::default()
    };
    if token_style {
        if legacy_style {
            return Err(ApiError::bad(
                "NotSupported.PageNumberAndPageSize",
                "PageNumber and PageSize cannot be used together with MaxResults and NextToken.",
            ));
        }
        let max = int_param(params, "MaxResults", "InvalidParameter")?.unwrap_or(10);
        if !(1..=100).contains(&max) {
            return Err(ApiError::invalid("InvalidParameter", "MaxResults"));
        }
        // The token is the hex of the last id of the previous page, so that
        // groups created or deleted between pages neither repeat nor vanish.
        let after = match params.get("NextToken") {
            None => None,
            Some(t) => Some(
                hex_decode(t)
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|id| valid_group_id(id))
                    .ok_or_else(bad_next_token)?,
            ),
        };
        let iter: Box<dyn Iterator<Item = &Group>> = match &after {
            Some(a) => Box::new(
                groups
                    .range::<str, _>((
                        std::ops::Bound::Excluded(a.as_str()),
                        std::ops::Bound::Unbounded,
                    ))
                    .map(|(_, g)| g),
            ),
            None => Box::new(groups.values()),
        };
        let mut page: Vec<&Group> = iter.filter(|g| keep(g)).take(max as usize + 1).collect();
        if page.len() > max as usize {
            page.truncate(max as usize);
            if let Some(last) = page.last() {
                out.next_token = LooseString(hex_encode(last.id.as_bytes()));
            }
        }
        out.security_groups = SecurityGroups {
            security_group: page.into_iter().map(render).collect(),
        };
    } else {
        let number = int_param(params, "PageNumber", "InvalidParameter")?.unwrap_or(1);
        let size = int_param(params, "PageSize", "InvalidParameter")?.unwrap_or(10);
        if number < 1 {
            return Err(ApiError::invalid("InvalidParameter", "PageNumber"));
        }
        if !(1..=50).contains(&size) {
            return Err(ApiError::invalid("InvalidParameter", "PageSize"));
        }
        let all: Vec<&Group> = groups.values().filter(|g| keep(g)).collect();
        let skip = usize::try_from((number - 1).saturating_mul(size)).unwrap_or(usize::MAX);
        out.total_count = Some(all.len() as i64);
        out.page_number = Some(number);
        out.page_size = Some(size);
        out.security_groups = SecurityGroups {
            security_group: all
                .into_iter()
                .skip(skip)
                .take(size as usize)
                .map(render)
                .collect(),
        };
    }
    Ok(Answer::Groups(Box::new(out)))
}

fn describe_attribute(state: &State, region: &str, params: &Params) -> Result<Answer, ApiError> {
    let gid = required(params, "SecurityGroupId")?;
    // InvalidParamter (sic) is listed for this action (reference 4.4); which
    // parameters it covers is UNCONFIRMED.
    let direction = match params.get("Direction") {
        None => None,
        Some(d) if d.eq_ignore_ascii_case("all") => None,
        Some(d) => Some(
            Direction::parse(d).ok_or_else(|| ApiError::invalid("InvalidParamter", "Direction"))?,
        ),
    };
    let max = int_param(params, "MaxResults", "InvalidParamter")?.unwrap_or(500);
    if !(10..=1000).contains(&max) {
        return Err(ApiError::invalid("InvalidParamter", "MaxResults"));
    }
    let snapshot_policy_ids = match params.get("Attribute") {
        None => false,
        Some("snapshotPolicyIds") => true,
        Some(_) => {
            return Err(ApiError::bad(
                "InvalidParameter.AttributeNotSupported",
                "The specified Attribute is not supported.",
            ));
        }
    };
    let nic = match params.get("NicType") {
        None => None,
        Some(n) if n.eq_ignore_ascii_case("internet") => Some("internet"),
        Some(n) if n.eq_ignore_ascii_case("intranet") => Some("intranet"),
        Some(_) => {
            return Err(ApiError::invalid(
                "InvalidNicType.ValueNotSupported",
                "NicType",
            ));
        }
    };
    // The token is the position of the last rule of the previous page.
    let after = match params.get("NextToken") {
        None => 0,
        Some(t) if t.len() == 16 => u64::from_str_radix(t, 16).map_err(|_| bad_next_token())?,
        Some(_) => return Err(bad_next_token()),
    };
    let groups = state
        .regions
        .get(region)
        .ok_or_else(ApiError::group_not_found)?;
    let group = groups.get(gid).ok_or_else(ApiError::group_not_found)?;
    // A classic group answers for one NIC type per call, internet by
    // default; a VPC group has only intranet rules (reference 2.2).
    let nic = if group.is_classic() {
        Some(nic.unwrap_or("internet"))
    } else {
        None
    };
    let mut page: Vec<(u64, &Rule)> = group
        .rules_after(after)
        .filter(|(_, r)| direction.is_none_or(|d| r.identity.direction == d))
        .filter(|(_, r)| nic.is_none_or(|n| r.identity.nic_type == n))
        .take(max as usize + 1)
        .collect();
    let mut next_token = LooseString::default();
    if page.len() > max as usize {
        page.truncate(max as usize);
        if let Some((seq, _)) = page.last() {
            next_token = LooseString(format!("{seq:016x}"));
        }
    }
    let name_of = |id: &str| groups.get(id).map(|g| g.name.as_str());
    let body = DescribeSecurityGroupAttributeResponse {
        request_id: LooseString::default(),
        region_id: LooseString(region.to_owned()),
        security_group_id: LooseString(group.id.clone()),
        security_group_name: LooseString(group.name.clone()),
        description: LooseString(group.description.clone()),
        vpc_id: LooseString(group.vpc_id.clone()),
        inner_access_policy: LooseString(group.group_type.inner_access_policy().to_owned()),
        next_token,
        permissions: Permissions {
            permission: page
                .into_iter()
                .map(|(_, r)| render_rule(r, name_of))
                .collect(),
        },
    };
    Ok(Answer::Attribute {
        body: Box::new(body),
        snapshot_policy_ids,
    })
}
