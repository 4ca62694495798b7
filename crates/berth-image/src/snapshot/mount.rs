//! Performing a snapshot's [`Mount`]s.
//!
//! Overlay goes through the interface the kernel is probed to take ([`overlay_api`]):
//! the new mount API (fsopen/fsconfig/fsmount/move_mount) with one `lowerdir+` per
//! layer (Linux ≥ 6.8), so any number of layers mounts regardless of the one-page limit
//! on mount(2)'s option string; else the new API with a `lowerdir=` string while it
//! fits fsconfig's 255 bytes; else mount(2). When mount(2)'s string would exceed a
//! page, the paths are made relative to their common ancestor and mount(2) runs in a
//! thread that has its own working directory (unshare(CLONE_FS) + chdir), leaving the
//! process's cwd alone: short numeric snapshot ids keep 128 layers near 1 KiB.
//! Binds are open_tree clones, made read-only with mount_setattr before they are
//! attached, so a read-only view is never writable even for an instant (before Linux
//! 5.12, a bind and a read-only remount).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::CWD;
use rustix::mount::{
    fsconfig_create, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, move_mount,
    open_tree, FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags,
    OpenTreeFlags, UnmountFlags,
};

use berth_sys::kernel;

use super::{Mount, SnapshotError};

const PAGE: usize = 4096;

fn mount_err(m: &Mount, target: &Path) -> impl FnOnce(io::Error) -> SnapshotError {
    let typ = m.typ.clone();
    let target = target.to_path_buf();
    move |source| SnapshotError::Mount {
        typ,
        target,
        source,
    }
}

/// Mount every entry of `mounts` on `target` (or below it, for entries with a
/// `target`), in order. On failure the ones already mounted are unmounted again.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<(), SnapshotError> {
    let mut done: Vec<PathBuf> = Vec::new();
    for m in mounts {
        let t = match &m.target {
            Some(sub) => target.join(sub.trim_start_matches('/')),
            None => target.to_path_buf(),
        };
        if let Err(e) = mount_one(m, &t) {
            for d in done.iter().rev() {
                let _ = rustix::mount::unmount(d, UnmountFlags::DETACH);
            }
            return Err(e);
        }
        done.push(t);
    }
    Ok(())
}

/// Unmount `target`; if it is busy, detach it lazily.
pub fn unmount(target: &Path) -> Result<(), SnapshotError> {
    let r = match rustix::mount::unmount(target, UnmountFlags::NOFOLLOW) {
        Err(rustix::io::Errno::BUSY) => {
            rustix::mount::unmount(target, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW)
        }
        r => r,
    };
    r.map_err(|e| SnapshotError::Unmount {
        target: target.to_path_buf(),
        source: e.into(),
    })
}

/// A mounted snapshot that is lazily unmounted when dropped (also on panic).
#[derive(Debug)]
pub struct MountGuard {
    target: Option<PathBuf>,
}

impl MountGuard {
    /// `mount_all(mounts, target)`, undone on drop.
    pub fn mount(mounts: &[Mount], target: &Path) -> Result<MountGuard, SnapshotError> {
        mount_all(mounts, target)?;
        Ok(MountGuard {
            target: Some(target.to_path_buf()),
        })
    }

    /// Unmount now and report failure.
    pub fn unmount(mut self) -> Result<(), SnapshotError> {
        match self.target.take() {
            Some(t) => unmount(&t),
            None => Ok(()),
        }
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        if let Some(t) = self.target.take() {
            let _ = rustix::mount::unmount(&t, UnmountFlags::DETACH);
        }
    }
}

fn mount_one(m: &Mount, target: &Path) -> Result<(), SnapshotError> {
    match m.typ.as_str() {
        "overlay" => mount_overlay(m, target),
        "bind" => mount_bind(m, target),
        _ => {
            let ro = m.options.iter().any(|o| o == "ro");
            let data: Vec<&str> = m
                .options
                .iter()
                .map(String::as_str)
                .filter(|o| *o != "ro" && *o != "rw")
                .collect();
            let flags = if ro {
                MountFlags::RDONLY
            } else {
                MountFlags::empty()
            };
            rustix::mount::mount(
                m.source.as_str(),
                target,
                m.typ.as_str(),
                flags,
                Some(cstring(&data.join(","))?.as_c_str()),
            )
            .map_err(|e| mount_err(m, target)(e.into()))
        }
    }
}

