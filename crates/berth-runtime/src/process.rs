//! Setting up the container's process just before exec, shared by a container's init and
//! by `exec`: the sync channel with the runtime, console (pty over the console socket),
//! rlimits, scheduling, user switch, capabilities, executable lookup, environment.

use crate::error::{Context, Result, RuntimeError};
use oci_spec::runtime::{
    IOPriorityClass, LinuxSchedulerFlag, LinuxSchedulerPolicy, PosixRlimitType, Process,
};
use rustix::fs::{Mode, OFlags};
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A message-preserving channel between the runtime and a child it forked.
pub struct SyncChannel {
    fd: OwnedFd,
}

/// Message tags on the sync channel.
pub mod tag {
    /// runtime → child: namespaces, ids maps and cgroup are ready, go on.
    pub const GO: u8 = b'G';
    /// child → runtime: please run the createRuntime/prestart hooks now.
    pub const HOOKS: u8 = b'H';
    /// runtime → child: hooks done.
    pub const HOOKS_DONE: u8 = b'h';
    /// child → runtime: set up, waiting for start.
    pub const READY: u8 = b'R';
    /// child → runtime: failed, payload is the message.
    pub const ERROR: u8 = b'E';
    /// child → runtime: the pid (decimal) of the real init, when an intermediate forked it.
    pub const PID: u8 = b'P';
}

