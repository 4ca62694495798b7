//! The container's root filesystem: mounts from the config (every destination resolved
//! inside the rootfs, mounted through an fd so no symlink can redirect it), /dev and its
//! devices, pivot_root, masked and read-only paths.

use crate::error::{Context, Result, RuntimeError};
use berth_sys::mountinfo::MountInfo;
use berth_sys::open_in_root;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

const MS_RDONLY: u64 = libc::MS_RDONLY;
const MS_BIND: u64 = libc::MS_BIND;
const MS_REC: u64 = libc::MS_REC;
const MS_REMOUNT: u64 = libc::MS_REMOUNT;

/// A mount's options, split into what mount(2) takes and what is applied afterwards.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// MS_* flags for the mount call.
    pub flags: u64,
    /// Propagation changes applied after mounting, in order.
    pub propagation: Vec<u64>,
    /// mount_setattr attributes to set / clear recursively (the `r*` options).
    pub rec_set: u64,
    pub rec_clear: u64,
    /// Filesystem-specific data (`size=…,mode=…`).
    pub data: String,
}

/// Parse OCI/fstab mount options.
pub fn parse_options(opts: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for opt in opts {
        let (set, clear): (u64, u64) = match opt.as_str() {
            "defaults" => (0, 0),
            "ro" => (MS_RDONLY, 0),
            "rw" => (0, MS_RDONLY),
            "suid" => (0, libc::MS_NOSUID),
            "nosuid" => (libc::MS_NOSUID, 0),
            "dev" => (0, libc::MS_NODEV),
            "nodev" => (libc::MS_NODEV, 0),
            "exec" => (0, libc::MS_NOEXEC),
            "noexec" => (libc::MS_NOEXEC, 0),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "async" => (0, libc::MS_SYNCHRONOUS),
            "dirsync" => (libc::MS_DIRSYNC, 0),
            "remount" => (MS_REMOUNT, 0),
            "mand" => (libc::MS_MANDLOCK, 0),
            "nomand" => (0, libc::MS_MANDLOCK),
            "atime" => (0, libc::MS_NOATIME),
            "noatime" => (libc::MS_NOATIME, 0),
            "diratime" => (0, libc::MS_NODIRATIME),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "relatime" => (libc::MS_RELATIME, 0),
            "norelatime" => (0, libc::MS_RELATIME),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "nostrictatime" => (0, libc::MS_STRICTATIME),
            "lazytime" => (libc::MS_LAZYTIME, 0),
            "nolazytime" => (0, libc::MS_LAZYTIME),
            "silent" => (libc::MS_SILENT, 0),
            "loud" => (0, libc::MS_SILENT),
            "iversion" => (libc::MS_I_VERSION, 0),
            "noiversion" => (0, libc::MS_I_VERSION),
            "bind" => (MS_BIND, 0),
            "rbind" => (MS_BIND | MS_REC, 0),
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                let rec = if opt.starts_with('r') { MS_REC } else { 0 };
                let p = match opt.trim_start_matches('r') {
                    "private" => libc::MS_PRIVATE,
                    "shared" => libc::MS_SHARED,
                    "slave" => libc::MS_SLAVE,
                    _ => libc::MS_UNBINDABLE,
                };
                o.propagation.push(p | rec);
                continue;
            }
            "rro" | "rrw" | "rnosuid" | "rsuid" | "rnodev" | "rdev" | "rnoexec" | "rexec"
            | "rnoatime" | "ratime" | "rstrictatime" | "rnostrictatime" | "rrelatime"
            | "rnorelatime" | "rnodiratime" | "rdiratime" | "rnosymfollow" | "rsymfollow" => {
                use berth_sys::*;
                let (s, c) = match opt.as_str() {
                    "rro" => (MOUNT_ATTR_RDONLY, 0),
                    "rrw" => (0, MOUNT_ATTR_RDONLY),
                    "rnosuid" => (MOUNT_ATTR_NOSUID, 0),
                    "rsuid" => (0, MOUNT_ATTR_NOSUID),
                    "rnodev" => (MOUNT_ATTR_NODEV, 0),
                    "rdev" => (0, MOUNT_ATTR_NODEV),
                    "rnoexec" => (MOUNT_ATTR_NOEXEC, 0),
                    "rexec" => (0, MOUNT_ATTR_NOEXEC),
                    "rnoatime" => (MOUNT_ATTR_NOATIME, MOUNT_ATTR_ATIME_MASK),
                    "rstrictatime" => (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR_ATIME_MASK),
                    "rrelatime" => (MOUNT_ATTR_RELATIME, MOUNT_ATTR_ATIME_MASK),
                    "ratime" | "rnostrictatime" | "rnorelatime" => (0, 0),
                    "rnodiratime" => (MOUNT_ATTR_NODIRATIME, 0),
                    "rdiratime" => (0, MOUNT_ATTR_NODIRATIME),
                    "rnosymfollow" => (MOUNT_ATTR_NOSYMFOLLOW, 0),
                    _ => (0, MOUNT_ATTR_NOSYMFOLLOW),
                };
                o.rec_set = (o.rec_set & !c) | s;
                o.rec_clear = (o.rec_clear & !s) | c;
                continue;
            }
            "nosymfollow" => (256, 0),
            // runc extensions with no kernel flag; accepted so configs written for runc work.
            "tmpcopyup" | "idmap" | "ridmap" => (0, 0),
            other => {
                data.push(other);
                continue;
            }
        };
        o.flags = (o.flags & !clear) | set;
    }
    o.data = data.join(",");
    o
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| RuntimeError::Usage(format!("path {} contains a NUL byte", p.display())))
}

