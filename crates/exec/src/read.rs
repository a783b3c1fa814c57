//! Reading the live rules of the groups a policy names, for plan, drift,
//! export and the stale-plan check of apply.
//!
//! Reads are concurrent (bounded) and fail closed: a group that cannot be
//! read completely makes the whole read an error, because a plan built on a
//! partial view would remove what it did not see. A group the API says does
//! not exist is not an error here; it is reported as missing so the plan can
//! name it with the policy's file and line.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use moat_aliyun::{CallError, GroupFilter, ReadClient};
use moat_policy::{GroupType, LiveGroup};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::journal::CallContext;
use crate::prefetch::{Prefetch, TypeRead};
use crate::session::{Reader, RegionError, Target};

/// Groups read at once when the caller does not say.
pub const DEFAULT_READ_CONCURRENCY: usize = 16;

/// Told how a read goes, for a progress display (the CLI draws a line on a
/// terminal).
pub trait ReadProgress: Send + Sync + fmt::Debug {
    /// The read of `groups` groups starts.
    fn reading(&self, _groups: usize) {}
    /// One group was read (or found missing) with `calls` requests.
    fn group_read(&self, _calls: usize) {}
}

/// One group to read: its id, region and account (`None`: the account
/// moat is run with).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupRef {
    pub id: String,
    pub region: String,
    pub account: Option<String>,
}

impl GroupRef {
    pub fn new(id: impl Into<String>, region: impl Into<String>) -> GroupRef {
        GroupRef {
            id: id.into(),
            region: region.into(),
            account: None,
        }
    }

    /// The same group, in `account`.
    pub fn in_account(mut self, account: Option<&str>) -> GroupRef {
        self.account = account.map(str::to_owned);
        self
    }

    fn target(&self) -> Target {
        Target::new(self.account.as_deref(), &self.region)
    }
}

impl fmt::Display for GroupRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.account {
            Some(account) => write!(
                f,
                "{} in region {} of account {account}",
                self.id, self.region
            ),
            None => write!(f, "{} in region {}", self.id, self.region),
        }
    }
}

/// What a read found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveState {
    /// The groups that exist, in the order they were asked for.
    pub groups: Vec<LiveGroup>,
    /// The groups the API says do not exist.
    pub missing: Vec<GroupRef>,
    /// API calls made (pages included), for logs and benchmarks.
    pub calls: usize,
}

/// A group that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read security group {group}")]
pub struct GroupReadError {
    pub group: GroupRef,
    #[source]
    pub source: CallError,
}

/// Why reading the live state failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No client could be made for a region (an unknown region without an
    /// endpoint override, for example).
    #[error(transparent)]
    Region(RegionError),
    /// The types of a region's groups could not be listed.
    #[error("cannot read the type of {} in region {region}", group_list(.groups))]
    Types {
        region: String,
        groups: Vec<String>,
        #[source]
        source: Box<CallError>,
    },
    /// One or more groups could not be read. The first failure (in the
    /// order the groups were asked for) is the source; the count says how
    /// many more there were.
    #[error("{}", read_failures(.failures))]
    Groups {
        #[source]
        first: Box<GroupReadError>,
        failures: Vec<GroupRef>,
    },
    /// The plan made from the groups read could not get its nonce.
    #[error(transparent)]
    Nonce(#[from] crate::nonce::NonceError),
}

fn group_list(ids: &[String]) -> String {
    match ids {
        [] => "security groups".to_owned(),
        [one] => format!("security group {one}"),
        [first, rest @ ..] => format!(
            "{} security groups ({first} and {} more)",
            rest.len() + 1,
            rest.len()
        ),
    }
}

fn read_failures(failures: &[GroupRef]) -> String {
    match failures {
        [] | [_] => "reading the live rules failed".to_owned(),
        many => format!(
            "reading the live rules failed for {} security groups ({} and {} more)",
            many.len(),
            many[0].id,
            many.len() - 1
        ),
    }
}

/// The `SecurityGroupType` of each group of `groups` that exists (keyed by
/// id and region, without the account): one `DescribeSecurityGroups` per
/// (account, region) and hundred groups (the rule reads
/// do not carry the type). A group the answer leaves out does not exist and
/// is left out here; the rule read reports it missing.
pub async fn read_group_types(
    reader: &Reader,
    groups: &[GroupRef],
) -> Result<HashMap<GroupRef, GroupType>, ReadError> {
    read_group_types_with(reader, groups, None).await
}

