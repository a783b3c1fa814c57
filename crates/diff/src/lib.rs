//! moat-diff: the diff of desired and live rules, and the plan.
//!
//! This crate owns `diff(desired, live) -> Plan`, the `Plan` type with its
//! saved-file form, and the views that render a plan (text, JSON, CSV,
//! Markdown) into a writer.
//!
//! It must not know about sockets, the API client, terminals (colour and
//! width are options the caller decides) or the clock (the caller passes
//! today's date).
#![warn(clippy::print_stdout, clippy::print_stderr)]