/// The `/proc/self/fd/N` path of an fd, which mount(2) resolves to exactly that file.
pub fn fd_path(fd: BorrowedFd<'_>) -> CString {
    CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("no NUL in an fd path")
}

fn mount_raw(
    src: Option<&CString>,
    target: &CString,
    fstype: Option<&str>,
    flags: u64,
    data: &str,
) -> std::io::Result<()> {
    let fst = fstype.map(|t| CString::new(t).unwrap_or_default());
    let d = if data.is_empty() {
        None
    } else {
        Some(CString::new(data).unwrap_or_default())
    };
    berth_sys::mount(
        src.map(|s| s.as_c_str()),
        target,
        fst.as_deref(),
        flags,
        d.as_deref(),
    )
}

/// Create every missing directory of `path` inside `root` and return an O_PATH fd to it.
pub fn mkdir_all_in_root(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd> {
    // Mostly the directory exists: one lookup instead of one per component.
    if let Ok(fd) = open_in_root(root, path, OFlags::PATH | OFlags::DIRECTORY) {
        return Ok(fd);
    }
    if let Some(fd) = mkdir_below_existing(root, path) {
        return Ok(fd);
    }
    // Anything unusual on the way (`..`, symbolic links, a file where a directory
    // should be): walk it component by component, which also names the culprit.
    let mut prefix = PathBuf::from("/");
    let mut cur = open_in_root(root, &prefix, OFlags::PATH | OFlags::DIRECTORY)
        .ctx(|| "opening rootfs".into())?;
    for comp in path.components() {
        let name = match comp {
            Component::Normal(n) => n,
            Component::ParentDir => {
                prefix.push("..");
                cur = open_in_root(root, &prefix, OFlags::PATH | OFlags::DIRECTORY)
                    .ctx(|| format!("resolving {} in rootfs", prefix.display()))?;
                continue;
            }
            _ => continue,
        };
        prefix.push(name);
        match open_in_root(root, &prefix, OFlags::PATH | OFlags::DIRECTORY) {
            Ok(fd) => cur = fd,
            Err(rustix::io::Errno::NOENT) => {
                match rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => {
                        return Err(e).ctx(|| format!("creating {} in rootfs", prefix.display()))
                    }
                }
                cur = open_in_root(root, &prefix, OFlags::PATH | OFlags::DIRECTORY)
                    .ctx(|| format!("opening {} in rootfs", prefix.display()))?;
            }
            Err(e) => return Err(e).ctx(|| format!("opening {} in rootfs", prefix.display())),
        }
    }
    Ok(cur)
}

/// The quick way for a missing directory: find its deepest existing ancestor, then
/// create the rest below that ancestor's descriptor, refusing to follow anything not
/// just created as a directory. None sends the caller down the careful walk.
fn mkdir_below_existing(root: BorrowedFd<'_>, path: &Path) -> Option<OwnedFd> {
    let mut names = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => names.push(n),
            Component::RootDir | Component::CurDir => {}
            _ => return None,
        }
    }
    let mut have = names.len();
    let mut cur = loop {
        if have == 0 {
            break open_in_root(root, Path::new("/"), OFlags::PATH | OFlags::DIRECTORY).ok()?;
        }
        have -= 1;
        let prefix: PathBuf = names[..have].iter().collect();
        match open_in_root(root, &prefix, OFlags::PATH | OFlags::DIRECTORY) {
            Ok(fd) => break fd,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(_) => return None,
        }
    };
    for name in &names[have..] {
        match rustix::fs::mkdirat(&cur, *name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(_) => return None,
        }
        cur = rustix::fs::openat(
            &cur,
            *name,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
    }
    Some(cur)
}

