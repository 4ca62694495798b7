//! Copying out of and into a container's filesystem (`docker cp`, the archive
//! endpoints), safe against a container that changes its tree while we copy.
//!
//! Paths are container paths, resolved below `root` (the container's root directory,
//! given as a descriptor) exactly as the kernel would resolve them with `root` as `/`:
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`. An absolute symlink, a `..`
//! chain or a symlink swapped in mid-copy can therefore never lead outside `root`
//! (CVE-2018-15664); the walk that reads a tree never follows anything
//! ([`crate::archive::tree`]) and the extraction places every entry the same way
//! ([`crate::layer::apply_layer`] rooted at the container). Nothing from the container
//! is run or loaded (CVE-2019-14271): owners stay numeric, no name service is asked.
//!
//! Path semantics follow Docker's: the directory part of a path is resolved (symlinks
//! followed, inside the root), its last element is not, unless the path ends in `/` or
//! `/.`, which name the directory itself.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::archive::tree::{pseudo_fs, TreeOptions, TreeWriter};
use crate::archive::ArchiveError;
use berth_sys::open_in_root;

use crate::layer::apply::{apply_layer, ApplyError, ApplyOptions, WhiteoutMode};

/// What `HEAD /containers/{id}/archive` reports about a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    /// The last element of the path as asked (`/` for the root).
    pub name: String,
    pub size: i64,
    /// `st_mode`: file type and permission bits.
    pub mode: u32,
    pub mtime_sec: i64,
    pub mtime_nsec: u32,
    /// For a symlink: the absolute container path it finally resolves to.
    pub link_target: String,
}

/// Why a copy failed; every case names the container path.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("Could not find the file {path} in container")]
    NotFound { path: String },
    #[error("{path}: not a directory")]
    NotADirectory { path: String },
    #[error("{path}: {op}: {source}")]
    Io {
        path: String,
        op: &'static str,
        source: io::Error,
    },
    /// `on_root`: the read-only mount is the container's root, not one mounted on it.
    #[error("{path}: the destination is on a read-only file system")]
    ReadOnly { path: String, on_root: bool },
    #[error("{path}: copying into a {fs} file system is refused")]
    PseudoFs { path: String, fs: &'static str },
    #[error("{0}")]
    Archive(#[from] ArchiveError),
    #[error("extracting: {0}")]
    Extract(#[from] ApplyError),
}

impl CopyError {
    fn from_errno(path: &str, op: &'static str, e: Errno) -> CopyError {
        match e {
            Errno::NOENT => CopyError::NotFound {
                path: path.to_string(),
            },
            Errno::NOTDIR => CopyError::NotADirectory {
                path: path.to_string(),
            },
            e => CopyError::Io {
                path: path.to_string(),
                op,
                source: e.into(),
            },
        }
    }
}

/// A container path split Docker's way.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Split {
    /// The absolute, lexically cleaned path, with a trailing `/` or `/.` kept.
    abs: String,
    /// Its directory part, relative to the root (resolved, symlinks followed).
    dir: String,
    /// Its last element (not followed); `None` when the path names a directory by
    /// itself: `/`, `…/`, `…/.`.
    base: Option<String>,
    /// `base` when there is one, else what `abs` ends with: `/` for the root, the
    /// directory's own name for `…/`, `.` for `…/.`.
    name: String,
}

impl Split {
    /// The cleaned absolute path of what is named, without a trailing `/` or `/.`.
    fn inside(&self) -> String {
        match (&self.base, self.dir.as_str()) {
            (Some(b), "") => format!("/{b}"),
            (Some(b), d) => format!("/{d}/{b}"),
            (None, d) => format!("/{d}"),
        }
    }
}

fn split(path: &str) -> Split {
    let mut comps: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                comps.pop();
            }
            c => comps.push(c),
        }
    }
    let dot = path == "." || path.ends_with("/.");
    let slash = !dot && path.ends_with('/');
    let mut abs = format!("/{}", comps.join("/"));
    if dot {
        abs.push_str(if abs == "/" { "." } else { "/." });
    } else if slash && abs != "/" {
        abs.push('/');
    }
    if dot || slash || comps.is_empty() {
        let name = if dot {
            ".".to_string()
        } else {
            comps.last().map_or("/", |c| c).to_string()
        };
        Split {
            abs,
            dir: comps.join("/"),
            base: None,
            name,
        }
    } else {
        let base = comps.pop().expect("not empty").to_string();
        Split {
            abs,
            dir: comps.join("/"),
            base: Some(base.clone()),
            name: base,
        }
    }
}

/// What a path names: an `O_PATH` descriptor of it (not followed when it has a base)
/// and its stat.
struct Target {
    fd: OwnedFd,
    st: rustix::fs::Stat,
}

fn open_target(root: BorrowedFd<'_>, s: &Split) -> Result<Target, CopyError> {
    let err = |op, e| CopyError::from_errno(&s.abs, op, e);
    let dir = open_in_root(root, Path::new(&s.dir), OFlags::PATH | OFlags::DIRECTORY)
        .map_err(|e| err("resolve", e))?;
    match &s.base {
        None => {
            let st = rustix::fs::fstat(&dir).map_err(|e| err("stat", e))?;
            Ok(Target { fd: dir, st })
        }
        Some(base) => {
            let fd = rustix::fs::openat(
                &dir,
                base.as_str(),
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| err("open", e))?;
            let st = rustix::fs::fstat(&fd).map_err(|e| err("stat", e))?;
            Ok(Target { fd, st })
        }
    }
}

fn stat_of(root: BorrowedFd<'_>, s: &Split, t: &Target) -> Result<PathStat, CopyError> {
    let link_target = if FileType::from_raw_mode(t.st.st_mode) == FileType::Symlink {
        resolve_in_root(root, &s.inside())
            .map_err(|e| CopyError::from_errno(&s.abs, "resolve", e))?
    } else {
        String::new()
    };
    Ok(PathStat {
        name: s.name.clone(),
        size: t.st.st_size,
        mode: t.st.st_mode,
        mtime_sec: t.st.st_mtime,
        mtime_nsec: t.st.st_mtime_nsec as u32,
        link_target,
    })
}

/// `HEAD …/archive`: what `path` names inside `root`.
pub fn stat_path(root: BorrowedFd<'_>, path: &str) -> Result<PathStat, CopyError> {
    let s = split(path);
    let t = open_target(root, &s)?;
    stat_of(root, &s, &t)
}

/// `GET …/archive`: a tar of what `path` names, with the stat of it, written to `out`.
/// The top entry takes the path's last element as its name (`./…` for `…/.`); what
/// `opts.skip_mounted` names is archived without its contents.
///
/// The stat comes back before any byte is written, through `started`, so a caller can
/// send it ahead of the stream; errors after that have been partly written.
pub fn archive_path(
    root: BorrowedFd<'_>,
    path: &str,
    opts: TreeOptions,
    started: &mut dyn FnMut(&PathStat) -> io::Result<()>,
    out: &mut dyn Write,
) -> Result<PathStat, CopyError> {
    let s = split(path);
    let t = open_target(root, &s)?;
    let stat = stat_of(root, &s, &t)?;
    // The top entry's name: what was asked for, not where a symlink led (`/` for the
    // root, whose entries then all start with `/`, as Docker writes them).
    let top = PathBuf::from(&s.name);
    started(&stat).map_err(|e| CopyError::Io {
        path: s.abs.clone(),
        op: "send",
        source: e,
    })?;
    let mut tw = TreeWriter::new(out, opts);
    tw.add_fd(t.fd.as_fd(), &top, Path::new(&s.inside()))?;
    let (w, _) = tw.finish()?;
    w.flush().map_err(|e| CopyError::Io {
        path: s.abs.clone(),
        op: "send",
        source: e,
    })?;
    Ok(stat)
}

/// How [`extract_into`] treats what it finds.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions {
    /// Refuse to replace a directory by a non-directory or the other way round.
    pub no_overwrite_dir_non_dir: bool,
    /// Keep the archive's owners; otherwise everything belongs to root (0:0).
    pub copy_uid_gid: bool,
}

/// `PUT …/archive`: extracts the tar read from `r` into the directory `path` names
/// inside the container whose root directory is `root` (a path, possibly
/// `/proc/PID/root`). The directory must exist; symlinks on the way to it, and in the
/// archive's own entries, resolve inside `root`. `.wh.` names are ordinary names here.
pub fn extract_into(
    root: &Path,
    path: &str,
    r: impl Read,
    opts: ExtractOptions,
) -> Result<(), CopyError> {
    let s = split(path);
    let root_fd = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| CopyError::Io {
        path: root.display().to_string(),
        op: "open the container's root",
        source: e.into(),
    })?;
    // The destination, every symlink (the last one too) resolved inside the root.
    let inside = s.inside();
    let dest = open_in_root(
        root_fd.as_fd(),
        Path::new(inside.trim_start_matches('/')),
        OFlags::PATH,
    )
    .map_err(|e| CopyError::from_errno(&s.abs, "resolve", e))?;
    let st = rustix::fs::fstat(&dest).map_err(|e| CopyError::from_errno(&s.abs, "stat", e))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Err(CopyError::NotADirectory { path: s.abs });
    }
    if let Some(fs) = pseudo_fs(dest.as_fd()) {
        return Err(CopyError::PseudoFs { path: s.abs, fs });
    }
    if let Ok(vfs) = rustix::fs::fstatvfs(&dest) {
        if vfs.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY) {
            let on_root = matches!(
                (mount_id(root_fd.as_fd()), mount_id(dest.as_fd())),
                (Some(a), Some(b)) if a == b
            );
            return Err(CopyError::ReadOnly {
                path: s.abs,
                on_root,
            });
        }
    }
    drop(dest);
    // Entries land below the destination as the caller named it: resolved again for
    // each entry, inside the root, so a swap made now still cannot lead out.
    let under = inside.trim_start_matches('/').as_bytes().to_vec();
    let apply = ApplyOptions {
        whiteout_mode: WhiteoutMode::Literal,
        ignore_owners: !opts.copy_uid_gid,
        no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
        under,
        ..ApplyOptions::default()
    };
    use std::os::fd::AsRawFd;
    let root_path = PathBuf::from(format!("/proc/self/fd/{}", root_fd.as_raw_fd()));
    apply_layer(&root_path, r, &apply)?;
    Ok(())
}

fn mount_id(fd: BorrowedFd<'_>) -> Option<u64> {
    let st = rustix::fs::statx(
        fd,
        "",
        rustix::fs::AtFlags::EMPTY_PATH,
        rustix::fs::StatxFlags::MNT_ID,
    )
    .ok()?;
    (st.stx_mask & rustix::fs::StatxFlags::MNT_ID.bits() != 0).then_some(st.stx_mnt_id)
}

/// Resolves every symlink of the absolute container path `path` inside `root` (as
/// the kernel would with `root` as `/`), for reporting where a link leads. Components
/// that do not exist are kept as they are.
pub fn resolve_in_root(root: BorrowedFd<'_>, path: &str) -> Result<String, Errno> {
    let mut todo: Vec<Vec<u8>> = path
        .split('/')
        .rev()
        .filter(|c| !c.is_empty())
        .map(|c| c.as_bytes().to_vec())
        .collect();
    let mut done: Vec<Vec<u8>> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        match c.as_slice() {
            b"." => continue,
            b".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let parent = done.join(&b'/');
        let dir = match open_in_root(
            root,
            Path::new(OsStr::from_bytes(&parent)),
            OFlags::PATH | OFlags::DIRECTORY,
        ) {
            Ok(d) => d,
            Err(Errno::NOENT | Errno::NOTDIR) => {
                done.push(c);
                continue;
            }
            Err(e) => return Err(e),
        };
        match rustix::fs::readlinkat(&dir, OsStr::from_bytes(&c), Vec::new()) {
            Ok(target) => {
                links += 1;
                if links > 40 {
                    return Err(Errno::LOOP);
                }
                let t = target.as_bytes();
                if t.starts_with(b"/") {
                    done.clear();
                }
                for part in t.split(|&b| b == b'/').rev().filter(|p| !p.is_empty()) {
                    todo.push(part.to_vec());
                }
            }
            Err(Errno::INVAL | Errno::NOENT) => done.push(c),
            Err(e) => return Err(e),
        }
    }
    Ok(format!("/{}", String::from_utf8_lossy(&done.join(&b'/'))))
}

/// Opens `root` (a directory path) for the in-root helpers below.
pub fn open_root_dir(root: &Path) -> Result<OwnedFd, CopyError> {
    rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| CopyError::Io {
        path: root.display().to_string(),
        op: "open the root",
        source: e.into(),
    })
}

/// What `path` is inside `root`, every symlink (the last one too) resolved inside
/// it; None when nothing is there.
pub fn file_type_in_root(root: BorrowedFd<'_>, path: &str) -> Result<Option<FileType>, CopyError> {
    match open_in_root(root, Path::new(path.trim_start_matches('/')), OFlags::PATH) {
        Ok(fd) => {
            let st = rustix::fs::fstat(&fd).map_err(|e| CopyError::from_errno(path, "stat", e))?;
            Ok(Some(FileType::from_raw_mode(st.st_mode)))
        }
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(CopyError::from_errno(path, "resolve", e)),
    }
}

/// `mkdir -p` inside `root`: every missing directory of `path` is made (mode 0755,
/// owned by `uid:gid`), symlinks on the way resolved inside the root. Existing
/// directories are left as they are.
pub fn make_dirs_in_root(
    root: BorrowedFd<'_>,
    path: &str,
    uid: u32,
    gid: u32,
) -> Result<(), CopyError> {
    let mut done = String::new();
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        let parent = open_in_root(root, Path::new(&done), OFlags::PATH | OFlags::DIRECTORY)
            .map_err(|e| CopyError::from_errno(&format!("/{done}"), "resolve", e))?;
        let here = if done.is_empty() {
            part.to_string()
        } else {
            format!("{done}/{part}")
        };
        match rustix::fs::mkdirat(&parent, part, Mode::from_raw_mode(0o755)) {
            Ok(()) => {
                rustix::fs::chownat(
                    &parent,
                    part,
                    Some(rustix::process::Uid::from_raw(uid)),
                    Some(rustix::process::Gid::from_raw(gid)),
                    rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|e| CopyError::from_errno(&format!("/{here}"), "chown", e))?;
                // mkdir's mode went through the umask.
                rustix::fs::chmodat(
                    &parent,
                    part,
                    Mode::from_raw_mode(0o755),
                    rustix::fs::AtFlags::empty(),
                )
                .map_err(|e| CopyError::from_errno(&format!("/{here}"), "chmod", e))?;
            }
            Err(Errno::EXIST) => {}
            Err(e) => return Err(CopyError::from_errno(&format!("/{here}"), "mkdir", e)),
        }
        done = here;
    }
    Ok(())
}

/// Reads a small file (at most `limit` bytes) inside `root`; None when it is missing.
pub fn read_in_root(
    root: BorrowedFd<'_>,
    path: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>, CopyError> {
    match open_in_root(
        root,
        Path::new(path.trim_start_matches('/')),
        OFlags::RDONLY,
    ) {
        Ok(fd) => {
            let mut out = Vec::new();
            std::fs::File::from(fd)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| CopyError::Io {
                    path: path.to_string(),
                    op: "read",
                    source: e,
                })?;
            Ok(Some(out))
        }
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(CopyError::from_errno(path, "open", e)),
    }
}

#[cfg(test)]
mod tests;
