//! What the running kernel offers. berth supports Linux 5.10 and newer; the syscalls it
//! uses that came later (or that a seccomp filter around berth may refuse) are probed
//! here once per process, each with the kernel version that brought it, so callers pick
//! a fallback or fail with an error naming the feature instead of a bare `ENOSYS`.
//!
//! `BERTH_KERNEL_DISABLE=name,name…` (names from [`Feature::name`]) makes a probe answer
//! "missing", so every fallback runs in tests on a kernel that would not need it. It is
//! read from the environment, so a daemon started with it passes it on to the runtime
//! and shims it spawns.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::OnceLock;

/// The environment variable that disables features for testing fallbacks.
pub const DISABLE_ENV: &str = "BERTH_KERNEL_DISABLE";

/// The oldest kernel berth supports.
pub const MIN_KERNEL: (u32, u32) = (5, 10);

/// A kernel feature berth uses when it is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// fsopen/fsconfig/fsmount/move_mount/open_tree (Linux 5.2).
    NewMountApi,
    /// mount_setattr (Linux 5.12): read-only and other attributes on a detached or
    /// whole mount tree.
    MountSetattr,
    /// openat2 with RESOLVE_IN_ROOT (Linux 5.6).
    Openat2,
    /// clone3 (Linux 5.3; CLONE_INTO_CGROUP in 5.7). Container seccomp profiles answer
    /// ENOSYS to it, so a berth inside a container lacks it on any kernel.
    Clone3,
    /// close_range with CLOSE_RANGE_CLOEXEC (Linux 5.11).
    CloseRangeCloexec,
    /// pidfd_open and pidfd_send_signal (Linux 5.3).
    Pidfd,
}

impl Feature {
    pub const ALL: [Feature; 6] = [
        Feature::NewMountApi,
        Feature::MountSetattr,
        Feature::Openat2,
        Feature::Clone3,
        Feature::CloseRangeCloexec,
        Feature::Pidfd,
    ];

    /// The name used in [`DISABLE_ENV`], logs and `berth info`.
    pub fn name(self) -> &'static str {
        match self {
            Feature::NewMountApi => "new-mount-api",
            Feature::MountSetattr => "mount_setattr",
            Feature::Openat2 => "openat2",
            Feature::Clone3 => "clone3",
            Feature::CloseRangeCloexec => "close_range",
            Feature::Pidfd => "pidfd",
        }
    }

    /// The kernel that brought it, as users compare it with `uname -r`.
    pub fn since(self) -> &'static str {
        match self {
            Feature::NewMountApi => "Linux 5.2",
            Feature::MountSetattr => "Linux 5.12",
            Feature::Openat2 => "Linux 5.6",
            Feature::Clone3 => "Linux 5.3",
            Feature::CloseRangeCloexec => "Linux 5.11",
            Feature::Pidfd => "Linux 5.3",
        }
    }

    /// What berth does without it.
    pub fn fallback(self) -> &'static str {
        match self {
            Feature::NewMountApi => {
                "mounts use mount(2); the runtime seals itself with a memfd copy"
            }
            Feature::MountSetattr => {
                "read-only binds are remounted read-only after mounting; recursive \
                 read-only (rro) mounts are refused"
            }
            Feature::Openat2 => "none: berth needs it to resolve paths inside containers",
            Feature::Clone3 => "processes are created with clone(2)",
            Feature::CloseRangeCloexec => "descriptors are marked close-on-exec one by one",
            Feature::Pidfd => "signals go by process id",
        }
    }

    /// Whether berth cannot work without it.
    pub fn required(self) -> bool {
        matches!(self, Feature::Openat2)
    }
}

/// The probed features of this kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    bits: u32,
}

impl Features {
    pub fn has(&self, f: Feature) -> bool {
        self.bits & (1 << f as u32) != 0
    }

    /// The features this kernel lacks (or that were disabled), in [`Feature::ALL`]
    /// order.
    pub fn missing(&self) -> Vec<Feature> {
        Feature::ALL.into_iter().filter(|f| !self.has(*f)).collect()
    }

    /// Fails naming the first required feature that is missing.
    pub fn check_required(&self) -> io::Result<()> {
        match self.missing().into_iter().find(|f| f.required()) {
            None => Ok(()),
            Some(f) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "this kernel ({}) lacks {} ({}); berth needs Linux {}.{} or newer",
                    release(),
                    f.name(),
                    f.since(),
                    MIN_KERNEL.0,
                    MIN_KERNEL.1
                ),
            )),
        }
    }

    fn from_fn(mut has: impl FnMut(Feature) -> bool) -> Features {
        let mut bits = 0;
        for f in Feature::ALL {
            if has(f) {
                bits |= 1 << f as u32;
            }
        }
        Features { bits }
    }
}

/// The running kernel's features, probed on first use.
pub fn features() -> Features {
    static F: OnceLock<Features> = OnceLock::new();
    *F.get_or_init(|| {
        let disabled = disabled_by_env();
        Features::from_fn(|f| !disabled.contains(&f) && probe(f))
    })
}

/// Shorthand for `features().has(f)`.
pub fn has(f: Feature) -> bool {
    features().has(f)
}

/// Whether `name` (a feature of this module, or a berth-specific probe such as
/// "overlay-lowerdir+") is disabled through [`DISABLE_ENV`].
pub fn disabled(name: &str) -> bool {
    std::env::var(DISABLE_ENV).is_ok_and(|v| v.split(',').any(|n| n.trim() == name))
}

fn disabled_by_env() -> Vec<Feature> {
    Feature::ALL
        .into_iter()
        .filter(|f| disabled(f.name()))
        .collect()
}

