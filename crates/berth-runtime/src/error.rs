//! The runtime's error type: what failed, with the path, container id or value at fault.

use std::path::PathBuf;

/// Everything berth-runtime can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A system call or file operation failed; `context` says on what.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The bundle's config.json is unreadable or invalid.
    #[error("invalid bundle config {path}: {msg}")]
    InvalidConfig { path: PathBuf, msg: String },
    /// No container of that id exists under the runtime's root.
    #[error("container does not exist: {0}")]
    NotFound(String),
    /// A container with that id already exists.
    #[error("container with id exists: {0}")]
    Exists(String),
    /// The container is in a state that does not allow the operation.
    #[error("container {id} is {status}: {msg}")]
    BadState {
        id: String,
        status: String,
        msg: String,
    },
    /// cgroup setup or control failed.
    #[error(transparent)]
    Cgroup(#[from] berth_cgroups::CgroupError),
    /// The seccomp filter could not be built or loaded.
    #[error(transparent)]
    Seccomp(#[from] berth_seccomp::SeccompError),
    /// Capabilities could not be parsed or applied.
    #[error(transparent)]
    Caps(#[from] berth_seccomp::caps::CapsError),
    /// A hook failed or timed out.
    #[error("{kind} hook {path}: {msg}")]
    Hook {
        kind: &'static str,
        path: PathBuf,
        msg: String,
    },
    /// The container's init reported a failure while setting up.
    #[error("{0}")]
    Init(String),
    /// A bad command-line argument or value.
    #[error("{0}")]
    Usage(String),
}

pub type Result<T> = std::result::Result<T, RuntimeError>;

/// Attach context to an `io::Result`.
pub trait Context<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T>;
}

impl<T> Context<T> for std::io::Result<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|source| RuntimeError::Io {
            context: f(),
            source,
        })
    }
}

impl<T> Context<T> for rustix::io::Result<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|e| RuntimeError::Io {
            context: f(),
            source: e.into(),
        })
    }
}