/// [`read_group_types`], taking the type reads `prefetch` started and
/// reading only the groups they leave out.
pub(crate) async fn read_group_types_with(
    reader: &Reader,
    groups: &[GroupRef],
    prefetch: Option<&Prefetch>,
) -> Result<HashMap<GroupRef, GroupType>, ReadError> {
    let clients = reader
        .clients(
            groups
                .iter()
                .map(|g| (g.account.as_deref(), g.region.as_str())),
        )
        .map_err(ReadError::Region)?;
    // The targets are typed at once: each under its own limiter, so a run
    // over many accounts and regions waits one round trip, not one per pair.
    let mut tasks = JoinSet::new();
    for (index, (target, regional)) in clients.iter().enumerate() {
        let ids: BTreeSet<String> = groups
            .iter()
            .filter(|g| g.target() == *target)
            .map(|g| g.id.clone())
            .collect();
        let started = prefetch.map(|p| p.take_types(target)).unwrap_or_default();
        let region = target.region.clone();
        let client = reader.observed(regional, CallContext::read("types", "", "", &region));
        tasks.spawn(async move { (index, types_in(client, region, ids, started).await) });
    }
    let mut typed: Vec<Option<Result<Typed, ReadError>>> = Vec::new();
    typed.resize_with(clients.len(), || None);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, result)) => typed[index] = Some(result),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    let mut types = HashMap::with_capacity(groups.len());
    // The first failure in target order is the one reported.
    for result in typed.into_iter().flatten() {
        types.extend(result?);
    }
    Ok(types)
}

/// The groups of one target that exist, with their types.
type Typed = Vec<(GroupRef, GroupType)>;

/// The types of the groups `ids` of one target: the type reads a prefetch
/// `started` for it, then one read of the ids they left out.
async fn types_in(
    client: ReadClient,
    region: String,
    mut ids: BTreeSet<String>,
    started: Vec<TypeRead>,
) -> Result<Typed, ReadError> {
    let failed = |groups: Vec<String>, source: CallError| ReadError::Types {
        region: region.clone(),
        groups,
        source: Box::new(source),
    };
    let mut listed = Vec::new();
    for (read, task) in started {
        let answer = match task.await {
            Ok(answer) => answer,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Only dropping the prefetch cancels its reads; read again.
            Err(_) => continue,
        };
        let found = answer.map_err(|source| failed(read.clone(), source))?;
        for id in &read {
            ids.remove(id);
        }
        listed.extend(found.value);
    }
    // No ids would list every group of the region.
    if !ids.is_empty() {
        let filter = GroupFilter {
            ids: ids.into_iter().collect(),
            ..GroupFilter::default()
        };
        let found = client
            .describe_security_groups(&filter)
            .await
            .map_err(|source| failed(filter.ids.clone(), source))?;
        listed.extend(found.value);
    }
    // A type moat does not know takes no part: the policy's, or basic, is
    // used, as before types were read. Keyed by id and region (ids are
    // unique across accounts).
    Ok(listed
        .into_iter()
        .filter_map(|g| {
            let t = GroupType::parse(&g.group_type)?;
            Some((GroupRef::new(g.id, region.clone()), t))
        })
        .collect())
}

/// Reads every rule of each group in `groups`, at most `concurrency` at a
/// time per (account, region), through the reader's clients (one per
/// region of an account, sharing the account's pool, limiters and
/// credentials). The targets are read concurrently, each under its own
/// limiter. Duplicate entries are read once.
pub async fn read_groups(
    reader: &Reader,
    groups: &[GroupRef],
    concurrency: usize,
) -> Result<LiveState, ReadError> {
    let read = read_groups_with(reader, "read", "", groups, concurrency, None, |g| g).await?;
    Ok(LiveState {
        groups: read.groups,
        missing: read.missing,
        calls: read.calls,
    })
}

/// [`read_groups`] with each group's `SecurityGroupType` read as plan reads
/// it ([`read_group_types`]), so an evaluation of the live rules
/// (`moat test --live`) decides with the live type's defaults. The reads
/// `prefetch` started are taken from it, not sent again.
pub async fn read_typed_groups(
    reader: &Reader,
    groups: &[GroupRef],
    concurrency: usize,
    prefetch: Option<&Prefetch>,
) -> Result<LiveState, ReadError> {
    let types = read_group_types_with(reader, groups, prefetch).await?;
    let read = read_groups_with(
        reader,
        "read",
        "",
        groups,
        concurrency,
        prefetch,
        move |mut g| {
            g.group_type = types.get(&GroupRef::new(&g.id, &g.region)).copied();
            g
        },
    )
    .await?;
    Ok(LiveState {
        groups: read.groups,
        missing: read.missing,
        calls: read.calls,
    })
}

/// What [`read_groups_with`] found: each existing group passed through the
/// caller's function.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MappedState<T> {
    /// In the order the groups were asked for.
    pub groups: Vec<T>,
    pub missing: Vec<GroupRef>,
    pub calls: usize,
}