/// `uname -r`.
pub fn release() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

/// The kernel's (major, minor) version, from `uname -r`.
pub fn version() -> (u32, u32) {
    parse_version(&release())
}

fn parse_version(release: &str) -> (u32, u32) {
    let mut nums = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().ok());
    match (nums.next().flatten(), nums.next().flatten()) {
        (Some(a), Some(b)) => (a, b),
        (Some(a), None) => (a, 0),
        _ => (0, 0),
    }
}

fn errno_of(r: libc::c_long) -> Option<i32> {
    (r == -1).then(|| io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

fn probe(f: Feature) -> bool {
    match f {
        Feature::NewMountApi => {
            match rustix::mount::fsopen("tmpfs", rustix::mount::FsOpenFlags::FSOPEN_CLOEXEC) {
                Ok(_) => true,
                Err(e) => e != rustix::io::Errno::NOSYS && e != rustix::io::Errno::PERM,
            }
        }
        Feature::MountSetattr => {
            // A zero-sized attribute: EINVAL where the syscall exists, ENOSYS where not.
            // SAFETY: the kernel rejects the size before reading the NULL pointer.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_mount_setattr,
                    -1,
                    c"".as_ptr(),
                    libc::AT_EMPTY_PATH as u32,
                    std::ptr::null::<u8>(),
                    0usize,
                )
            };
            !matches!(errno_of(r), Some(libc::ENOSYS) | Some(libc::EPERM))
        }
        Feature::Openat2 => rustix::fs::openat2(
            rustix::fs::CWD,
            "/",
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
            rustix::fs::ResolveFlags::IN_ROOT | rustix::fs::ResolveFlags::NO_MAGICLINKS,
        )
        .is_ok(),
        Feature::Clone3 => {
            // A too-small argument: EINVAL where clone3 exists, ENOSYS where not (or
            // where seccomp answers for it).
            // SAFETY: the kernel rejects the size before reading the NULL pointer.
            let r = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) };
            !matches!(errno_of(r), Some(libc::ENOSYS) | Some(libc::EPERM))
        }
        Feature::CloseRangeCloexec => {
            // An empty range above every descriptor: changes nothing, EINVAL when the
            // flag is unknown (5.9, 5.10), ENOSYS before close_range.
            // SAFETY: close_range passes no memory.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_close_range,
                    u32::MAX,
                    u32::MAX,
                    libc::CLOSE_RANGE_CLOEXEC,
                )
            };
            errno_of(r).is_none()
        }
        Feature::Pidfd => {
            match rustix::process::pidfd_open(
                rustix::process::getpid(),
                rustix::process::PidfdFlags::empty(),
            ) {
                Ok(fd) => {
                    // pidfd_send_signal with signal 0 checks the other half.
                    // SAFETY: a valid pidfd, signal 0, no siginfo.
                    let r = unsafe {
                        libc::syscall(
                            libc::SYS_pidfd_send_signal,
                            fd.as_raw_fd(),
                            0,
                            std::ptr::null::<u8>(),
                            0,
                        )
                    };
                    errno_of(r).is_none()
                }
                Err(_) => false,
            }
        }
    }
}

/// A one-line summary for logs: the kernel and each missing feature with its fallback.
pub fn summary() -> String {
    let f = features();
    let missing = f.missing();
    if missing.is_empty() {
        return format!("kernel {}: every probed feature present", release());
    }
    let parts: Vec<String> = missing
        .iter()
        .map(|m| format!("no {} ({}): {}", m.name(), m.since(), m.fallback()))
        .collect();
    format!("kernel {}: {}", release(), parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("6.1.0-42-amd64"), (6, 1));
        assert_eq!(parse_version("5.14.0-427.el9.x86_64"), (5, 14));
        assert_eq!(parse_version("6.18.44-fc-v1272"), (6, 18));
        assert_eq!(parse_version("garbage"), (0, 0));
    }

    #[test]
    fn missing_and_required() {
        let all = Features::from_fn(|_| true);
        assert!(all.missing().is_empty());
        assert!(all.check_required().is_ok());
        let no_setattr = Features::from_fn(|f| f != Feature::MountSetattr);
        assert_eq!(no_setattr.missing(), vec![Feature::MountSetattr]);
        assert!(no_setattr.check_required().is_ok());
        let no_openat2 = Features::from_fn(|f| f != Feature::Openat2);
        let e = no_openat2.check_required().unwrap_err().to_string();
        assert!(e.contains("openat2") && e.contains("Linux 5.6"), "{e}");
    }

    /// The probes agree with what the syscalls do on this kernel (whatever it is):
    /// a present feature's syscall works.
    #[test]
    fn probes_match_the_syscalls() {
        if probe(Feature::Pidfd) {
            rustix::process::pidfd_open(
                rustix::process::getpid(),
                rustix::process::PidfdFlags::empty(),
            )
            .expect("pidfd_open after a positive probe");
        }
        if probe(Feature::CloseRangeCloexec) {
            // Above every descriptor this test could hold.
            crate::cloexec_from(1 << 20).expect("close_range after a positive probe");
        }
        if probe(Feature::MountSetattr) && rustix::process::geteuid().is_root() {
            let t = rustix::mount::open_tree(
                rustix::fs::CWD,
                "/",
                rustix::mount::OpenTreeFlags::OPEN_TREE_CLOEXEC,
            )
            .expect("open_tree /");
            // Clearing nothing is allowed on any mount.
            crate::mount_setattr(std::os::fd::AsFd::as_fd(&t), false, 0, 0)
                .expect("mount_setattr after a positive probe");
        }
    }
}
