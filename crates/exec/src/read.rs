//! Reading the live rules of the groups a policy names, for plan, drift,
//! export and the stale-plan check of apply.
//!
//! Reads are concurrent (bounded) and fail closed: a group that cannot be
//! read completely makes the whole read an error, because a plan built on a
//! partial view would remove what it did not see. A group the API says does
//! not exist is not an error here; it is reported as missing so the plan can
//! name it with the policy's file and line.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use moat_aliyun::{CallError, ConfigError, ReadClient};
use moat_policy::LiveGroup;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Groups read at once when the caller does not say.
pub const DEFAULT_READ_CONCURRENCY: usize = 16;

/// One group to read: its id and region.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupRef {
    pub id: String,
    pub region: String,
}

impl GroupRef {
    pub fn new(id: impl Into<String>, region: impl Into<String>) -> GroupRef {
        GroupRef {
            id: id.into(),
            region: region.into(),
        }
    }
}

impl fmt::Display for GroupRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in region {}", self.id, self.region)
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
    #[error("region {region}")]
    Region {
        region: String,
        #[source]
        source: ConfigError,
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

/// Reads every rule of each group in `groups`, at most `concurrency` at a
/// time, with one client per region sharing `client`'s pool, rate limit and
/// credentials. Duplicate entries are read once.
pub async fn read_groups(
    client: &ReadClient,
    groups: &[GroupRef],
    concurrency: usize,
) -> Result<LiveState, ReadError> {
    let mut clients: BTreeMap<&str, ReadClient> = BTreeMap::new();
    for g in groups {
        if !clients.contains_key(g.region.as_str()) {
            let regional = if g.region == client.region() {
                client.clone()
            } else {
                client
                    .for_region(&g.region)
                    .map_err(|source| ReadError::Region {
                        region: g.region.clone(),
                        source,
                    })?
            };
            clients.insert(&g.region, regional);
        }
    }

    let mut wanted: Vec<GroupRef> = Vec::with_capacity(groups.len());
    for g in groups {
        if !wanted.contains(g) {
            wanted.push(g.clone());
        }
    }

    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for (index, g) in wanted.iter().enumerate() {
        let Some(regional) = clients.get(g.region.as_str()).cloned() else {
            continue;
        };
        let permits = permits.clone();
        let id = g.id.clone();
        tasks.spawn(async move {
            // The semaphore is never closed, so acquiring cannot fail; if it
            // somehow did, reading without a permit is still correct.
            let _permit = permits.acquire_owned().await.ok();
            let result = regional.describe_security_group_attribute(&id, None).await;
            (index, result)
        });
    }

    let mut results: Vec<Option<Result<moat_aliyun::Outcome<LiveGroup>, CallError>>> =
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

    let mut state = LiveState::default();
    let mut first: Option<GroupReadError> = None;
    let mut failures = Vec::new();
    for (g, result) in wanted.into_iter().zip(results) {
        match result {
            Some(Ok(outcome)) => {
                state.calls += outcome.calls.len();
                state.groups.push(outcome.value);
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
