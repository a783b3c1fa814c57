//! The integration tests of moat-diff, in one binary so they link once.

mod diff;
mod exposure;
mod file;
mod props;
mod support;
mod views;
