//! `delete`: remove a stopped (or, with --force, any) container: kill what is left, run
//! the poststop hooks, remove its cgroup and state.

use super::{wait_gone, Container, Global};
use crate::error::{Context, Result, RuntimeError};
use crate::state::Status;
use std::time::Duration;

pub fn delete(g: &Global, id: &str, force: bool) -> Result<()> {
    let c = match Container::load(g, id) {
        Ok(c) => c,
        Err(RuntimeError::NotFound(_)) if force => {
            // A create that died before writing its state may have left a directory.
            let _ = std::fs::remove_dir_all(g.root.dir(id));
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let status = c.status();
    match status {
        Status::Stopped => {}
        s if !force => {
            return Err(c.bad_state(
                s,
                "cannot delete a container that is not stopped (use --force)",
            ))
        }
        _ => {}
    }
    let cg = c.cgroup().ok();
    if status != Status::Stopped {
        if let Some(cg) = &cg {
            if status == Status::Paused {
                for pid in cg.pids().unwrap_or_default() {
                    let _ = berth_sys::kill(pid, libc::SIGKILL);
                }
                let _ = cg.thaw();
            }
        }
        let _ = berth_sys::kill(c.state.pid, libc::SIGKILL);
        wait_gone(c.state.pid, c.state.start_time, Duration::from_secs(10));
    }
    destroy(&c, cg.as_ref())
}

/// Final teardown shared by `delete` and a foreground `run`.
pub fn destroy(c: &Container, cg: Option<&berth_cgroups::Cgroup>) -> Result<()> {
    if let Some(cg) = cg {
        // Whatever is still in the cgroup (forked daemons of a stopped init) goes too.
        for pid in cg.pids().unwrap_or_default() {
            let _ = berth_sys::kill(pid, libc::SIGKILL);
        }
        cg.destroy()?;
    }
    if let Some(hs) = c.spec.hooks().as_ref().and_then(|h| h.poststop().as_ref()) {
        let st = c.hook_state(Status::Stopped);
        if let Err(e) = crate::hooks::run_all("poststop", hs, &st) {
            crate::log::warn(&e.to_string());
        }
    }
    std::fs::remove_dir_all(&c.dir).ctx(|| format!("removing {}", c.dir.display()))
}