impl SyncChannel {
    /// A connected pair (runtime end, child end), both close-on-exec.
    pub fn pair() -> Result<(SyncChannel, SyncChannel)> {
        use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
        let (a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .ctx(|| "creating sync socket pair".into())?;
        Ok((SyncChannel { fd: a }, SyncChannel { fd: b }))
    }

    pub fn send(&self, tag: u8, payload: &[u8]) -> Result<()> {
        let mut buf = Vec::with_capacity(payload.len() + 1);
        buf.push(tag);
        buf.extend_from_slice(payload);
        rustix::net::send(&self.fd, &buf, rustix::net::SendFlags::NOSIGNAL)
            .ctx(|| "writing to sync socket".into())?;
        Ok(())
    }

    /// Receive one message; a closed peer is an error saying the other side exited.
    pub fn recv(&self) -> Result<(u8, Vec<u8>)> {
        let mut buf = vec![0u8; 65536];
        let mut reset = false;
        loop {
            match rustix::net::recv(&self.fd, &mut buf, rustix::net::RecvFlags::empty()) {
                Ok((0, _)) => {
                    return Err(RuntimeError::Init(
                        "container init exited before it was ready".into(),
                    ))
                }
                Ok((n, _)) => {
                    let n = n.min(buf.len());
                    return Ok((buf[0], buf[1..n].to_vec()));
                }
                Err(rustix::io::Errno::INTR) => continue,
                // The peer exited with a message of ours unread (say, GO sent while it
                // was failing): the kernel reports that once, before the messages the
                // peer sent, which may say why it failed.
                Err(rustix::io::Errno::CONNRESET) if !reset => reset = true,
                Err(e) => return Err(e).ctx(|| "reading sync socket".into()),
            }
        }
    }

    /// Wait for a specific tag; an ERROR message becomes the error it carries.
    pub fn expect(&self, want: u8) -> Result<Vec<u8>> {
        let (t, p) = self.recv()?;
        if t == want {
            return Ok(p);
        }
        if t == tag::ERROR {
            return Err(RuntimeError::Init(String::from_utf8_lossy(&p).into_owned()));
        }
        Err(RuntimeError::Init(format!(
            "unexpected message {:?} on sync socket (wanted {:?})",
            t as char, want as char
        )))
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Open a pty inside the container, send its master over the console socket, and make
/// the slave our controlling terminal and stdio. Call after pivot_root.
pub fn setup_console(
    console: &OwnedFd,
    size: Option<(u16, u16)>,
    mount_console: bool,
) -> Result<()> {
    use rustix::pty::{openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
        .ctx(|| "opening /dev/ptmx".into())?;
    unlockpt(&master).ctx(|| "unlockpt".into())?;
    let name = ptsname(&master, Vec::new()).ctx(|| "ptsname".into())?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("opening {}", name.to_string_lossy()))?;
    if let Some((rows, cols)) = size {
        berth_sys::set_winsize(master.as_fd(), rows, cols).ctx(|| "setting console size".into())?;
    }
    send_fd(console.as_fd(), master.as_fd(), name.as_bytes())?;
    drop(master);
    if mount_console {
        // /dev/console is the pty the container was given.
        if let Ok(dev) = rustix::fs::open(
            "/dev",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            let _ = rustix::fs::openat(
                &dev,
                "console",
                OFlags::CREATE | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            );
            if let Ok(c) = rustix::fs::openat(
                &dev,
                "console",
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                berth_sys::mount(
                    Some(name.as_c_str()),
                    &crate::rootfs::fd_path(c.as_fd()),
                    None,
                    libc::MS_BIND,
                    None,
                )
                .ctx(|| "binding the console onto /dev/console".into())?;
            }
        }
    }
    rustix::process::setsid().ctx(|| "setsid".into())?;
    rustix::process::ioctl_tiocsctty(&slave).ctx(|| "setting the controlling terminal".into())?;
    rustix::stdio::dup2_stdin(&slave).ctx(|| "dup2 console to stdin".into())?;
    rustix::stdio::dup2_stdout(&slave).ctx(|| "dup2 console to stdout".into())?;
    rustix::stdio::dup2_stderr(&slave).ctx(|| "dup2 console to stderr".into())?;
    Ok(())
}

/// Send one fd over a unix socket with SCM_RIGHTS (payload is the fd's name).
pub fn send_fd(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>, payload: &[u8]) -> Result<()> {
    use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let fds = [fd];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    anc.push(SendAncillaryMessage::ScmRights(&fds));
    let data = if payload.is_empty() {
        b"console".as_slice()
    } else {
        payload
    };
    sendmsg(
        sock,
        &[std::io::IoSlice::new(data)],
        &mut anc,
        SendFlags::NOSIGNAL,
    )
    .ctx(|| "sending the pty master over the console socket".into())?;
    Ok(())
}

/// Connect to a console socket (a unix stream socket at `path`).
pub fn connect_console(path: &Path) -> Result<OwnedFd> {
    use rustix::net::{
        connect, socket_with, AddressFamily, SocketAddrUnix, SocketFlags, SocketType,
    };
    let s = socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .ctx(|| "creating console socket".into())?;
    let addr =
        SocketAddrUnix::new(path).ctx(|| format!("console socket path {}", path.display()))?;
    connect(&s, &addr).ctx(|| format!("connecting to console socket {}", path.display()))?;
    Ok(s)
}

fn rlimit_resource(t: PosixRlimitType) -> Option<rustix::process::Resource> {
    use rustix::process::Resource as R;
    Some(match t {
        PosixRlimitType::RlimitCpu => R::Cpu,
        PosixRlimitType::RlimitFsize => R::Fsize,
        PosixRlimitType::RlimitData => R::Data,
        PosixRlimitType::RlimitStack => R::Stack,
        PosixRlimitType::RlimitCore => R::Core,
        PosixRlimitType::RlimitRss => R::Rss,
        PosixRlimitType::RlimitNproc => R::Nproc,
        PosixRlimitType::RlimitNofile => R::Nofile,
        PosixRlimitType::RlimitMemlock => R::Memlock,
        PosixRlimitType::RlimitAs => R::As,
        PosixRlimitType::RlimitLocks => R::Locks,
        PosixRlimitType::RlimitSigpending => R::Sigpending,
        PosixRlimitType::RlimitMsgqueue => R::Msgqueue,
        PosixRlimitType::RlimitNice => R::Nice,
        PosixRlimitType::RlimitRtprio => R::Rtprio,
        PosixRlimitType::RlimitRttime => R::Rttime,
    })
}

/// Apply the process's rlimits.
pub fn apply_rlimits(p: &Process) -> Result<()> {
    for r in p.rlimits().as_deref().unwrap_or_default() {
        let Some(res) = rlimit_resource(r.typ()) else {
            continue;
        };
        let lim = rustix::process::Rlimit {
            current: (r.soft() != u64::MAX).then_some(r.soft()),
            maximum: (r.hard() != u64::MAX).then_some(r.hard()),
        };
        rustix::process::setrlimit(res, lim).ctx(|| {
            format!(
                "setting rlimit {:?} to soft {} hard {}",
                r.typ(),
                r.soft(),
                r.hard()
            )
        })?;
    }
    Ok(())
}

/// Apply ioPriority and scheduler settings.
pub fn apply_sched(p: &Process) -> Result<()> {
    if let Some(io) = p.io_priority() {
        let class = match io.class() {
            IOPriorityClass::IoprioClassRt => 1,
            IOPriorityClass::IoprioClassBe => 2,
            IOPriorityClass::IoprioClassIdle => 3,
        };
        berth_sys::ioprio_set_self(class, io.priority() as u32)
            .ctx(|| format!("setting ioPriority class {class} level {}", io.priority()))?;
    }
    if let Some(s) = p.scheduler() {
        let policy = match s.policy() {
            LinuxSchedulerPolicy::SchedOther => 0,
            LinuxSchedulerPolicy::SchedFifo => 1,
            LinuxSchedulerPolicy::SchedRr => 2,
            LinuxSchedulerPolicy::SchedBatch => 3,
            LinuxSchedulerPolicy::SchedIso => 4,
            LinuxSchedulerPolicy::SchedIdle => 5,
            LinuxSchedulerPolicy::SchedDeadline => 6,
        };
        let mut flags = 0u64;
        for f in s.flags().as_deref().unwrap_or_default() {
            flags |= match f {
                LinuxSchedulerFlag::SchedResetOnFork => 0x01,
                LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
                LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
                LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
                LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
                LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
                LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
            };
        }
        let a = berth_sys::SchedAttr {
            policy,
            flags,
            nice: s.nice().unwrap_or(0),
            priority: s.priority().unwrap_or(0) as u32,
            runtime: s.runtime().unwrap_or(0),
            deadline: s.deadline().unwrap_or(0),
            period: s.period().unwrap_or(0),
        };
        berth_sys::sched_setattr_self(&a).ctx(|| format!("setting scheduler {:?}", s.policy()))?;
    }
    Ok(())
}

/// Switch to the process's user (groups, gid, uid), keeping capabilities for the caps
/// step that follows. `setgroups_allowed` is false in a user namespace whose setgroups
/// is denied.
pub fn switch_user(p: &Process, setgroups_allowed: bool) -> Result<()> {
    use rustix::process::{Gid, Uid};
    use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
    let u = p.user();
    rustix::thread::set_keep_capabilities(true).ctx(|| "PR_SET_KEEPCAPS".into())?;
    if setgroups_allowed {
        let gids: Vec<Gid> = u
            .additional_gids()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|g| Gid::from_raw(*g))
            .collect();
        set_thread_groups(&gids)
            .ctx(|| format!("setting additional groups {:?}", u.additional_gids()))?;
    }
    let g = Gid::from_raw(u.gid());
    set_thread_res_gid(g, g, g).ctx(|| format!("setting gid {}", u.gid()))?;
    let uid = Uid::from_raw(u.uid());
    set_thread_res_uid(uid, uid, uid).ctx(|| format!("setting uid {}", u.uid()))?;
    rustix::thread::set_keep_capabilities(false).ctx(|| "PR_SET_KEEPCAPS".into())?;
    // setuid away from root clears the effective set; restore it from the permitted set
    // so that the capability step can still drop the bounding set.
    let mut sets = rustix::thread::capabilities(None).ctx(|| "capget".into())?;
    sets.effective = sets.permitted;
    rustix::thread::set_capabilities(None, sets).ctx(|| "capset".into())?;
    Ok(())
}

/// The process environment as C strings, with PATH and HOME filled in when absent.
pub fn environment(p: &Process) -> Vec<CString> {
    let mut env: Vec<String> = p.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home_of(p.user().uid())));
    }
    env.into_iter()
        .filter_map(|e| CString::new(e).ok())
        .collect()
}

