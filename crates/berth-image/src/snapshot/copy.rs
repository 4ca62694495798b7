//! The plain-copy snapshotter, for hosts without overlay (or where the snapshot root
//! is on a file system overlay cannot use as upper). Every snapshot is a full tree in
//! `snapshots/<id>/fs`: `prepare` copies the parent's tree (reflinking file data with
//! FICLONE where the file system can, else copying it; owners, modes, xattrs, mtimes,
//! hardlinks, symlinks, devices and fifos preserved), mounts are bind mounts, and the
//! changes of a snapshot are the difference between its tree and its parent's.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Gid, Mode, Timestamps, Uid, CWD};

use super::meta::{Core, State};
use super::{
    dir_usage, io_err, ApplyTarget, Info, Kind, Mount, SnapshotError, Snapshotter, Usage,
    WhiteoutStyle,
};
use crate::layer::diff::{self, list_xattrs, Change, DiffOptions, DiffResult};

/// Snapshots as full directory copies under one root directory.
pub struct CopySnapshotter {
    core: Core,
}

impl CopySnapshotter {
    /// Open (creating if needed) the snapshotter rooted at `root`.
    pub fn open(root: &Path) -> Result<CopySnapshotter, SnapshotError> {
        Ok(CopySnapshotter {
            core: Core::open(root)?,
        })
    }

    pub fn root(&self) -> &Path {
        self.core.root()
    }

    fn fs_dir(&self, id: u64) -> PathBuf {
        self.core.dir(id).join("fs")
    }

    fn mounts_for(&self, st: &State, key: &str) -> Result<Vec<Mount>, SnapshotError> {
        let r = st.get(key)?;
        let (src, ro) = match r.kind {
            Kind::Active => (self.fs_dir(r.id), false),
            // A view shares its parent's immutable tree rather than copying it.
            Kind::View => match st.parent_ids(key)?.first() {
                Some(p) => (self.fs_dir(*p), true),
                None => (self.fs_dir(r.id), true),
            },
            Kind::Committed => (self.fs_dir(r.id), true),
        };
        Ok(vec![Mount {
            typ: "bind".into(),
            source: src.to_string_lossy().into_owned(),
            target: None,
            options: vec![if ro { "ro" } else { "rw" }.into(), "rbind".into()],
        }])
    }

    fn create(&self, key: &str, parent: Option<&str>, kind: Kind) -> Result<(), SnapshotError> {
        self.core.create(key, parent, kind, |dir, parent_dir| {
            let fsd = dir.join("fs");
            fs::create_dir(&fsd).map_err(io_err(&fsd))?;
            fs::set_permissions(&fsd, fs::Permissions::from_mode(0o755)).map_err(io_err(&fsd))?;
            match (kind, parent_dir) {
                (Kind::Active, Some(p)) => copy_tree(&p.join("fs"), &fsd),
                _ => Ok(()),
            }
        })
    }

    /// The parent's tree, or an empty directory for a snapshot without a parent.
    fn lower_of(&self, st: &State, key: &str) -> Result<PathBuf, SnapshotError> {
        Ok(match st.parent_ids(key)?.first() {
            Some(p) => self.fs_dir(*p),
            None => {
                let empty = self.core.root().join("empty");
                fs::create_dir_all(&empty).map_err(io_err(&empty))?;
                empty
            }
        })
    }
}

impl Snapshotter for CopySnapshotter {
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError> {
        self.create(key, parent, Kind::Active)?;
        self.mounts(key)
    }

    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError> {
        self.create(key, parent, Kind::View)?;
        self.mounts(key)
    }

    fn commit(&self, name: &str, key: &str) -> Result<(), SnapshotError> {
        self.core.commit(name, key).map(|_| ())
    }

