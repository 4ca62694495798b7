//! `kill`: send a signal to a container's init, or with `--all` to every process in
//! its cgroup.

use super::{Container, Global};
use crate::error::{Context, Result, RuntimeError};
use crate::state::Status;

/// Parse a signal given as a number, `KILL`, or `SIGKILL`.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(RuntimeError::Usage(format!("invalid signal {s:?}")));
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
        other => {
            if let Some(off) = other.strip_prefix("RTMIN+") {
                if let Ok(n) = off.parse::<i32>() {
                    return Ok(libc::SIGRTMIN() + n);
                }
            }
            if let Some(off) = other.strip_prefix("RTMAX-") {
                if let Ok(n) = off.parse::<i32>() {
                    return Ok(libc::SIGRTMAX() - n);
                }
            }
            return Err(RuntimeError::Usage(format!("unknown signal {s:?}")));
        }
    };
    Ok(n)
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
    // Signal through a pidfd checked against the recorded start time, so a recycled pid
    // is never hit.
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(c.state.pid).ok_or_else(|| c.bad_state(status, "no pid"))?,
        rustix::process::PidfdFlags::empty(),
    )
    .ctx(|| format!("opening pidfd of {}", c.state.pid))?;
    if !crate::state::alive(c.state.pid, c.state.start_time) {
        return Err(c.bad_state(Status::Stopped, "container not running"));
    }
    berth_sys::pidfd_send_signal(std::os::fd::AsFd::as_fd(&pidfd), sig).ctx(|| {
        format!(
            "sending signal {sig} to container {id} (pid {})",
            c.state.pid
        )
    })
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
