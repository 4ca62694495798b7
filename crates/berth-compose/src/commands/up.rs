//! `up`, `create` and `down`: converge the project, attach to its logs, take it away.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::mpsc;

use berth_client::LogsOptions;

use super::{images, parallel, Env};
use crate::cli::{CreateArgs, DownArgs, UpArgs};
use crate::logs::{copy_logs, LogOutput};
use crate::model::Project;
use crate::state::{containers, Existing, Progress};
use crate::up::{converge, ensure_resources, selected, start_order, ComposeError, UpOptions};
use crate::{labels, up};

/// `--scale SERVICE=NUM` flags.
fn parse_scale(flags: &[String]) -> Result<BTreeMap<String, u32>, ComposeError> {
    flags
        .iter()
        .map(|f| {
            let (s, n) = f.split_once('=').ok_or_else(|| {
                ComposeError::msg(format!("invalid --scale {f:?}: expected SERVICE=NUM"))
            })?;
            let n = n.parse().map_err(|_| {
                ComposeError::msg(format!("invalid --scale {f:?}: {n:?} is not a number"))
            })?;
            Ok((s.to_string(), n))
        })
        .collect()
}

pub fn up(env: &Env<'_>, a: &UpArgs) -> Result<i32, ComposeError> {
    let project = env.project()?;
    let scale = parse_scale(&a.scale)?;
    for s in scale.keys() {
        if project.service(s).is_none() {
            return Err(ComposeError::msg(format!("no such service: {s}")));
        }
    }
    let services = selected(&project, &a.services, a.no_deps)?;
    start_order(&services)?;
    let progress = env.progress();
    let images = images::ensure(
        env,
        &project,
        &services,
        &images::Policy {
            build: a.build,
            no_build: a.no_build,
            pull: a.pull.clone(),
            quiet: a.quiet_pull,
        },
    )?;
    ensure_resources(env.client, &project, &services, &progress)?;
    let opts = UpOptions {
        services: a.services.clone(),
        force_recreate: a.force_recreate,
        no_recreate: a.no_recreate,
        no_deps: a.no_deps,
        no_start: a.no_start,
        scale,
        remove_orphans: a.remove_orphans,
        timeout: a.timeout,
    };
    converge(env.client, &project, &services, &images, &opts, &progress)?;
    if a.no_start {
        return Ok(0);
    }
    if a.wait {
        let deadline = a
            .wait_timeout
            .map(|t| std::time::Instant::now() + std::time::Duration::from_secs(t));
        wait_ready(env, &project, &services, deadline, &progress)?;
        return Ok(0);
    }
    if a.detach {
        return Ok(0);
    }
    attach(env, &project, &services, a, &progress)
}

pub fn create(env: &Env<'_>, a: &CreateArgs) -> Result<i32, ComposeError> {
    up(
        env,
        &UpArgs {
            build: a.build,
            force_recreate: a.force_recreate,
            no_recreate: a.no_recreate,
            no_start: true,
            detach: true,
            scale: a.scale.clone(),
            services: a.services.clone(),
            ..Default::default()
        },
    )
}

/// `--wait`: every container running, and healthy where it has a healthcheck.
fn wait_ready(
    env: &Env<'_>,
    project: &Project,
    services: &BTreeMap<String, &crate::model::Service>,
    deadline: Option<std::time::Instant>,
    progress: &Progress,
) -> Result<(), ComposeError> {
    let list: Vec<Existing> = containers(env.client, &project.name, false)?
        .into_iter()
        .filter(|c| services.contains_key(&c.service))
        .collect();
    parallel(&list, |c| {
        progress.event("Container", &c.name, "Waiting");
        let inspect = env.client.inspect_container(&c.id, false)?;
        let state = inspect.state.unwrap_or_default();
        if state.health.is_some() {
            up::wait_healthy(env.client, c, deadline)?;
            progress.event("Container", &c.name, "Healthy");
        } else if !state.running && state.exit_code == 0 {
            // A job that finished (what `service_completed_successfully` waits for).
            progress.event("Container", &c.name, "Exited");
        } else if !state.running {
            return Err(ComposeError::msg(format!(
                "container {} exited ({})",
                c.name, state.exit_code
            )));
        } else {
            progress.event("Container", &c.name, "Running");
        }
        Ok(())
    })
}

