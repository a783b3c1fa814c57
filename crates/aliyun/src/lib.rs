//! moat-aliyun: the client of the ECS security group API.
//!
//! This crate owns signing requests (signature version 1.0, as pure functions
//! over a request value built before it is sent), resolving credentials,
//! sending calls with timeouts, retries and a shared rate limit, classifying
//! errors, and converting between wire rules and canonical rules (in one
//! module).
//!
//! It must not know about plans, apply ordering, policies on disk or the
//! emulator. It reads neither the process environment nor the home
//! directory: the caller passes both in ([`CredentialInputs`]).
//!
//! # Using it
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use moat_aliyun::{
//!     AttemptLog, Client, ClientConfig, ClientToken, CredentialInputs, Environment,
//!     resolve_credentials,
//! };
//! use moat_policy::model::Direction;
//!
//! // The CLI gathers the inputs; the library only reads what it is given.
//! let env: Environment = std::env::vars().collect();
//! let inputs = CredentialInputs::new(env, std::env::home_dir());
//! let found = resolve_credentials(&inputs).await?;
//!
//! let mut config = ClientConfig::new("cn-hangzhou", found.provider);
//! config.max_rps = Some(5.0);
//! let log = Arc::new(AttemptLog::new()); // or the journal's own observer
//! let client = Client::new(&config)?.with_observer(log.clone());
//!
//! // Plan, drift and export hold only a ReadClient: no mutating call exists on it.
//! let reader = client.read_only();
//! let live = reader.describe_security_group_attribute("sg-123", None).await?;
//!
//! // Apply: a batch per call, a token per batch that stays the same on retries.
//! let adds: Vec<moat_policy::model::Rule> = Vec::new();
//! let token = ClientToken::new("plan-3f2a-sg-123-add-1")?;
//! if !adds.is_empty() {
//!     let done = client.authorize("sg-123", Direction::Ingress, &adds, &token).await?;
//!     println!("{} in {} attempts", done.request_id(), done.attempts());
//! }
//! # let _ = live;
//! # Ok(())
//! # }
//! ```
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod acs3;
pub mod actions;
pub mod client;
pub mod convert;
pub mod credentials;
pub mod endpoint;
pub mod error;
pub mod network;
pub mod observe;
pub mod ram;
pub mod ratelimit;
pub mod request;
pub mod response;
pub mod retry;
pub mod secret;
pub mod sign;
pub mod tls;

pub use actions::{
    GroupFilter, GroupSummary, MAX_GROUP_IDS_PER_FILTER, NewGroup, ResourceTag, RevokeReport,
};
pub use client::{Client, ClientConfig, InstanceFilter, InterfaceFilter, ReadClient};
pub use credentials::{
    CredentialError, CredentialInputs, CredentialProvider, CredentialSource, Credentials,
    Environment, ResolvedCredentials, resolve_credentials,
};
pub use error::{ApiError, CallError, CallErrorKind, ConfigError};
pub use moat_wire as wire;
pub use network::{EipBinding, EipInfo, InstanceInfo, InterfaceInfo, UnreadableField, VSwitchInfo};
pub use observe::{AttemptLog, AttemptObserver, AttemptOutcome, AttemptRecord, CallInfo, Outcome};
pub use ratelimit::{AdaptiveRate, RateMode, RateStats, RegionRate};
pub use request::{
    ApiRequest, ClientToken, RequestStamp, RpcCall, SignatureVersion, SignedParts, SignedRequest,
};
pub use retry::RetryPolicy;
pub use secret::Secret;
