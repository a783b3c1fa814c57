//! Reads of a plan started before its policies are loaded.
//!
//! Loading a large policy tree takes a good part of a second, and at a
//! QPS quota every moment before the first read is added to the run. So a
//! caller that learns which groups the policies name while they are still
//! being loaded (the loader announces each file as it is read) hands them
//! to a [`Prefetch`]: their rule reads, and their type reads a hundred
//! groups at a time, start at once, under the same clients, limiters and
//! call counts as the reads the plan makes itself. [`crate::plan()`] then
//! takes each group's read from the prefetch instead of sending it again,
//! and reads only what the prefetch did not cover.
//!
//! A prefetch changes nothing: reads only. Dropping it cancels whatever it
//! still has in flight (the policies turned out to be invalid, say).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use moat_aliyun::{
    CallError, GroupFilter, GroupSummary, MAX_GROUP_IDS_PER_FILTER, Outcome, ReadClient,
};
use moat_policy::LiveGroup;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::journal::CallContext;
use crate::read::{DEFAULT_READ_CONCURRENCY, GroupRef};
use crate::session::{Reader, Target, regional};

/// A rule read the prefetch started.
pub(crate) type GroupRead = JoinHandle<Result<Outcome<LiveGroup>, CallError>>;
/// A type read of some groups of one target, and their ids.
pub(crate) type TypeRead = (
    Vec<String>,
    JoinHandle<Result<Outcome<Vec<GroupSummary>>, CallError>>,
);

/// Reads started ahead of a plan; see the module documentation.
pub struct Prefetch {
    reader: Reader,
    concurrency: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Base clients made after the prefetch, for the account moat is run
    /// with and for accounts by name; without one, the reader's.
    default: Option<ReadClient>,
    accounts: BTreeMap<String, ReadClient>,
    /// Per target: its client and the permits of its rule reads.
    targets: BTreeMap<Target, (ReadClient, Arc<Semaphore>)>,
    groups: HashMap<GroupRef, GroupRead>,
    /// Ids given but not yet in a type read: a type read goes out with a
    /// full hundred, the rest is left to the plan.
    untyped: BTreeMap<Target, Vec<String>>,
    types: BTreeMap<Target, Vec<TypeRead>>,
}

impl fmt::Debug for Prefetch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Prefetch")
            .field("groups", &state.groups.len())
            .field(
                "type_reads",
                &state.types.values().map(Vec::len).sum::<usize>(),
            )
            .finish_non_exhaustive()
    }
}

impl Prefetch {
    /// A prefetch reading through `reader` (its clients, limiters and
    /// counts), at most [`DEFAULT_READ_CONCURRENCY`] groups at a time per
    /// target, as the plan reads.
    pub fn new(reader: Reader) -> Prefetch {
        Prefetch {
            reader,
            concurrency: DEFAULT_READ_CONCURRENCY,
            state: Mutex::default(),
        }
    }

    /// The reader it reads through: the plan must read through the same
    /// one (or one made from it), so that counts and limiters are shared.
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is only ever left consistent: a panic while holding
        // the lock cannot leave half an entry.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the groups of the account moat is run with through `client`
    /// (a client made after the reader, sharing its counts).
    pub fn set_default(&self, client: ReadClient) {
        self.lock().default = Some(client);
    }

    /// Reads the groups of account `name` through `client`.
    pub fn add_account(&self, name: &str, client: ReadClient) {
        self.lock().accounts.insert(name.to_owned(), client);
    }

    /// Starts reading `groups` (each once, however often it is given).
    /// A group whose client cannot be made is left to the plan, which
    /// reports why. Must be called on a Tokio runtime.
    pub fn read(&self, groups: impl IntoIterator<Item = GroupRef>) {
        let mut state = self.lock();
        for g in groups {
            if state.groups.contains_key(&g) {
                continue;
            }
            let target = Target::new(g.account.as_deref(), &g.region);
            let Some((client, permits)) = self.target(&mut state, &target) else {
                continue;
            };
            let client = self
                .reader
                .observed(&client, CallContext::read("plan", "", &g.id, &g.region));
            let id = g.id.clone();
            let task = tokio::spawn(async move {
                // The semaphore is never closed; without a permit the read
                // is still correct.
                let _permit = permits.acquire_owned().await.ok();
                client.describe_security_group_attribute(&id, None).await
            });
            state.groups.insert(g.clone(), task);
            let untyped = state.untyped.entry(target.clone()).or_default();
            untyped.push(g.id);
            if untyped.len() >= MAX_GROUP_IDS_PER_FILTER {
                let ids = std::mem::take(untyped);
                self.read_types(&mut state, target, ids);
            }
        }
    }

    fn target(&self, state: &mut State, target: &Target) -> Option<(ReadClient, Arc<Semaphore>)> {
        if let Some(found) = state.targets.get(target) {
            return Some(found.clone());
        }
        let added = match &target.account {
            None => state.default.as_ref(),
            Some(name) => state.accounts.get(name),
        };
        let client = match added {
            Some(base) => regional(base, &BTreeMap::new(), [(None, target.region.as_str())])
                .ok()?
                .into_values()
                .next()?,
            None => self
                .reader
                .clients([(target.account.as_deref(), target.region.as_str())])
                .ok()?
                .remove(target)?,
        };
        let entry = (client, Arc::new(Semaphore::new(self.concurrency.max(1))));
        state.targets.insert(target.clone(), entry.clone());
        Some(entry)
    }

    fn read_types(&self, state: &mut State, target: Target, ids: Vec<String>) {
        let Some((client, _)) = state.targets.get(&target) else {
            return;
        };
        let client = self
            .reader
            .observed(client, CallContext::read("types", "", "", &target.region));
        let filter = GroupFilter {
            ids: ids.clone(),
            ..GroupFilter::default()
        };
        let task = tokio::spawn(async move { client.describe_security_groups(&filter).await });
        state.types.entry(target).or_default().push((ids, task));
    }

    /// The rule read of `group`, if the prefetch started one; it is the
    /// caller's from then on.
    pub(crate) fn take_group(&self, group: &GroupRef) -> Option<GroupRead> {
        self.lock().groups.remove(group)
    }

    /// The type reads started for `target`; they are the caller's from
    /// then on.
    pub(crate) fn take_types(&self, target: &Target) -> Vec<TypeRead> {
        self.lock().types.remove(target).unwrap_or_default()
    }

    /// Groups whose rule reads were started and not taken yet.
    pub fn pending(&self) -> usize {
        self.lock().groups.len()
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        let state = self.lock();
        for task in state.groups.values() {
            task.abort();
        }
        for (_, task) in state.types.values().flatten() {
            task.abort();
        }
    }
}