/// Attached `up`: every container's logs (but those of services with `attach:
/// false`), prefixed, until all have stopped; Ctrl+C stops them all.
fn attach(
    env: &Env<'_>,
    project: &Project,
    services: &BTreeMap<String, &crate::model::Service>,
    a: &UpArgs,
    progress: &Progress,
) -> Result<i32, ComposeError> {
    let all: Vec<Existing> = containers(env.client, &project.name, false)?
        .into_iter()
        .filter(|c| services.contains_key(&c.service))
        .collect();
    let list: Vec<Existing> = all
        .iter()
        .filter(|c| services[&c.service].attach != Some(false))
        .cloned()
        .collect();
    let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
    let output = LogOutput::new(
        Box::new(io::stdout()),
        env.colour && !a.no_color,
        !a.no_log_prefix,
        &names,
    );
    output.line(&format!("Attaching to {}", names.join(", ")));
    let (tx, rx) = mpsc::channel::<Option<(String, String, i64)>>();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(|e| ComposeError::msg(format!("installing signal handlers: {e}")))?;
    let handle = signals.handle();
    let sig_tx = tx.clone();
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = sig_tx.send(None);
        }
    });
    let opts = LogsOptions {
        follow: true,
        stdout: true,
        stderr: true,
        tail: "all".into(),
        ..Default::default()
    };
    std::thread::scope(|scope| {
        for (i, c) in list.iter().enumerate() {
            let (output, tx, opts) = (&output, tx.clone(), &opts);
            scope.spawn(move || {
                let _ = copy_logs(env.client, c, opts, output, i);
                let code = env
                    .client
                    .inspect_container(&c.id, false)
                    .ok()
                    .and_then(|i| i.state)
                    .map_or(0, |s| s.exit_code);
                let _ = tx.send(Some((c.name.clone(), c.service.clone(), code)));
            });
        }
        drop(tx);
        let mut left = list.len();
        let mut code = 0;
        let mut stop_all = false;
        while left > 0 {
            match rx.recv() {
                Ok(Some((name, service, exit))) => {
                    left -= 1;
                    output.line(&format!("{name} exited with code {exit}"));
                    if a.exit_code_from.as_deref() == Some(service.as_str()) {
                        code = exit as i32;
                    }
                    if a.abort_on_container_exit || a.exit_code_from.is_some() {
                        if a.exit_code_from.is_none() {
                            code = exit as i32;
                        }
                        stop_all = true;
                        break;
                    }
                }
                Ok(None) => {
                    output.line("Gracefully stopping... (press Ctrl+C again to force)");
                    code = 130;
                    stop_all = true;
                    break;
                }
                Err(_) => break,
            }
        }
        handle.close();
        if stop_all {
            stop_project(env, project, &all, a.timeout, progress)?;
        }
        Ok(code)
    })
}

/// Stops containers, dependents before what they depend on.
fn stop_project(
    env: &Env<'_>,
    project: &Project,
    list: &[Existing],
    timeout: Option<i64>,
    progress: &Progress,
) -> Result<(), ComposeError> {
    for level in stop_levels(project, list) {
        parallel(&level, |c| {
            if !c.running() {
                return Ok(());
            }
            progress.event("Container", &c.name, "Stopping");
            up::stop_container(env.client, project, c, timeout)?;
            progress.event("Container", &c.name, "Stopped");
            Ok(())
        })?;
    }
    Ok(())
}

/// Containers grouped so that each group depends on nothing in a later one reversed:
/// dependents first (a service's level is one more than the deepest of its
/// dependencies'; levels run from the deepest down).
pub(crate) fn stop_levels(project: &Project, list: &[Existing]) -> Vec<Vec<Existing>> {
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    fn d<'a>(
        n: &'a str,
        p: &'a Project,
        memo: &mut BTreeMap<&'a str, usize>,
        guard: usize,
    ) -> usize {
        if let Some(v) = memo.get(n) {
            return *v;
        }
        let v = match p.services.get(n) {
            Some(s) if guard < 64 => s
                .depends_on
                .keys()
                .map(|k| d(k, p, memo, guard + 1) + 1)
                .max()
                .unwrap_or(0),
            _ => 0,
        };
        memo.insert(n, v);
        v
    }
    let mut groups: BTreeMap<usize, Vec<Existing>> = BTreeMap::new();
    for c in list {
        let level = d(&c.service, project, &mut depth, 0);
        groups.entry(level).or_default().push(c.clone());
    }
    groups.into_values().rev().collect()
}