/// Make sure a mount destination exists inside `root` (a directory, or a file when
/// `file` is true) and return an O_PATH fd to it.
pub fn prepare_dest(root: BorrowedFd<'_>, dest: &Path, file: bool) -> Result<OwnedFd> {
    if !file {
        return mkdir_all_in_root(root, dest);
    }
    match open_in_root(root, dest, OFlags::PATH) {
        Ok(fd) => return Ok(fd),
        Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(e).ctx(|| format!("opening {} in rootfs", dest.display())),
    }
    let parent = dest.parent().unwrap_or(Path::new("/"));
    let name = dest
        .file_name()
        .ok_or_else(|| RuntimeError::Usage(format!("bad mount destination {}", dest.display())))?;
    let dir = mkdir_all_in_root(root, parent)?;
    let dir = open_in_root(root, parent, OFlags::DIRECTORY | OFlags::RDONLY)
        .ctx(|| format!("opening {} in rootfs", parent.display()))
        .or_else(|_| Ok::<_, RuntimeError>(dir))?;
    match rustix::fs::openat(
        &dir,
        name,
        OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    ) {
        Ok(_) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(e).ctx(|| format!("creating {} in rootfs", dest.display())),
    }
    open_in_root(root, dest, OFlags::PATH).ctx(|| format!("opening {} in rootfs", dest.display()))
}

/// Context the mount code needs beyond the mount itself.
pub struct MountCtx<'a> {
    pub rootfs: &'a Path,
    pub root: BorrowedFd<'a>,
    /// The container has its own cgroup namespace.
    pub cgroupns: bool,
    /// The container has its own user namespace (mknod and some mounts are refused).
    pub userns: bool,
    /// The container's cgroupsPath, for bind-mounting its own cgroup when there is no
    /// cgroup namespace.
    pub cgroup_path: &'a str,
    /// The container has its own mount of /dev (so default devices are created).
    pub label: Option<&'a str>,
}

/// Mount one entry of the config's `mounts`.
pub fn mount_entry(ctx: &MountCtx<'_>, m: &Mount) -> Result<()> {
    let opts = parse_options(m.options().as_deref().unwrap_or_default());
    let typ = m.typ().as_deref().unwrap_or("");
    let dest = m.destination();
    let bind = opts.flags & MS_BIND != 0 || typ == "bind";
    if typ == "cgroup" || typ == "cgroup2" {
        return mount_cgroup(ctx, m, &opts);
    }
    let src = m.source().clone().unwrap_or_default();
    let is_file = bind
        && std::fs::metadata(&src)
            .map(|md| !md.is_dir())
            .map_err(|e| RuntimeError::Io {
                context: format!("bind mount source {}", src.display()),
                source: e,
            })?;
    let fd = prepare_dest(ctx.root, dest, is_file)?;
    let target = fd_path(fd.as_fd());
    let what = || format!("mounting {} on {}", src.display(), dest.display());
    if bind {
        let srcc = cstr(&src)?;
        mount_raw(
            Some(&srcc),
            &target,
            None,
            MS_BIND | (opts.flags & MS_REC),
            "",
        )
        .ctx(what)?;
        // The bind itself ignores other flags; apply them with a remount of the new mount.
        let extra = opts.flags & !(MS_BIND | MS_REC | MS_REMOUNT);
        if extra != 0 {
            // Reopen: the fd now sits under the new mount, we want the mount's root.
            let fd2 = open_in_root(ctx.root, dest, OFlags::PATH).ctx(what)?;
            let t2 = fd_path(fd2.as_fd());
            remount_keep_locked(&t2, extra)
                .ctx(|| format!("remounting {} with its options", dest.display()))?;
        }
    } else {
        let srcs = if src.as_os_str().is_empty() {
            CString::new(typ).unwrap_or_default()
        } else {
            cstr(&src)?
        };
        // mountLabel is an SELinux context; this host has no SELinux, so it is not passed
        // to the kernel (which would refuse `context=` with EINVAL).
        let data = opts.data.clone();
        let flags = opts.flags & !(MS_REMOUNT);
        match mount_raw(Some(&srcs), &target, Some(typ), flags, &data) {
            Ok(()) => {}
            Err(e)
                if e.raw_os_error() == Some(libc::EPERM) && matches!(typ, "sysfs" | "mqueue") =>
            {
                // In a user namespace without its own network namespace the kernel refuses
                // sysfs (and mqueue without an ipc namespace): bind the host's instead.
                let host = if typ == "sysfs" {
                    "/sys"
                } else {
                    "/dev/mqueue"
                };
                let h = CString::new(host).expect("static path");
                mount_raw(Some(&h), &target, None, MS_BIND | MS_REC, "").ctx(what)?;
                if flags & MS_RDONLY != 0 {
                    let fd2 = open_in_root(ctx.root, dest, OFlags::PATH).ctx(what)?;
                    remount_keep_locked(&fd_path(fd2.as_fd()), MS_RDONLY).ctx(what)?;
                }
            }
            Err(e) => return Err(e).ctx(what),
        }
    }
    if opts.rec_set != 0 || opts.rec_clear != 0 {
        if !berth_sys::kernel::has(berth_sys::kernel::Feature::MountSetattr) {
            return Err(RuntimeError::Usage(format!(
                "mount {}: recursive mount options (rro, rnoexec, …) need mount_setattr \
                 (Linux 5.12), which this kernel ({}) lacks",
                dest.display(),
                berth_sys::kernel::release()
            )));
        }
        let fd2 = open_in_root(ctx.root, dest, OFlags::PATH).ctx(what)?;
        berth_sys::mount_setattr(fd2.as_fd(), true, opts.rec_set, opts.rec_clear)
            .ctx(|| format!("setting recursive attributes on {}", dest.display()))?;
    }
    for p in &opts.propagation {
        let fd2 = open_in_root(ctx.root, dest, OFlags::PATH).ctx(what)?;
        mount_raw(None, &fd_path(fd2.as_fd()), None, *p, "")
            .ctx(|| format!("changing propagation of {}", dest.display()))?;
    }
    Ok(())
}

