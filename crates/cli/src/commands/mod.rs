//! One module per subcommand. Each reads its own arguments and the shared
//! ones in `args`, and calls the shared helpers; none imports another.

pub mod apply;
pub mod doctor;
pub mod drift;
pub mod emulator;
pub mod explain;
pub mod export;
pub mod import;
pub mod lint;
pub mod plan;
pub mod ram_policy;
pub mod report;
pub mod show;
pub mod test;
pub mod unlock;
pub mod validate;
