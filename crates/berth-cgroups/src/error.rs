//! `CgroupError`: every failure names the file, directory or value involved.

use std::io;
use std::path::PathBuf;

/// A cgroup operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A value the kernel (or the filesystem) refused.
    #[error("writing {value:?} to {}: {}", path.display(), os_text(error))]
    Write {
        path: PathBuf,
        value: String,
        error: io::Error,
    },
    /// A control file that could not be read.
    #[error("reading {}: {}", path.display(), os_text(error))]
    Read { path: PathBuf, error: io::Error },
    /// A control file whose content did not parse.
    #[error("parsing {}: {reason} (content {content:?})", path.display())]
    Parse {
        path: PathBuf,
        content: String,
        reason: String,
    },
    /// A cgroup directory that could not be created.
    #[error("creating cgroup {}: {}", path.display(), os_text(error))]
    Mkdir { path: PathBuf, error: io::Error },
    /// A cgroup directory that could not be removed.
    #[error("removing cgroup {}: {}", path.display(), os_text(error))]
    Remove { path: PathBuf, error: io::Error },
    /// The resource needs a controller this host does not offer.
    #[error("cannot set {resource}: the {controller} cgroup controller is not available on this host ({layout})")]
    ControllerUnavailable {
        controller: String,
        resource: String,
        layout: String,
    },
    /// The controller is there, but not the knob asked for.
    #[error("cannot set {resource}: {} does not exist{}", path.display(), if hint.is_empty() { String::new() } else { format!(" ({hint})") })]
    Unsupported {
        resource: String,
        path: PathBuf,
        hint: String,
    },
    /// A value in the resources that cannot be right whatever the host.
    #[error("invalid {what}: {reason}")]
    InvalidInput { what: String, reason: String },
    /// A cgroups path that cannot be used.
    #[error("invalid cgroups path {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },
    /// memory.limit_in_bytes refused a limit below what the cgroup already uses.
    #[error("unable to set memory limit to {limit} in {} (current usage: {usage}, peak usage: {peak})", path.display())]
    MemoryInUse {
        path: PathBuf,
        limit: i64,
        usage: u64,
        peak: u64,
    },
    /// The cgroup layout could not be worked out from the mount table.
    #[error("detecting the cgroup layout: {0}")]
    Layout(String),
    /// A bpf(2) step of the cgroup v2 device filter failed.
    #[error("{op} on {}: {detail}", path.display())]
    Bpf {
        op: &'static str,
        path: PathBuf,
        detail: String,
    },
    /// A descriptor to watch the cgroup's memory events could not be set up.
    #[error("watching {} for OOM kills: {}", path.display(), os_text(error))]
    Watch { path: PathBuf, error: io::Error },
    /// The freezer did not reach the state asked for.
    #[error("{}: {detail}", path.display())]
    Freezer { path: PathBuf, detail: String },
}

impl CgroupError {
    /// The errno behind the error, if it came from the kernel.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            CgroupError::Write { error, .. }
            | CgroupError::Read { error, .. }
            | CgroupError::Mkdir { error, .. }
            | CgroupError::Remove { error, .. }
            | CgroupError::Watch { error, .. } => error.raw_os_error(),
            _ => None,
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> CgroupError {
        CgroupError::InvalidInput {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// "Invalid argument" rather than "Invalid argument (os error 22)": the path
/// and value already say where; the errno number adds nothing for a user.
pub(crate) fn os_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_error_names_file_value_and_reason() {
        let e = CgroupError::Write {
            path: "/sys/fs/cgroup/memory/x/memory.limit_in_bytes".into(),
            value: "12345".into(),
            error: io::Error::from_raw_os_error(libc::EINVAL),
        };
        assert_eq!(
            e.to_string(),
            "writing \"12345\" to /sys/fs/cgroup/memory/x/memory.limit_in_bytes: Invalid argument"
        );
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }
}