/// Remount a bind mount with `flags`, keeping the flags the kernel locks (nosuid, nodev,
/// noexec, atime) when the source mount has them, as a user namespace requires.
fn remount_keep_locked(target: &CString, flags: u64) -> std::io::Result<()> {
    let mut f = flags;
    if let Ok(st) = rustix::fs::statvfs(target.as_c_str()) {
        use rustix::fs::StatVfsMountFlags as F;
        let m = st.f_flag;
        if m.contains(F::NOSUID) {
            f |= libc::MS_NOSUID;
        }
        if m.contains(F::NODEV) {
            f |= libc::MS_NODEV;
        }
        if m.contains(F::NOEXEC) {
            f |= libc::MS_NOEXEC;
        }
    }
    mount_raw(
        None,
        target,
        None,
        MS_BIND | MS_REMOUNT | (f & !(MS_REC | MS_BIND)),
        "",
    )
}

/// One cgroup hierarchy mounted on the host.
#[derive(Debug, Clone)]
struct HostCgroupMount {
    mountpoint: PathBuf,
    fstype: String,
    /// Super options naming the controllers (v1), e.g. "rw,memory" → "memory".
    controllers: Vec<String>,
}

fn host_cgroup_mounts() -> Vec<HostCgroupMount> {
    let Ok(mi) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for m in mi.lines().filter_map(MountInfo::parse) {
        if m.fs_type != "cgroup" && m.fs_type != "cgroup2" {
            continue;
        }
        let controllers = m
            .super_options
            .split(',')
            .filter(|o| {
                !matches!(*o, "rw" | "ro" | "nosuid" | "nodev" | "noexec" | "relatime")
                    && !o.starts_with("release_agent")
                    && *o != "clone_children"
                    && *o != "nsdelegate"
                    && *o != "memory_recursiveprot"
                    && !o.starts_with("cpuset_v2_mode")
                    && *o != "noprefix"
                    && *o != "xattr"
            })
            .map(String::from)
            .collect();
        out.push(HostCgroupMount {
            mountpoint: m.mount_point,
            fstype: m.fs_type,
            controllers,
        });
    }
    out
}

