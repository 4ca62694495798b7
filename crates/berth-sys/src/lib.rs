//! berth-sys: the only crate with `unsafe`. Each function wraps one raw syscall (or a
//! tight group of them) behind a safe signature; every `unsafe` block states the
//! invariant it relies on. Most syscalls berth needs come safely from `rustix`; what it
//! lacks (clone3 with namespace flags, execve, personality, ioprio, sched_setattr,
//! close_range, mount_setattr, sigwaitinfo) lives here.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

mod in_root;
pub mod kernel;
pub mod mountinfo;

pub use in_root::open_in_root;

/// What `fork_with_flags` returns in each process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// In the parent: the child's pid (in the parent's pid namespace).
    Parent(i32),
    /// In the child.
    Child,
}

/// Number of threads of the calling process, from /proc/self/stat.
pub fn thread_count() -> io::Result<usize> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::other("malformed /proc/self/stat"))?;
    // Field 20 (num_threads) is the 18th field after the ')' (state is field 3).
    rest.split_whitespace()
        .nth(17)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other("malformed /proc/self/stat"))
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Fork the calling process with clone3, creating the namespaces named in `flags`
/// (CLONE_NEW*). The child gets SIGCHLD as its exit signal, like fork(2).
/// `cgroup_fd`, if given, places the child directly into that cgroup v2 directory.
///
/// Refuses to run in a multi-threaded process: a fork there could leave locks held by
/// threads that do not exist in the child.
pub fn fork_with_flags(flags: u64, cgroup_fd: Option<BorrowedFd<'_>>) -> io::Result<Forked> {
    if thread_count()? != 1 {
        return Err(io::Error::other(
            "refusing to fork a multi-threaded process",
        ));
    }
    let clone3 = kernel::has(kernel::Feature::Clone3);
    if !clone3 {
        if cgroup_fd.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "starting a process in a cgroup needs clone3 (Linux 5.7), which this \
                 kernel or a seccomp filter refuses",
            ));
        }
        return fork_clone(flags);
    }
    let mut args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup_fd {
        args.flags |= 0x2_0000_0000; // CLONE_INTO_CGROUP
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: clone3 without a stack behaves like fork: the child continues on a copy of
    // the parent's stack. The process was checked to be single-threaded above, so no
    // other thread can hold a lock (allocator, stdio) that the child would inherit held.
    // `args` is a valid, initialised clone_args of the size we pass.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as i32)),
    }
}

/// The clone(2) form of [`fork_with_flags`], for kernels or seccomp filters without
/// clone3. The caller has checked that the process is single-threaded.
fn fork_clone(flags: u64) -> io::Result<Forked> {
    // clone(2) takes the namespace flags in the low 32 bits with the exit signal.
    let flags = u32::try_from(flags).map_err(|_| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!("clone flags {flags:#x} need clone3 (Linux 5.3)"),
        )
    })?;
    // SAFETY: clone without CLONE_VM and with a NULL stack behaves like fork: the child
    // runs on a copy of the parent's memory and stack. The process is single-threaded
    // (checked by the caller), so no lock can be inherited held. The parent/child tid
    // and tls arguments are unused without the flags that read them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags as libc::c_ulong) | libc::SIGCHLD as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as i32)),
    }
}

/// Plain fork(2), through the C library: unlike [`fork_with_flags`] it does not need
/// clone3, which seccomp profiles (Docker's default among them) answer with ENOSYS, so
/// it works inside a container (berth-init uses it). Refuses to run in a multi-threaded
/// process, for the same reason as [`fork_with_flags`].
pub fn fork() -> io::Result<Forked> {
    if thread_count()? != 1 {
        return Err(io::Error::other(
            "refusing to fork a multi-threaded process",
        ));
    }
    // SAFETY: the process was checked to be single-threaded, so the child cannot
    // inherit a lock held by another thread; the child continues on a copy of our
    // stack and memory, as fork(2) specifies.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// Replace the process image. Only returns on failure.
pub fn execve(path: &CStr, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: path, every argv and envp entry are NUL-terminated C strings that outlive
    // the call, and both arrays are NULL-terminated.
    unsafe { libc::execve(path.as_ptr(), a.as_ptr(), e.as_ptr()) };
    io::Error::last_os_error()
}

/// execveat(fd, "", argv, envp, AT_EMPTY_PATH): run the program `fd` refers to.
pub fn fexecve(fd: BorrowedFd<'_>, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: as for execve; the empty path is a valid C string and fd is open.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            a.as_ptr(),
            e.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}

/// Exit at once without running atexit handlers or flushing stdio (for forked children).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(code) }
}

