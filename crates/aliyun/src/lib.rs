//! moat-aliyun: the client of the ECS security group API.
//!
//! This crate owns signing requests (signature version 1.0, as pure functions
//! over a request value built before it is sent), resolving credentials,
//! sending calls with timeouts, retries and a shared rate limit, classifying
//! errors, and converting between wire rules and canonical rules (in one
//! module).
//!
//! It must not know about plans, apply ordering, policies on disk or the
//! emulator.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod actions;
pub mod client;
pub mod convert;
pub mod credentials;
pub mod endpoint;
pub mod error;
pub mod observe;
pub mod ratelimit;
pub mod request;
pub mod response;
pub mod retry;
pub mod secret;
pub mod sign;

pub use actions::{GroupFilter, GroupSummary, NewGroup, RevokeReport};
pub use client::{Client, ClientConfig, ReadClient};
pub use credentials::{
    CredentialError, CredentialInputs, CredentialProvider, CredentialSource, Credentials,
    Environment, ResolvedCredentials, resolve_credentials,
};
pub use error::{ApiError, CallError, CallErrorKind, ConfigError};
pub use moat_wire as wire;
pub use observe::{AttemptLog, AttemptObserver, AttemptOutcome, AttemptRecord, CallInfo, Outcome};
pub use request::{ApiRequest, ClientToken, RequestStamp, SignedRequest};
pub use retry::RetryPolicy;
pub use secret::Secret;
