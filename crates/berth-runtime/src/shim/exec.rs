//! Starting an exec process inside the shim's running container (the `exec` op): join
//! the container's namespaces and cgroup, apply the process's user, capabilities,
//! seccomp and AppArmor as `berth-runc exec` does, with stdio the shim holds (pipes,
//! or a pty whose master comes back over a socket pair). The process is forked by the
//! shim itself, so it is the shim's child and its exit comes through SIGCHLD.
//!
//! Unlike `container::exec`, the shim enters the container's pid (and time) namespace
//! only around the fork and then returns to its own: a shim left with the container's
//! pid namespace for its children could not fork hooks once the container is gone.

use crate::container::exec::{exec_child, open_ns, ExecChild, ExecNamespaces};
use crate::container::{Container, Global};
use crate::error::{Context, Result, RuntimeError};
use crate::process::{tag, SyncChannel};
use crate::state::Status;
use oci_spec::runtime::Process;
use rustix::fd::{AsFd, OwnedFd};
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};
use std::time::Duration;

/// How long the exec process may take to get ready (join namespaces, drop privileges)
/// before the shim gives up on it, so a stuck child (say, in a cgroup frozen meanwhile)
/// cannot hold the shim's loop.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// What the `exec` request asks for.
pub(super) struct ExecRequest {
    pub process: Process,
    pub tty: bool,
    /// Give the process a stdin pipe (only with `attach`).
    pub stdin: bool,
    /// Output goes to the requesting connection; otherwise it is discarded.
    pub attach: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// The shim's ends of a started exec process's stdio.
pub(super) struct Spawned {
    pub pid: i32,
    /// stdout pipe, or a clone of the pty master.
    pub out: Option<OwnedFd>,
    pub err: Option<OwnedFd>,
    /// stdin pipe, or a clone of the pty master.
    pub input: Option<OwnedFd>,
    pub master: Option<OwnedFd>,
}

/// The pid and time namespaces this shim's children get, entered for one fork and
/// left again when dropped.
struct ForkNamespaces {
    restore: Vec<(LinkNameSpaceType, OwnedFd)>,
}

impl ForkNamespaces {
    fn enter(targets: Vec<(LinkNameSpaceType, OwnedFd, &'static str)>) -> Result<ForkNamespaces> {
        let mut me = ForkNamespaces {
            restore: Vec::new(),
        };
        for (t, fd, name) in targets {
            let own = open_ns(&format!("/proc/self/ns/{name}"))?;
            move_into_link_name_space(fd.as_fd(), Some(t))
                .ctx(|| format!("joining the container's {name} namespace"))?;
            me.restore.push((t, own));
        }
        Ok(me)
    }
}

impl Drop for ForkNamespaces {
    fn drop(&mut self) {
        for (t, fd) in self.restore.drain(..) {
            if let Err(e) = move_into_link_name_space(fd.as_fd(), Some(t)) {
                crate::log::error(&format!("shim: returning to its own namespace: {e}"));
            }
        }
    }
}

/// The error text docker's CLI maps to exit codes: "executable file not found in
/// $PATH" (127) and "permission denied" (126). Rust's io errors read "No such file or
/// directory (os error 2)"; say it as Go's runtimes do.
pub(super) fn docker_message(msg: &str) -> String {
    let mut m = msg
        .replace(
            "No such file or directory (os error 2)",
            "no such file or directory",
        )
        .replace("Permission denied (os error 13)", "permission denied");
    if m.starts_with("exec: ")
        && m.ends_with("no such file or directory")
        && !m.contains("executable file not found")
    {
        // A path with a slash that does not exist: not found, like a $PATH miss.
        m.push_str(": executable file not found in $PATH");
    }
    m
}

/// Start the process; returns once it has been executed (or failed to be).
pub(super) fn spawn(g: &Global, id: &str, req: ExecRequest) -> Result<Spawned> {
    let c = Container::load(g, id)?;
    match c.status() {
        Status::Running => {}
        Status::Paused => {
            return Err(RuntimeError::Init(format!(
                "container {id} is paused, unpause it first"
            )))
        }
        _ => return Err(RuntimeError::Init(format!("container {id} is not running"))),
    }
    let mut p = req.process;
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(RuntimeError::Usage(
            "exec: process args must not be empty".into(),
        ));
    }
    p.set_terminal(Some(req.tty));
    let mut ns = ExecNamespaces::open(&c)?;

