//! berth-seccomp: the security settings the OCI runtime applies to a container's process
//! just before it executes the user's program: the seccomp filter (`linux.seccomp`,
//! built with libseccomp the way runc builds it), the seccomp notify listener hand-off,
//! and the five capability sets (`process.capabilities`, in [`caps`]). It also converts
//! Docker's own seccomp profile format into OCI form ([`docker_profile_to_oci`]).
//!
//! Order in the container's init, as runc does it: keep capabilities across the user
//! switch ([`caps::keep_caps`]), switch user, [`caps::apply`], set no_new_privs if asked,
//! then [`load`] the filter as late as possible, hand the listener (if any) to the agent
//! with [`send_listener`], and exec.

#![forbid(unsafe_code)]

pub mod caps;
mod default;
mod docker;
mod error;
mod filter;
mod listener;

pub use default::default_profile;
pub use docker::{docker_profile_to_oci, docker_profile_to_oci_for_kernel};
pub use error::SeccompError;
pub use filter::{build, compile, features, load, load_compiled, uses_notify, CompiledFilter};
pub use listener::{process_state_json, send_listener};
