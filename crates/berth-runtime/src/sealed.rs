//! Defence against CVE-2019-5736: a container process must never be able to open the
//! runtime's binary on the host for writing through /proc/PID/exe. Before `create`,
//! `run` or `exec`, berth-runc re-executes itself from a private, read-only overlay of
//! its own directory (a detached mount no container can see or remount) over an empty
//! directory under its state root. Writes through
//! the overlay fail with EROFS, and even a remounted overlay would copy up instead of
//! touching the host file. Unlike copying the binary into a sealed memfd on every call,
//! this costs one overlay mount, not a copy of the whole binary.

use crate::error::{Context, Result, RuntimeError};
use rustix::fs::{Mode, OFlags};
use rustix::mount::{
    fsconfig_create, fsconfig_set_string, fsmount, fsopen, FsMountFlags, FsOpenFlags,
    MountAttrFlags,
};
use std::ffi::{CString, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// Set in the environment of the re-executed runtime.
pub const REEXEC_ENV: &str = "_BERTH_RUNC_SEALED";

const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;

/// Whether this process already runs from a read-only overlay or a sealed memfd.
pub fn is_sealed() -> bool {
    if let Ok(fd) = rustix::fs::open(
        "/proc/self/exe",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        if let Ok(seals) = rustix::fs::fcntl_get_seals(&fd) {
            if seals.contains(rustix::fs::SealFlags::WRITE) {
                return true;
            }
        }
    }
    let Ok(fd) = rustix::fs::open(
        "/proc/self/exe",
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    match rustix::fs::fstatvfs(&fd) {
        Ok(st) => {
            let ro = st.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY);
            let overlay = rustix::fs::fstatfs(&fd)
                .map(|s| s.f_type == OVERLAYFS_SUPER_MAGIC)
                .unwrap_or(false);
            ro && overlay
        }
        Err(_) => false,
    }
}

/// Re-exec the current process from a read-only overlay of its binary's directory, or
/// where overlayfs is unavailable, from a sealed memfd copy. Returns only on failure.
pub fn reexec_sealed(args: &[OsString], state: &Path) -> Result<std::convert::Infallible> {
    // BERTH_RUNC_SEAL=memfd picks the copy (both are safe; tests exercise each).
    if std::env::var_os("BERTH_RUNC_SEAL").is_some_and(|v| v == "memfd") {
        return reexec_memfd(args);
    }
    let overlay_err = match reexec_overlay(args, state) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    crate::log::debug(&format!(
        "overlay re-exec failed ({overlay_err}); using a sealed memfd copy"
    ));
    reexec_memfd(args)
}

fn reexec_memfd(args: &[OsString]) -> Result<std::convert::Infallible> {
    use rustix::fs::{MemfdFlags, SealFlags};
    let exe = rustix::fs::open(
        "/proc/self/exe",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "opening /proc/self/exe".into())?;
    let len = rustix::fs::fstat(&exe)
        .ctx(|| "stat /proc/self/exe".into())?
        .st_size as usize;
    let mfd = rustix::fs::memfd_create(
        "berth-runc",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )
    .ctx(|| "memfd_create".into())?;
    let mut left = len;
    while left > 0 {
        let n = rustix::fs::sendfile(&mfd, &exe, None, left)
            .ctx(|| "copying the runtime binary".into())?;
        if n == 0 {
            break;
        }
        left -= n;
    }
    rustix::fs::fcntl_add_seals(
        &mfd,
        SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE,
    )
    .ctx(|| "sealing the runtime copy".into())?;
    exec_fd(mfd.as_fd(), args)
}

fn exec_fd(fd: std::os::fd::BorrowedFd<'_>, args: &[OsString]) -> Result<std::convert::Infallible> {
    let argv: Vec<CString> = args
        .iter()
        .map(|a| CString::new(a.clone().into_vec()).unwrap_or_default())
        .collect();
    let envp: Vec<CString> = std::env::vars_os()
        .chain(std::iter::once((REEXEC_ENV.into(), "1".into())))
        .map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            CString::new(kv).unwrap_or_default()
        })
        .collect();
    let err = berth_sys::fexecve(fd, &argv, &envp);
    Err(RuntimeError::Io {
        context: "re-executing the runtime from a sealed copy".into(),
        source: err,
    })
}

fn reexec_overlay(args: &[OsString], state: &Path) -> Result<std::convert::Infallible> {
    let exe = std::fs::read_link("/proc/self/exe").ctx(|| "reading /proc/self/exe".into())?;
    let dir = exe
        .parent()
        .ok_or_else(|| RuntimeError::Usage("runtime binary has no directory".into()))?;
    let name = exe
        .file_name()
        .ok_or_else(|| RuntimeError::Usage("runtime binary has no name".into()))?;
    let sealed = SealedDir::new(dir, state)?;
    let bin = sealed.open(Path::new(name))?;
    drop(sealed);
    exec_fd(bin.as_fd(), args)
}

