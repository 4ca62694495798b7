//! `kill`: send a signal to a container's init, or with `--all` to every process in
//! its cgroup.

use super::{Container, Global};
use crate::error::{Context, Result, RuntimeError};
use crate::state::Status;

/// Parse a signal given as a number, `KILL`, or `SIGKILL`.
pub fn parse_signal(s: &str) -> Result<i32> {
    berth_sys::signal_number(s).ok_or_else(|| RuntimeError::Usage(format!("unknown signal {s:?}")))
}

pub fn kill(g: &Global, id: &str, sig: i32, all: bool) -> Result<()> {
    let c = Container::load(g, id)?;
    let status = c.status();
    if status == Status::Stopped {
        return Err(c.bad_state(status, "container not running"));
    }
    if all {
        let cg = c.cgroup()?;
        for pid in cg.pids()? {
            let _ = berth_sys::kill(pid, sig);
        }
        if status == Status::Paused && sig == libc::SIGKILL {
            cg.thaw()?;
        }
        return Ok(());
    }
    let pid =
        rustix::process::Pid::from_raw(c.state.pid).ok_or_else(|| c.bad_state(status, "no pid"))?;
    let what = || {
        format!(
            "sending signal {sig} to container {id} (pid {})",
            c.state.pid
        )
    };
    if !berth_sys::kernel::has(berth_sys::kernel::Feature::Pidfd) {
        // Without pidfds (or with them refused by seccomp) the start-time check narrows
        // the recycled-pid window to the instant between it and kill(2).
        if !crate::state::alive(c.state.pid, c.state.start_time) {
            return Err(c.bad_state(Status::Stopped, "container not running"));
        }
        return berth_sys::kill(pid.as_raw_nonzero().get(), sig).ctx(what);
    }
    // Signal through a pidfd checked against the recorded start time, so a recycled pid
    // is never hit.
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
        .ctx(|| format!("opening pidfd of {}", c.state.pid))?;
    if !crate::state::alive(c.state.pid, c.state.start_time) {
        return Err(c.bad_state(Status::Stopped, "container not running"));
    }
    berth_sys::pidfd_send_signal(std::os::fd::AsFd::as_fd(&pidfd), sig).ctx(what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("9").ok(), Some(9));
        assert_eq!(parse_signal("KILL").ok(), Some(9));
        assert_eq!(parse_signal("sigterm").ok(), Some(15));
        assert_eq!(parse_signal("SIGRTMIN+1").ok(), Some(libc::SIGRTMIN() + 1));
        assert!(parse_signal("BOGUS").is_err());
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("65").is_err());
    }
}
