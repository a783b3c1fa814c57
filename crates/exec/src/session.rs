//! What every call of one run goes through: the clients per region, the
//! journal, the call counts and the stop signal.
//!
//! A [`Session`] holds a [`Client`] (it can change groups) and is what
//! apply runs on; a [`Reader`] holds only a [`ReadClient`] and is what plan,
//! drift and export run on, so those commands cannot make a mutating call by
//! construction. Both hand every attempt of every call to the same sink,
//! which counts it (the summary's number of API calls is this count, so it
//! equals what the service saw) and, when a journal is open, writes it
//! there. That sink is a [`Recorder`], opened before any client is made,
//! so that reads started while the policies load are the run's too.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use moat_aliyun::{
    AttemptObserver, AttemptOutcome, AttemptRecord, Client, ConfigError, ReadClient,
};
use serde::Serialize;
use tokio::sync::Notify;

use crate::journal::{CallContext, Journal, JournalError};
use crate::read::ReadProgress;

/// Where a group lives: the account the policy puts it in (`None`: the
/// account moat is run with) and its region. Each target has a client of
/// its own, with its own limiter.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    pub account: Option<String>,
    pub region: String,
}

impl Target {
    pub fn new(account: Option<&str>, region: &str) -> Target {
        Target {
            account: account.map(str::to_owned),
            region: region.to_owned(),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.account {
            Some(account) => write!(f, "account {account}, region {}", self.region),
            None => write!(f, "region {}", self.region),
        }
    }
}

/// No client could be made for a target.
#[derive(Debug, thiserror::Error)]
pub enum RegionError {
    /// An unknown region without an endpoint override, for example.
    #[error("{}", Target::new(.account.as_deref(), .region))]
    Config {
        account: Option<String>,
        region: String,
        #[source]
        source: ConfigError,
    },
    /// A group names an account the run was given no client for.
    #[error("account {account}: no credentials were set up for it (is it in `accounts:`?)")]
    UnknownAccount { account: String },
}

/// A client per target, made from the base client of the target's account
/// so that all of an account's clients share its connection pool, limiters
/// and credentials. The one place the clients of a run are made.
pub(crate) fn regional<'t, C: Regional>(
    base: &C,
    accounts: &BTreeMap<String, C>,
    targets: impl IntoIterator<Item = (Option<&'t str>, &'t str)>,
) -> Result<BTreeMap<Target, C>, RegionError> {
    let mut out = BTreeMap::new();
    for (account, region) in targets {
        let target = Target::new(account, region);
        if out.contains_key(&target) {
            continue;
        }
        let base = match account {
            None => base,
            Some(name) => accounts
                .get(name)
                .ok_or_else(|| RegionError::UnknownAccount {
                    account: name.to_owned(),
                })?,
        };
        let client = if region == base.region() {
            base.clone()
        } else {
            base.for_region(region)
                .map_err(|source| RegionError::Config {
                    account: account.map(str::to_owned),
                    region: region.to_owned(),
                    source,
                })?
        };
        out.insert(target, client);
    }
    Ok(out)
}

/// The two client types, as far as making one per region goes.
pub(crate) trait Regional: Clone {
    fn region(&self) -> &str;
    fn for_region(&self, region: &str) -> Result<Self, ConfigError>;
}

impl Regional for Client {
    fn region(&self) -> &str {
        Client::region(self)
    }
    fn for_region(&self, region: &str) -> Result<Client, ConfigError> {
        Client::for_region(self, region)
    }
}

impl Regional for ReadClient {
    fn region(&self) -> &str {
        ReadClient::region(self)
    }
    fn for_region(&self, region: &str) -> Result<ReadClient, ConfigError> {
        ReadClient::for_region(self, region)
    }
}

/// Why a run stops before it has done everything it planned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StopReason {
    /// The caller asked (the CLI does on SIGINT or SIGTERM).
    Interrupted,
    /// The service refused a call for a quota (`AuthorizationLimitExceed`
    /// and its kin): every other group would likely meet it too.
    Quota { group: String, code: String },
    /// The journal could not be written: no mutating call is made without
    /// its intent on disk.
    Journal { error: String },
    /// The lease on a group could not be renewed before it expired.
    LeaseLost { group: String },
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Interrupted => f.write_str("interrupted"),
            StopReason::Quota { group, code } => write!(f, "quota reached in {group} ({code})"),
            StopReason::Journal { error } => write!(f, "journal write failed: {error}"),
            StopReason::LeaseLost { group } => write!(f, "the lease on {group} was lost"),
        }
    }
}

