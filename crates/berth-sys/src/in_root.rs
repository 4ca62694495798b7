//! Opening a path inside a directory as if that directory were `/`: the one way berth
//! looks into a container's rootfs or an image layer being applied, so that no symlink
//! or `..` planted there can lead outside.

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

/// Opens `path` below `root`, resolved as if `root` were `/`: absolute symlinks, `..`
/// and absolute paths all stay inside it (openat2 `RESOLVE_IN_ROOT`), and magic links
/// (`/proc/self/fd/N`) are refused. An empty path, or `/`, opens `root` itself.
/// `O_CLOEXEC` is always added; an `EAGAIN` or `EINTR` from a racing rename is retried.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, flags: OFlags) -> Result<OwnedFd, Errno> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    loop {
        match rustix::fs::openat2(
            root,
            rel,
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            Err(Errno::AGAIN) | Err(Errno::INTR) => continue,
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::os::unix::fs::symlink;

    fn root_dir(dir: &Path) -> OwnedFd {
        rustix::fs::open(dir, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).expect("open root")
    }

    fn read(fd: OwnedFd) -> String {
        let mut s = String::new();
        std::fs::File::from(fd)
            .read_to_string(&mut s)
            .expect("read through the fd");
        s
    }

    #[test]
    fn opens_paths_inside_root() {
        let t = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(t.path().join("etc")).unwrap();
        std::fs::write(t.path().join("etc/hostname"), "inside").unwrap();
        let root = root_dir(t.path());
        for p in ["etc/hostname", "/etc/hostname", "/etc/../etc/hostname"] {
            let fd = open_in_root(root.as_fd(), Path::new(p), OFlags::RDONLY).expect(p);
            assert_eq!(read(fd), "inside", "{p}");
        }
        // Empty and `/` are the root itself.
        for p in ["", "/"] {
            let fd = open_in_root(root.as_fd(), Path::new(p), OFlags::PATH | OFlags::DIRECTORY)
                .expect(p);
            let st = rustix::fs::fstat(&fd).unwrap();
            let want = rustix::fs::fstat(&root).unwrap();
            assert_eq!((st.st_dev, st.st_ino), (want.st_dev, want.st_ino), "{p:?}");
        }
        assert_eq!(
            open_in_root(root.as_fd(), Path::new("/missing"), OFlags::PATH).unwrap_err(),
            Errno::NOENT
        );
    }

    #[test]
    fn symlinks_and_dotdot_cannot_leave_root() {
        let outer = tempfile::tempdir().expect("tempdir");
        std::fs::write(outer.path().join("secret"), "outside").unwrap();
        let rootp = outer.path().join("root");
        std::fs::create_dir(&rootp).unwrap();
        std::fs::write(rootp.join("secret"), "inside").unwrap();
        // An absolute link to the host's copy, a relative one climbing out, and `..`.
        symlink(outer.path().join("secret"), rootp.join("abs")).unwrap();
        symlink("../../../../../../secret", rootp.join("rel")).unwrap();
        let root = root_dir(&rootp);
        for p in ["abs", "rel", "../secret", "/../../secret"] {
            match open_in_root(root.as_fd(), Path::new(p), OFlags::RDONLY) {
                // Resolved inside: the host file's path ends in `secret` there too.
                Ok(fd) => assert_eq!(read(fd), "inside", "{p}"),
                Err(e) => assert_eq!(e, Errno::NOENT, "{p}"),
            }
        }
    }
}
