//! `start`: release a created container's init by reading its exec fifo, then run the
//! poststart hooks.

use super::{Container, Global};
use crate::error::{Context, Result, RuntimeError};
use crate::state::{self, Status};
use rustix::event::{poll, PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};

/// Block until the writer side of the exec fifo closes (the init exec'd or died).
fn wait_for_exec(f: &std::os::fd::OwnedFd, c: &Container) {
    let mut buf = [0u8; 16];
    loop {
        match rustix::io::read(f, &mut buf) {
            Ok(0) => return,
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) => {
                if !state::alive(c.state.pid, c.state.start_time) {
                    return;
                }
                let mut fds = [PollFd::new(f, PollFlags::IN)];
                let ts = rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: 20_000_000,
                };
                let _ = poll(&mut fds, Some(&ts));
            }
            Err(_) => return,
        }
    }
}

pub fn start(g: &Global, id: &str) -> Result<()> {
    let c = Container::load(g, id)?;
    match c.status() {
        Status::Created => {}
        Status::Stopped => {
            return Err(c.bad_state(Status::Stopped, "cannot start a container that has stopped"))
        }
        s => return Err(c.bad_state(s, "cannot start an already running container")),
    }
    let fifo = c.dir.join(state::EXEC_FIFO);
    let f = rustix::fs::open(
        &fifo,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("opening {}", fifo.display()))?;
    let mut buf = [0u8; 1];
    loop {
        match rustix::io::read(&f, &mut buf) {
            Ok(1) => break,
            Ok(_) | Err(rustix::io::Errno::AGAIN) => {
                // Nothing yet: init has not opened its end, or it died.
                if !state::alive(c.state.pid, c.state.start_time) {
                    // A short command can write its byte, run and exit between the
                    // read above and this check: the byte tells it started.
                    if matches!(rustix::io::read(&f, &mut buf), Ok(1)) {
                        break;
                    }
                    let _ = std::fs::remove_file(&fifo);
                    return Err(RuntimeError::Init(format!(
                        "container {id}: init exited before start"
                    )));
                }
                let mut fds = [PollFd::new(&f, PollFlags::IN)];
                let ts = rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: 20_000_000,
                };
                let _ = poll(&mut fds, Some(&ts));
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e).ctx(|| format!("reading {}", fifo.display())),
        }
    }
    std::fs::remove_file(&fifo).ctx(|| format!("removing {}", fifo.display()))?;
    if let Some(hs) = c.spec.hooks().as_ref().and_then(|h| h.poststart().as_ref()) {
        // Poststart hooks run once the user's process has been executed: the init holds
        // its end of the fifo open (close-on-exec) until then.
        wait_for_exec(&f, &c);
        let st = c.hook_state(Status::Running);
        if let Err(e) = crate::hooks::run_all("poststart", hs, &st) {
            // The spec says a failing poststart hook is only logged; runc does the same.
            crate::log::warn(&e.to_string());
        }
    }
    Ok(())
}
