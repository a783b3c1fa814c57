//! Terraform: reading `alicloud_security_group_rule` resources from states
//! and `terraform show -json`, writing them back as HCL with `import`
//! blocks, and the `removed` blocks that hand rules over to moat.

mod read;
mod write;

pub use read::import_terraform;
pub(crate) use write::{group_labels, rule_words};
pub use write::{import_id, render_migration, render_terraform};
