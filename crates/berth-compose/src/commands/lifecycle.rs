//! `start`, `stop`, `restart`, `rm`, `kill`, `pause`, `unpause` of a project's
//! existing containers (dependencies started first, dependents stopped first).

use super::up::stop_levels;
use super::{parallel, service_containers, Env};
use crate::cli::{KillArgs, RmArgs, ServicesArgs, TimeoutArgs};
use crate::up::ComposeError;

fn tolerate(r: Result<(), berth_client::ClientError>) -> Result<(), ComposeError> {
    Ok(crate::up::gone_is_done(r)?)
}

pub fn start(env: &Env<'_>, a: &ServicesArgs) -> Result<i32, ComposeError> {
    let project = env.project_or_name()?;
    let progress = env.progress();
    let list = service_containers(env, &project, &a.services, false)?;
    if list.is_empty() {
        return Err(ComposeError::msg("no containers to start"));
    }
    // Dependencies first: the reverse of the stop order.
    for level in stop_levels(&project, &list).into_iter().rev() {
        parallel(&level, |c| {
            if c.running() {
                return Ok(());
            }
            progress.event("Container", &c.name, "Starting");
            tolerate(env.client.start_container(&c.id, ""))?;
            if let Some(s) = project.service(&c.service) {
                crate::up::run_hooks(env.client, &c.id, &c.name, &s.post_start, "post_start")?;
            }
            progress.event("Container", &c.name, "Started");
            Ok(())
        })?;
    }
    Ok(0)
}

pub fn stop(env: &Env<'_>, a: &TimeoutArgs) -> Result<i32, ComposeError> {
    let project = env.project_or_name()?;
    let progress = env.progress();
    let list = service_containers(env, &project, &a.services, false)?;
    for level in stop_levels(&project, &list) {
        parallel(&level, |c| {
            progress.event("Container", &c.name, "Stopping");
            crate::up::stop_container(env.client, &project, c, a.timeout)?;
            progress.event("Container", &c.name, "Stopped");
            Ok(())
        })?;
    }
    Ok(0)
}

pub fn restart(env: &Env<'_>, a: &TimeoutArgs) -> Result<i32, ComposeError> {
    let project = env.project_or_name()?;
    let progress = env.progress();
    let list = service_containers(env, &project, &a.services, false)?;
    for level in stop_levels(&project, &list).into_iter().rev() {
        parallel(&level, |c| {
            progress.event("Container", &c.name, "Restarting");
            env.client.restart_container(&c.id, a.timeout)?;
            progress.event("Container", &c.name, "Started");
            Ok(())
        })?;
    }
    Ok(0)
}

pub fn rm(env: &Env<'_>, a: &RmArgs) -> Result<i32, ComposeError> {
    let project = env.project_or_name()?;
    let progress = env.progress();
    let mut list = service_containers(env, &project, &a.services, true)?;
    if a.stop {
        for level in stop_levels(&project, &list) {
            parallel(&level, |c| {
                if c.running() {
                    progress.event("Container", &c.name, "Stopping");
                    crate::up::stop_container(env.client, &project, c, None)?;
                    progress.event("Container", &c.name, "Stopped");
                }
                Ok(())
            })?;
        }
        list = service_containers(env, &project, &a.services, true)?;
    }
    let stopped: Vec<_> = list.into_iter().filter(|c| !c.running()).collect();
    if stopped.is_empty() {
        progress.line("No stopped containers");
        return Ok(0);
    }
    if !a.force {
        let names: Vec<&str> = stopped.iter().map(|c| c.name.as_str()).collect();
        progress.line(&format!("Going to remove {}", names.join(", ")));
        if !confirm()? {
            return Ok(0);
        }
    }
    parallel(&stopped, |c| {
        progress.event("Container", &c.name, "Removing");
        tolerate(env.client.remove_container(&c.id, false, a.volumes))?;
        progress.event("Container", &c.name, "Removed");
        Ok(())
    })?;
    Ok(0)
}

/// `? Are you sure? [y/N]` on stderr, an answer on stdin (none: no).
fn confirm() -> Result<bool, ComposeError> {
    use std::io::Write;
    eprint!("? Are you sure you want to remove them? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| ComposeError::msg(format!("reading the answer: {e}")))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

pub fn kill(env: &Env<'_>, a: &KillArgs) -> Result<i32, ComposeError> {
    let project = env.project_or_name()?;
    let progress = env.progress();
    let list: Vec<_> = service_containers(env, &project, &a.services, false)?
        .into_iter()
        .filter(|c| c.running())
        .collect();
    parallel(&list, |c| {
        progress.event("Container", &c.name, "Killing");
        env.client.kill_container(&c.id, &a.signal)?;
        progress.event("Container", &c.name, "Killed");
        Ok(())
    })?;
    Ok(0)
}

pub fn pause(env: &Env<'_>, a: &ServicesArgs, pause: bool) -> Result<i32, ComposeError> {
    let project = env.project_or_name()?;
    let progress = env.progress();
    let list = service_containers(env, &project, &a.services, false)?;
    parallel(&list, |c| {
        if pause {
            progress.event("Container", &c.name, "Pausing");
            env.client.pause_container(&c.id)?;
            progress.event("Container", &c.name, "Paused");
        } else {
            progress.event("Container", &c.name, "Unpausing");
            env.client.unpause_container(&c.id)?;
            progress.event("Container", &c.name, "Unpaused");
        }
        Ok(())
    })?;
    Ok(0)
}
