//! Converging a project: networks and volumes made, images built or pulled, and each
//! service's containers created, recreated (config hash or image changed), started,
//! scaled or removed — services in dependency order, independent ones in parallel,
//! a dependency's condition (started, healthy, completed) awaited before its
//! dependents.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use berth_api_types::exec::{ExecConfig, ExecStartConfig};
use berth_api_types::network::{Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest};
use berth_api_types::volume::VolumeCreateRequest;
use berth_client::{Client, ClientError};

use crate::convert::{container_plan, Target};
use crate::labels;
use crate::model::{Condition, Hook, Project, Service};
use crate::state::{containers, Existing, Progress};

/// A failure of a project operation, naming what failed.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Convert(#[from] crate::convert::ConvertError),
    #[error("{0}")]
    Msg(String),
}

impl ComposeError {
    pub fn msg(m: impl Into<String>) -> Self {
        ComposeError::Msg(m.into())
    }
}

/// `up`'s choices.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// The services named on the command line (empty: all enabled ones).
    pub services: Vec<String>,
    pub force_recreate: bool,
    pub no_recreate: bool,
    /// Do not start the named services' dependencies.
    pub no_deps: bool,
    pub no_start: bool,
    pub scale: BTreeMap<String, u32>,
    pub remove_orphans: bool,
    /// Seconds to wait when stopping a container being replaced.
    pub timeout: Option<i64>,
}

/// The services an operation applies to: the named ones (enabled or not: naming a
/// service in a profile enables it) and, unless `no_deps`, everything they depend on.
pub fn selected<'p>(
    project: &'p Project,
    names: &[String],
    no_deps: bool,
) -> Result<BTreeMap<String, &'p Service>, ComposeError> {
    let find = |n: &str| {
        project
            .service(n)
            .ok_or_else(|| ComposeError::msg(format!("no such service: {n}")))
    };
    let mut out = BTreeMap::new();
    if names.is_empty() {
        for (n, s) in &project.services {
            out.insert(n.clone(), s);
        }
        return Ok(out);
    }
    let mut todo: Vec<String> = names.to_vec();
    while !todo.is_empty() {
        let mut next = Vec::new();
        for n in todo {
            if out.contains_key(&n) {
                continue;
            }
            let s = find(&n)?;
            if !no_deps {
                // An optional dependency (`required: false`) outside the enabled
                // services is skipped.
                next.extend(
                    s.depends_on
                        .iter()
                        .filter(|(d, dep)| dep.required || project.services.contains_key(*d))
                        .map(|(d, _)| d.clone()),
                );
            }
            out.insert(n, s);
        }
        todo = next;
    }
    Ok(out)
}

/// The order services start in: dependencies first (a cycle is refused, naming it).
pub fn start_order(services: &BTreeMap<String, &Service>) -> Result<Vec<String>, ComposeError> {
    let mut order = Vec::new();
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    fn visit<'a>(
        n: &'a str,
        services: &'a BTreeMap<String, &Service>,
        state: &mut BTreeMap<&'a str, u8>,
        order: &mut Vec<String>,
        path: &mut Vec<&'a str>,
    ) -> Result<(), ComposeError> {
        match state.get(n) {
            Some(2) => return Ok(()),
            Some(1) => {
                path.push(n);
                return Err(ComposeError::msg(format!(
                    "dependency cycle: {}",
                    path.join(" -> ")
                )));
            }
            _ => {}
        }
        let Some(s) = services.get(n) else {
            return Ok(());
        };
        state.insert(n, 1);
        path.push(n);
        for d in s.depends_on.keys() {
            visit(d, services, state, order, path)?;
        }
        path.pop();
        state.insert(n, 2);
        order.push(n.to_string());
        Ok(())
    }
    for n in services.keys() {
        visit(n, services, &mut state, &mut order, &mut Vec::new())?;
    }
    Ok(order)
}