/// A flag the caller raises to stop a run gracefully: no new batch starts,
/// calls in flight finish, and the report says what was done. Cheap to
/// clone; clones share the flag. The first reason given is kept.
#[derive(Clone, Debug, Default)]
pub struct StopSignal {
    inner: Arc<StopInner>,
}

#[derive(Debug, Default)]
struct StopInner {
    raised: AtomicBool,
    reason: std::sync::Mutex<Option<StopReason>>,
    notify: Notify,
}

impl StopSignal {
    pub fn new() -> StopSignal {
        StopSignal::default()
    }

    /// Raises the flag (the first reason wins).
    pub fn stop(&self, reason: StopReason) {
        {
            let mut slot = self.inner.reason.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(reason);
            }
        }
        self.inner.raised.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    pub fn is_stopped(&self) -> bool {
        self.inner.raised.load(Ordering::SeqCst)
    }

    /// Why the run was stopped, once it was.
    pub fn reason(&self) -> Option<StopReason> {
        self.inner
            .reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Resolves once the flag is raised.
    pub async fn stopped(&self) {
        loop {
            let notified = self.inner.notify.notified();
            if self.is_stopped() {
                return;
            }
            notified.await;
        }
    }
}

/// What kind of call an attempt belongs to, for the counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CallKind {
    /// Reading rules or groups.
    Read,
    /// Authorize, modify, revoke: a call that changes rules.
    Change,
    /// Taking, renewing, checking or releasing a lease.
    Lock,
}

/// Requests sent during a run, by kind. Every attempt is one request (a
/// retried call counts once per attempt, as the service counts it); an
/// attempt that never got credentials sent nothing and is not counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CallCounts {
    /// Reads of rules and groups (plan, preflight, verify).
    pub reads: u64,
    /// Calls that change rules (authorize, modify, revoke).
    pub changes: u64,
    /// Calls of the lease (list, tag, untag).
    pub locks: u64,
    /// Attempts that were retries of an earlier attempt.
    pub retries: u64,
}

impl CallCounts {
    /// Every request of the run.
    pub fn total(&self) -> u64 {
        self.reads + self.changes + self.locks
    }