/// The home directory of `uid` in the container's /etc/passwd, or "/".
fn home_of(uid: u32) -> String {
    let Ok(pw) = std::fs::read_to_string("/etc/passwd") else {
        return "/".into();
    };
    for line in pw.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid) && !f[5].is_empty() {
            return f[5].to_string();
        }
    }
    "/".into()
}

/// Find the executable as execvp would, with the container's PATH. Call after pivot_root.
pub fn find_executable(arg0: &str, env: &[CString]) -> Result<PathBuf> {
    let not_found = || {
        RuntimeError::Init(format!(
            "exec: {arg0:?}: executable file not found in $PATH"
        ))
    };
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return match std::fs::metadata(&p) {
            Ok(md) if md.is_file() => Ok(p),
            Ok(_) => Err(RuntimeError::Init(format!(
                "exec: {arg0:?}: is a directory or not a regular file"
            ))),
            Err(e) => Err(RuntimeError::Init(format!("exec: {arg0:?}: {e}"))),
        };
    }
    let path = env
        .iter()
        .filter_map(|e| e.to_str().ok())
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(arg0);
        if let Ok(md) = std::fs::metadata(&cand) {
            use std::os::unix::fs::PermissionsExt;
            if md.is_file() && md.permissions().mode() & 0o111 != 0 {
                return Ok(cand);
            }
        }
    }
    Err(not_found())
}