/// Makes the project's networks and volumes that `services` use (and that do not
/// exist yet); an external one must exist.
pub fn ensure_resources(
    client: &Client,
    project: &Project,
    services: &BTreeMap<String, &Service>,
    progress: &Progress,
) -> Result<(), ComposeError> {
    let used_nets: BTreeSet<&String> = services.values().flat_map(|s| s.networks.keys()).collect();
    for key in used_nets {
        let Some(net) = project.networks.get(key) else {
            return Err(ComposeError::msg(format!(
                "service refers to undefined network {key}"
            )));
        };
        match client.inspect_network(&net.name) {
            Ok(found) => {
                let owner = found.labels.get(labels::PROJECT).map(String::as_str);
                if !net.external && owner.is_some_and(|o| o != project.name) {
                    progress.line(&format!(
                        "WARN[0000] a network with name {} exists but was not created for project {:?}.\nSet `external: true` to use an existing network",
                        net.name, project.name
                    ));
                }
            }
            Err(e) if e.is_not_found() => {
                if net.external {
                    return Err(ComposeError::msg(format!(
                        "network {} declared as external, but could not be found",
                        net.name
                    )));
                }
                progress.event("Network", &net.name, "Creating");
                let mut l = net.labels.clone();
                l.extend(labels::project_labels(project));
                l.insert(labels::NETWORK.into(), key.clone());
                let ipam = net.ipam.as_ref().map(|i| Ipam {
                    driver: i.driver.clone().unwrap_or_else(|| "default".into()),
                    config: i
                        .config
                        .iter()
                        .map(|c| IpamConfig {
                            subnet: c.subnet.clone().unwrap_or_default(),
                            ip_range: c.ip_range.clone().unwrap_or_default(),
                            gateway: c.gateway.clone().unwrap_or_default(),
                            auxiliary_addresses: c.aux_addresses.clone(),
                        })
                        .collect(),
                    options: (!i.options.is_empty()).then(|| i.options.clone()),
                });
                let req = NetworkCreateRequest {
                    name: net.name.clone(),
                    check_duplicate: true,
                    driver: net.driver.clone().unwrap_or_default(),
                    internal: net.internal,
                    attachable: net.attachable,
                    enable_ipv6: net.enable_ipv6,
                    options: net.driver_opts.clone(),
                    labels: l,
                    ipam,
                    ..Default::default()
                };
                client.create_network(&req)?;
                progress.event("Network", &net.name, "Created");
            }
            Err(e) => return Err(e.into()),
        }
    }
    let used_vols: BTreeSet<&String> = services
        .values()
        .flat_map(|s| s.volumes.iter())
        .filter(|v| v.kind == "volume")
        .filter_map(|v| v.source.as_ref())
        .collect();
    for key in used_vols {
        let Some(vol) = project.volumes.get(key) else {
            return Err(ComposeError::msg(format!(
                "service refers to undefined volume {key}"
            )));
        };
        match client.inspect_volume(&vol.name) {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                if vol.external {
                    return Err(ComposeError::msg(format!(
                        "external volume {:?} not found",
                        vol.name
                    )));
                }
                progress.event("Volume", &format!("{:?}", vol.name), "Creating");
                let mut l = vol.labels.clone();
                l.extend(labels::project_labels(project));
                l.insert(labels::VOLUME.into(), key.clone());
                client.create_volume(&VolumeCreateRequest {
                    name: vol.name.clone(),
                    driver: vol.driver.clone().unwrap_or_else(|| "local".into()),
                    driver_opts: vol.driver_opts.clone(),
                    labels: l,
                })?;
                progress.event("Volume", &format!("{:?}", vol.name), "Created");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// What a service thread reports to its dependents.
#[derive(Debug, Clone)]
enum Done {
    Ok,
    Failed,
}

/// Converges `services` (already built or pulled: `images` gives each service's image
/// id). Returns the containers of the converged services.
pub fn converge(
    client: &Client,
    project: &Project,
    services: &BTreeMap<String, &Service>,
    images: &BTreeMap<String, String>,
    opts: &UpOptions,
    progress: &Progress,
) -> Result<(), ComposeError> {
    start_order(services)?;
    let existing = containers(client, &project.name, false)?;
    orphans(client, project, &existing, opts, progress)?;
    let done: Mutex<BTreeMap<String, Done>> = Mutex::new(BTreeMap::new());
    let changed = Condvar::new();
    let errors: Mutex<Vec<ComposeError>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for (name, service) in services {
            let (done, changed, errors, existing) = (&done, &changed, &errors, &existing);
            scope.spawn(move || {
                let result = (|| {
                    for (dep, d) in &service.depends_on {
                        if !services.contains_key(dep) {
                            // Not part of this run (--no-deps): its condition still holds
                            // only if it is there; docker compose does not wait then.
                            continue;
                        }
                        let mut map = done.lock().unwrap_or_else(|e| e.into_inner());
                        while !map.contains_key(dep) {
                            map = changed.wait(map).unwrap_or_else(|e| e.into_inner());
                        }
                        if matches!(map[dep], Done::Failed) {
                            return Err(ComposeError::msg(format!(
                                "dependency failed to start: service {dep}"
                            )));
                        }
                        drop(map);
                        if !opts.no_start {
                            await_condition(client, project, dep, d.condition, progress)?;
                        }
                    }
                    let image_id = images.get(name).cloned().unwrap_or_default();
                    converge_service(
                        client, project, service, existing, &image_id, opts, progress,
                    )
                })();
                let mut map = done.lock().unwrap_or_else(|e| e.into_inner());
                match result {
                    Ok(()) => {
                        map.insert(name.clone(), Done::Ok);
                    }
                    Err(e) => {
                        map.insert(name.clone(), Done::Failed);
                        errors.lock().unwrap_or_else(|e| e.into_inner()).push(e);
                    }
                }
                changed.notify_all();
            });
        }
    });
    match errors
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .next()
    {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Containers of the project whose service is no longer in it: removed with
/// `--remove-orphans`, else named in a warning.
fn orphans(
    client: &Client,
    project: &Project,
    existing: &[Existing],
    opts: &UpOptions,
    progress: &Progress,
) -> Result<(), ComposeError> {
    let orphans: Vec<&Existing> = existing
        .iter()
        .filter(|c| project.service(&c.service).is_none())
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    if opts.remove_orphans {
        for c in orphans {
            progress.event("Container", &c.name, "Stopping");
            stop_quietly(client, &c.id, opts.timeout)?;
            progress.event("Container", &c.name, "Removing");
            client.remove_container(&c.id, true, false)?;
            progress.event("Container", &c.name, "Removed");
        }
    } else {
        let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
        progress.line(&format!(
            "WARN[0000] Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
            names.join(" ")
        ));
    }
    Ok(())
}

/// Stops a container; one already stopped or gone is no error.
pub(crate) fn stop_quietly(
    client: &Client,
    id: &str,
    timeout: Option<i64>,
) -> Result<(), ClientError> {
    gone_is_done(client.stop_container(id, timeout, None))
}

/// Stops one of the project's containers, running its service's `pre_stop` hooks in
/// it first when it is running (a hook that fails stops nothing, as in docker
/// compose).
pub(crate) fn stop_container(
    client: &Client,
    project: &Project,
    c: &Existing,
    timeout: Option<i64>,
) -> Result<(), ComposeError> {
    if let Some(s) = project.service(&c.service).filter(|_| c.running()) {
        run_hooks(client, &c.id, &c.name, &s.pre_stop, "pre_stop")?;
    }
    Ok(stop_quietly(client, &c.id, timeout)?)
}

/// Runs `hooks` (`kind`: `post_start` or `pre_stop`) in container `id` one after
/// the other, each as an exec whose end is awaited; a non-zero exit is an error
/// naming the container and the hook. A container already gone is no error.
pub(crate) fn run_hooks(
    client: &Client,
    id: &str,
    name: &str,
    hooks: &[Hook],
    kind: &str,
) -> Result<(), ComposeError> {
    for (i, h) in hooks.iter().enumerate() {
        let what = format!("container {name}: {kind}[{i}] ({})", h.command.join(" "));
        let cfg = ExecConfig {
            user: h.user.clone().unwrap_or_default(),
            privileged: h.privileged,
            env: h
                .environment
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                .collect(),
            working_dir: h.working_dir.clone().unwrap_or_default(),
            cmd: h.command.clone(),
            attach_stdout: true,
            attach_stderr: true,
            ..Default::default()
        };
        let exec = match client.exec_create(id, &cfg) {
            Ok(e) => e,
            Err(e) if matches!(e.status(), Some(404 | 409)) => return Ok(()),
            Err(e) => return Err(ComposeError::msg(format!("{what}: {e}"))),
        };
        // Attached, its output read to the end (and not shown): the stream ends when
        // the hook does, and then its exit code is recorded.
        let mut stream = client
            .exec_start_attached(&exec.id, &ExecStartConfig::default())
            .map_err(|e| ComposeError::msg(format!("{what}: {e}")))?;
        std::io::copy(&mut stream, &mut std::io::sink())
            .map_err(|e| ComposeError::msg(format!("{what}: {e}")))?;
        let code = client
            .exec_inspect(&exec.id)
            .map_err(|e| ComposeError::msg(format!("{what}: {e}")))?
            .exit_code
            .unwrap_or_default();
        if code != 0 {
            return Err(ComposeError::msg(format!("{what} exited with code {code}")));
        }
    }
    Ok(())
}

/// An answer that says the work is already done (304: not running; 404: no such
/// thing) counts as success.
pub(crate) fn gone_is_done(r: Result<(), ClientError>) -> Result<(), ClientError> {
    match r {
        Err(e) if matches!(e.status(), Some(304) | Some(404)) => Ok(()),
        r => r,
    }
}

/// Brings one service to its wanted containers.
fn converge_service(
    client: &Client,
    project: &Project,
    service: &Service,
    existing: &[Existing],
    image_id: &str,
    opts: &UpOptions,
    progress: &Progress,
) -> Result<(), ComposeError> {
    let want = labels::replicas(service, &opts.scale);
    let hash = labels::config_hash(service);
    let mine: Vec<&Existing> = existing
        .iter()
        .filter(|c| c.service == service.name)
        .collect();
    if want > 1 && service.container_name.is_some() {
        return Err(ComposeError::msg(format!(
            "services.{}: container_name {:?} cannot be used by {want} containers (scale > 1)",
            service.name,
            service.container_name.as_deref().unwrap_or_default()
        )));
    }
    // Scale down: the highest numbers go first.
    for c in mine.iter().filter(|c| c.number > want || c.number == 0) {
        progress.event("Container", &c.name, "Stopping");
        stop_container(client, project, c, opts.timeout)?;
        progress.event("Container", &c.name, "Stopped");
        progress.event("Container", &c.name, "Removing");
        client.remove_container(&c.id, true, false)?;
        progress.event("Container", &c.name, "Removed");
    }
    for number in 1..=want {
        let current = mine.iter().find(|c| c.number == number);
        let image_changed = |c: &Existing| !image_id.is_empty() && c.image_id != image_id;
        match current {
            Some(c)
                if opts.force_recreate
                    || (!opts.no_recreate && (c.hash != hash || image_changed(c))) =>
            {
                progress.event("Container", &c.name, "Recreate");
                stop_container(client, project, c, opts.timeout)?;
                client.remove_container(&c.id, true, false)?;
                let id = create(client, project, service, number, image_id, &hash)?;
                progress.event("Container", &c.name, "Recreated");
                if !opts.no_start {
                    start(client, service, &id, &c.name, progress)?;
                }
            }
            Some(c) => {
                if opts.no_start {
                    continue;
                }
                if c.running() {
                    progress.event("Container", &c.name, "Running");
                } else {
                    start(client, service, &c.id, &c.name, progress)?;
                }
            }
            None => {
                let name = labels::container_name(&project.name, service, number);
                progress.event("Container", &name, "Creating");
                let id = create(client, project, service, number, image_id, &hash)?;
                progress.event("Container", &name, "Created");
                if !opts.no_start {
                    start(client, service, &id, &name, progress)?;
                }
            }
        }
    }
    Ok(())
}

/// Starts a container of `service`, then runs its `post_start` hooks in it.
pub(crate) fn start(
    client: &Client,
    service: &Service,
    id: &str,
    name: &str,
    progress: &Progress,
) -> Result<(), ComposeError> {
    progress.event("Container", name, "Starting");
    client.start_container(id, "")?;
    run_hooks(client, id, name, &service.post_start, "post_start")?;
    progress.event("Container", name, "Started");
    Ok(())
}

/// Creates container `number` of `service` (joined to all its networks); returns its id.
pub fn create(
    client: &Client,
    project: &Project,
    service: &Service,
    number: u32,
    image_id: &str,
    hash: &str,
) -> Result<String, ComposeError> {
    let name = labels::container_name(&project.name, service, number);
    create_named(
        client, project, service, number, false, &name, image_id, hash,
    )
}

/// Creates a container of `service` named `name`.
#[allow(clippy::too_many_arguments)]
pub fn create_named(
    client: &Client,
    project: &Project,
    service: &Service,
    number: u32,
    oneoff: bool,
    name: &str,
    image_id: &str,
    hash: &str,
) -> Result<String, ComposeError> {
    let lookup = |other: &str| -> Option<String> {
        containers(client, &project.name, false)
            .ok()?
            .into_iter()
            .find(|c| c.service == other)
            .map(|c| c.id)
    };
    let target = Target {
        name: name.to_string(),
        number,
        oneoff,
        image: labels::image_name(&project.name, service),
        image_id: image_id.to_string(),
        hash: hash.to_string(),
        service_container: &lookup,
    };
    let plan = container_plan(project, service, &target)?;
    let files = (!plan.files.is_empty())
        .then(|| plan.files_archive())
        .transpose()
        .map_err(|e| {
            ComposeError::msg(format!(
                "service {}: secrets and configs: {e}",
                service.name
            ))
        })?;
    let created = client.create_container(
        &plan.name,
        service.platform.as_deref().unwrap_or(""),
        &plan.request,
    )?;
    for (net, endpoint) in plan.more_networks {
        client.connect_network(
            &net,
            &NetworkConnectRequest {
                container: created.id.clone(),
                endpoint_config: Some(endpoint),
            },
        )?;
    }
    if let Some(archive) = files {
        // The owners in the archive are the ones the files get. A container that did
        // not get its secrets is not left behind.
        if let Err(e) = client.extract(&created.id, "/", false, true, &mut archive.as_slice()) {
            let _ = client.remove_container(&created.id, true, false);
            return Err(e.into());
        }
    }
    Ok(created.id)
}

/// Waits until every container of `service` meets `condition`.
pub fn await_condition(
    client: &Client,
    project: &Project,
    service: &str,
    condition: Condition,
    progress: &Progress,
) -> Result<(), ComposeError> {
    if condition == Condition::ServiceStarted {
        return Ok(());
    }
    let list: Vec<Existing> = containers(client, &project.name, false)?
        .into_iter()
        .filter(|c| c.service == service)
        .collect();
    for c in list {
        progress.event("Container", &c.name, "Waiting");
        match condition {
            Condition::ServiceHealthy => wait_healthy(client, &c, None)?,
            Condition::ServiceCompletedSuccessfully => {
                let code = client
                    .wait_container(&c.id, "not-running")?
                    .result()?
                    .status_code;
                if code != 0 {
                    return Err(ComposeError::msg(format!(
                        "service {service:?} didn't complete successfully: exit {code}"
                    )));
                }
            }
            Condition::ServiceStarted => {}
        }
        progress.event(
            "Container",
            &c.name,
            if condition == Condition::ServiceHealthy {
                "Healthy"
            } else {
                "Exited"
            },
        );
    }
    Ok(())
}

/// Polls a container's health until it is healthy; unhealthy, exited, without a
/// healthcheck or past `deadline` is an error naming it.
pub fn wait_healthy(
    client: &Client,
    c: &Existing,
    deadline: Option<std::time::Instant>,
) -> Result<(), ComposeError> {
    let mut delay = Duration::from_millis(20);
    loop {
        let inspect = client.inspect_container(&c.id, false)?;
        let state = inspect.state.clone().unwrap_or_default();
        match state.health.as_ref().map(|h| h.status.as_str()) {
            Some("healthy") => return Ok(()),
            Some("unhealthy") => {
                return Err(ComposeError::msg(format!(
                    "dependency failed to start: container {} is unhealthy",
                    c.name
                )))
            }
            None => {
                return Err(ComposeError::msg(format!(
                    "container {} has no healthcheck configured",
                    c.name
                )))
            }
            _ => {}
        }
        if !state.running {
            return Err(ComposeError::msg(format!(
                "dependency failed to start: container {} exited ({})",
                c.name, state.exit_code
            )));
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Err(ComposeError::msg(format!(
                "container {} is not healthy yet: the wait timed out",
                c.name
            )));
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Dependency;

    fn svc(name: &str, deps: &[&str]) -> Service {
        let mut s = Service {
            name: name.into(),
            image: Some("busybox".into()),
            ..Default::default()
        };
        for d in deps {
            s.depends_on.insert(
                d.to_string(),
                Dependency {
                    condition: Condition::ServiceStarted,
                    restart: false,
                    required: true,
                },
            );
        }
        s
    }

    fn project(services: Vec<Service>) -> Project {
        let mut p = Project {
            name: "p".into(),
            ..Default::default()
        };
        for s in services {
            p.services.insert(s.name.clone(), s);
        }
        p
    }

    #[test]
    fn dependencies_start_first_and_cycles_are_named() {
        let p = project(vec![
            svc("app", &["db", "web"]),
            svc("web", &["db"]),
            svc("db", &[]),
        ]);
        let all = selected(&p, &[], false).unwrap();
        assert_eq!(start_order(&all).unwrap(), vec!["db", "web", "app"]);
        let only = selected(&p, &["web".into()], false).unwrap();
        assert_eq!(only.keys().collect::<Vec<_>>(), vec!["db", "web"]);
        let alone = selected(&p, &["app".into()], true).unwrap();
        assert_eq!(alone.keys().collect::<Vec<_>>(), vec!["app"]);
        let cyc = project(vec![svc("a", &["b"]), svc("b", &["a"])]);
        let e = start_order(&selected(&cyc, &[], false).unwrap()).unwrap_err();
        assert_eq!(e.to_string(), "dependency cycle: a -> b -> a");
        assert_eq!(
            selected(&p, &["nope".into()], false)
                .unwrap_err()
                .to_string(),
            "no such service: nope"
        );
    }
}
