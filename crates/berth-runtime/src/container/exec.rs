//! `exec`: run another process in a running container's namespaces and cgroup, with
//! the container's security settings.

use super::{Container, Global};
use crate::error::{Context, Result, RuntimeError};
use crate::init::{self, FinishArgs};
use crate::process::{self, tag, SyncChannel};
use crate::state::Status;
use oci_spec::runtime::{LinuxNamespaceType, Process};
use rustix::fs::{Mode, OFlags};
use rustix::thread::LinkNameSpaceType;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

#[derive(Debug, Default)]
pub struct ExecOpts {
    pub id: String,
    pub process: Option<Process>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
}

/// What a started exec gives back: the process's pid, and its pty master when we
/// allocated one for a foreground terminal.
pub struct Execed {
    pub pid: i32,
    pub master: Option<OwnedFd>,
}

fn ns_file(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

pub(crate) fn open_ns(path: &str) -> Result<OwnedFd> {
    rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .ctx(|| format!("opening {path}"))
}

/// The namespaces of a running container an exec process enters, opened through its
/// init's /proc entry.
pub(crate) struct ExecNamespaces {
    /// pid and time: they apply to children only, so the forking process enters them
    /// before the fork (with their /proc names, for messages).
    pub fork: Vec<(LinkNameSpaceType, OwnedFd, &'static str)>,
    /// The user namespace, entered first by the child.
    pub user: Option<OwnedFd>,
    /// The others, entered by the child; the mount namespace last, since the others
    /// are reached by path before it.
    pub join: Vec<(LinuxNamespaceType, OwnedFd)>,
}

impl ExecNamespaces {
    pub(crate) fn open(c: &Container) -> Result<ExecNamespaces> {
        let pid = c.state.pid;
        let mut ns = ExecNamespaces {
            fork: Vec::new(),
            user: None,
            join: Vec::new(),
        };
        for n in c
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_deref())
            .unwrap_or_default()
        {
            let t = n.typ();
            let fd = open_ns(&format!("/proc/{pid}/ns/{}", ns_file(t)))?;
            match t {
                LinuxNamespaceType::Pid => ns.fork.push((LinkNameSpaceType::ProcessID, fd, "pid")),
                LinuxNamespaceType::Time => ns.fork.push((LinkNameSpaceType::Time, fd, "time")),
                LinuxNamespaceType::User => ns.user = Some(fd),
                _ => ns.join.push((t, fd)),
            }
        }
        ns.join
            .sort_by_key(|(t, _)| *t == LinuxNamespaceType::Mount);
        Ok(ns)
    }
}

/// What the forked exec process needs to become the container's process.
pub(crate) struct ExecChild<'a> {
    pub sync: SyncChannel,
    pub container: &'a Container,
    pub ns: &'a ExecNamespaces,
    /// The pty slave (or console socket) when the process wants a terminal.
    pub console: Option<&'a OwnedFd>,
    pub process: &'a Process,
    pub preserve_fds: u32,
}

/// The child side of an exec, after the fork: `before` (e.g. stdio set-up), wait for
/// the parent's GO (it has moved us into the cgroup), join the namespaces, set up the
/// console and limits, and exec. A failure goes to the parent over the sync channel.
pub(crate) fn exec_child(a: ExecChild<'_>, before: impl FnOnce() -> Result<()>) -> ! {
    let sync_fd = a.sync.as_fd().try_clone_to_owned().ok();
    let c = a.container;
    let p = a.process;
    let r = (|| -> Result<std::convert::Infallible> {
        before()?;
        a.sync.expect(tag::GO)?;
        let mut setgroups_allowed = true;
        if let Some(u) = &a.ns.user {
            rustix::thread::move_into_link_name_space(u.as_fd(), Some(LinkNameSpaceType::User))
                .ctx(|| "joining the container's user namespace".into())?;
            setgroups_allowed = std::fs::read_to_string(format!("/proc/{}/setgroups", c.state.pid))
                .map(|s| s.trim() != "deny")
                .unwrap_or(true);
        }
        for (t, fd) in &a.ns.join {
            rustix::thread::move_into_link_name_space(fd.as_fd(), None)
                .ctx(|| format!("joining the container's {t} namespace"))?;
        }
        if let Some(cons) = a.console {
            let size = p
                .console_size()
                .as_ref()
                .map(|b| (b.height() as u16, b.width() as u16));
            process::setup_console(cons, size, false)?;
        }
        process::apply_rlimits(p)?;
        process::apply_sched(p)?;
        init::finish(FinishArgs {
            spec: &c.spec,
            process: p,
            sync: Some(a.sync),
            fifo: None,
            preserve_fds: a.preserve_fds,
            setgroups_allowed,
            id: &c.state.id,
            bundle: &c.state.bundle,
            seccomp_program: None,
        })
    })();
    if let (Err(e), Some(fd)) = (r, sync_fd) {
        let mut buf = vec![tag::ERROR];
        buf.extend_from_slice(e.to_string().as_bytes());
        let _ = rustix::net::send(&fd, &buf, rustix::net::SendFlags::NOSIGNAL);
    }
    berth_sys::exit_now(127)
}