/// Change into the process's cwd, resolved inside the (already pivoted) root so that no
/// inherited descriptor or magic link can put it outside (CVE-2024-21626). Creates it if
/// missing, as runc does.
pub fn enter_cwd(cwd: &Path) -> Result<()> {
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "opening /".into())?;
    let fd = match berth_sys::open_in_root(root.as_fd(), cwd, OFlags::PATH | OFlags::DIRECTORY) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => crate::rootfs::mkdir_all_in_root(root.as_fd(), cwd)?,
        Err(e) => return Err(e).ctx(|| format!("cwd {}", cwd.display())),
    };
    rustix::process::fchdir(&fd).ctx(|| format!("chdir to cwd {}", cwd.display()))?;
    let now = rustix::process::getcwd(Vec::new()).ctx(|| "getcwd".into())?;
    if !now.as_bytes().starts_with(b"/") {
        return Err(RuntimeError::Init(format!(
            "cwd {} resolves outside the container",
            cwd.display()
        )));
    }
    Ok(())
}

/// Forks with `flags` (as [`berth_sys::fork_with_flags`]), the child starting in `entry`'s
/// v2 cgroup directory where the kernel can (clone3's `CLONE_INTO_CGROUP`); says
/// whether it did. The child still joins the v1 hierarchies itself
/// ([`berth_cgroups::Entry::join_self`]) and, when it was not started in the v2 one,
/// the parent moves it there ([`berth_cgroups::Entry::finish`]).
pub(crate) fn fork_into(
    flags: u64,
    entry: &berth_cgroups::Entry,
) -> std::io::Result<(berth_sys::Forked, bool)> {
    use berth_sys::kernel::{self, Feature};
    if let Some(dir) = entry.clone_into() {
        if kernel::has(Feature::Clone3) {
            // A cgroup the kernel will not start a process in directly (one whose
            // controllers are enabled for its children, say) refuses the clone: fork
            // as before and move the child after.
            if let Ok(f) = berth_sys::fork_with_flags(flags, Some(dir)) {
                return Ok((f, true));
            }
        }
    }
    Ok((berth_sys::fork_with_flags(flags, None)?, false))
}