/// Mark every fd >= `first` close-on-exec: close_range with CLOSE_RANGE_CLOEXEC
/// (Linux 5.11), else one fcntl per open descriptor.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    if !kernel::has(kernel::Feature::CloseRangeCloexec) {
        return cloexec_each_from(first);
    }
    // SAFETY: close_range only changes fd flags; no memory is passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The fallback of [`cloexec_from`]: the descriptors listed in /proc/self/fd, or where
/// /proc is not mounted, every number below the open-files limit.
fn cloexec_each_from(first: u32) -> io::Result<()> {
    let set = |fd: i32| -> io::Result<()> {
        // SAFETY: F_GETFD/F_SETFD only change the descriptor's flags; a number that is
        // not open gives EBADF, which is skipped.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags == -1 {
            return Ok(());
        }
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        // Collect first: the directory's own descriptor is among them.
        let fds: Vec<i32> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        for fd in fds.into_iter().filter(|fd| *fd >= first as i32) {
            set(fd)?;
        }
        return Ok(());
    }
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1 << 20)
        .min(1 << 20) as i32;
    for fd in first as i32..limit {
        set(fd)?;
    }
    Ok(())
}

/// personality(2).
pub fn personality(persona: u64) -> io::Result<()> {
    // SAFETY: personality takes a plain integer.
    if unsafe { libc::personality(persona as libc::c_ulong) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// ioprio_set(IOPRIO_WHO_PROCESS, 0, class << 13 | level).
pub fn ioprio_set_self(class: u32, level: u32) -> io::Result<()> {
    let prio = (class << 13) | level;
    // SAFETY: integer arguments only.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, prio) };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Scheduling attributes for `sched_setattr`.
#[derive(Debug, Default, Clone)]
pub struct SchedAttr {
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

#[repr(C)]
struct RawSchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
}

/// sched_setattr(0, attr, 0) for the calling thread.
pub fn sched_setattr_self(a: &SchedAttr) -> io::Result<()> {
    let raw = RawSchedAttr {
        size: std::mem::size_of::<RawSchedAttr>() as u32,
        sched_policy: a.policy,
        sched_flags: a.flags,
        sched_nice: a.nice,
        sched_priority: a.priority,
        sched_runtime: a.runtime,
        sched_deadline: a.deadline,
        sched_period: a.period,
    };
    // SAFETY: `raw` is a valid sched_attr whose size field matches its layout.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &raw as *const RawSchedAttr, 0) };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Mount attributes for `mount_setattr`.
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR_ATIME_MASK: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), ...).
pub fn mount_setattr(fd: BorrowedFd<'_>, recursive: bool, set: u64, clear: u64) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH as u32;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: `attr` is a valid mount_attr of the size passed; the path is "".
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A set of blocked signals; blocks every signal on creation, restores on `restore`.
pub struct SignalMask {
    old: libc::sigset_t,
}

impl SignalMask {
    /// Block all signals for the calling thread, remembering the previous mask.
    pub fn block_all() -> io::Result<SignalMask> {
        // SAFETY: sigset_t is plain data; sigfillset/sigprocmask write into valid
        // pointers to locals.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            if libc::sigprocmask(libc::SIG_SETMASK, &all, &mut old) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(SignalMask { old })
        }
    }

    /// Wait for any blocked signal; returns its number.
    pub fn wait(&self) -> io::Result<i32> {
        // SAFETY: as above, valid pointers to locals.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let r = libc::sigwaitinfo(&all, &mut info);
            if r == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(r)
        }
    }

    /// Restore the mask that was in force before `block_all`.
    pub fn restore(&self) -> io::Result<()> {
        // SAFETY: `self.old` was filled in by sigprocmask.
        if unsafe { libc::sigprocmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) } == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Reset every signal's disposition to the default (for a child about to exec).
pub fn reset_signal_handlers() {
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: setting SIG_DFL is always valid for catchable signals; errors for
        // numbers the kernel reserves are ignored.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}

/// Send a signal to one process.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: integer arguments only.
    if unsafe { libc::kill(pid, sig) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Send a signal through a pidfd (no pid-reuse race).
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    // SAFETY: integer arguments and a null siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Set the controlling terminal's window size.
pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Read the window size of a terminal.
pub fn get_winsize(fd: BorrowedFd<'_>) -> io::Result<(u16, u16)> {
    // SAFETY: TIOCGWINSZ writes a winsize into a valid pointer to a local.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok((ws.ws_row, ws.ws_col))
    }
}

/// Whether `fd` is a terminal.
pub fn isatty(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: isatty only queries the descriptor.
    unsafe { libc::isatty(fd.as_raw_fd()) == 1 }
}

/// Put a terminal in raw mode; returns the previous settings for `restore_termios`.
pub fn make_raw(fd: BorrowedFd<'_>) -> io::Result<libc::termios> {
    // SAFETY: tcgetattr/tcsetattr read and write a termios struct we own.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd.as_raw_fd(), &mut t) == -1 {
            return Err(io::Error::last_os_error());
        }
        let old = t;
        libc::cfmakeraw(&mut t);
        if libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &t) == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(old)
    }
}

