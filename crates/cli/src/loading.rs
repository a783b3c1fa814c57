//! Loading the policies of a plan while the reads of their groups start.
//!
//! The loader announces each policy file as soon as it has read it (the
//! files that define `accounts:` first); the accounts a file defines are
//! taken as it arrives, its groups in load order: the groups the command
//! asks for as each file arrives (those the run selects with `--group`,
//! `--stage`, `--shard`; for `test --live`, those its tests name) are
//! handed to a [`Prefetch`], and the reads go out while the rest of the
//! files are still being parsed and the whole is checked. Clients are made
//! as they would be after loading, at the first group that needs each: the
//! account moat is run with, and each account of `accounts:` once a file
//! has defined it (its groups wait until then).
//!
//! Nothing is read early on the local cloud (it is seeded from the loaded
//! policies before it is read). If making a client fails, its groups are
//! not read early, and connecting after the load reports why. If the
//! policies turn out to be invalid, their diagnostics are the answer and
//! the reads already started are cancelled: reads change nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use moat_aliyun::{Client, Environment};
use moat_diff::PlanAccount;
use moat_exec::{GroupRef, Prefetch, Recorder};
use moat_policy::{Account, Declared, DeclaredGroup, Diagnostics, PolicySet};

use crate::args::CloudArgs;
use crate::context::{connect_account, connect_default};

/// Policies loaded, and what was started while they loaded.
pub struct Loaded {
    pub result: Result<PolicySet, Diagnostics>,
    /// `None` when nothing was read early.
    pub early: Option<Early>,
}

/// The clients made while loading and the reads started through them.
pub struct Early {
    /// Of the account moat is run with, if a group needed it.
    pub default: Option<Client>,
    /// Of the accounts of `accounts:`, by name.
    pub accounts: BTreeMap<String, Client>,
    pub prefetch: Arc<Prefetch>,
}