/// Start the process; the caller waits for it (foreground) or not (detach).
pub fn exec(g: &Global, o: ExecOpts, console: Option<OwnedFd>) -> Result<Execed> {
    let c = Container::load(g, &o.id)?;
    let status = c.status();
    match status {
        Status::Running | Status::Created => {}
        Status::Paused => return Err(c.bad_state(status, "cannot exec in a paused container")),
        _ => return Err(c.bad_state(status, "cannot exec in a stopped container")),
    }
    let p = o
        .process
        .ok_or_else(|| RuntimeError::Usage("exec: no process given".into()))?;
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(RuntimeError::Usage(
            "exec: process args must not be empty".into(),
        ));
    }
    let ns = ExecNamespaces::open(&c)?;
    // This process only forks the exec process: it may enter pid and time for good.
    for (t, fd, name) in &ns.fork {
        rustix::thread::move_into_link_name_space(fd.as_fd(), Some(*t))
            .ctx(|| format!("joining the container's {name} namespace"))?;
    }
    let terminal = p.terminal().unwrap_or(false);
    let console = match (terminal, console, &o.console_socket) {
        (false, _, _) => None,
        (true, Some(c), _) => Some(c),
        (true, None, Some(path)) => Some(process::connect_console(path)?),
        (true, None, None) => {
            return Err(RuntimeError::Usage(
                "cannot allocate a tty without a console socket".into(),
            ))
        }
    };
    let entry = c.cgroup()?.entry()?;
    let (parent, child) = SyncChannel::pair()?;
    let (forked, cloned_into) =
        process::fork_into(0, &entry).ctx(|| "forking the exec process".into())?;
    match forked {
        berth_sys::Forked::Child => {
            drop(parent);
            exec_child(
                ExecChild {
                    sync: child,
                    container: &c,
                    ns: &ns,
                    console: console.as_ref(),
                    process: &p,
                    preserve_fds: o.preserve_fds,
                },
                || Ok(entry.join_self()?),
            )
        }
        berth_sys::Forked::Parent(child_pid) => {
            drop(child);
            drop(console);
            let kill_child = |e: RuntimeError| {
                let _ = berth_sys::kill(child_pid, libc::SIGKILL);
                let _ = rustix::process::waitpid(
                    rustix::process::Pid::from_raw(child_pid),
                    rustix::process::WaitOptions::empty(),
                );
                e
            };
            entry
                .finish(child_pid, cloned_into)
                .map_err(|e| kill_child(e.into()))?;
            parent.send(tag::GO, b"").map_err(&kill_child)?;
            parent.expect(tag::READY).map_err(&kill_child)?;
            // The channel closes on exec (close-on-exec); an error message means exec failed.
            match parent.recv() {
                Err(_) => {}
                Ok((t, msg)) if t == tag::ERROR => {
                    return Err(kill_child(RuntimeError::Init(
                        String::from_utf8_lossy(&msg).into_owned(),
                    )))
                }
                Ok(_) => {}
            }
            if let Some(pf) = &o.pid_file {
                super::create::write_pid_file(pf, child_pid)?;
            }
            Ok(Execed {
                pid: child_pid,
                master: None,
            })
        }
    }
}