    /// The requests sent after `earlier`, counts taken before in the same
    /// run (what one step of a run sent).
    pub fn since(&self, earlier: &CallCounts) -> CallCounts {
        CallCounts {
            reads: self.reads.saturating_sub(earlier.reads),
            changes: self.changes.saturating_sub(earlier.changes),
            locks: self.locks.saturating_sub(earlier.locks),
            retries: self.retries.saturating_sub(earlier.retries),
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    reads: AtomicU64,
    changes: AtomicU64,
    locks: AtomicU64,
    retries: AtomicU64,
}

/// Where every attempt goes.
#[derive(Debug)]
pub(crate) struct Sink {
    pub journal: Option<Journal>,
    counters: Counters,
    pub observer: Option<Arc<dyn AttemptObserver>>,
    pub stop: StopSignal,
}

impl Sink {
    fn new() -> Sink {
        Sink {
            journal: None,
            counters: Counters::default(),
            observer: None,
            stop: StopSignal::new(),
        }
    }

    pub fn counts(&self) -> CallCounts {
        let c = &self.counters;
        CallCounts {
            reads: c.reads.load(Ordering::Relaxed),
            changes: c.changes.load(Ordering::Relaxed),
            locks: c.locks.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
        }
    }

    fn count(&self, kind: CallKind, record: &AttemptRecord) {
        if record.outcome == AttemptOutcome::Credentials {
            return;
        }
        let c = &self.counters;
        let counter = match kind {
            CallKind::Read => &c.reads,
            CallKind::Change => &c.changes,
            CallKind::Lock => &c.locks,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if record.attempt > 1 {
            c.retries.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The observer of one call: counts its attempts, journals them with the
/// call's context and passes them on to the caller's observer.
#[derive(Debug)]
pub(crate) struct CallObserver {
    sink: Arc<Sink>,
    context: CallContext,
}

impl AttemptObserver for CallObserver {
    fn record(&self, a: &AttemptRecord) {
        let kind = if self.context.lock {
            CallKind::Lock
        } else if a.action.is_mutating() {
            CallKind::Change
        } else {
            CallKind::Read
        };
        self.sink.count(kind, a);
        if let Some(journal) = &self.sink.journal
            && let Err(e) = journal.attempt(&self.context, a)
        {
            // The next mutating call checks the journal before it starts.
            tracing::warn!(error = %e, "cannot write the journal");
        }
        if let Some(next) = &self.sink.observer {
            next.record(a);
        }
    }
}

/// Reads, for plan, drift, export and the reads of apply.
#[derive(Clone, Debug)]
pub struct Reader {
    client: ReadClient,
    /// The base client of each account of `accounts:`, by name.
    accounts: Arc<BTreeMap<String, ReadClient>>,
    sink: Arc<Sink>,
    /// Told of every group read.
    progress: Option<Arc<dyn ReadProgress>>,
}

impl Reader {
    /// A reader of its own: counts its calls, keeps no journal.
    pub fn new(client: ReadClient) -> Reader {
        Recorder::new().reader(client)
    }

    /// The same reader telling `progress` of the groups it reads.
    pub fn with_progress(mut self, progress: Arc<dyn ReadProgress>) -> Reader {
        self.progress = Some(progress);
        self
    }

    pub(crate) fn progress(&self) -> Option<&Arc<dyn ReadProgress>> {
        self.progress.as_ref()
    }

    /// The same reader with a base client per account (by name): the
    /// groups of an account are read through its client.
    pub fn with_accounts(mut self, accounts: BTreeMap<String, ReadClient>) -> Reader {
        self.accounts = Arc::new(accounts);
        self
    }

    /// The same reader also passing every attempt to `observer`.
    pub fn with_observer(client: ReadClient, observer: Arc<dyn AttemptObserver>) -> Reader {
        let mut sink = Sink::new();
        sink.observer = Some(observer);
        Recorder {
            sink: Arc::new(sink),
        }
        .reader(client)
    }

    /// The base client's region.
    pub fn region(&self) -> &str {
        self.client.region()
    }

    /// Requests sent so far.
    pub fn counts(&self) -> CallCounts {
        self.sink.counts()
    }

    /// A client per target of `targets` (account, region).
    pub(crate) fn clients<'t>(
        &self,
        targets: impl IntoIterator<Item = (Option<&'t str>, &'t str)>,
    ) -> Result<BTreeMap<Target, ReadClient>, RegionError> {
        regional(&self.client, &self.accounts, targets)
    }

    /// The rate each limiter of the reader's clients has reached, the
    /// accounts' too.
    pub fn rates(&self) -> Vec<AccountRate> {
        account_rates(
            self.client.rate_stats(),
            self.accounts.iter().map(|(n, c)| (n, c.rate_stats())),
        )
    }

    /// `client` observed for one call with `context`.
    pub(crate) fn observed(&self, client: &ReadClient, context: CallContext) -> ReadClient {
        client.with_observer(Arc::new(CallObserver {
            sink: self.sink.clone(),
            context,
        }))
    }
}

/// Where the calls of one run are counted and journaled, before any
/// client is made: the readers and the session made from one recorder
/// share its journal, counts, observer and stop signal. So reads started
/// while the policies load count, and are journaled, as the run's.
#[derive(Clone, Debug)]
pub struct Recorder {
    sink: Arc<Sink>,
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder::new()
    }
}

impl Recorder {
    /// Counts calls and keeps no journal.
    pub fn new() -> Recorder {
        Recorder {
            sink: Arc::new(Sink::new()),
        }
    }

    /// With the journal opened (or created) and the observer and stop
    /// signal given.
    pub fn open(options: SessionOptions<'_>) -> Result<Recorder, JournalError> {
        let mut sink = Sink::new();
        if let Some(path) = options.journal {
            sink.journal = Some(Journal::open(path)?);
        }
        sink.observer = options.observer;
        if let Some(stop) = options.stop {
            sink.stop = stop;
        }
        Ok(Recorder {
            sink: Arc::new(sink),
        })
    }

    /// A reader through `client`, recorded here.
    pub fn reader(&self, client: ReadClient) -> Reader {
        Reader {
            client,
            accounts: Arc::default(),
            sink: self.sink.clone(),
            progress: None,
        }
    }

    /// A session through `client`, recorded here.
    pub fn session(&self, client: Client) -> Session {
        Session {
            client,
            accounts: Arc::default(),
            sink: self.sink.clone(),
        }
    }
}

/// Everything apply runs on: a client that can change groups, and the
/// run's journal, counts and stop signal.
#[derive(Clone, Debug)]
pub struct Session {
    client: Client,
    /// The base client of each account of `accounts:`, by name.
    accounts: Arc<BTreeMap<String, Client>>,
    sink: Arc<Sink>,
}

impl Session {
    /// Journals that the user skipped a check (`phase`, e.g. `stage-gate`)
    /// for `action` (the stage), and why. Without a journal, nothing.
    pub fn journal_override(
        &self,
        phase: &'static str,
        action: &str,
        reason: &str,
    ) -> Result<(), JournalError> {
        match &self.sink.journal {
            Some(j) => j.override_line(phase, action, reason),
            None => Ok(()),
        }
    }
}

/// How a [`Session`] is set up.
#[derive(Debug, Default)]
pub struct SessionOptions<'a> {
    /// The JSONL journal every attempt (and, for mutating calls, an intent
    /// before and an outcome after) is appended to. Parent directories are
    /// created. `None` keeps no journal.
    pub journal: Option<&'a Path>,
    /// Sees every attempt too.
    pub observer: Option<Arc<dyn AttemptObserver>>,
    /// Raised by the caller to stop the run gracefully.
    pub stop: Option<StopSignal>,
}

impl Session {
    /// A session without a journal.
    pub fn new(client: Client) -> Session {
        Recorder::new().session(client)
    }

    /// The same session with a base client per account (by name): the
    /// groups of an account are read and changed through its client.
    pub fn with_accounts(mut self, accounts: BTreeMap<String, Client>) -> Session {
        self.accounts = Arc::new(accounts);
        self
    }

    /// A session with the journal opened (or created) and the observer and
    /// stop signal given.
    pub fn open(client: Client, options: SessionOptions<'_>) -> Result<Session, JournalError> {
        Ok(Recorder::open(options)?.session(client))
    }

    /// A reader sharing this session's client, journal and counts.
    pub fn reader(&self) -> Reader {
        Reader {
            client: self.client.read_only(),
            accounts: Arc::new(
                self.accounts
                    .iter()
                    .map(|(n, c)| (n.clone(), c.read_only()))
                    .collect(),
            ),
            sink: self.sink.clone(),
            progress: None,
        }
    }

    /// Requests sent so far.
    pub fn counts(&self) -> CallCounts {
        self.sink.counts()
    }

    /// The run's stop signal.
    pub fn stop_signal(&self) -> &StopSignal {
        &self.sink.stop
    }

    /// The rate each limiter of the session's clients has reached, the
    /// accounts' too.
    pub fn rates(&self) -> Vec<AccountRate> {
        account_rates(
            self.client.rate_stats(),
            self.accounts.iter().map(|(n, c)| (n, c.rate_stats())),
        )
    }

    pub(crate) fn sink(&self) -> &Arc<Sink> {
        &self.sink
    }

    /// A client per target of `targets` (account, region).
    pub(crate) fn clients<'t>(
        &self,
        targets: impl IntoIterator<Item = (Option<&'t str>, &'t str)>,
    ) -> Result<BTreeMap<Target, Client>, RegionError> {
        regional(&self.client, &self.accounts, targets)
    }

    /// `client` observed for one call with `context`.
    pub(crate) fn observed(&self, client: &Client, context: CallContext) -> Client {
        client.with_observer(Arc::new(CallObserver {
            sink: self.sink.clone(),
            context,
        }))
    }
}

/// The rate one limiter reached, with the account whose client it paces
/// (`None`: the account moat is run with).
#[derive(Clone, Debug)]
pub struct AccountRate {
    pub account: Option<String>,
    pub rate: moat_aliyun::RegionRate,
}

fn account_rates<'a>(
    default: Vec<moat_aliyun::RegionRate>,
    accounts: impl Iterator<Item = (&'a String, Vec<moat_aliyun::RegionRate>)>,
) -> Vec<AccountRate> {
    let mut out: Vec<AccountRate> = default
        .into_iter()
        .map(|rate| AccountRate {
            account: None,
            rate,
        })
        .collect();
    for (name, rates) in accounts {
        out.extend(rates.into_iter().map(|rate| AccountRate {
            account: Some(name.clone()),
            rate,
        }));
    }
    out
}