/// Mount the cgroup filesystem(s) for a `cgroup` mount entry: cgroup2 on a unified host;
/// on v1/hybrid hosts a tmpfs holding one mount per hierarchy, as runc lays it out.
fn mount_cgroup(ctx: &MountCtx<'_>, m: &Mount, opts: &MountOptions) -> Result<()> {
    let dest = m.destination();
    let flags = opts.flags & !(MS_BIND | MS_REC | MS_REMOUNT);
    let mounts: Vec<HostCgroupMount> = host_cgroup_mounts()
        .into_iter()
        .filter(|h| h.mountpoint.starts_with("/sys/fs/cgroup"))
        .collect();
    let unified_host = mounts
        .iter()
        .any(|h| h.fstype == "cgroup2" && h.mountpoint == Path::new("/sys/fs/cgroup"));
    let what = || format!("mounting cgroup filesystem on {}", dest.display());
    let fd = prepare_dest(ctx.root, dest, false)?;
    if unified_host || m.typ().as_deref() == Some("cgroup2") {
        let t = fd_path(fd.as_fd());
        let src = CString::new("cgroup2").expect("static");
        match mount_raw(Some(&src), &t, Some("cgroup2"), flags, "") {
            Ok(()) => {}
            Err(e)
                if e.raw_os_error() == Some(libc::EPERM)
                    || e.raw_os_error() == Some(libc::EBUSY) =>
            {
                let host = cstr(
                    &Path::new("/sys/fs/cgroup").join(ctx.cgroup_path.trim_start_matches('/')),
                )?;
                mount_raw(Some(&host), &t, None, MS_BIND | MS_REC, "").ctx(what)?;
                if flags & MS_RDONLY != 0 {
                    let fd2 = open_in_root(ctx.root, dest, OFlags::PATH).ctx(what)?;
                    remount_keep_locked(&fd_path(fd2.as_fd()), flags).ctx(what)?;
                }
            }
            Err(e) => return Err(e).ctx(what),
        }
        return Ok(());
    }
    // v1 or hybrid: a tmpfs with one directory per hierarchy.
    let t = fd_path(fd.as_fd());
    let tmpfs = CString::new("tmpfs").expect("static");
    mount_raw(
        Some(&tmpfs),
        &t,
        Some("tmpfs"),
        flags & !MS_RDONLY,
        "mode=755",
    )
    .ctx(what)?;
    for h in &mounts {
        let Some(name) = h.mountpoint.file_name() else {
            continue;
        };
        let sub = dest.join(name);
        let sfd = prepare_dest(ctx.root, &sub, false)?;
        let st = fd_path(sfd.as_fd());
        let (fstype, data) = if h.fstype == "cgroup2" {
            ("cgroup2", String::new())
        } else {
            ("cgroup", h.controllers.join(","))
        };
        let fresh = if ctx.cgroupns {
            let src = CString::new("cgroup").expect("static");
            mount_raw(Some(&src), &st, Some(fstype), flags, &data).is_ok()
        } else {
            false
        };
        if !fresh {
            let rel = ctx.cgroup_path.trim_start_matches('/');
            let host = h.mountpoint.join(rel);
            let src = if host.exists() {
                host
            } else {
                h.mountpoint.clone()
            };
            let srcc = cstr(&src)?;
            mount_raw(Some(&srcc), &st, None, MS_BIND | MS_REC, "")
                .ctx(|| format!("binding {} on {}", src.display(), sub.display()))?;
            if flags & MS_RDONLY != 0 {
                let fd2 = open_in_root(ctx.root, &sub, OFlags::PATH).ctx(what)?;
                remount_keep_locked(&fd_path(fd2.as_fd()), flags).ctx(what)?;
            }
        }
        // Combined hierarchies (cpu,cpuacct) get one symlink per controller.
        let n = name.to_string_lossy();
        if n.contains(',') {
            let dir = open_in_root(ctx.root, dest, OFlags::DIRECTORY | OFlags::RDONLY).ctx(what)?;
            for c in n.split(',') {
                let _ = rustix::fs::symlinkat(n.as_ref(), &dir, c);
            }
        }
    }
    if flags & MS_RDONLY != 0 {
        let fd2 = open_in_root(ctx.root, dest, OFlags::PATH).ctx(what)?;
        mount_raw(
            None,
            &fd_path(fd2.as_fd()),
            None,
            MS_REMOUNT | flags | MS_RDONLY,
            "mode=755",
        )
        .ctx(|| format!("remounting {} read-only", dest.display()))?;
    }
    Ok(())
}

