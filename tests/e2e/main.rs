//! End-to-end tests of the `moat` binary: one module per command, all run
//! through the functions in `common`, which pin the environment (no colour, a
//! fixed width, an empty home, no credentials) so that output is the same on
//! every machine and can be compared with golden files under `golden/`.
//!
//! Bless changed output locally with `MOAT_BLESS=1 cargo test --test e2e`.

mod accounts;
mod all_stages;
mod apply;
mod blast;
mod ci_docs;
mod cli;
mod cloud;
mod common;
mod doctor;
mod emulator;
mod explain;
mod hostile;
mod import;
mod interrupt;
mod lint;
mod lock;
mod plan;
mod policy_test;
mod prefetch;
mod progress;
mod ram_policy;
mod roles;
mod rollout;
mod shard;
mod show;
mod terminal;
mod tokens;
mod trust;
mod usage;
mod validate;