fn open_dir(p: &Path) -> Result<OwnedFd> {
    rustix::fs::open(
        p,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("opening {}", p.display()))
}

/// A read-only overlay of a directory, mounted nowhere: a detached mount only reachable
/// through this handle's descriptor. Programs executed from it count as sealed
/// ([`is_sealed`]), so a daemon that keeps one for the runtime's directory spawns
/// `berth-runc shim` without the shim re-executing itself: one exec and one overlay
/// mount less per container, with the same protection.
pub struct SealedDir {
    mount: OwnedFd,
}

impl SealedDir {
    /// Seals `dir`. overlayfs wants two lower layers without an upper one; the second is
    /// an empty directory made for the purpose under `state` (the runtime's root or the
    /// daemon's exec root) and removed again once the overlay holds it: an overlay keeps
    /// its own reference to each layer, and the binary is found in the first layer
    /// without a look into the second. Not a detached tmpfs: kernels before 6.15 refuse
    /// detached mounts as layers (and log "failed to clone lowerpath" each time).
    pub fn new(dir: &Path, state: &Path) -> Result<SealedDir> {
        if !berth_sys::kernel::has(berth_sys::kernel::Feature::NewMountApi) {
            return Err(RuntimeError::Usage(
                "a sealed overlay needs the new mount API (Linux 5.2)".into(),
            ));
        }
        let top = open_dir(dir)?;
        // `@` keeps the name out of the container id namespace (`[A-Za-z0-9_+.-]`).
        let empty = state.join(format!(
            "@sealed-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(state)
            .and_then(|_| std::fs::create_dir(&empty))
            .ctx(|| format!("creating {}", empty.display()))?;
        let made = Self::overlay(dir, &top, &empty);
        let _ = std::fs::remove_dir(&empty);
        made
    }

    fn overlay(dir: &Path, top: &OwnedFd, empty: &Path) -> Result<SealedDir> {
        let bottom = open_dir(empty)?;
        let ov = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC).ctx(|| "fsopen overlay".into())?;
        // Descriptor paths keep the value far under fsconfig's 255 bytes however deep
        // the directories are.
        let lower = format!(
            "/proc/self/fd/{}:/proc/self/fd/{}",
            top.as_raw_fd(),
            bottom.as_raw_fd()
        );
        fsconfig_set_string(&ov, "lowerdir", lower.as_str())
            .ctx(|| format!("overlay lowerdir={}:{}", dir.display(), empty.display()))?;
        fsconfig_create(&ov).ctx(|| format!("creating the sealed overlay of {}", dir.display()))?;
        let mount = fsmount(
            &ov,
            FsMountFlags::FSMOUNT_CLOEXEC,
            MountAttrFlags::MOUNT_ATTR_RDONLY,
        )
        .ctx(|| "mounting overlay".into())?;
        Ok(SealedDir { mount })
    }

    /// Opens `name` (relative to the sealed directory) for reading or executing.
    pub fn open(&self, name: &Path) -> Result<OwnedFd> {
        rustix::fs::openat(
            &self.mount,
            name,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| format!("opening {} in the sealed overlay", name.display()))
    }

    /// A path naming `name` inside the sealed directory, valid in this process and in
    /// the children it spawns (until they exec: the descriptor is close-on-exec).
    pub fn path(&self, name: &Path) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.mount.as_raw_fd())).join(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sealed view shows the directory's files read-only from an overlay, and the
    /// empty lower layer made for it is gone from the state directory afterwards.
    #[test]
    #[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
    fn sealed_dir_is_a_read_only_overlay_leaving_nothing_behind() {
        if !berth_sys::kernel::has(berth_sys::kernel::Feature::NewMountApi) {
            eprintln!("skipped: needs the new mount API");
            return;
        }
        let t = tempfile::tempdir().expect("tempdir");
        let (dir, state) = (t.path().join("bin"), t.path().join("state"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("tool"), "payload").expect("write");
        let sealed = SealedDir::new(&dir, &state).expect("seal");
        let fd = sealed
            .open(Path::new("tool"))
            .expect("open through the seal");
        let st = rustix::fs::fstatfs(&fd).expect("fstatfs");
        assert_eq!(st.f_type, OVERLAYFS_SUPER_MAGIC);
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut s).expect("read");
        assert_eq!(s, "payload");
        let w = std::fs::OpenOptions::new()
            .write(true)
            .open(sealed.path(Path::new("tool")))
            .expect_err("writable through the seal");
        assert_eq!(w.raw_os_error(), Some(libc::EROFS), "{w}");
        let left: Vec<_> = std::fs::read_dir(&state)
            .expect("state dir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "left in the state directory: {left:?}");
        assert!(sealed.open(Path::new("missing")).is_err());
    }
}
