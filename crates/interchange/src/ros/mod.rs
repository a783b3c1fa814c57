//! ROS (Resource Orchestration Service) templates: rules in and out.

mod read;
mod tree;
mod write;

pub use read::import_ros;
pub use write::render_ros;