    fn remove(&self, key: &str) -> Result<(), SnapshotError> {
        self.core.remove(key)
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>, SnapshotError> {
        let st = self.core.read()?;
        self.mounts_for(&st, key)
    }

    fn stat(&self, key: &str) -> Result<Info, SnapshotError> {
        self.core.read()?.info(key)
    }

    fn list(&self) -> Result<Vec<Info>, SnapshotError> {
        let st = self.core.read()?;
        st.snapshots.keys().map(|k| st.info(k)).collect()
    }

    fn usage(&self, key: &str) -> Result<Usage, SnapshotError> {
        let st = self.core.read()?;
        dir_usage(&self.fs_dir(st.get(key)?.id))
    }

    fn apply_target(&self, key: &str) -> Result<ApplyTarget, SnapshotError> {
        let st = self.core.read()?;
        Ok(ApplyTarget {
            dir: self.fs_dir(st.get(key)?.id),
            whiteouts: WhiteoutStyle::Delete,
        })
    }

    fn diff(
        &self,
        key: &str,
        out: &mut dyn Write,
        opts: &DiffOptions,
    ) -> Result<DiffResult, SnapshotError> {
        let st = self.core.read()?;
        let upper = self.fs_dir(st.get(key)?.id);
        let lower = self.lower_of(&st, key)?;
        Ok(diff::diff_dirs(&lower, &upper, out, opts)?)
    }

    fn changes(&self, key: &str) -> Result<Vec<Change>, SnapshotError> {
        let st = self.core.read()?;
        let upper = self.fs_dir(st.get(key)?.id);
        let lower = self.lower_of(&st, key)?;
        Ok(diff::changes_dirs(&lower, &upper)?)
    }
}

fn errno(path: &Path) -> impl FnOnce(rustix::io::Errno) -> SnapshotError + '_ {
    move |e| SnapshotError::Io {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// Copy the contents of `src` into the existing directory `dst`, then give `dst`
/// `src`'s metadata.
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<(), SnapshotError> {
    let mut links = HashMap::new();
    copy_dir_contents(src, dst, &mut links)?;
    let md = fs::symlink_metadata(src).map_err(io_err(src))?;
    copy_meta(src, dst, &md)
}

fn copy_dir_contents(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), SnapshotError> {
    for e in fs::read_dir(src).map_err(io_err(src))? {
        let e = e.map_err(io_err(src))?;
        let s = e.path();
        let d = dst.join(e.file_name());
        let md = fs::symlink_metadata(&s).map_err(io_err(&s))?;
        let ft = md.file_type();
        if !ft.is_dir() && md.nlink() > 1 {
            if let Some(first) = links.get(&(md.dev(), md.ino())) {
                fs::hard_link(first, &d).map_err(io_err(&d))?;
                continue;
            }
            links.insert((md.dev(), md.ino()), d.clone());
        }
        if ft.is_dir() {
            fs::create_dir(&d).map_err(io_err(&d))?;
            copy_dir_contents(&s, &d, links)?;
        } else if ft.is_file() {
            copy_file(&s, &d)?;
        } else if ft.is_symlink() {
            let t = fs::read_link(&s).map_err(io_err(&s))?;
            std::os::unix::fs::symlink(&t, &d).map_err(io_err(&d))?;
        } else {
            let typ = if ft.is_char_device() {
                FileType::CharacterDevice
            } else if ft.is_block_device() {
                FileType::BlockDevice
            } else if ft.is_fifo() {
                FileType::Fifo
            } else {
                FileType::Socket
            };
            rustix::fs::mknodat(CWD, &d, typ, Mode::from_raw_mode(0o600), md.rdev())
                .map_err(errno(&d))?;
        }
        copy_meta(&s, &d, &md)?;
    }
    Ok(())
}

fn copy_file(s: &Path, d: &Path) -> Result<(), SnapshotError> {
    let mut from = File::open(s).map_err(io_err(s))?;
    let mut to = File::options()
        .write(true)
        .create_new(true)
        .mode_private()
        .open(d)
        .map_err(io_err(d))?;
    if rustix::fs::ioctl_ficlone(&to, &from).is_ok() {
        return Ok(());
    }
    // std's copy uses copy_file_range, which shares extents where the fs supports it.
    std::io::copy(&mut from, &mut to).map_err(io_err(d))?;
    Ok(())
}

trait ModePrivate {
    fn mode_private(&mut self) -> &mut Self;
}

impl ModePrivate for fs::OpenOptions {
    fn mode_private(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

/// Owner, then mode (chown clears setuid bits), xattrs and times of `s` onto `d`.
fn copy_meta(s: &Path, d: &Path, md: &fs::Metadata) -> Result<(), SnapshotError> {
    rustix::fs::chownat(
        CWD,
        d,
        Some(Uid::from_raw(md.uid())),
        Some(Gid::from_raw(md.gid())),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(errno(d))?;
    let is_link = md.file_type().is_symlink();
    if !is_link {
        fs::set_permissions(d, fs::Permissions::from_mode(md.mode() & 0o7777))
            .map_err(io_err(d))?;
    }
    for (k, v) in list_xattrs(s).map_err(io_err(s))? {
        let name = std::ffi::OsStr::from_bytes(&k);
        rustix::fs::lsetxattr(d, name, &v, rustix::fs::XattrFlags::empty()).map_err(errno(d))?;
    }
    let ts = |sec: i64, nsec: i64| rustix::fs::Timespec {
        tv_sec: sec,
        tv_nsec: nsec as _,
    };
    let times = Timestamps {
        last_access: ts(md.atime(), md.atime_nsec()),
        last_modification: ts(md.mtime(), md.mtime_nsec()),
    };
    rustix::fs::utimensat(CWD, d, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(errno(d))
}
