//! The emulator over real HTTP on loopback: one test binary, one module per
//! area.

mod actions;
mod auth;
mod faults;
mod golden;
mod network;
mod persistence;
mod sdk;
mod sdk_network;
mod support;
mod tags;
mod vectors;