/// The devices every container gets, as in runc's defaults.
pub fn default_devices() -> Vec<(&'static str, u32, u32)> {
    vec![
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
}

/// A device node to create in the container.
#[derive(Debug, Clone)]
pub struct DeviceNode<'a> {
    pub path: &'a Path,
    pub kind: LinuxDeviceType,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Create one device node inside the rootfs: mknod, or a bind mount of the host's node
/// inside a user namespace where mknod is refused.
pub fn create_device(ctx: &MountCtx<'_>, d: &DeviceNode<'_>) -> Result<()> {
    let DeviceNode {
        path,
        kind,
        major,
        minor,
        mode,
        uid,
        gid,
    } = d.clone();
    use rustix::fs::FileType;
    let parent = path.parent().unwrap_or(Path::new("/dev"));
    let name = path
        .file_name()
        .ok_or_else(|| RuntimeError::Usage(format!("bad device path {}", path.display())))?;
    mkdir_all_in_root(ctx.root, parent)?;
    let dir = open_in_root(ctx.root, parent, OFlags::DIRECTORY | OFlags::RDONLY)
        .ctx(|| format!("opening {} in rootfs", parent.display()))?;
    let ft = match kind {
        LinuxDeviceType::C | LinuxDeviceType::U => FileType::CharacterDevice,
        LinuxDeviceType::B => FileType::BlockDevice,
        LinuxDeviceType::P => FileType::Fifo,
        LinuxDeviceType::A => {
            return Err(RuntimeError::Usage(format!(
                "device {}: type 'a' is only valid in cgroup rules",
                path.display()
            )))
        }
    };
    if !ctx.userns {
        // Replace whatever the image has there.
        let _ = rustix::fs::unlinkat(&dir, name, rustix::fs::AtFlags::empty());
        let dev = rustix::fs::makedev(major as u32, minor as u32);
        rustix::fs::mknodat(&dir, name, ft, Mode::from_raw_mode(mode & 0o7777), dev)
            .ctx(|| format!("creating device {}", path.display()))?;
        // mknod applies the umask; set the exact mode and owner.
        let fd = rustix::fs::openat(
            &dir,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| format!("opening device {}", path.display()))?;
        let p = fd_path(fd.as_fd());
        rustix::fs::chmod(p.as_c_str(), Mode::from_raw_mode(mode & 0o7777))
            .ctx(|| format!("chmod device {}", path.display()))?;
        rustix::fs::chown(
            p.as_c_str(),
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        )
        .ctx(|| format!("chown device {}", path.display()))?;
        return Ok(());
    }
    // In a user namespace: bind-mount the host's node over an empty file.
    let fd = prepare_dest(ctx.root, path, true)?;
    let host = cstr(path)?;
    mount_raw(Some(&host), &fd_path(fd.as_fd()), None, MS_BIND, "")
        .ctx(|| format!("binding host device {}", path.display()))
}

/// Create the devices in the config's `linux.devices` list.
pub fn create_config_device(ctx: &MountCtx<'_>, d: &LinuxDevice) -> Result<()> {
    let mut mode = d.file_mode().unwrap_or(0o666);
    mode &= 0o7777;
    create_device(
        ctx,
        &DeviceNode {
            path: d.path(),
            kind: d.typ(),
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        },
    )
}

/// The /dev symlinks every container has.
pub fn dev_symlinks(ctx: &MountCtx<'_>) -> Result<()> {
    let dir = open_in_root(
        ctx.root,
        Path::new("/dev"),
        OFlags::DIRECTORY | OFlags::RDONLY,
    )
    .ctx(|| "opening /dev in rootfs".into())?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        match rustix::fs::symlinkat(target, &dir, name) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e).ctx(|| format!("creating /dev/{name}")),
        }
    }
    // /dev/ptmx points at the container's own devpts instance.
    if open_in_root(ctx.root, Path::new("/dev/pts/ptmx"), OFlags::PATH).is_ok() {
        let _ = rustix::fs::unlinkat(&dir, "ptmx", rustix::fs::AtFlags::empty());
        rustix::fs::symlinkat("pts/ptmx", &dir, "ptmx").ctx(|| "creating /dev/ptmx".into())?;
    }
    Ok(())
}

/// Move into the new root with pivot_root and detach the old one.
pub fn pivot_root(rootfs: &Path) -> Result<()> {
    let new = rustix::fs::open(
        rootfs,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("opening rootfs {}", rootfs.display()))?;
    let old = rustix::fs::open(
        "/",
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "opening /".into())?;
    rustix::process::fchdir(&new).ctx(|| format!("entering {}", rootfs.display()))?;
    // pivot_root(".", ".") stacks the old root under the new one; no directory needed.
    rustix::process::pivot_root(".", ".")
        .ctx(|| format!("pivot_root into {}", rootfs.display()))?;
    rustix::process::fchdir(&old).ctx(|| "entering old root".into())?;
    // Keep unmount events of the old root from reaching the host.
    let dot = CString::new(".").expect("static");
    mount_raw(None, &dot, None, libc::MS_SLAVE | MS_REC, "")
        .ctx(|| "making old root rslave".into())?;
    rustix::mount::unmount(".", rustix::mount::UnmountFlags::DETACH)
        .ctx(|| "detaching old root".into())?;
    rustix::process::chdir("/").ctx(|| "entering new root".into())?;
    Ok(())
}