/// Restore terminal settings saved by `make_raw`.
pub fn restore_termios(fd: BorrowedFd<'_>, t: &libc::termios) {
    // SAFETY: `t` is a valid termios obtained from tcgetattr.
    unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, t) };
}

pub mod seccomp;

/// mount(2) with raw MS_* flags. `None` passes NULL.
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: u64,
    data: Option<&CStr>,
) -> io::Result<()> {
    let p = |c: Option<&CStr>| c.map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is either NULL or a NUL-terminated string that outlives the
    // call; the kernel copies what it needs.
    let r = unsafe {
        libc::mount(
            p(source),
            target.as_ptr(),
            p(fstype),
            flags as libc::c_ulong,
            p(data) as *const libc::c_void,
        )
    };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// chroot(2).
pub fn chroot(path: &CStr) -> io::Result<()> {
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::chroot(path.as_ptr()) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Clear FD_CLOEXEC on one descriptor so it survives exec (for --preserve-fds).
pub fn clear_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an integer descriptor; errors are reported.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Make the calling process a child subreaper (orphans below it are reparented to it).
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Join a new session keyring named `name` (keyctl JOIN_SESSION_KEYRING).
pub fn join_session_keyring(name: &CStr) -> io::Result<()> {
    // SAFETY: keyctl with a valid NUL-terminated name.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, 1, name.as_ptr()) };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
pub mod bpf;

/// Unblock every signal for the calling thread (a child about to exec inherits a mask
/// that blocks everything from the runtime).
pub fn unblock_all_signals() {
    // SAFETY: sigset_t is plain data; pointers are to locals.
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
}

/// Block every signal for the calling thread and return nothing; pair with
/// `wait_signal` and `unblock_all_signals`.
pub fn block_all_signals() {
    // SAFETY: as above.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
    }
}

/// Wait for any signal (they must be blocked), up to `timeout_ms`; None on timeout.
pub fn wait_signal(timeout_ms: u64) -> Option<i32> {
    // SAFETY: valid pointers to locals.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        let ts = libc::timespec {
            tv_sec: (timeout_ms / 1000) as libc::time_t,
            tv_nsec: ((timeout_ms % 1000) * 1_000_000) as libc::c_long,
        };
        let r = libc::sigtimedwait(&all, std::ptr::null_mut(), &ts);
        if r == -1 {
            None
        } else {
            Some(r)
        }
    }
}

