//! moat-emulator: the ECS security group API, served over loopback HTTP.
//!
//! A service shell (configuration, the lock, persistence, stats, faults and
//! dispatch by API version and action) serves products: ECS 2014-05-26 in
//! `ecs/` and STS 2015-04-01 in `sts/`, each action a handler in its
//! product's table. Requests are signed with v1.0 or ACS3-HMAC-SHA256. This
//! crate owns an
//! in-memory model of regions, groups, rules and tags, its own
//! signature verification written from the reference (never the client's
//! signer, so a bug in one shows up against the other), quotas, idempotent
//! ClientToken handling, persistence, injectable faults and call statistics.
//!
//! It must not know about policies, plans, the client or the CLI; it shares
//! only the wire types with the client. It reads no environment and prints
//! nothing: the caller decides which keys to accept and where to log.
//!
//! ```no_run
//! use moat_emulator::{EmulatorConfig, SeedGroup, start};
//! let handle = start(EmulatorConfig::default())?;
//! handle.emulator().seed_group(
//!     SeedGroup::new("cn-hangzhou", "sg-demo0001").name("web").vpc_id("vpc-demo"),
//! )?;
//! println!("{}", handle.endpoint());
//! handle.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod acs3;
mod auth;
mod clock;
mod config;
mod connections;
mod ecs;
mod emulator;
mod error;
mod faults;
mod ids;
mod model;
pub mod network;
mod params;
mod persist;
mod product;
mod request;
mod server;
pub mod signature;
mod stats;
mod sts;
mod tokens;
mod vpc;

pub use auth::{AccessKey, DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, TIMESTAMP_WINDOW_SECS};
pub use clock::{Clock, ManualClock, SystemClock, format_timestamp, parse_timestamp};
pub use config::{
    DEFAULT_IDLE_TIMEOUT_SECS, DEFAULT_MAX_CONNECTIONS, DEFAULT_RULES_PER_GROUP, EmulatorConfig,
    KNOWN_REGIONS,
};
pub use ecs::MAX_GROUP_REFERENCE_RULES;
pub use ecs::fields::MAX_ENTRIES_PER_CALL;
pub use ecs::validate::MAX_RULE_DESCRIPTION_CHARS;
pub use emulator::{Emulator, Reply};
pub use error::{ApiError, EmulatorError, KeySpecError, SeedError};
pub use faults::{FaultConfig, FaultConfigError};
pub use model::{Direction, GroupType};
pub use params::Params;
pub use persist::{
    GroupRecord, STATE_FORMAT_VERSION, SeedGroup, SeedRule, StateFile, load_state_file,
    save_state_file,
};
pub use request::ApiRequest;
pub use server::{EmulatorHandle, start};
pub use stats::{CallCounts, RegionStats, Stats};
pub use sts::{
    ACCOUNT_ID, MAX_SESSION_SECS, MIN_SESSION_SECS, OidcProvider, STS_VERSION, StsSpecError,
    check_role_arn, unsigned_token,
};