fn cstring(s: &str) -> Result<CString, SnapshotError> {
    CString::new(s).map_err(|_| SnapshotError::Mount {
        typ: "?".into(),
        target: PathBuf::new(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in mount option"),
    })
}

fn mount_bind(m: &Mount, target: &Path) -> Result<(), SnapshotError> {
    let recursive = m.options.iter().any(|o| o == "rbind");
    let ro = m.options.iter().any(|o| o == "ro");
    let err = |e: rustix::io::Errno| mount_err(m, target)(e.into());
    if !kernel::has(kernel::Feature::NewMountApi)
        || (ro && !kernel::has(kernel::Feature::MountSetattr))
    {
        return mount_bind_classic(m, target, recursive, ro);
    }
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    let fd = open_tree(CWD, m.source.as_str(), flags).map_err(err)?;
    if ro {
        berth_sys::mount_setattr(fd.as_fd(), recursive, berth_sys::MOUNT_ATTR_RDONLY, 0)
            .map_err(mount_err(m, target))?;
    }
    move_mount(
        fd.as_fd(),
        "",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(err)
}

/// A bind with mount(2), for kernels without mount_setattr (before 5.12): the read-only
/// remount follows the bind, so the view is writable for the instant between the two
/// (and only its top mount is read-only when recursive). Nothing runs in the target
/// yet when snapshots are mounted, so the instant is not observable by a container.
fn mount_bind_classic(
    m: &Mount,
    target: &Path,
    recursive: bool,
    ro: bool,
) -> Result<(), SnapshotError> {
    let err = |e: rustix::io::Errno| mount_err(m, target)(e.into());
    let mut flags = MountFlags::BIND;
    if recursive {
        flags |= MountFlags::REC;
    }
    rustix::mount::mount(m.source.as_str(), target, "", flags, None).map_err(err)?;
    if ro {
        if let Err(e) =
            rustix::mount::mount_remount(target, MountFlags::BIND | MountFlags::RDONLY, "")
        {
            let _ = rustix::mount::unmount(target, UnmountFlags::DETACH);
            return Err(err(e));
        }
    }
    Ok(())
}

/// Overlay options split into their parts.
struct OverlayOpts {
    lowers: Vec<String>,
    upper: Option<String>,
    work: Option<String>,
    ro: bool,
    other: Vec<(String, Option<String>)>,
}

fn parse_overlay(m: &Mount) -> OverlayOpts {
    let mut o = OverlayOpts {
        lowers: Vec::new(),
        upper: None,
        work: None,
        ro: false,
        other: Vec::new(),
    };
    for opt in &m.options {
        match opt.split_once('=') {
            Some(("lowerdir", v)) => o.lowers.extend(v.split(':').map(str::to_string)),
            Some(("upperdir", v)) => o.upper = Some(v.to_string()),
            Some(("workdir", v)) => o.work = Some(v.to_string()),
            Some((k, v)) => o.other.push((k.to_string(), Some(v.to_string()))),
            None if opt == "ro" => o.ro = true,
            None if opt == "rw" => {}
            None => o.other.push((opt.clone(), None)),
        }
    }
    o
}

/// How this kernel takes an overlay mount, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverlayApi {
    /// The new mount API with one `lowerdir+` per layer (Linux 6.8): no length limit.
    LowerdirPlus,
    /// The new mount API with a `lowerdir=` string (overlay before 6.8, through the
    /// kernel's legacy option handling before 6.5): values up to 255 bytes, so only
    /// short layer chains; longer ones take mount(2).
    NewApiString,
    /// mount(2) with an option string of at most a page; past that, paths relative to
    /// their common directory (see [`mount_overlay_legacy`]).
    Classic,
}

impl OverlayApi {
    /// How `berth info` and the daemon's log name it.
    pub fn describe(self) -> &'static str {
        match self {
            OverlayApi::LowerdirPlus => "new mount API, lowerdir+ per layer",
            OverlayApi::NewApiString => "new mount API, lowerdir string (no lowerdir+: Linux 6.8)",
            OverlayApi::Classic => "mount(2) (no new mount API for overlay)",
        }
    }
}

/// The overlay mount interface this kernel takes, probed once per process.
///
/// The probe mounts a real (lower-only, never attached) overlay: kernels before 6.5
/// route overlay's options through the legacy handler, which accepts any key when it is
/// set and refuses an unknown one only when the superblock is created. So setting
/// `lowerdir+` succeeding proves nothing; creating is the test (and is not tried at all
/// before 6.5, where it cannot succeed). Disabling
/// `overlay-lowerdir+` or `overlay-new-api` in `BERTH_KERNEL_DISABLE` skips a step.
pub fn overlay_api() -> OverlayApi {
    static API: std::sync::OnceLock<OverlayApi> = std::sync::OnceLock::new();
    *API.get_or_init(probe_overlay_api)
}

