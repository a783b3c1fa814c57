//! The integration tests of moat-aliyun, in one binary so the crate and its
//! dependencies are linked once.

mod acs3;
mod adaptive;
mod credentials;
mod emulator;
mod metadata_server;
mod network;
mod roles;
mod scripted;
mod scripted_calls;
mod secrets;
mod signature;
mod tls;
