//! moat-exec: reading live state for plan, drift and export, and applying.
//!
//! This crate owns exporting live groups through the client, checking a saved
//! plan for staleness, the guards, ordering and batching of apply, ClientTokens
//! derived from the plan, concurrency, snapshots and the journal.
//!
//! It must not know about YAML parsing, rendering or the command line.
#![warn(clippy::print_stdout, clippy::print_stderr)]
