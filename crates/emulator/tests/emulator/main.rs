//! The emulator over real HTTP on loopback: one test binary, one module per
//! area.

mod actions;
mod auth;
mod faults;
mod golden;
mod persistence;
mod sdk;
mod support;
mod tags;
mod vectors;