/// unshare(2) with raw CLONE_* flags.
pub fn unshare(flags: i32) -> io::Result<()> {
    // SAFETY: unshare takes an integer; the runtime is single-threaded where it matters
    // (CLONE_NEWUSER/CLONE_FS), which the kernel checks itself.
    if unsafe { libc::unshare(flags) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Block SIGCHLD for the calling thread and return a non-blocking, close-on-exec
/// signalfd that becomes readable when a child changes state (the shim polls it).
/// Children inherit the blocked mask; the container's init unblocks every signal
/// before it execs.
pub fn sigchld_fd() -> io::Result<OwnedFd> {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset/sigprocmask take valid
    // pointers to locals; signalfd(-1, …) returns a new descriptor we own at once.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) == -1 {
            return Err(io::Error::last_os_error());
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
        if fd == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Marks `dir` as the top of a directory hierarchy (ext4's `chattr +T`), so that the
/// filesystem places each new subdirectory in its own block group instead of next to
/// `dir`. berth sets it on the parents of per-container and per-snapshot directories:
/// on ext4 without a journal, allocating an inode scans past every inode of the group
/// freed in the last 30 seconds, which made each file created while containers come
/// and go in quick succession slower than the last. Filesystems without the flag
/// return an error the caller may ignore.
pub fn spread_subdirectories(dir: &std::path::Path) -> io::Result<()> {
    use rustix::fs::{ioctl_getflags, ioctl_setflags, IFlags};
    let fd = rustix::fs::open(
        dir,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let flags = ioctl_getflags(&fd)?;
    if !flags.contains(IFlags::TOPDIR) {
        ioctl_setflags(&fd, flags | IFlags::TOPDIR)?;
    }
    Ok(())
}

/// Drop from this process's page tables every resident page of its read-only, private,
/// file-backed mappings (the program's text and read-only data) that still equals the
/// file: mappings holding no anonymous (copied-on-write) page, such as relocated
/// RELRO data, are left alone. The pages stay in the page cache; touching them again
/// maps them back. A long-lived daemon calls this after an expensive set-up path so
/// its resident set is only what it uses from then on. Returns the bytes of mappings
/// released. Also gives free heap memory back to the kernel (glibc's malloc_trim).
pub fn drop_clean_file_pages() -> io::Result<usize> {
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    let mut cur: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        if let Some(v) = line.strip_prefix("Anonymous:") {
            let anon_kb: Option<u64> = v.trim().trim_end_matches("kB").trim().parse().ok();
            if let (Some(r), Some(0)) = (cur.take(), anon_kb) {
                ranges.push(r);
            }
            continue;
        }
        let mut f = line.split_ascii_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        else {
            continue; // a "Field: value" line
        };
        // A new mapping starts.
        cur = None;
        let (_offset, _dev, inode) = (f.next(), f.next(), f.next());
        let path = f.next().unwrap_or("");
        let p = perms.as_bytes();
        let candidate = p.len() == 4
            && p[0] == b'r'
            && p[1] == b'-'
            && p[3] == b'p'
            && inode.is_some_and(|i| i != "0")
            && !path.is_empty()
            && !path.starts_with('[');
        if candidate {
            cur = Some((start, end));
        }
    }
    drop(smaps);
    // All parsing is done before the first page goes: code run after the madvise calls
    // faults its pages (and their neighbours) back in.
    let mut released = 0;
    for &(start, end) in &ranges {
        // SAFETY: [start, end) is a whole mapping of this process, read-only, private
        // and backed by a file, holding no anonymous page (checked from smaps just now;
        // nothing writes to a read-only mapping in between). MADV_DONTNEED on such a
        // mapping only unmaps page-cache pages: the next access faults in the same bytes
        // from the file, so no memory content changes.
        let r =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        if r == 0 {
            released += end - start;
        }
    }
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: malloc_trim only returns free heap memory to the kernel; glibc
        // takes its own locks, so it may be called at any time.
        unsafe { libc::malloc_trim(0) };
    }
    Ok(released)
}

/// The longest path `sun_path` holds, less its terminating NUL.
const SUN_PATH_MAX: usize = 107;

/// A unix socket path usable with bind(2) and connect(2) whatever its length: paths
/// that do not fit `sun_path` (108 bytes) are reached through `/proc/self/fd/N/NAME`,
/// with N an `O_PATH` descriptor of the parent directory, held for as long as this
/// value lives.
#[derive(Debug)]
pub struct SocketPath {
    path: std::path::PathBuf,
    _dir: Option<OwnedFd>,
}

impl SocketPath {
    pub fn new(path: &std::path::Path) -> io::Result<SocketPath> {
        use std::os::unix::ffi::OsStrExt;
        if path.as_os_str().as_bytes().len() <= SUN_PATH_MAX {
            return Ok(SocketPath {
                path: path.to_path_buf(),
                _dir: None,
            });
        }
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: not a socket path", path.display()),
            ));
        };
        let dir = rustix::fs::open(
            parent,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )?;
        let short = std::path::Path::new(&format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
        if short.as_os_str().as_bytes().len() > SUN_PATH_MAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: socket name too long", path.display()),
            ));
        }
        Ok(SocketPath {
            path: short,
            _dir: Some(dir),
        })
    }

    /// The path to hand to bind or connect.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

#[cfg(test)]
mod socket_path_tests {
    use super::SocketPath;

    #[test]
    fn long_socket_paths_bind_and_connect() {
        let base = std::env::temp_dir().join(format!("berth-sys-sock-{}", std::process::id()));
        let deep = base.join("x".repeat(60)).join("y".repeat(60));
        std::fs::create_dir_all(&deep).expect("mkdir");
        let sock = deep.join("s.sock");
        assert!(sock.as_os_str().len() > 108);
        let sp = SocketPath::new(&sock).expect("socket path");
        let l = std::os::unix::net::UnixListener::bind(sp.path()).expect("bind");
        assert!(sock.exists(), "the socket is at its real path");
        let c = SocketPath::new(&sock).expect("socket path");
        let _s = std::os::unix::net::UnixStream::connect(c.path()).expect("connect");
        let (_peer, _) = l.accept().expect("accept");
        let short = base.join("short.sock");
        assert_eq!(
            SocketPath::new(&short).expect("short").path(),
            short.as_path()
        );
        let _ = std::fs::remove_dir_all(&base);
    }
}