/// The `--no-pivot` path: move the rootfs over / and chroot into it.
pub fn move_root(rootfs: &Path) -> Result<()> {
    rustix::process::chdir(rootfs).ctx(|| format!("entering {}", rootfs.display()))?;
    let src = cstr(rootfs)?;
    let slash = CString::new("/").expect("static");
    mount_raw(Some(&src), &slash, None, libc::MS_MOVE, "")
        .ctx(|| format!("moving {} to /", rootfs.display()))?;
    berth_sys::chroot(c".").ctx(|| "chroot".into())?;
    rustix::process::chdir("/").ctx(|| "entering new root".into())?;
    Ok(())
}

/// Enter the rootfs with chroot (no mount namespace of our own).
pub fn chroot_root(rootfs: &Path) -> Result<()> {
    let c = cstr(rootfs)?;
    berth_sys::chroot(&c).ctx(|| format!("chroot into {}", rootfs.display()))?;
    rustix::process::chdir("/").ctx(|| "entering new root".into())?;
    Ok(())
}

/// An fd on the real /dev/null (char 1:3), checked, for masking files.
pub fn open_verified_null() -> Result<OwnedFd> {
    let fd = rustix::fs::open(
        "/dev/null",
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "opening /dev/null".into())?;
    let st = rustix::fs::fstat(&fd).ctx(|| "stat /dev/null".into())?;
    let is_chr =
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::CharacterDevice;
    if !is_chr || rustix::fs::major(st.st_rdev) != 1 || rustix::fs::minor(st.st_rdev) != 3 {
        return Err(RuntimeError::Init(
            "/dev/null is not the null device (char 1:3); refusing to use it for masking".into(),
        ));
    }
    Ok(fd)
}

/// Hide a path: an empty read-only tmpfs over a directory, /dev/null over a file.
pub fn mask_path(root: BorrowedFd<'_>, path: &Path, null: BorrowedFd<'_>) -> Result<()> {
    let fd = match open_in_root(root, path, OFlags::PATH | OFlags::NOFOLLOW) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => return Ok(()),
        Err(e) => return Err(e).ctx(|| format!("opening masked path {}", path.display())),
    };
    let st = rustix::fs::fstat(&fd).ctx(|| format!("stat {}", path.display()))?;
    let target = fd_path(fd.as_fd());
    if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory {
        let t = CString::new("tmpfs").expect("static");
        mount_raw(Some(&t), &target, Some("tmpfs"), MS_RDONLY, "")
            .ctx(|| format!("masking {}", path.display()))
    } else {
        mount_raw(Some(&fd_path(null)), &target, None, MS_BIND, "")
            .ctx(|| format!("masking {}", path.display()))
    }
}

/// Make a path read-only: bind it onto itself and remount read-only.
pub fn readonly_path(root: BorrowedFd<'_>, path: &Path) -> Result<()> {
    let fd = match open_in_root(root, path, OFlags::PATH) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e).ctx(|| format!("opening read-only path {}", path.display())),
    };
    let target = fd_path(fd.as_fd());
    mount_raw(Some(&target), &target, None, MS_BIND | MS_REC, "")
        .ctx(|| format!("binding read-only path {}", path.display()))?;
    let fd2 =
        open_in_root(root, path, OFlags::PATH).ctx(|| format!("reopening {}", path.display()))?;
    remount_keep_locked(&fd_path(fd2.as_fd()), MS_RDONLY | MS_REC)
        .ctx(|| format!("remounting {} read-only", path.display()))
}

/// Remount the root read-only (readonly rootfs), keeping locked flags.
pub fn remount_root_readonly() -> Result<()> {
    let slash = CString::new("/").expect("static");
    remount_keep_locked(&slash, MS_RDONLY).ctx(|| "remounting / read-only".into())
}

/// Set the propagation of `/` (and everything below when recursive).
pub fn set_propagation(target: &str, flags: u64) -> Result<()> {
    let t = CString::new(target).expect("static path");
    mount_raw(None, &t, None, flags, "").ctx(|| format!("setting propagation of {target}"))
}

/// Make the mount that holds `path` private, so pivot_root accepts it.
pub fn make_parent_mount_private(path: &Path) -> Result<()> {
    // Walk up to the mount point that contains `path` using mountinfo.
    let mi = std::fs::read_to_string("/proc/self/mountinfo")
        .ctx(|| "reading /proc/self/mountinfo".into())?;
    let mut best: Option<(PathBuf, bool)> = None;
    for m in mi.lines().filter_map(MountInfo::parse) {
        let mp = m.mount_point;
        if path.starts_with(&mp)
            && best
                .as_ref()
                .is_none_or(|(b, _)| mp.as_os_str().len() >= b.as_os_str().len())
        {
            let shared = m.optional_fields.iter().any(|o| o.starts_with("shared:"));
            best = Some((mp, shared));
        }
    }
    if let Some((mp, true)) = best {
        let c = cstr(&mp)?;
        mount_raw(None, &c, None, libc::MS_PRIVATE, "")
            .ctx(|| format!("making {} private", mp.display()))?;
    }
    Ok(())
}

