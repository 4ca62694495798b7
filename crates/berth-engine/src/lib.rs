//! berth-engine: the daemon's services — what a container, an image or a network *is*
//! to berth and what doing something to one means — with no HTTP in sight. The daemon
//! crate puts the Docker Engine API in front of it.
//!
//! [`spec`] turns a Docker create request and an image config into the OCI runtime
//! spec `berth-runc` runs.

pub mod api;
pub mod engine;
pub mod images;
pub mod spec;
pub mod stats;
pub mod system;
pub mod top;

pub use api::{Engine, EngineError, EngineResult};
pub use engine::{EngineConfig, LocalEngine};
