//! The registry server, `berth registry serve`: the OCI distribution spec 1.1 (the
//! Docker Registry HTTP API v2) over HTTP/1.1 or HTTPS — blobs with `Range`, uploads
//! (monolithic, chunked, cross-repository mounts), manifests of every media type by
//! tag and digest, tag and repository listings with pagination, the referrers API —
//! with optional basic authentication (htpasswd, bcrypt), a read-only mode, and
//! deletion when asked for. `gc` is `berth registry gc`.
//!
//! Synchronous, like the daemon: a thread per connection over berth-http, so blobs
//! can go out with `sendfile(2)`. Storage is described in [`store`].

mod auth;
mod blobs;
mod error;
pub mod gc;
mod http;
mod listen;
mod lists;
mod manifest;
mod manifests;
mod names;
mod paginate;
mod range;
mod registry;
mod routes;
pub mod store;
mod tls;
mod uploads;

use std::path::PathBuf;

pub use error::{Code, RegistryError, ServeError, StoreError};
pub use listen::{serve, AccessLog, Server, ServerHandle};
pub use registry::Registry;

/// How a registry server runs: `berth registry serve`'s flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `host:port` to listen on (registry:2's `0.0.0.0:5000` by default).
    pub addr: String,
    /// Where blobs, manifests and upload sessions live.
    pub root: PathBuf,
    /// An htpasswd file of bcrypt entries: basic authentication on every request.
    pub htpasswd: Option<PathBuf>,
    /// PEM certificate chain and key: HTTPS instead of HTTP.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Refuse every write (405 UNSUPPORTED), as registry:2's read-only mode.
    pub read_only: bool,
    /// Allow deleting blobs and manifests (405 UNSUPPORTED otherwise, as registry:2).
    pub delete: bool,
}

/// The address registry:2 listens on.
pub const DEFAULT_ADDR: &str = "0.0.0.0:5000";
/// Where `berth registry` keeps its storage unless told otherwise.
pub const DEFAULT_ROOT: &str = "/var/lib/berth/registry";

impl Default for Options {
    fn default() -> Options {
        Options {
            addr: DEFAULT_ADDR.to_string(),
            root: PathBuf::from(DEFAULT_ROOT),
            htpasswd: None,
            tls_cert: None,
            tls_key: None,
            read_only: false,
            delete: false,
        }
    }
}
