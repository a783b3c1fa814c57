//! The service shell: configuration, the lock around the cloud,
//! persistence, stats and faults hooks, ClientToken replays, and dispatch
//! of each request by (Version, Action) to its product's handler.
//!
//! The shell knows no action. A product (ECS, STS, ...) is a module with a
//! [`Product`] table; [`PRODUCTS`] lists them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use moat_wire::{ErrorBody, LooseString};

use crate::auth::{AccessKey, Authenticator};
use crate::clock::{Clock, format_timestamp};
use crate::config::{EmulatorConfig, KNOWN_REGIONS};
use crate::error::{ApiError, EmulatorError, SeedError};
use crate::faults::{Fault, FaultConfig, FaultState};
use crate::ids::IdGen;
use crate::model::{Group, State};
use crate::params::Params;
use crate::persist::{
    SeedGroup, StateFile, group_from_record, load_state_file, record_of, remove_stale_temp_files,
    save_state_file,
};
use crate::product::{Answer, Auth, Call, Cloud, Handler, Limits, Product};
use crate::request::ApiRequest;
use crate::signature;
use crate::stats::{RegionStats, Stats};
use crate::sts::Directory;
use crate::tokens::{TokenCache, check_token, fingerprint};

/// Every API the emulator answers, told apart by the `Version` of a request.
pub(crate) const PRODUCTS: &[&Product] = &[
    &crate::ecs::PRODUCT,
    &crate::vpc::PRODUCT,
    &crate::sts::PRODUCT,
];

/// One API answer: HTTP status and JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub request_id: String,
}

#[derive(Debug)]
struct Inner {
    cloud: Cloud,
    tokens: TokenCache,
    /// Bumped on every change, so that state file writes never go backwards.
    version: u64,
}

/// The emulated cloud. Shared by the HTTP server and the caller through an
/// `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Emulator {
    auth: Authenticator,
    sts: Directory,
    clock: std::sync::Arc<dyn Clock>,
    limits: Limits,
    state_file: Option<std::path::PathBuf>,
    inner: Mutex<Inner>,
    request_ids: Mutex<IdGen>,
    stats: Mutex<Stats>,
    region_stats: Mutex<RegionStats>,
    faults: Mutex<FaultState>,
    /// The version last written to the state file.
    written: Mutex<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock cannot leave the state half-changed:
    // every action validates everything before it changes anything.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The product a request's version names.