/// [`read_groups`], handing each group to `map` as soon as it is read, on
/// the task that read it. A plan diffs each group there, so the diff runs
/// while other reads wait for the rate limit instead of after all of them.
/// `phase` and `plan` name the reads in the journal. A group whose read
/// `prefetch` started is taken from it, not read again.
pub(crate) async fn read_groups_with<T, F>(
    reader: &Reader,
    phase: &'static str,
    plan: &str,
    groups: &[GroupRef],
    concurrency: usize,
    prefetch: Option<&Prefetch>,
    map: F,
) -> Result<MappedState<T>, ReadError>
where
    T: Send + 'static,
    F: Fn(LiveGroup) -> T + Send + Sync + 'static,
{
    let map = Arc::new(map);
    let clients = reader
        .clients(
            groups
                .iter()
                .map(|g| (g.account.as_deref(), g.region.as_str())),
        )
        .map_err(ReadError::Region)?;
    // Each target has its own quota: one's slow reads do not hold up the
    // others'.
    let permits: std::collections::BTreeMap<&Target, Arc<Semaphore>> = clients
        .keys()
        .map(|t| (t, Arc::new(Semaphore::new(concurrency.max(1)))))
        .collect();

    let mut wanted: Vec<GroupRef> = Vec::with_capacity(groups.len());
    let mut seen: HashSet<&GroupRef> = HashSet::with_capacity(groups.len());
    for g in groups {
        if seen.insert(g) {
            wanted.push(g.clone());
        }
    }

    let progress = reader.progress().cloned();
    if let Some(p) = &progress {
        p.reading(wanted.len());
    }
    let mut tasks = JoinSet::new();
    for (index, g) in wanted.iter().enumerate() {
        let target = g.target();
        let (Some(regional), Some(permits)) = (clients.get(&target), permits.get(&target)) else {
            continue;
        };
        let client = reader.observed(regional, CallContext::read(phase, plan, &g.id, &g.region));
        let permits = permits.clone();
        let id = g.id.clone();
        let map = map.clone();
        let progress = progress.clone();
        let started = prefetch.and_then(|p| p.take_group(g));
        tasks.spawn(async move {
            let prefetched = match started {
                Some(task) => match task.await {
                    Ok(result) => Some(result),
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    // Only dropping the prefetch cancels its reads; read again.
                    Err(_) => None,
                },
                None => None,
            };
            let result = match prefetched {
                Some(result) => result,
                None => {
                    // The semaphore is never closed, so acquiring cannot
                    // fail; if it somehow did, reading without a permit is
                    // still correct.
                    let _permit = permits.acquire_owned().await.ok();
                    client.describe_security_group_attribute(&id, None).await
                }
            };
            let result = result.map(|outcome| (outcome.calls.len(), map(outcome.value)));
            if let Some(p) = &progress {
                match &result {
                    Ok((calls, _)) => p.group_read(*calls),
                    Err(e) if e.is_group_not_found() => p.group_read(1),
                    Err(_) => {}
                }
            }
            (index, result)
        });
    }

    let mut results: Vec<Option<Result<(usize, T), CallError>>> =
        (0..wanted.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, result)) => {
                // A missing group is an answer, not a failure: the other
                // groups are still needed.
                let failed = matches!(&result, Err(e) if !e.is_group_not_found());
                results[index] = Some(result);
                if failed {
                    // Fail closed, and fast: nothing read after this matters.
                    tasks.abort_all();
                }
            }
            Err(e) if e.is_cancelled() => {}
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    let mut state = MappedState {
        groups: Vec::with_capacity(wanted.len()),
        missing: Vec::new(),
        calls: 0,
    };
    let mut first: Option<GroupReadError> = None;
    let mut failures = Vec::new();
    for (g, result) in wanted.into_iter().zip(results) {
        match result {
            Some(Ok((calls, value))) => {
                state.calls += calls;
                state.groups.push(value);
            }
            Some(Err(e)) if e.is_group_not_found() => {
                state.calls += 1;
                state.missing.push(g);
            }
            Some(Err(source)) => {
                failures.push(g.clone());
                if first.is_none() {
                    first = Some(GroupReadError { group: g, source });
                }
            }
            // Aborted after another group failed.
            None => {}
        }
    }
    match first {
        Some(first) => Err(ReadError::Groups {
            first: Box::new(first),
            failures,
        }),
        None => {
            tracing::debug!(
                groups = state.groups.len(),
                missing = state.missing.len(),
                calls = state.calls,
                "read live rules"
            );
            Ok(state)
        }
    }
}
