//! How an emulator is configured, and the regions it knows.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::AccessKey;
use crate::clock::{Clock, SystemClock};
use crate::faults::FaultConfig;
use crate::sts::OidcProvider;

/// Default for `--rules-per-group`: rules of both directions together
/// (reference 5: 200 in the docs up to late 2024).
pub const DEFAULT_RULES_PER_GROUP: usize = 200;

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
    /// Role ARNs STS lets any accepted key assume.
    pub roles: Vec<String>,
    /// OIDC providers AssumeRoleWithOIDC takes tokens of.
    pub oidc_providers: Vec<OidcProvider>,
    /// A connection that has carried nothing for this long is closed.
    pub idle_timeout: Duration,
    /// Connections open at once; at the cap a new one closes the one idle
    /// longest.
    pub max_connections: usize,
}

/// Default for `--idle-timeout`: longer than the HTTP clients' own pool
/// timeouts of interest here, so that a client seldom reuses a connection
/// the emulator is closing.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// Default for `--max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

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
            roles: Vec::new(),
            oidc_providers: Vec::new(),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS),
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}