fn product_of(version: &str) -> Option<&'static Product> {
    PRODUCTS.iter().copied().find(|p| p.version == version)
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
            auth: Authenticator::new(keys, seed),
            sts: Directory::new(&config.roles, &config.oidc_providers)?,
            clock: config.clock.clone(),
            limits: Limits {
                rules_per_group: config.rules_per_group,
            },
            state_file: config.state_file.clone(),
            inner: Mutex::new(Inner {
                cloud: Cloud {
                    state: State::default(),
                    ids: seed.map_or_else(IdGen::from_entropy, IdGen::new),
                },
                tokens: TokenCache::default(),
                version: 0,
            }),
            request_ids: Mutex::new(
                seed.map_or_else(IdGen::from_entropy, |s| IdGen::new(s ^ 0x0005_EED0_F1D5)),
            ),
            stats: Mutex::new(Stats::default()),
            region_stats: Mutex::new(RegionStats::default()),
            faults: Mutex::new(FaultState::new(config.faults.clone())),
            written: Mutex::new(0),
        };
        emulator.auth.set_sts_key_uses(config.faults.sts_key_uses);
        if let Some(path) = &config.state_file {
            let removed = remove_stale_temp_files(path);
            if removed > 0 {
                tracing::info!(removed, path = %path.display(), "removed temporary state files left by an interrupted write");
            }
        }
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

    /// Calls counted so far, per `RegionId`.
    pub fn region_stats(&self) -> RegionStats {
        lock(&self.region_stats).clone()
    }

    /// Zeroes the call counts.
    pub fn reset_stats(&self) {
        *lock(&self.stats) = Stats::default();
        *lock(&self.region_stats) = RegionStats::default();
    }

    pub(crate) fn record_call(&self, req: &ApiRequest, ok: bool) {
        lock(&self.stats).record(req.action().unwrap_or_default(), ok);
        lock(&self.region_stats).record(req.params.get("RegionId"), ok);
    }

    pub fn faults(&self) -> FaultConfig {
        lock(&self.faults).config().clone()
    }

    /// Replaces the fault configuration; with a seed the fault sequence
    /// starts again from its beginning.
    pub fn set_faults(&self, config: FaultConfig) -> Result<(), crate::faults::FaultConfigError> {
        config.validate()?;
        self.auth.set_sts_key_uses(config.sts_key_uses);
        lock(&self.faults).set(config);
        Ok(())
    }

    /// The fault for the next call, for `region` (its `RegionId`, if any),
    /// and the latency to add before answering.
    pub(crate) fn next_fault(&self, region: Option<&str>) -> (Option<Fault>, std::time::Duration) {
        let mut f = lock(&self.faults);
        (f.decide(Instant::now(), region), f.latency())
    }

    /// True when no group exists in any region.
    pub fn is_empty(&self) -> bool {
        lock(&self.inner).cloud.state.is_empty()
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
                if inner.cloud.state.group_id_taken(id) || built.iter().any(|g| &g.id == id) {
                    return Err(SeedError::GroupExists { id: id.clone() });
                }
                built.push(group_from_record(record, now, &mut inner.cloud.ids)?);
            }
            if built.is_empty() {
                return Ok(());
            }
            for g in built {
                inner
                    .cloud
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
        snapshot_of(&lock(&self.inner).cloud.state)
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
            let g = group_from_record(record, now, &mut inner.cloud.ids)?;
            state
                .regions
                .entry(g.region.clone())
                .or_default()
                .insert(g.id.clone(), g);
        }
        state.network = file.network.clone();
        inner.cloud.state = state;
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
            .map(|_| (inner.version, snapshot_of(&inner.cloud.state)))
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
    pub fn handle_request(&self, req: &ApiRequest) -> Reply {
        let request_id = lock(&self.request_ids).request_id();
        let result = self.dispatch(req);
        self.record_call(req, result.is_ok());
        match result {
            Ok(answer) => Reply {
                status: 200,
                body: answer.render(&request_id),
                request_id,
            },
            Err(e) => self.error_reply(&e, req, request_id),
        }
    }

    /// [`Emulator::handle_request`] for a request on `/` whose parameters
    /// are all in `params` (a signature v1.0 request).
    pub fn handle(&self, method: &str, params: &Params) -> Reply {
        self.handle_request(&ApiRequest::new(method, params.clone()))
    }

    /// A call made in process, as a test's setup rather than under test:
    /// signed (v1.0, POST) with `key` as a client would sign it, in
    /// `region`, through the same checks and handlers as a call over HTTP,
    /// and counted as one. The answer's JSON, or the reply that refused it.
    pub fn call_signed(
        &self,
        key: &AccessKey,
        region: &str,
        version: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<serde_json::Value, Reply> {
        static NONCE: AtomicU64 = AtomicU64::new(0);
        let nonce = NONCE.fetch_add(1, Ordering::Relaxed);
        let mut map: BTreeMap<&str, String> =
            params.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        for (k, v) in [
            ("Action", action.to_owned()),
            ("Version", version.to_owned()),
            ("Format", "JSON".to_owned()),
            ("RegionId", region.to_owned()),
            ("AccessKeyId", key.id.clone()),
            ("SignatureMethod", signature::SIGNATURE_METHOD.to_owned()),
            ("SignatureVersion", signature::SIGNATURE_VERSION.to_owned()),
            (
                "SignatureNonce",
                format!("in-process-{}-{nonce}", std::process::id()),
            ),
            ("Timestamp", format_timestamp(self.clock.now())),
        ] {
            map.entry(k).or_insert(v);
        }
        if let Some(token) = &key.security_token {
            map.insert("SecurityToken", token.clone());
        }
        let to_sign = signature::string_to_sign("POST", map.iter().map(|(k, v)| (*k, v.as_str())));
        map.insert("Signature", signature::sign(&key.secret, &to_sign));
        let reply = self.handle("POST", &Params::from_pairs(map));
        if reply.status != 200 {
            return Err(reply);
        }
        serde_json::from_str(&reply.body).map_err(|_| reply)
    }

    /// Carries a call out without counting it (a dropped connection counts
    /// it as an error itself).
    pub(crate) fn handle_uncounted(&self, req: &ApiRequest) {
        let _ = self.dispatch(req);
    }

    /// The JSON body of an error answer (reference 1.9), naming the host of
    /// the product the request was for.
    pub fn error_reply(&self, e: &ApiError, req: &ApiRequest, request_id: String) -> Reply {
        let product = req
            .version()
            .and_then(product_of)
            .unwrap_or(&crate::ecs::PRODUCT);
        let region = req.params.get("RegionId").unwrap_or("cn-hangzhou");
        let body = ErrorBody {
            request_id: LooseString(request_id.clone()),
            host_id: LooseString(product.host(region)),
            code: LooseString(e.code.to_string()),
            message: LooseString(e.message.clone()),
            recommend: LooseString(format!(
                "https://api.aliyun.com/troubleshoot?q={}&product={}&requestId={request_id}",
                e.code, product.code
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

    fn dispatch(&self, req: &ApiRequest) -> Result<Answer, ApiError> {
        let params = &req.params;
        let action = req
            .action()
            .ok_or_else(|| ApiError::missing("MissingParameter", "Action"))?;
        let version = req
            .version()
            .ok_or_else(|| ApiError::missing("MissingParameter", "Version"))?;
        let product = product_of(version).ok_or_else(|| {
            ApiError::bad(
                "InvalidVersion",
                "Specified parameter Version is not valid.",
            )
        })?;
        // 403 InvalidAction is the ECS table's entry (reference 4.4).
        let spec = product.action(action).ok_or_else(|| {
            ApiError::new(
                403,
                "InvalidAction",
                "Specified api is not found, please check your url and method.",
            )
        })?;
        let now = self.clock.now();
        let caller = match spec.auth {
            Auth::Signed => Some(self.auth.authenticate(req, now)?),
            Auth::Anonymous => None,
        };
        let region = if product.regional {
            params
                .get("RegionId")
                .ok_or_else(|| ApiError::missing("MissingParameter.RegionId", "RegionId"))?
        } else {
            ""
        };

        let mut inner = lock(&self.inner);
        if product.regional
            && !KNOWN_REGIONS.contains(&region)
            && !inner.cloud.state.regions.contains_key(region)
        {
            return Err(ApiError::new(
                404,
                "InvalidRegionId.NotFound",
                "The specified RegionId does not exist.",
            ));
        }
        let call = Call {
            params,
            region,
            now,
            caller: caller.as_ref(),
            limits: self.limits,
            auth: &self.auth,
            sts: &self.sts,
        };
        let write = match spec.handler {
            Handler::Read(read) => return read(&inner.cloud, &call),
            Handler::Write(write) => write,
        };

        let token = params.get("ClientToken");
        let fp = fingerprint(params, action, version);
        if let Some(t) = token {
            check_token(t)?;
            if let Some(replayed) = inner.tokens.replay(t, &fp) {
                return replayed;
            }
        }
        let (answer, changed) = write(&mut inner.cloud, &call)?;
        if let Some(t) = token {
            inner.tokens.remember(t, fp, answer.clone());
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
}

fn snapshot_of(state: &State) -> StateFile {
    StateFile {
        groups: state
            .regions
            .values()
            .flat_map(|groups| groups.values().map(move |g| record_of(g, groups)))
            .collect(),
        network: state.network.clone(),
        ..StateFile::default()
    }
}