fn probe_overlay_api() -> OverlayApi {
    if !kernel::has(kernel::Feature::NewMountApi) || kernel::disabled("overlay-new-api") {
        return OverlayApi::Classic;
    }
    let base = std::env::temp_dir().join(format!(".berth-overlay-probe-{}", std::process::id()));
    let (a, b) = (base.join("a"), base.join("b"));
    if std::fs::create_dir_all(&a)
        .and_then(|_| std::fs::create_dir_all(&b))
        .is_err()
    {
        let _ = std::fs::remove_dir_all(&base);
        return OverlayApi::Classic;
    }
    let (a, b) = (a.to_string_lossy(), b.to_string_lossy());
    let creates = |set: &dyn Fn(BorrowedFd<'_>) -> rustix::io::Result<()>| -> bool {
        let Ok(fs) = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) else {
            return false;
        };
        set(fs.as_fd()).is_ok() && fsconfig_create(fs.as_fd()).is_ok()
    };
    // Before 6.5 overlay has no parser of its own, so no `lowerdir+` (which came in
    // 6.8): trying would only leave an "unrecognized mount option" line in the log.
    let native = kernel::version() >= (6, 5);
    let api = if native
        && !kernel::disabled("overlay-lowerdir+")
        && creates(&|fs| {
            fsconfig_set_string(fs, "lowerdir+", a.as_ref())?;
            fsconfig_set_string(fs, "lowerdir+", b.as_ref())
        }) {
        OverlayApi::LowerdirPlus
    } else if creates(&|fs| fsconfig_set_string(fs, "lowerdir", format!("{a}:{b}").as_str())) {
        OverlayApi::NewApiString
    } else {
        OverlayApi::Classic
    };
    let _ = std::fs::remove_dir_all(&base);
    api
}

/// The longest string value fsconfig(2) takes (it copies at most 256 bytes with the
/// terminating NUL).
const FSCONFIG_MAX_VALUE: usize = 255;

fn mount_overlay(m: &Mount, target: &Path) -> Result<(), SnapshotError> {
    mount_overlay_using(m, target, overlay_api())
}

/// Mount overlay `m` on `target` through `api` (public so each interface can be tested
/// on a kernel that has them all). [`OverlayApi::NewApiString`] takes mount(2) for
/// option values too long for fsconfig.
pub fn mount_overlay_using(m: &Mount, target: &Path, api: OverlayApi) -> Result<(), SnapshotError> {
    let o = parse_overlay(m);
    match api {
        OverlayApi::LowerdirPlus => {
            mount_overlay_new_api(&o, target, true).map_err(mount_err(m, target))
        }
        OverlayApi::NewApiString if fits_fsconfig(&o) => {
            mount_overlay_new_api(&o, target, false).map_err(mount_err(m, target))
        }
        _ => mount_overlay_legacy(m, target),
    }
}

fn fits_fsconfig(o: &OverlayOpts) -> bool {
    let lowers: usize = o.lowers.iter().map(|l| l.len() + 1).sum();
    lowers <= FSCONFIG_MAX_VALUE + 1
        && o.upper
            .iter()
            .chain(o.work.iter())
            .all(|p| p.len() <= FSCONFIG_MAX_VALUE)
        && o.other
            .iter()
            .all(|(_, v)| v.as_ref().is_none_or(|v| v.len() <= FSCONFIG_MAX_VALUE))
}

fn mount_overlay_new_api(o: &OverlayOpts, target: &Path, each: bool) -> io::Result<()> {
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    if each {
        for l in &o.lowers {
            fsconfig_set_string(fs.as_fd(), "lowerdir+", l.as_str())
                .map_err(|e| io::Error::other(format!("lowerdir+ {l}: {}", io::Error::from(e))))?;
        }
    } else if !o.lowers.is_empty() {
        fsconfig_set_string(fs.as_fd(), "lowerdir", o.lowers.join(":").as_str())?;
    }
    if let Some(u) = &o.upper {
        fsconfig_set_string(fs.as_fd(), "upperdir", u.as_str())?;
    }
    if let Some(w) = &o.work {
        fsconfig_set_string(fs.as_fd(), "workdir", w.as_str())?;
    }
    for (k, v) in &o.other {
        match v {
            Some(v) => fsconfig_set_string(fs.as_fd(), k.as_str(), v.as_str()),
            None => fsconfig_set_flag(fs.as_fd(), k.as_str()),
        }?;
    }
    fsconfig_create(fs.as_fd())?;
    let attrs = if o.ro {
        MountAttrFlags::MOUNT_ATTR_RDONLY
    } else {
        MountAttrFlags::empty()
    };
    let mnt = fsmount(fs.as_fd(), FsMountFlags::FSMOUNT_CLOEXEC, attrs)?;
    move_mount(
        mnt.as_fd(),
        "",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )?;
    Ok(())
}