pub fn down(env: &Env<'_>, a: &DownArgs) -> Result<i32, ComposeError> {
    let project = env.project_or_name()?;
    let progress = env.progress();
    let all = containers(env.client, &project.name, true)?;
    let known = |c: &Existing| project.services.is_empty() || project.service(&c.service).is_some();
    let (mut mine, orphans): (Vec<Existing>, Vec<Existing>) =
        all.into_iter().partition(|c| known(c));
    if !a.services.is_empty() {
        mine.retain(|c| a.services.contains(&c.service));
    }
    if a.remove_orphans {
        mine.extend(orphans);
    } else if !orphans.is_empty() && a.services.is_empty() {
        let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
        progress.line(&format!(
            "WARN[0000] Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
            names.join(" ")
        ));
    }
    for level in stop_levels(&project, &mine) {
        parallel(&level, |c| {
            if c.running() {
                progress.event("Container", &c.name, "Stopping");
                up::stop_container(env.client, &project, c, a.timeout)?;
                progress.event("Container", &c.name, "Stopped");
            }
            progress.event("Container", &c.name, "Removing");
            up::gone_is_done(env.client.remove_container(&c.id, true, a.volumes))?;
            progress.event("Container", &c.name, "Removed");
            Ok(())
        })?;
    }
    if !a.services.is_empty() {
        return Ok(0);
    }
    remove_networks(env, &project, &progress)?;
    if a.volumes {
        remove_volumes(env, &project, &progress)?;
    }
    if let Some(rmi) = &a.rmi {
        remove_images(env, &project, rmi, &progress)?;
    }
    Ok(0)
}

/// The project's networks: those carrying its label (whoever made them) and the
/// declared, non-external ones that exist.
fn remove_networks(
    env: &Env<'_>,
    project: &Project,
    progress: &Progress,
) -> Result<(), ComposeError> {
    let mut names: BTreeSet<String> = env
        .client
        .list_networks(&crate::state::project_filter(&project.name))?
        .into_iter()
        .filter(|n| n.labels.get(labels::PROJECT) == Some(&project.name))
        .map(|n| n.name)
        .collect();
    for n in project.networks.values().filter(|n| !n.external) {
        if let Ok(found) = env.client.inspect_network(&n.name) {
            if found.labels.get(labels::PROJECT) == Some(&project.name) {
                names.insert(n.name.clone());
            }
        }
    }
    for n in project.networks.values().filter(|n| n.external) {
        names.remove(&n.name);
    }
    let names: Vec<String> = names.into_iter().collect();
    parallel(&names, |name| {
        progress.event("Network", name, "Removing");
        up::gone_is_done(env.client.remove_network(name))
            .map_err(|e| ComposeError::msg(format!("removing network {name}: {e}")))?;
        progress.event("Network", name, "Removed");
        Ok(())
    })
}

fn remove_volumes(
    env: &Env<'_>,
    project: &Project,
    progress: &Progress,
) -> Result<(), ComposeError> {
    let mut names: BTreeSet<String> = env
        .client
        .list_volumes(&crate::state::project_filter(&project.name))?
        .volumes
        .into_iter()
        .filter(|v| v.labels.get(labels::PROJECT) == Some(&project.name))
        .map(|v| v.name)
        .collect();
    for v in project.volumes.values().filter(|v| v.external) {
        names.remove(&v.name);
    }
    for name in names {
        progress.event("Volume", &name, "Removing");
        up::gone_is_done(env.client.remove_volume(&name, false))
            .map_err(|e| ComposeError::msg(format!("removing volume {name}: {e}")))?;
        progress.event("Volume", &name, "Removed");
    }
    Ok(())
}

fn remove_images(
    env: &Env<'_>,
    project: &Project,
    rmi: &str,
    progress: &Progress,
) -> Result<(), ComposeError> {
    if rmi != "all" && rmi != "local" {
        return Err(ComposeError::msg(format!(
            "invalid --rmi {rmi:?}: use \"local\" or \"all\""
        )));
    }
    let mut seen = BTreeSet::new();
    for s in project.services.values() {
        if rmi == "local" && s.image.is_some() {
            continue;
        }
        let image = labels::image_name(&project.name, s);
        if !seen.insert(image.clone()) {
            continue;
        }
        match env.client.remove_image(&image, false, false) {
            Ok(_) => progress.event("Image", &image, "Removed"),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(ComposeError::msg(format!("removing image {image}: {e}"))),
        }
    }
    Ok(())
}
