//! berth-engine: the daemon's services — what a container, an image or a network *is*
//! to berth and what doing something to one means — with no HTTP in sight. The daemon
//! crate puts the Docker Engine API in front of it.
//!
//! [`spec`] turns a Docker create request and an image config into the OCI runtime
//! spec `berth-runc` runs.

#![forbid(unsafe_code)]

pub mod api;
pub mod build;
mod containers;
pub mod engine;
pub mod events;
mod exec;
mod health;
pub mod images;
mod names;
mod networks;
mod shim;
pub mod spec;
pub mod stats;
pub mod store;
pub mod system;
pub mod timefmt;
pub mod top;
pub mod volumes;

pub use api::{BoxError, Engine, EngineError, EngineResult};
pub use berth_network::firewall::Backend as FirewallBackend;
/// The registry client's settings, as the engine takes them.
pub use berth_registry::client as registry;
pub use engine::{EngineConfig, LocalEngine};