/// Loads `paths`, reading early the groups `early` gives for each file
/// as it arrives, in load order (see the module documentation), recorded
/// by `recorder`. Runs the load on a blocking thread of the runtime.
pub async fn load_reading(
    paths: &[PathBuf],
    cloud: &CloudArgs,
    recorder: &Recorder,
    mut early: impl FnMut(&Declared) -> Vec<GroupRef>,
) -> anyhow::Result<Loaded> {
    let paths = paths.to_vec();
    if cloud.local {
        let result = tokio::task::spawn_blocking(move || moat_policy::load_policies(&paths)).await;
        return Ok(Loaded {
            result: joined(result),
            early: None,
        });
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Declared>();
    let load = tokio::task::spawn_blocking(move || {
        let announce = move |declared: Declared| {
            // The receiver only goes away with the run.
            let _ = tx.send(declared);
        };
        moat_policy::load_policies_announcing(&paths, &announce)
    });
    let mut starter = Starter::new(cloud, recorder);
    // Groups are taken in load order, so that the first group of an
    // account decides its client's region as after a load.
    let mut arrived: BTreeMap<usize, Declared> = BTreeMap::new();
    let mut next = 0;
    while let Some(mut declared) = rx.recv().await {
        tracing::debug!(
            file = declared.file,
            groups = declared.groups.len(),
            accounts = declared.accounts.len(),
            "policy file read"
        );
        // An account's definition counts wherever it is: the loader parses
        // the files that define accounts first, and the groups of earlier
        // files need not wait for it.
        starter
            .declare(std::mem::take(&mut declared.accounts))
            .await;
        arrived.insert(declared.file, declared);
        while let Some(declared) = arrived.remove(&next) {
            next += 1;
            starter.read(early(&declared)).await;
        }
    }
    let result = joined(load.await);
    Ok(Loaded {
        result,
        early: starter.finish(),
    })
}

/// What reads `g`.
pub fn group_ref(g: &DeclaredGroup) -> GroupRef {
    GroupRef::new(&g.id, &g.region).in_account(g.account.as_deref())
}

/// A blocking load's result; a panic in it goes on as a panic.
fn joined<T>(result: Result<T, tokio::task::JoinError>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// A client as far as reading early goes.
enum Link {
    /// Not needed yet (an account: defined, not connected).
    Idle,
    Ready(Client),
    /// Making it failed: connecting after the load says why.
    Failed,
}

/// Makes the clients and starts the reads as the files arrive.
struct Starter<'a> {
    cloud: &'a CloudArgs,
    recorder: &'a Recorder,
    env: Environment,
    default: Link,
    accounts: BTreeMap<String, (PlanAccount, Link)>,
    /// Groups of accounts no file has defined yet.
    waiting: BTreeMap<String, Vec<GroupRef>>,
    prefetch: Option<Arc<Prefetch>>,
}

impl<'a> Starter<'a> {
    fn new(cloud: &'a CloudArgs, recorder: &'a Recorder) -> Starter<'a> {
        Starter {
            cloud,
            recorder,
            env: std::env::vars().collect(),
            default: Link::Idle,
            accounts: BTreeMap::new(),
            waiting: BTreeMap::new(),
            prefetch: None,
        }
    }

    /// Accounts a file defines; the groups that waited for them are read.
    async fn declare(&mut self, accounts: Vec<Account>) {
        for a in accounts {
            if self.accounts.contains_key(&a.name) {
                // Defined twice: the load fails and says so.
                continue;
            }
            let name = a.name.clone();
            self.accounts
                .insert(name.clone(), (PlanAccount::of(&a), Link::Idle));
            if let Some(refs) = self.waiting.remove(&name) {
                self.read(refs).await;
            }
        }
    }

    /// Starts reading `refs`, making the clients they need first.
    async fn read(&mut self, refs: Vec<GroupRef>) {
        let mut by_account: BTreeMap<Option<String>, Vec<GroupRef>> = BTreeMap::new();
        for r in refs {
            by_account.entry(r.account.clone()).or_default().push(r);
        }
        for (account, refs) in by_account {
            let Some(region) = refs.first().map(|r| r.region.clone()) else {
                continue;
            };
            let ready = match &account {
                None => self.default_client(&region).await,
                Some(name) => match self.account_client(name, &region).await {
                    Some(ready) => ready,
                    None => {
                        self.waiting.entry(name.clone()).or_default().extend(refs);
                        continue;
                    }
                },
            };
            if ready && let Some(prefetch) = &self.prefetch {
                prefetch.read(refs);
            }
        }
    }

    /// Whether the default client is ready, made now if it is needed.
    async fn default_client(&mut self, region: &str) -> bool {
        if let Link::Idle = self.default {
            self.default = match connect_default(self.cloud, &self.env, Some(region)).await {
                Ok(client) => {
                    self.start(&client, None);
                    Link::Ready(client)
                }
                Err(e) => {
                    tracing::debug!(error = %format!("{e:#}"), "not reading early");
                    Link::Failed
                }
            };
        }
        matches!(self.default, Link::Ready(_))
    }

    /// Whether account `name`'s client is ready, made now if it is needed;
    /// `None` while no file has defined the account.
    async fn account_client(&mut self, name: &str, region: &str) -> Option<bool> {
        let (account, link) = self.accounts.get(name)?;
        if let Link::Idle = link {
            let account = account.clone();
            let made = connect_account(self.cloud, &self.env, &account, &[region.to_owned()]).await;
            let link = match made {
                Ok(client) => {
                    self.start(&client, Some(name));
                    Link::Ready(client)
                }
                Err(e) => {
                    tracing::debug!(account = name, error = %format!("{e:#}"), "not reading early");
                    Link::Failed
                }
            };
            if let Some((_, slot)) = self.accounts.get_mut(name) {
                *slot = link;
            }
        }
        Some(matches!(self.accounts.get(name), Some((_, Link::Ready(_)))))
    }

    /// Hands a client just made to the prefetch, made with it if it is the
    /// first; its reads are recorded by the run's recorder.
    fn start(&mut self, client: &Client, account: Option<&str>) {
        let recorder = self.recorder;
        let prefetch = self
            .prefetch
            .get_or_insert_with(|| Arc::new(Prefetch::new(recorder.reader(client.read_only()))));
        match account {
            None => prefetch.set_default(client.read_only()),
            Some(name) => prefetch.add_account(name, client.read_only()),
        }
    }

    fn finish(self) -> Option<Early> {
        let prefetch = self.prefetch?;
        tracing::info!(groups = prefetch.pending(), "reads started while loading");
        let default = match self.default {
            Link::Ready(client) => Some(client),
            Link::Idle | Link::Failed => None,
        };
        let accounts = self
            .accounts
            .into_iter()
            .filter_map(|(name, (_, link))| match link {
                Link::Ready(client) => Some((name, client)),
                Link::Idle | Link::Failed => None,
            })
            .collect();
        Some(Early {
            default,
            accounts,
            prefetch,
        })
    }
}
