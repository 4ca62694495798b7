//! `exec`: run another process in a running container's namespaces and cgroup, with
//! the container's security settings.

use super::{Container, Global};
use crate::error::{Context, Result, RuntimeError};
use crate::init::{self, FinishArgs};
use crate::process::{self, tag, SyncChannel};
use crate::state::Status;
use oci_spec::runtime::{LinuxNamespaceType, Process};
use rustix::fs::{Mode, OFlags};
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
    let pid = c.state.pid;
    let mut join: Vec<(LinuxNamespaceType, OwnedFd)> = Vec::new();
    let mut user = None;
    for ns in c
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or_default()
    {
        let t = ns.typ();
        let path = format!("/proc/{pid}/ns/{}", ns_file(t));
        let fd = rustix::fs::open(&path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .ctx(|| format!("opening {path}"))?;
        match t {
            LinuxNamespaceType::Pid => {
                rustix::thread::move_into_link_name_space(
                    fd.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::ProcessID),
                )
                .ctx(|| "joining the container's pid namespace".into())?;
            }
            LinuxNamespaceType::Time => {
                rustix::thread::move_into_link_name_space(
                    fd.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Time),
                )
                .ctx(|| "joining the container's time namespace".into())?;
            }
            LinuxNamespaceType::User => user = Some(fd),
            _ => join.push((t, fd)),
        }
    }
    join.sort_by_key(|(t, _)| {
        if *t == LinuxNamespaceType::Mount {
            9
        } else {
            1
        }
    });
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
    let cg = c.cgroup()?;
    let (parent, child) = SyncChannel::pair()?;
    match berth_sys::fork_with_flags(0, None).ctx(|| "forking the exec process".into())? {
        berth_sys::Forked::Child => {
            drop(parent);
            let sync_fd = child.as_fd().try_clone_to_owned().ok();
            let r = (|| -> Result<std::convert::Infallible> {
                child.expect(tag::GO)?;
                let mut setgroups_allowed = true;
                if let Some(u) = &user {
                    rustix::thread::move_into_link_name_space(
                        u.as_fd(),
                        Some(rustix::thread::LinkNameSpaceType::User),
                    )
                    .ctx(|| "joining the container's user namespace".into())?;
                    setgroups_allowed = std::fs::read_to_string(format!("/proc/{pid}/setgroups"))
                        .map(|s| s.trim() != "deny")
                        .unwrap_or(true);
                }
                for (t, fd) in &join {
                    rustix::thread::move_into_link_name_space(fd.as_fd(), None)
                        .ctx(|| format!("joining the container's {t} namespace"))?;
                }
                if let Some(cons) = &console {
                    let size = p
                        .console_size()
                        .as_ref()
                        .map(|b| (b.height() as u16, b.width() as u16));
                    process::setup_console(cons, size, false)?;
                }
                process::apply_rlimits(&p)?;
                process::apply_sched(&p)?;
                init::finish(FinishArgs {
                    spec: &c.spec,
                    process: &p,
                    sync: Some(child),
                    fifo: None,
                    preserve_fds: o.preserve_fds,
                    setgroups_allowed,
                    id: &o.id,
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
            cg.add_process(child_pid)
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
