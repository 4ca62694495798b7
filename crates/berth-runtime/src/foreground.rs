//! Waiting on a container process in the foreground (`run` and `exec` without
//! `--detach`): forward signals to it, relay a pty if we own one, and return its exit
//! code as a shell would (128 + signal when killed).

use crate::error::Result;
use std::os::fd::{AsFd, OwnedFd};

fn exit_code(status: rustix::process::WaitStatus) -> i32 {
    if let Some(c) = status.exit_status() {
        c
    } else if let Some(s) = status.terminating_signal() {
        128 + s
    } else {
        1
    }
}

/// Relay between our stdio and the pty master until it closes.
fn relay(master: OwnedFd) {
    let m2 = match master.try_clone() {
        Ok(m) => m,
        Err(_) => return,
    };
    let stdin_tty = berth_sys::isatty(std::io::stdin().as_fd());
    let saved = if stdin_tty {
        berth_sys::make_raw(std::io::stdin().as_fd()).ok()
    } else {
        None
    };
    if let Ok((rows, cols)) = berth_sys::get_winsize(std::io::stdin().as_fd()) {
        let _ = berth_sys::set_winsize(master.as_fd(), rows, cols);
    }
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match rustix::io::read(std::io::stdin(), &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if rustix::io::write(&m2, &buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let out = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match rustix::io::read(&master, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if std::io::Write::write_all(&mut std::io::stdout(), &buf[..n]).is_err() {
                        break;
                    }
                    let _ = std::io::Write::flush(&mut std::io::stdout());
                }
            }
        }
        if let Some(t) = saved {
            berth_sys::restore_termios(std::io::stdin().as_fd(), &t);
        }
    });
    OUTPUT.with(|o| *o.borrow_mut() = Some(out));
}

thread_local! {
    static OUTPUT: std::cell::RefCell<Option<std::thread::JoinHandle<()>>> = const { std::cell::RefCell::new(None) };
}

/// Wait for `pid` (our child). Signals must already be blocked (before the fork, so
/// that an immediate exit is never missed). Reaps every other child too, since a
/// foreground runtime may be a subreaper.
pub fn wait(pid: i32, master: Option<OwnedFd>) -> Result<i32> {
    let winch_target = master.as_ref().and_then(|m| m.try_clone().ok());
    if let Some(m) = master {
        relay(m);
    }
    let code = loop {
        // Reap first: the child may be gone before we ever sleep.
        let mut done = None;
        while let Ok(Some((p, st))) = rustix::process::wait(rustix::process::WaitOptions::NOHANG) {
            if p.as_raw_nonzero().get() == pid {
                done = Some(exit_code(st));
            }
        }
        if let Some(c) = done {
            break c;
        }
        match berth_sys::wait_signal(1000) {
            None | Some(libc::SIGCHLD) => {}
            Some(libc::SIGWINCH) => {
                if let Some(m) = &winch_target {
                    if let Ok((r, c)) = berth_sys::get_winsize(std::io::stdin().as_fd()) {
                        let _ = berth_sys::set_winsize(m.as_fd(), r, c);
                    }
                }
            }
            Some(sig) => {
                let _ = berth_sys::kill(pid, sig);
            }
        }
    };
    drop(winch_target);
    if let Some(h) = OUTPUT.with(|o| o.borrow_mut().take()) {
        let _ = h.join();
    }
    Ok(code)
}
