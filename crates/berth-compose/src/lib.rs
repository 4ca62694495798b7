//! berth-compose: multi-container applications from a compose file.
//!
//! [`load`] reads a project's files (the Compose Specification, including files
//! written for `version: "2.x"`/`"3.x"`), merges overrides, resolves `extends`,
//! interpolates variables and normalises every short form into [`model::Project`].
//! The commands (`berth compose up/down/ps/…`) converge the daemon's containers,
//! networks and volumes to it over berth-client, labelled as docker compose labels
//! them, so that a project started by one tool is seen by the other.

#![forbid(unsafe_code)]

mod load;
pub mod model;

pub use load::{load, LoadError, LoadOptions};
pub mod cli;
mod commands;
pub mod convert;
pub mod labels;
pub mod logs;
pub mod state;
pub mod up;

pub use commands::{main, run};
