//! Docker's copy-up: a volume mounted for the first time while empty is filled with
//! what the image has at the mount's destination, owners, modes, times, links and
//! special files kept, so `VOLUME /data` over an image's /data starts with its files.
//!
//! The source is the container's root filesystem on the host, which the image (and
//! so a stranger) controls: nothing in it is followed — symlinks are copied as
//! symlinks — and the caller resolves the destination inside the root.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, Timespec, Timestamps, CWD};

/// Whether `dir` has no entries (a missing directory counts as empty).
pub fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut rd| rd.next().is_none())
}

/// Copies the tree under `src` into the empty directory `dst`, and gives `dst` the
/// owner and mode of `src`. Does nothing when `src` is not a directory.
pub fn copy_up(src: &Path, dst: &Path) -> io::Result<()> {
    let md = match std::fs::symlink_metadata(src) {
        Ok(md) if md.is_dir() => md,
        _ => return Ok(()),
    };
    let mut links = HashMap::new();
    copy_dir_contents(src, dst, &mut links)?;
    set_owner_mode_times(dst, &md)
}

fn ctx<'a>(what: &'a str, p: &'a Path) -> impl FnOnce(io::Error) -> io::Error + 'a {
    move |e| io::Error::new(e.kind(), format!("{what} {}: {e}", p.display()))
}

fn copy_dir_contents(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), std::path::PathBuf>,
) -> io::Result<()> {
    for entry in std::fs::read_dir(src).map_err(ctx("reading", src))? {
        let entry = entry.map_err(ctx("reading", src))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let md = std::fs::symlink_metadata(&from).map_err(ctx("reading", &from))?;
        let ft = md.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&to).map_err(ctx("creating", &to))?;
            copy_dir_contents(&from, &to, links)?;
            set_owner_mode_times(&to, &md)?;
            continue;
        }
        if md.nlink() > 1 {
            if let Some(first) = links.get(&(md.dev(), md.ino())) {
                std::fs::hard_link(first, &to).map_err(ctx("linking", &to))?;
                continue;
            }
            links.insert((md.dev(), md.ino()), to.clone());
        }
        if ft.is_symlink() {
            let target = std::fs::read_link(&from).map_err(ctx("reading", &from))?;
            std::os::unix::fs::symlink(&target, &to).map_err(ctx("creating", &to))?;
        } else if ft.is_file() {
            copy_file(&from, &to)?;
        } else {
            let kind = FileType::from_raw_mode(md.mode());
            rustix::fs::mknodat(
                CWD,
                &to,
                kind,
                Mode::from_raw_mode(md.mode() & 0o7777),
                md.rdev(),
            )
            .map_err(io::Error::from)
            .map_err(ctx("creating", &to))?;
        }
        set_owner_mode_times(&to, &md)?;
    }
    Ok(())
}

/// Copies a regular file's bytes without following a symlink at `from` (sparse
/// regions are not kept; volumes rarely hold such files).
fn copy_file(from: &Path, to: &Path) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut r = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(from)
        .map_err(ctx("opening", from))?;
    let mut w = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(ctx("creating", to))?;
    io::copy(&mut r, &mut w).map_err(ctx("copying to", to))?;
    Ok(())
}

/// Owner, then mode (chown clears set-id bits), then times, of `p` as in `md`;
/// a symlink keeps its own mode.
fn set_owner_mode_times(p: &Path, md: &std::fs::Metadata) -> io::Result<()> {
    std::os::unix::fs::lchown(p, Some(md.uid()), Some(md.gid())).map_err(ctx("chown", p))?;
    if !md.file_type().is_symlink() {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(md.mode() & 0o7777))
            .map_err(ctx("chmod", p))?;
    }
    let ts = |s: i64, ns: i64| Timespec {
        tv_sec: s,
        tv_nsec: ns as _,
    };
    let times = Timestamps {
        last_access: ts(md.atime(), md.atime_nsec()),
        last_modification: ts(md.mtime(), md.mtime_nsec()),
    };
    rustix::fs::utimensat(CWD, p, &times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(io::Error::from)
        .map_err(ctx("setting the times of", p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn copies_tree_with_modes_links_and_times() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        let dst = t.path().join("dst");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::create_dir(&dst).unwrap();
        std::fs::write(src.join("a"), "alpha").unwrap();
        std::fs::set_permissions(src.join("a"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::hard_link(src.join("a"), src.join("sub/a-link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("sub/abs")).unwrap();
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o711)).unwrap();
        rustix::fs::mknodat(
            CWD,
            src.join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let old = Timestamps {
            last_access: Timespec {
                tv_sec: 1_000_000,
                tv_nsec: 0,
            },
            last_modification: Timespec {
                tv_sec: 1_000_000,
                tv_nsec: 0,
            },
        };
        rustix::fs::utimensat(CWD, src.join("a"), &old, AtFlags::empty()).unwrap();

        assert!(is_empty_dir(&dst));
        copy_up(&src, &dst).unwrap();
        assert_eq!(std::fs::read_to_string(dst.join("a")).unwrap(), "alpha");
        let a = std::fs::metadata(dst.join("a")).unwrap();
        assert_eq!(a.mode() & 0o7777, 0o640);
        assert_eq!(a.mtime(), 1_000_000);
        assert_eq!(
            a.ino(),
            std::fs::metadata(dst.join("sub/a-link")).unwrap().ino(),
            "hard link kept"
        );
        // The symlink is copied, not followed.
        assert_eq!(
            std::fs::read_link(dst.join("sub/abs")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert!(std::fs::symlink_metadata(dst.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
        assert_eq!(
            std::fs::metadata(&dst).unwrap().mode() & 0o7777,
            0o711,
            "the volume root takes the image directory's mode"
        );
        assert!(!is_empty_dir(&dst));
        // A missing or non-directory source copies nothing.
        let other = t.path().join("other");
        std::fs::create_dir(&other).unwrap();
        copy_up(&src.join("a"), &other).unwrap();
        copy_up(&src.join("missing"), &other).unwrap();
        assert!(is_empty_dir(&other));
    }
}