    // Stdio: the child's ends and ours.
    let null = super::devnull()?;
    let (console_mine, console_theirs) = if req.tty {
        let (a, b) = crate::cli::console_pair()?;
        (Some(a), Some(b))
    } else {
        (None, None)
    };
    let pipe_if = |want: bool| -> Result<(Option<OwnedFd>, Option<OwnedFd>)> {
        if want && !req.tty {
            let (r, w) = super::cloexec_pipe()?;
            Ok((Some(r), Some(w)))
        } else {
            Ok((None, None))
        }
    };
    let (in_r, in_w) = pipe_if(req.attach && req.stdin)?;
    let (out_r, out_w) = pipe_if(req.attach && req.stdout)?;
    let (err_r, err_w) = pipe_if(req.attach && req.stderr)?;

    let entry = c.cgroup()?.entry()?;
    let (parent, child) = SyncChannel::pair()?;
    rustix::net::sockopt::set_socket_timeout(
        parent.as_fd(),
        rustix::net::sockopt::Timeout::Recv,
        Some(READY_TIMEOUT),
    )
    .ctx(|| "setting the exec sync socket's timeout".into())?;

    let entered = ForkNamespaces::enter(std::mem::take(&mut ns.fork))?;
    let forked = crate::process::fork_into(0, &entry).ctx(|| "forking the exec process".into());
    let (child_pid, cloned_into) = match forked {
        Ok((berth_sys::Forked::Child, _)) => {
            // The pid namespace is the container's now; keep it.
            std::mem::forget(entered);
            drop(parent);
            let tty = req.tty;
            exec_child(
                ExecChild {
                    sync: child,
                    container: &c,
                    ns: &ns,
                    console: console_theirs.as_ref(),
                    process: &p,
                    preserve_fds: 0,
                },
                || {
                    entry.join_self()?;
                    if !tty {
                        let fd0 = in_r.as_ref().unwrap_or(&null);
                        let fd1 = out_w.as_ref().unwrap_or(&null);
                        let fd2 = err_w.as_ref().unwrap_or(&null);
                        rustix::stdio::dup2_stdin(fd0)
                            .and_then(|_| rustix::stdio::dup2_stdout(fd1))
                            .and_then(|_| rustix::stdio::dup2_stderr(fd2))
                            .ctx(|| "setting up the exec process's stdio".into())?;
                    }
                    Ok(())
                },
            )
        }
        Ok((berth_sys::Forked::Parent(pid), cloned_into)) => {
            drop(entered);
            (pid, cloned_into)
        }
        Err(e) => {
            drop(entered);
            return Err(e);
        }
    };
    drop(child);
    drop((console_theirs, in_r, out_w, err_w));
    let fail = |e: RuntimeError| {
        // Our child, not yet reaped: its pid cannot have been reused.
        let _ = berth_sys::kill(child_pid, libc::SIGKILL);
        let _ = rustix::process::waitpid(
            rustix::process::Pid::from_raw(child_pid),
            rustix::process::WaitOptions::empty(),
        );
        e
    };
    entry
        .finish(child_pid, cloned_into)
        .map_err(|e| fail(e.into()))?;
    parent.send(tag::GO, b"").map_err(&fail)?;
    parent.expect(tag::READY).map_err(&fail)?;
    // The console is set up before READY, so the master is already queued.
    let master = match &console_mine {
        Some(sock) => Some(crate::cli::recv_master(sock).map_err(&fail)?),
        None => None,
    };
    // The channel closes on exec (close-on-exec); a message means exec failed.
    if let Ok((t, msg)) = parent.recv() {
        if t == tag::ERROR {
            return Err(fail(RuntimeError::Init(
                String::from_utf8_lossy(&msg).into_owned(),
            )));
        }
    }
    let (out, input) = match &master {
        Some(m) => {
            let dup = || {
                m.try_clone()
                    .ctx(|| "duplicating the exec's pty master".into())
            };
            // A detached exec's pty is still drained, or the process would block on it.
            let input = if req.attach && req.stdin {
                Some(dup()?)
            } else {
                None
            };
            (Some(dup()?), input)
        }
        None => (out_r, in_w),
    };
    for fd in out.iter().chain(err_r.iter()).chain(input.iter()) {
        super::set_nonblock(fd)?;
    }
    Ok(Spawned {
        pid: child_pid,
        out,
        err: err_r,
        input,
        master,
    })
}

#[cfg(test)]
mod tests {
    use super::docker_message;

    #[test]
    fn messages_carry_what_docker_maps_to_exit_codes() {
        assert_eq!(
            docker_message("exec: \"nope\": executable file not found in $PATH"),
            "exec: \"nope\": executable file not found in $PATH"
        );
        let m = docker_message("exec: \"/nope\": No such file or directory (os error 2)");
        assert!(m.contains("executable file not found in $PATH"), "{m}");
        assert!(m.contains("no such file or directory"), "{m}");
        assert_eq!(
            docker_message("exec /x: Permission denied (os error 13)"),
            "exec /x: permission denied"
        );
    }
}
