//! moat-emulator: the ECS security group API, served over loopback HTTP.
//!
//! This crate owns an in-memory model of regions, groups and rules, its own
//! signature verification written from the reference (never the client's
//! signer, so a bug in one shows up against the other), quotas, idempotent
//! ClientToken handling, persistence, injectable faults and call statistics.
//!
//! It must not know about policies, plans, the client or the CLI; it shares
//! only the wire types with the client.
#![warn(clippy::print_stdout, clippy::print_stderr)]
