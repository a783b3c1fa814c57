//! moat-interchange: rules in and out of the formats of moat's neighbours.
//!
//! It owns reading security group rules from Terraform (state files of
//! format version 4 and `terraform show -json` output, child modules
//! included), from ROS templates (JSON or YAML) and from CSV whitelists,
//! into canonical groups and rules normalised the way moat normalises live
//! rules; writing an import as a policy (repeated networks as named address
//! sets) and, for Terraform, the migration file of `removed` blocks; and
//! writing canonical groups as Terraform HCL with `import` blocks, as a ROS
//! template, or as CSV. Every import error is typed and located in the
//! user's file.
//!
//! It knows the canonical model and the policy format of moat-policy and
//! nothing above it: no API client, no plans, no terminal. It takes text and
//! returns text; the CLI reads and writes the files.
#![warn(clippy::print_stdout, clippy::print_stderr)]

mod error;
mod fields;
mod hcl;
mod imported;
mod names;
mod policy;
mod ros;
mod terraform;
mod whitelist;

use std::collections::BTreeMap;

pub use error::{
    At, CsvError, ErrorKind, ExportError, ImportError, ImportErrors, JsonError, Location,
};
pub use imported::{Imported, ImportedGroup, ImportedRule, Source};
pub use policy::render_policy;
pub use ros::{import_ros, render_ros};
pub use terraform::{import_id, import_terraform, render_migration, render_terraform};
pub use whitelist::{CSV_HEADER, import_csv, render_csv};

/// What an import needs to know that the file may not say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// The region of groups whose region the file does not give.
    pub region: Option<String>,
    /// Security group ids for names a file can only refer to: a ROS
    /// template's logical ids of `ALIYUN::ECS::SecurityGroup` resources
    /// (created by the stack, so their ids are not in the template) and of
    /// parameters.
    pub group_ids: BTreeMap<String, String>,
}
