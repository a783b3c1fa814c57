//! The emulator over real HTTP on loopback: one test binary, one module per
//! area.

mod acs3;
mod actions;
mod auth;
mod connections;
mod faults;
mod golden;
mod interop;
mod modify;
mod network;
mod persistence;
mod sdk;
mod sdk_network;
mod sts;
mod support;
mod tags;
mod vectors;
