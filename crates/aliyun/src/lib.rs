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
