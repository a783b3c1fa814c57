//! The tag store of a run: a region's security groups through the
//! session's client, every call counted as a lease call and journaled
//! (tag writes with an intent before and an outcome after, like every
//! mutating call). And the leases of one apply: taken on every region it
//! changes, renewed while it runs, released at the end.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use moat_aliyun::{CallError, Client, ResourceTag};

use super::{Lease, LockError, LockOptions, Removed, TagStore, acquire, release, renew, unlock};
use crate::journal::{CallContext, CallOutcome, JournalError};
use crate::session::{RegionError, Session, StopReason, Target};

/// Why a lease call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Call(#[from] CallError),
    /// The intent of a tag write could not be journaled; the write was not
    /// made.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// One region's security groups, as a tag store.
#[derive(Clone, Debug)]
pub struct SessionTags {
    session: Session,
    client: Client,
    phase: &'static str,
}

impl SessionTags {
    fn context(&self, groups: &[String]) -> CallContext {
        CallContext {
            group: match groups {
                [one] => one.clone(),
                _ => String::new(),
            },
            region: self.client.region().to_owned(),
            phase: self.phase,
            rule_ids: Vec::new(),
            lock: true,
            ..CallContext::default()
        }
    }

    async fn write<F, Fut>(
        &self,
        groups: &[String],
        action: &str,
        call: F,
    ) -> Result<(), StoreError>
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<moat_aliyun::Outcome<()>, CallError>>,
    {
        let mut context = self.context(groups);
        context.rules = groups.to_vec();
        let journal = self.session.sink().journal.as_ref();
        if let Some(j) = journal {
            j.intent(&context, action)?;
        }
        let client = self.session.observed(&self.client, context.clone());
        let result = call(client).await;
        if let Some(j) = journal {
            let outcome = match &result {
                Ok(o) => CallOutcome::ok(o.request_id(), o.attempts()),
                Err(e) => CallOutcome::failed(e),
            };
            j.outcome(&context, action, &outcome)?;
        }
        result.map(|_| ()).map_err(StoreError::from)
    }
}

impl TagStore for SessionTags {
    type Error = StoreError;

    async fn list(&self, groups: &[String]) -> Result<Vec<ResourceTag>, StoreError> {
        let client = self
            .session
            .observed(&self.client, self.context(groups))
            .read_only();
        Ok(client.list_tag_resources(groups).await?.value)
    }

    async fn tag(&self, groups: &[String], key: &str, value: &str) -> Result<(), StoreError> {
        let tags = [(key.to_owned(), value.to_owned())];
        self.write(groups, "TagResources", |c| async move {
            c.tag_resources(groups, &tags).await
        })
        .await
    }

    async fn untag(&self, groups: &[String], keys: &[String]) -> Result<(), StoreError> {
        self.write(groups, "UntagResources", |c| async move {
            c.untag_resources(groups, keys).await
        })
        .await
    }
}

fn system_now() -> Timestamp {
    Timestamp::now()
}

/// The leases of one apply.
#[derive(Debug)]
pub(crate) struct Leases {
    stores: BTreeMap<Target, SessionTags>,
    /// Each lease with the target its groups are in.
    held: Arc<Mutex<Vec<(Target, Lease)>>>,
    renewal: Option<tokio::task::JoinHandle<()>>,
}

impl Leases {
    /// Takes a lease on `groups` (group id, target) in each target (account
    /// and region), in target order; if one cannot be had, those already
    /// taken are released.
    pub async fn acquire(
        session: &Session,
        clients: &BTreeMap<Target, Client>,
        groups: &[(String, Target)],
        options: &LockOptions,
    ) -> Result<Leases, LockError> {
        let mut by_target: BTreeMap<&Target, Vec<String>> = BTreeMap::new();
        for (id, target) in groups {
            by_target.entry(target).or_default().push(id.clone());
        }
        let mut leases = Leases {
            stores: BTreeMap::new(),
            held: Arc::default(),
            renewal: None,
        };
        for (target, ids) in by_target {
            let Some(client) = clients.get(target) else {
                continue;
            };
            let region = target.region.as_str();
            let store = SessionTags {
                session: session.clone(),
                client: client.clone(),
                phase: "lock",
            };
            match acquire(&store, region, &ids, options, &system_now).await {
                Ok(lease) => {
                    leases.held_mut().push((target.clone(), lease));
                    leases.stores.insert(target.clone(), store);
                }
                Err(e) => {
                    leases.stores.insert(target.clone(), store);
                    leases.release().await;
                    return Err(e);
                }
            }
        }
        Ok(leases)
    }

    fn held_mut(&self) -> std::sync::MutexGuard<'_, Vec<(Target, Lease)>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Renews every lease a third of its time to live after it was taken,
    /// until released. A lease that cannot be renewed before it expires
    /// stops the run (the next step does not start).
    pub fn keep(&mut self, session: &Session, ttl: Duration) {
        let held = self.held.clone();
        let stores = self.stores.clone();
        let stop = session.stop_signal().clone();
        self.renewal = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                let current: Vec<(Target, Lease)> =
                    held.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let mut renewed = Vec::with_capacity(current.len());
                for (target, lease) in current {
                    let Some(store) = stores.get(&target) else {
                        continue;
                    };
                    let now = Timestamp::now();
                    match renew(store, &lease, ttl, now).await {
                        Ok(next) => renewed.push((target, next)),
                        Err(e) => {
                            tracing::warn!(error = %e, region = %lease.region, "cannot renew the lease");
                            let lost = matches!(e, LockError::Lost { .. })
                                || lease.value.expiry <= now + ttl / 6;
                            if lost {
                                stop.stop(StopReason::LeaseLost {
                                    group: lease.groups.first().cloned().unwrap_or_default(),
                                });
                            }
                            renewed.push((target, lease));
                        }
                    }
                }
                *held.lock().unwrap_or_else(|p| p.into_inner()) = renewed;
            }
        }));
    }

    /// Stops renewing and releases every lease still held; failures are
    /// logged (a lease left behind expires on its own) and returned.
    pub async fn release(&mut self) -> Vec<String> {
        if let Some(task) = self.renewal.take() {
            task.abort();
        }
        let held: Vec<(Target, Lease)> = std::mem::take(&mut *self.held_mut());
        let mut errors = Vec::new();
        for (target, lease) in held {
            let Some(store) = self.stores.get(&target) else {
                continue;
            };
            if let Err(e) = release(store, &lease).await {
                tracing::warn!(error = %e, region = %lease.region, "cannot release the lease");
                errors.push(chain(&e));
            }
        }
        errors
    }
}

/// An error with its causes, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `moat unlock`: removes every lease and claim from `groups` of `region`.
pub async fn unlock_groups(
    session: &Session,
    region: &str,
    groups: &[String],
) -> Result<Vec<Removed>, UnlockError> {
    let clients = session.clients([(None, region)])?;
    let Some(client) = clients.values().next() else {
        return Ok(Vec::new());
    };
    let store = SessionTags {
        session: session.clone(),
        client: client.clone(),
        phase: "unlock",
    };
    Ok(unlock(&store, region, groups).await?)
}

/// Why `moat unlock` failed.
#[derive(Debug, thiserror::Error)]
pub enum UnlockError {
    #[error(transparent)]
    Region(#[from] RegionError),
    #[error(transparent)]
    Lock(#[from] LockError),
}