/// Check that an open file lives on procfs (never write kernel settings to an impostor).
pub fn ensure_procfs(fd: BorrowedFd<'_>, what: &Path) -> Result<()> {
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    let st = rustix::fs::fstatfs(fd).ctx(|| format!("statfs {}", what.display()))?;
    if st.f_type as i64 != PROC_SUPER_MAGIC {
        return Err(RuntimeError::Init(format!(
            "{} is not on procfs (f_type {:#x}); refusing to write to it",
            what.display(),
            st.f_type
        )));
    }
    Ok(())
}

/// Open a file under /proc for writing, refusing anything that is not procfs or that is
/// reached through a symlink or another mount.
pub fn open_proc_file(rel: &str) -> Result<OwnedFd> {
    let proc = rustix::fs::open(
        "/proc",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "opening /proc".into())?;
    ensure_procfs(proc.as_fd(), Path::new("/proc"))?;
    let path = Path::new("/proc").join(rel);
    let fd = rustix::fs::openat2(
        &proc,
        rel,
        OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH
            | ResolveFlags::NO_SYMLINKS
            | ResolveFlags::NO_XDEV
            | ResolveFlags::NO_MAGICLINKS,
    )
    .ctx(|| format!("opening {}", path.display()))?;
    ensure_procfs(fd.as_fd(), &path)?;
    Ok(fd)
}

/// Write one sysctl through /proc/sys (after verifying it is procfs).
pub fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let rel = format!("sys/{}", key.replace('.', "/"));
    let fd = open_proc_file(&rel)?;
    rustix::io::write(&fd, value.as_bytes()).ctx(|| format!("setting sysctl {key}={value}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn mkdir_all_in_root_stays_inside_the_root() {
        let t = tempfile::tempdir().expect("tempdir");
        let root_dir = t.path().join("root");
        let outside = t.path().join("outside");
        std::fs::create_dir_all(root_dir.join("real")).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        // A relative link, an absolute link naming a host path, and a file in the way.
        std::os::unix::fs::symlink("real", root_dir.join("rel")).expect("symlink");
        std::os::unix::fs::symlink(&outside, root_dir.join("abs")).expect("symlink");
        std::fs::write(root_dir.join("file"), b"x").expect("write");
        let root = rustix::fs::open(&root_dir, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
            .expect("open root");
        let made = |p: &str| mkdir_all_in_root(root.as_fd(), Path::new(p));

        made("/a/b/c").expect("nested");
        assert!(root_dir.join("a/b/c").is_dir());
        made("/a/b/c").expect("existing");
        made("/a/b/d").expect("sibling");
        assert!(root_dir.join("a/b/d").is_dir());
        made("rel/x/y").expect("through a relative link");
        assert!(root_dir.join("real/x/y").is_dir());
        let inside = root_dir.join(outside.strip_prefix("/").expect("absolute"));
        std::fs::create_dir_all(&inside).expect("mkdir");
        made("/abs/z").expect("through an absolute link");
        assert!(inside.join("z").is_dir(), "created inside the root");
        assert!(!outside.join("z").exists(), "nothing created on the host");
        made("/a/../dotdot/e").expect("with ..");
        assert!(root_dir.join("dotdot/e").is_dir());
        let e = made("/file/sub").expect_err("a file in the way");
        assert!(e.to_string().contains("/file"), "{e}");
    }

    #[test]
    fn options_split_into_flags_data_and_propagation() {
        let o = parse_options(&s(&[
            "nosuid",
            "strictatime",
            "mode=755",
            "size=65536k",
            "rprivate",
        ]));
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert_eq!(o.propagation, vec![libc::MS_PRIVATE | libc::MS_REC]);
    }

    #[test]
    fn later_options_override_earlier() {
        let o = parse_options(&s(&["ro", "rw", "rbind"]));
        assert_eq!(o.flags, MS_BIND | MS_REC);
        let o = parse_options(&s(&["rro", "rrw", "rnoexec"]));
        assert_eq!(o.rec_set, berth_sys::MOUNT_ATTR_NOEXEC);
        assert_eq!(o.rec_clear, berth_sys::MOUNT_ATTR_RDONLY);
    }
}