fn overlay_data(o: &OverlayOpts, rel_to: Option<&Path>) -> String {
    let p = |s: &str| match rel_to {
        Some(base) => Path::new(s)
            .strip_prefix(base)
            .map(|r| r.to_string_lossy().into_owned())
            .unwrap_or_else(|_| s.to_string()),
        None => s.to_string(),
    };
    let mut parts: Vec<String> = o
        .other
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        })
        .collect();
    if !o.lowers.is_empty() {
        let l: Vec<String> = o.lowers.iter().map(|l| p(l)).collect();
        parts.push(format!("lowerdir={}", l.join(":")));
    }
    if let Some(u) = &o.upper {
        parts.push(format!("upperdir={}", p(u)));
    }
    if let Some(w) = &o.work {
        parts.push(format!("workdir={}", p(w)));
    }
    parts.join(",")
}

fn common_ancestor<'a>(paths: impl Iterator<Item = &'a str>) -> Option<PathBuf> {
    let mut common: Option<Vec<Component<'a>>> = None;
    for s in paths {
        let parent: Vec<Component<'a>> = Path::new(s)
            .parent()
            .map(|p| p.components().collect())
            .unwrap_or_default();
        common = Some(match common {
            None => parent,
            Some(c) => c
                .into_iter()
                .zip(parent)
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect(),
        });
    }
    common.map(|c| c.into_iter().collect())
}

/// Mount an overlay with mount(2), the way kernels before 6.8 need it: the option
/// string as is when it fits in a page, else with paths relative to their common
/// ancestor, mounted from a thread whose working directory is that ancestor. Public so
/// the fallback can be tested on kernels that would not need it.
pub fn mount_overlay_legacy(m: &Mount, target: &Path) -> Result<(), SnapshotError> {
    let o = parse_overlay(m);
    let flags = if o.ro {
        MountFlags::RDONLY
    } else {
        MountFlags::empty()
    };
    let data = overlay_data(&o, None);
    if data.len() < PAGE {
        let c = cstring(&data)?;
        return rustix::mount::mount("overlay", target, "overlay", flags, Some(c.as_c_str()))
            .map_err(|e| mount_err(m, target)(e.into()));
    }
    let all = o
        .lowers
        .iter()
        .chain(o.upper.iter())
        .chain(o.work.iter())
        .map(String::as_str);
    let base = common_ancestor(all)
        .filter(|b| b.as_os_str().as_bytes().len() > 1)
        .ok_or_else(|| {
            mount_err(m, target)(io::Error::other(
                "overlay option string exceeds a page and its paths share no directory",
            ))
        })?;
    let data = overlay_data(&o, Some(&base));
    if data.len() >= PAGE {
        return Err(mount_err(m, target)(io::Error::other(format!(
            "overlay option string is {} bytes even with paths relative to {}",
            data.len(),
            base.display()
        ))));
    }
    let c = cstring(&data)?;
    let target_abs = std::path::absolute(target).map_err(mount_err(m, target))?;
    std::thread::scope(|s| {
        s.spawn(|| -> io::Result<()> {
            // Give this thread its own cwd so the chdir does not affect the process.
            berth_sys::unshare(libc::CLONE_FS)?;
            rustix::process::chdir(&base)?;
            rustix::mount::mount("overlay", &target_abs, "overlay", flags, Some(c.as_c_str()))?;
            Ok(())
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("mount thread panicked")))
    })
    .map_err(mount_err(m, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_overlay_data() {
        let m = Mount {
            typ: "overlay".into(),
            source: "overlay".into(),
            target: None,
            options: vec![
                "index=off".into(),
                "lowerdir=/r/snapshots/2/fs:/r/snapshots/1/fs".into(),
                "upperdir=/r/snapshots/3/fs".into(),
                "workdir=/r/snapshots/3/work".into(),
            ],
        };
        let o = parse_overlay(&m);
        let all = o
            .lowers
            .iter()
            .chain(o.upper.iter())
            .chain(o.work.iter())
            .map(String::as_str);
        let base = common_ancestor(all).unwrap();
        assert_eq!(base, Path::new("/r/snapshots"));
        assert_eq!(
            overlay_data(&o, Some(&base)),
            "index=off,lowerdir=2/fs:1/fs,upperdir=3/fs,workdir=3/work"
        );
    }
}
