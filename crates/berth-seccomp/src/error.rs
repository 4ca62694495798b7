//! The error type of seccomp filter building, loading and listener hand-off.

use std::io;
use std::path::PathBuf;

/// What went wrong turning `linux.seccomp` into a loaded filter.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// libseccomp (and the kernel) refuse a notify default action.
    #[error("seccomp: SCMP_ACT_NOTIFY cannot be used as the default action")]
    NotifyAsDefault,
    /// `errnoRet` / `defaultErrnoRet` does not fit the 16 bits of SECCOMP_RET_DATA.
    #[error("seccomp: errnoRet {value} of {what} is out of range (0..=65535)")]
    ErrnoRetOutOfRange {
        /// "the default action" or "syscall NAME".
        what: String,
        /// The configured value.
        value: u32,
    },
    /// A condition names an argument a syscall cannot have.
    #[error("seccomp: syscall {syscall}: argument index {index} is out of range (0..=5)")]
    ArgIndexOutOfRange {
        /// The syscall (or syscall group) the condition belongs to.
        syscall: String,
        /// The configured index.
        index: usize,
    },
    /// libseccomp rejected an operation; `what` says which one.
    #[error("seccomp: {what}: {source}")]
    Libseccomp {
        /// The operation, naming the syscall, architecture or flag involved.
        what: String,
        /// libseccomp's error.
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// Exporting or loading a compiled BPF program failed.
    #[error("seccomp: {what}: {source}")]
    Program {
        /// The operation.
        what: String,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// Copying the notify listener out of libseccomp failed.
    #[error("seccomp: taking the notify listener fd: {0}")]
    ListenerFd(#[source] io::Error),
    /// Connecting or sending to the seccomp agent's socket failed.
    #[error("seccomp: sending the notify listener to {path}: {source}")]
    SendListener {
        /// `linux.seccomp.listenerPath`.
        path: PathBuf,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// Serialising the container process state failed.
    #[error("seccomp: encoding the container process state: {0}")]
    ProcessState(String),
    /// The Docker seccomp profile is not valid JSON of the expected shape.
    #[error("docker seccomp profile: {0}")]
    ProfileJson(#[source] serde_json::Error),
    /// The Docker seccomp profile is well-formed JSON but its content is invalid.
    #[error("docker seccomp profile: {0}")]
    Profile(String),
}

impl SeccompError {
    pub(crate) fn lib(
        what: impl Into<String>,
    ) -> impl FnOnce(libseccomp::error::SeccompError) -> Self {
        let what = what.into();
        move |source| SeccompError::Libseccomp { what, source }
    }
}