#[cfg(test)]
mod spread_tests {
    #[test]
    fn spread_subdirectories_sets_the_flag_where_supported() {
        use rustix::fs::{ioctl_getflags, IFlags, Mode, OFlags};
        let d = std::env::temp_dir().join(format!("berth-sys-topdir-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("mkdir");
        let res = super::spread_subdirectories(&d);
        let fd =
            rustix::fs::open(&d, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).expect("open");
        match res {
            Ok(()) => {
                let f = ioctl_getflags(&fd).expect("flags readable after setting them");
                assert!(f.contains(IFlags::TOPDIR), "{f:?}");
                // Setting it twice is harmless.
                super::spread_subdirectories(&d).expect("second time");
            }
            // A filesystem without the flag (tmpfs): the error is told, not hidden.
            Err(e) => assert!(e.raw_os_error().is_some(), "{e}"),
        }
        std::fs::remove_dir(&d).expect("rmdir");
    }
}

/// A signal given as a number (1-64), or a name with or without `SIG` in any case
/// (`KILL`, `SIGterm`, `RTMIN+3`, `RTMAX-1`); None when it names no signal.
pub fn signal_number(s: &str) -> Option<i32> {
    let valid = |n: i32| (1..=64).contains(&n).then_some(n);
    if let Ok(n) = s.parse::<i32>() {
        return valid(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" | "CLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        "RTMIN" => libc::SIGRTMIN(),
        "RTMAX" => libc::SIGRTMAX(),
        other => {
            if let Some(k) = other.strip_prefix("RTMIN+") {
                libc::SIGRTMIN() + k.parse::<i32>().ok()?
            } else if let Some(k) = other.strip_prefix("RTMAX-") {
                libc::SIGRTMAX() - k.parse::<i32>().ok()?
            } else {
                return None;
            }
        }
    };
    valid(n)
}

#[cfg(test)]
mod signal_tests {
    use super::signal_number;

    #[test]
    fn names_and_numbers() {
        assert_eq!(signal_number("KILL"), Some(9));
        assert_eq!(signal_number("sigterm"), Some(15));
        assert_eq!(signal_number("SIGCLD"), Some(libc::SIGCHLD));
        assert_eq!(signal_number("RTMIN+2"), Some(libc::SIGRTMIN() + 2));
        assert_eq!(signal_number("RTMAX-1"), Some(libc::SIGRTMAX() - 1));
        assert_eq!(signal_number("3"), Some(3));
        for bad in ["0", "65", "NOPE", "RTMIN+x", "RTMAX-70", ""] {
            assert_eq!(signal_number(bad), None, "{bad}");
        }
    }
}

#[cfg(test)]
mod fallback_tests {
    use std::os::fd::AsRawFd;

    fn cloexec(fd: i32) -> bool {
        // SAFETY: F_GETFD on a descriptor this test owns.
        let f = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        assert!(f != -1, "fcntl: {}", std::io::Error::last_os_error());
        f & libc::FD_CLOEXEC != 0
    }

    /// Without close_range's CLOEXEC flag (Linux < 5.11) descriptors are marked one by
    /// one: a descriptor above `first` gets the flag, one below keeps its state.
    #[test]
    fn cloexec_one_by_one() {
        let a = std::fs::File::open("/dev/null").expect("open");
        let b = std::fs::File::open("/dev/null").expect("open");
        let (lo, hi) = if a.as_raw_fd() < b.as_raw_fd() {
            (a.as_raw_fd(), b.as_raw_fd())
        } else {
            (b.as_raw_fd(), a.as_raw_fd())
        };
        super::clear_cloexec(lo).expect("clear");
        super::clear_cloexec(hi).expect("clear");
        super::cloexec_each_from(hi as u32).expect("fallback");
        assert!(cloexec(hi), "fd {hi} at the start of the range is marked");
        assert!(!cloexec(lo), "fd {lo} below the range is left alone");
    }

    /// Without clone3 (Linux < 5.3, or a seccomp profile that answers ENOSYS) the fork
    /// goes through clone(2): the child runs and its exit status comes back.
    #[test]
    fn fork_through_clone() {
        match super::fork_clone(0).expect("clone") {
            super::Forked::Child => super::exit_now(7),
            super::Forked::Parent(pid) => {
                let mut status = 0;
                // SAFETY: waiting for our own child; status is a valid out pointer.
                let r = unsafe { libc::waitpid(pid, &mut status, 0) };
                assert_eq!(r, pid);
                assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 7);
            }
        }
        let e = super::fork_clone(1 << 33).expect_err("clone3-only flag");
        assert!(e.to_string().contains("clone3"), "{e}");
    }
}
