//! berth-runtime: the OCI runtime library. An OCI bundle (config.json + rootfs) in, a
//! running container out; plus runc's command line over it ([`cli::main`]).

#![forbid(unsafe_code)]

pub mod cli;
pub mod container;
pub mod defaults;
pub mod error;
pub mod foreground;
pub mod hooks;
pub mod init;
pub mod log;
pub mod process;
pub mod rootfs;
pub mod sealed;
pub mod shim;
pub mod spec;
pub mod state;

pub use error::{Result, RuntimeError};
