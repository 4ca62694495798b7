//! Snapshots: copy-on-write root filesystems built from a chain of committed layers.
//!
//! A snapshot is *active* (writable, from `prepare`), a *view* (read-only, from `view`)
//! or *committed* (immutable, can be a parent; from `commit`). Snapshotters return the
//! [`Mount`]s that assemble a snapshot; [`mount_all`] performs them. Two
//! implementations: [`OverlaySnapshotter`] and the plain-copy fallback
//! [`CopySnapshotter`]. Metadata lives in one JSON file per snapshotter root, replaced
//! atomically under an flock (see `meta.rs`).

mod copy;
mod meta;
mod mount;
mod overlay;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use copy::CopySnapshotter;
pub use mount::{
    mount_all, mount_overlay_legacy, mount_overlay_using, overlay_api, unmount, MountGuard,
    OverlayApi,
};
pub use overlay::OverlaySnapshotter;

use crate::layer::diff::{Change, DiffError, DiffOptions, DiffResult};

/// One mount that, with the others of its list, assembles a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mount {
    /// File system type: "overlay", or "bind" for a bind mount.
    #[serde(rename = "type")]
    pub typ: String,
    /// Source ("overlay" for overlay, the directory for a bind).
    pub source: String,
    /// Where to mount, relative to the target given to `mount_all`; None = the target.
    pub target: Option<String>,
    /// Mount options, `mount -o` style ("ro", "rbind", "lowerdir=…").
    pub options: Vec<String>,
}

/// What kind of snapshot a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Active,
    View,
    Committed,
}

/// What `stat` and `list` report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub key: String,
    pub kind: Kind,
    pub parent: Option<String>,
    /// The snapshot's directory number under `snapshots/`.
    pub id: u64,
    /// Creation time, seconds since the epoch.
    pub created: u64,
}

/// Disk usage of a snapshot's own content (for overlay: its layer only; for copy: its
/// full tree, reflinked extents counted in full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Allocated bytes (st_blocks × 512), each inode counted once.
    pub size: u64,
    /// Distinct inodes, the root directory included.
    pub inodes: u64,
}

/// How whiteouts must be written into an `apply_target` directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutStyle {
    /// As overlay whiteouts (char 0:0) and opaque xattrs: the directory is an upper.
    Overlay,
    /// By deleting the whited-out paths: the directory is a full tree.
    Delete,
}

impl From<WhiteoutStyle> for crate::layer::apply::WhiteoutMode {
    fn from(s: WhiteoutStyle) -> Self {
        match s {
            WhiteoutStyle::Overlay => crate::layer::apply::WhiteoutMode::Overlay,
            WhiteoutStyle::Delete => crate::layer::apply::WhiteoutMode::Delete,
        }
    }
}

/// Where a layer is unpacked into an active snapshot (for pulls and loads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyTarget {
    pub dir: PathBuf,
    pub whiteouts: WhiteoutStyle,
}

/// Why a snapshot operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot {key:?} does not exist")]
    NotFound { key: String },
    #[error("snapshot {key:?} already exists")]
    AlreadyExists { key: String },
    #[error("snapshot {key:?} is {kind:?}, not committed: it cannot be a parent")]
    ParentNotCommitted { key: String, kind: Kind },
    #[error("snapshot {key:?} is {kind:?}, not active: only an active snapshot can be committed")]
    NotActive { key: String, kind: Kind },
    #[error("snapshot {key:?} has children ({}) and cannot be removed", children.join(", "))]
    HasChildren { key: String, children: Vec<String> },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("snapshot metadata {path} is corrupt: {source}")]
    Metadata {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("mounting {typ} on {target}: {source}")]
    Mount {
        typ: String,
        target: PathBuf,
        source: io::Error,
    },
    #[error("unmounting {target}: {source}")]
    Unmount { target: PathBuf, source: io::Error },
    #[error(transparent)]
    Diff(#[from] DiffError),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A store of snapshots. Keys are arbitrary strings chosen by the caller (containerd
/// style: a layer's chain id for committed layers, a container id for active ones).
pub trait Snapshotter: Send + Sync {
    /// Create a writable snapshot `key` over `parent` (a committed snapshot) and return
    /// the mounts that assemble it.
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError>;
    /// Create a read-only snapshot `key` of `parent`.
    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError>;
    /// Turn the active snapshot `key` into the committed snapshot `name` (`key` ceases
    /// to exist). Nothing may have it mounted any more.
    fn commit(&self, name: &str, key: &str) -> Result<(), SnapshotError>;
    /// Whether a layer can be applied into a snapshot prepared without its parent and
    /// stacked on the parent when committed ([`Snapshotter::commit_onto`]): true where
    /// an applied layer holds only its own changes (overlay), so a pull unpacks its
    /// layers in parallel, each as it downloads.
    fn stacks_on_commit(&self) -> bool {
        false
    }
    /// Commit active `key`, prepared without a parent, as `name` on top of `parent` (a
    /// committed snapshot). Only where [`Snapshotter::stacks_on_commit`]; elsewhere
    /// only a `parent` equal to the one `key` was prepared on is accepted.
    fn commit_onto(
        &self,
        name: &str,
        key: &str,
        parent: Option<&str>,
    ) -> Result<(), SnapshotError> {
        let info = self.stat(key)?;
        if info.parent.as_deref() != parent {
            return Err(SnapshotError::Io {
                path: PathBuf::from(key),
                source: io::Error::new(
                    io::ErrorKind::Unsupported,
                    "this snapshotter cannot change a snapshot's parent on commit",
                ),
            });
        }
        self.commit(name, key)
    }
    /// Remove a snapshot and its files. Refused while other snapshots have it as parent.
    fn remove(&self, key: &str) -> Result<(), SnapshotError>;
    /// The mounts for an existing active snapshot or view (again).
    fn mounts(&self, key: &str) -> Result<Vec<Mount>, SnapshotError>;
    fn stat(&self, key: &str) -> Result<Info, SnapshotError>;
    /// Every snapshot, sorted by key.
    fn list(&self) -> Result<Vec<Info>, SnapshotError>;
    fn usage(&self, key: &str) -> Result<Usage, SnapshotError>;
    /// The directory a layer tar is applied into for an active snapshot, and how
    /// whiteouts must be represented there.
    fn apply_target(&self, key: &str) -> Result<ApplyTarget, SnapshotError>;
    /// Write what snapshot `key` changed relative to its parent as a layer tar.
    fn diff(
        &self,
        key: &str,
        out: &mut dyn Write,
        opts: &DiffOptions,
    ) -> Result<DiffResult, SnapshotError>;
    /// What snapshot `key` changed relative to its parent, as `docker diff` lists it.
    fn changes(&self, key: &str) -> Result<Vec<Change>, SnapshotError>;
}

/// Disk usage of a directory tree (not crossing into other file systems).
pub(crate) fn dir_usage(root: &Path) -> Result<Usage, SnapshotError> {
    use std::collections::HashSet;
    use std::os::unix::fs::MetadataExt;
    let mut seen = HashSet::new();
    let mut u = Usage::default();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = std::fs::symlink_metadata(&p).map_err(io_err(&p))?;
        if md.nlink() > 1 && !md.is_dir() && !seen.insert((md.dev(), md.ino())) {
            continue;
        }
        u.inodes += 1;
        u.size += md.blocks() * 512;
        if md.is_dir() {
            for e in std::fs::read_dir(&p).map_err(io_err(&p))? {
                stack.push(e.map_err(io_err(&p))?.path());
            }
        }
    }
    Ok(u)
}
