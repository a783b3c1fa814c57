//! Loading the policies of a plan while the reads of their groups start.
//!
//! The loader announces each policy file as soon as it has read it; the
//! groups of the files are taken in load order, those the run selects
//! (`--group`, `--stage`, `--shard`) are handed to a [`Prefetch`], and the
//! reads go out while the rest of the files are still being parsed and
//! the whole is checked. The client of the account moat is run with is
//! made at the first group that needs it, as it would be after loading.
//!
//! What is not read early: groups that name an account of `accounts:`
//! (that block may be in any file, so their clients wait for the whole
//! load), and everything on the local cloud (which is seeded from the
//! loaded policies before it is read). If making the client fails, nothing
//! is read early, and connecting after the load reports why. If the
//! policies turn out to be invalid, their diagnostics are the answer and
//! the reads already started are cancelled: reads change nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use moat_aliyun::{Client, Environment};
use moat_exec::{GroupRef, Prefetch, Reader};
use moat_policy::{Declared, DeclaredGroup, Diagnostics, PolicySet};

use crate::args::CloudArgs;
use crate::context::connect_default;

/// Policies loaded, and what was started while they loaded.
pub struct Loaded {
    pub result: Result<PolicySet, Diagnostics>,
    /// The client of the account moat is run with and the reads started
    /// through it; `None` when nothing was read early.
    pub early: Option<Early>,
}

/// The default account's client and the reads started with it.
pub struct Early {
    pub client: Client,
    pub prefetch: Arc<Prefetch>,
}

/// Loads `paths`, reading early the groups `wanted` keeps (see the module
/// documentation). Runs the load on a blocking thread of the runtime.
pub async fn load_reading(
    paths: &[PathBuf],
    cloud: &CloudArgs,
    wanted: impl Fn(&DeclaredGroup) -> bool,
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
    let env: Environment = std::env::vars().collect();
    let mut early = Starting::Waiting;
    // Files are taken in load order, so that the first group decides the
    // default client's region as after a load.
    let mut arrived: BTreeMap<usize, Vec<DeclaredGroup>> = BTreeMap::new();
    let mut next = 0;
    while let Some(declared) = rx.recv().await {
        arrived.insert(declared.file, declared.groups);
        while let Some(groups) = arrived.remove(&next) {
            next += 1;
            let refs: Vec<GroupRef> = groups
                .iter()
                .filter(|g| g.account.is_none() && wanted(g))
                .map(|g| GroupRef::new(&g.id, &g.region))
                .collect();
            let Some(first) = refs.first() else {
                continue;
            };
            if let Starting::Waiting = early {
                early = Starting::connect(cloud, &env, &first.region).await;
            }
            if let Starting::Reading(e) = &early {
                e.prefetch.read(refs);
            }
        }
    }
    let result = joined(load.await);
    let early = match early {
        Starting::Reading(e) => {
            tracing::info!(groups = e.prefetch.pending(), "reads started while loading");
            Some(e)
        }
        Starting::Waiting | Starting::Off => None,
    };
    Ok(Loaded { result, early })
}

/// A blocking load's result; a panic in it goes on as a panic.
fn joined<T>(result: Result<T, tokio::task::JoinError>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

enum Starting {
    /// No group has needed the client yet.
    Waiting,
    Reading(Early),
    /// Making the client failed: connecting after the load says why.
    Off,
}

impl Starting {
    async fn connect(cloud: &CloudArgs, env: &Environment, region: &str) -> Starting {
        match connect_default(cloud, env, Some(region)).await {
            Ok(client) => {
                let reader = Reader::new(client.read_only());
                Starting::Reading(Early {
                    client,
                    prefetch: Arc::new(Prefetch::new(reader)),
                })
            }
            Err(e) => {
                tracing::debug!(error = %format!("{e:#}"), "not reading while loading");
                Starting::Off
            }
        }
    }
}
