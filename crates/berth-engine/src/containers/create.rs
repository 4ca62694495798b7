//! `POST /containers/create`: validate the name and the request, resolve and unpack the
//! image, prepare the container's writable snapshot, merge the image's defaults into
//! the config as dockerd does, check that an OCI spec can be made, write the
//! per-container /etc files and the record.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_api_types::container::{
    ContainerConfig, ContainerCreateRequest, ContainerCreateResponse, HealthConfig, HostConfig,
};
use berth_api_types::network::{EndpointSettings, NetworkSettings, NetworkingConfig};
use berth_image::model::ImageConfig;

use super::{unsupported, Container, Inner};
use crate::api::{EngineError, EngineResult};
use crate::names;
use crate::spec::{self, SpecContext, SpecError};
use crate::store::{ContainerRecord, StateRecord};
use crate::system::DEFAULT_RUNTIME;
use crate::timefmt::now_nanos;

impl Inner {
    pub fn create(
        self: &Arc<Self>,
        name: Option<&str>,
        req: ContainerCreateRequest,
    ) -> EngineResult<ContainerCreateResponse> {
        self.create_from(name, req, false)
    }

    /// A build's working container: as `create`, and an empty image means scratch
    /// (no filesystem yet), which the API does not offer.
    pub fn create_for_build(
        self: &Arc<Self>,
        req: ContainerCreateRequest,
    ) -> EngineResult<ContainerCreateResponse> {
        self.create_from(None, req, true)
    }

    fn create_from(
        self: &Arc<Self>,
        name: Option<&str>,
        mut req: ContainerCreateRequest,
        scratch: bool,
    ) -> EngineResult<ContainerCreateResponse> {
        let scratch = scratch && req.config.image.is_empty();
        let given_name = name
            .filter(|n| !n.is_empty())
            .map(names::validate_name)
            .transpose()?;
        if req.config.image.is_empty() && !scratch {
            return Err(EngineError::BadParameter(
                "Config.Image: no image specified".into(),
            ));
        }
        // dockerd names the runtime in HostConfig only when the request had one.
        let runtime_named = req.host_config.is_some();
        let mut hc = req.host_config.take().unwrap_or_default();
        validate_host_config(&mut hc)?;
        let host = unsupported::RealHost {
            data_root: &self.config.data_root,
        };
        let warnings = unsupported::refuse_unsupported(
            &req.config,
            &hc,
            req.networking_config.as_ref(),
            &host,
        )?;
        // Defaults dockerd records at create, so inspect shows what applies.
        if hc.shm_size == 0
            && !matches!(hc.ipc_mode.as_str(), "host" | "none")
            && !hc.ipc_mode.starts_with("container:")
        {
            hc.shm_size = spec::DEFAULT_SHM_SIZE as i64;
        }
        if hc.cgroupns_mode.is_empty() {
            hc.cgroupns_mode = if host_cgroup_v2() { "private" } else { "host" }.into();
        }
        // Any other runtime was refused above.
        if hc.runtime.is_empty() && runtime_named {
            hc.runtime = DEFAULT_RUNTIME.into();
        }
        if hc.resources.oom_kill_disable.is_none() {
            hc.resources.oom_kill_disable = Some(false);
        }
        if !hc.privileged {
            let owned = |l: &[&str]| l.iter().map(|p| p.to_string()).collect();
            hc.masked_paths
                .get_or_insert_with(|| owned(berth_runtime::defaults::MASKED_PATHS));
            hc.readonly_paths
                .get_or_insert_with(|| owned(berth_runtime::defaults::READONLY_PATHS));
        }
        let network_settings = self.initial_network_settings(&hc, req.networking_config.take())?;
        let image = if scratch {
            crate::images::ResolvedImage::scratch()
        } else {
            self.images.resolve(&req.config.image)?
        };
        let mut config = merge_image_config(req.config.clone(), &image.config);
        let (path, args) = command(&config)?;

        let id = names::new_id()?;
        if config.hostname.is_empty() {
            config.hostname = id[..12].to_string();
        }
        let name = self.reserve_name(given_name, &id)?;
        let res = self
            .normalize_links(&mut hc, &name)
            .and_then(|()| {
                self.create_reserved(&id, &name, &image, config, hc, path, args, network_settings)
            })
            .map(|mut r| {
                r.warnings.splice(0..0, warnings);
                r
            });
        if res.is_err() {
            let mut t = self.table.write().expect("container table lock poisoned");
            if t.names.get(&name) == Some(&id) {
                t.names.remove(&name);
            }
            drop(t);
            let _ = self.snapshotter.remove(&id);
            let _ = std::fs::remove_dir_all(self.data_dir(&id));
            let _ = std::fs::remove_dir_all(self.exec_dir(&id));
        }
        res
    }

    /// `NetworkSettings` at create: the network `NetworkMode` names (400 naming it when
    /// there is none) with what the request asked for on it (`EndpointsConfig`).
    fn initial_network_settings(
        &self,
        hc: &HostConfig,
        net: Option<NetworkingConfig>,
    ) -> EngineResult<NetworkSettings> {
        use crate::networks::endpoint::{network_key, Attachment};
        let mode = hc.network_mode.as_str();
        let attachment = self.attachment(mode).map_err(|e| match e {
            // 400, not dockerd's 404: the docker CLI takes a 404 from create for a
            // missing image and would hide this behind a pull error.
            EngineError::NotFound(m) => EngineError::BadParameter(m),
            e => e,
        })?;
        let mut ns = NetworkSettings::default();
        let Some(key) = network_key(mode) else {
            return Ok(ns);
        };
        let mut asked = net.map(|n| n.endpoints_config).unwrap_or_default();
        // The docker CLI names the endpoint after the mode as given (`default`).
        let mut ep: EndpointSettings = asked
            .remove(key)
            .or_else(|| asked.remove(mode))
            .unwrap_or_default();
        if let Some((other, _)) = asked.iter().next() {
            return Err(EngineError::BadParameter(format!(
                "Container cannot be connected to network endpoints: {key}, {other}"
            )));
        }
        let st = self.networks.lock();
        let found = match (&attachment, key) {
            (Attachment::Bridge(n), _) => Some((**n).clone()),
            (_, k) => st.find(k).cloned(),
        };
        if let Some(n) = found {
            ep.network_id = n.id.clone();
        }
        if let Some(i) = ep.ipam_config.as_ref() {
            if !i.ipv4_address.is_empty() || !i.ipv6_address.is_empty() {
                let user_net = matches!(&attachment, Attachment::Bridge(n) if !n.default_bridge);
                if !user_net {
                    return Err(EngineError::BadParameter(
                        "user specified IP address is supported on user defined networks only"
                            .into(),
                    ));
                }
            }
        }
        if !ep.aliases.is_empty()
            && !matches!(&attachment, Attachment::Bridge(n) if !n.default_bridge)
        {
            return Err(EngineError::BadParameter(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
        ns.networks.insert(key.to_string(), ep);
        Ok(ns)
    }

    /// `HostConfig.Links` as dockerd keeps them: `NAME[:ALIAS]` becomes
    /// `/TARGET:/OWN/ALIAS`; each target must exist (400 naming it otherwise). With a
    /// user-defined network they are dropped unchecked, as dockerd ignores them there:
    /// links on such a network are its endpoint's `Links` (which the docker CLI sends
    /// as well), resolved by the embedded DNS server.
    fn normalize_links(&self, hc: &mut HostConfig, own: &str) -> EngineResult<()> {
        use crate::networks::endpoint::Attachment;
        let user_network = matches!(
            self.attachment(&hc.network_mode),
            Ok(Attachment::Bridge(n)) if !n.default_bridge
        );
        if user_network {
            hc.links.clear();
            return Ok(());
        }
        let mut out = Vec::new();
        for l in &hc.links {
            let (target, alias) =
                berth_network::links::parse(l).map_err(EngineError::BadParameter)?;
            let target = target.trim_start_matches('/');
            let alias = alias.rsplit('/').next().unwrap_or(alias);
            let c = self.get(target).map_err(|_| {
                EngineError::BadParameter(format!("could not get container for {target}"))
            })?;
            let tname = c.lock().rec.name.clone();
            if tname == own {
                return Err(EngineError::BadParameter("Cannot link to self".into()));
            }
            out.push(format!("/{tname}:/{own}/{alias}"));
        }
        hc.links = out;
        Ok(())
    }

    /// Claims `name` (or a random one) for `id`: 409 when it is taken.
    fn reserve_name(&self, name: Option<String>, id: &str) -> EngineResult<String> {
        let mut t = self.table.write().expect("container table lock poisoned");
        match name {
            Some(n) => {
                if let Some(other) = t.names.get(&n) {
                    return Err(EngineError::Conflict(format!(
                        "Conflict. The container name \"/{n}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                    )));
                }
                t.names.insert(n.clone(), id.to_string());
                Ok(n)
            }
            None => {
                for retry in 0..20 {
                    let n = names::random_name(retry)?;
                    if !t.names.contains_key(&n) {
                        t.names.insert(n.clone(), id.to_string());
                        return Ok(n);
                    }
                }
                Err(EngineError::internal(
                    "naming the container",
                    "could not find a free random container name",
                ))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create_reserved(
        self: &Arc<Self>,
        id: &str,
        name: &str,
        image: &crate::images::ResolvedImage,
        config: ContainerConfig,
        hc: HostConfig,
        path: String,
        args: Vec<String>,
        network_settings: NetworkSettings,
    ) -> EngineResult<ContainerCreateResponse> {
        let parent = if image.id.is_empty() {
            None
        } else {
            self.images.unpack(image)?
        };
        self.snapshotter
            .prepare(id, parent.as_deref())
            .map_err(|e| EngineError::internal(format!("preparing the snapshot of {id}"), e))?;
        let data = self.data_dir(id);
        let rootfs = self.rootfs(id);
        for d in [&data, &rootfs] {
            std::fs::create_dir_all(d).map_err(|e| EngineError::io("creating", d, e))?;
        }
        let mounts = self.resolve_mounts(id, &config, &hc)?;
        let res = self.create_with_mounts(
            id,
            name,
            image,
            config,
            hc,
            (path, args),
            mounts.clone(),
            network_settings,
        );
        if res.is_err() {
            let rec = ContainerRecord {
                id: id.to_string(),
                mounts,
                ..ContainerRecord::default()
            };
            // Volumes this create made are anonymous or named-on-use: only the
            // anonymous ones go, as with `rm -v`.
            self.drop_volumes(&rec, true);
        }
        res
    }

    #[allow(clippy::too_many_arguments)]
    fn create_with_mounts(
        self: &Arc<Self>,
        id: &str,
        name: &str,
        image: &crate::images::ResolvedImage,
        config: ContainerConfig,
        hc: HostConfig,
        (path, args): (String, Vec<String>),
        mounts: Vec<crate::volumes::mounts::MountRecord>,
        network_settings: NetworkSettings,
    ) -> EngineResult<ContainerCreateResponse> {
        let data = self.data_dir(id);
        let rootfs = self.rootfs(id);
        let mut rec = ContainerRecord {
            id: id.to_string(),
            name: name.to_string(),
            created: now_nanos(),
            image_id: image.id.clone(),
            image_name: config.image.clone(),
            config,
            host_config: hc,
            path,
            args,
            state: StateRecord::default(),
            restart_count: 0,
            log_path: data.join(format!("{id}-json.log")),
            snapshot_key: id.to_string(),
            cgroups_path: String::new(),
            manually_stopped: false,
            resolv_conf_path: data.join("resolv.conf"),
            hosts_path: data.join("hosts"),
            hostname_path: data.join("hostname"),
            mounts,
            network_settings,
            host_veths: Default::default(),
        };
        write_etc_files(&rec, self.networks.host_gateway())?;
        if self.on_user_network(&rec) {
            let conf = crate::networks::dns::resolv_conf(&rec);
            std::fs::write(&rec.resolv_conf_path, conf)
                .map_err(|e| EngineError::io("writing", &rec.resolv_conf_path, e))?;
        }

        // The spec is made again at each start (with the rootfs mounted, so users are
        // looked up in it); here it validates the request and yields the warnings.
        let ctx = self.spec_context(&rec, &rootfs);
        let req = request_of(&rec);
        let warnings = match spec::oci_spec(&req, &image.config, &ctx) {
            Ok(g) => {
                rec.cgroups_path = cgroups_path_of(&g.spec, id);
                g.warnings
            }
            // The empty rootfs has no user database yet: checked at start.
            Err(SpecError::UnknownUser(_) | SpecError::UnknownGroup(_)) => {
                rec.cgroups_path = default_cgroups_path(&rec, &self.config.cgroup_parent);
                Vec::new()
            }
            Err(SpecError::Io { path, .. }) if path.starts_with(&rootfs) => {
                rec.cgroups_path = default_cgroups_path(&rec, &self.config.cgroup_parent);
                Vec::new()
            }
            Err(SpecError::NoCommand) => {
                return Err(EngineError::BadParameter("No command specified".into()))
            }
            Err(e) => return Err(EngineError::BadParameter(e.to_string())),
        };
        self.save(&rec)?;
        let c = Arc::new(Container::new(rec.clone()));
        self.table
            .write()
            .expect("container table lock poisoned")
            .by_id
            .insert(id.to_string(), c);
        self.emit(&rec, "create", &[]);
        Ok(ContainerCreateResponse {
            id: id.to_string(),
            warnings,
        })
    }

    /// The context the spec generator needs for `rec`, its rootfs at `rootfs`.
    pub fn spec_context(&self, rec: &ContainerRecord, rootfs: &Path) -> SpecContext {
        let mut ctx = SpecContext::new(&rec.id, rootfs);
        ctx.cgroup_v2 = host_cgroup_v2();
        ctx.host_bounding_caps = host_bounding_caps();
        ctx.seccomp_profile = Some(
            self.config
                .seccomp_profile
                .clone()
                .unwrap_or_else(berth_seccomp::default_profile),
        );
        ctx.cgroup_parent = self.config.cgroup_parent.clone();
        ctx.default_ulimits = self.config.default_ulimits.clone();
        ctx.init_path = self.config.init_path.clone();
        ctx.resolv_conf = Some(rec.resolv_conf_path.clone());
        ctx.hosts = Some(rec.hosts_path.clone());
        ctx.hostname_file = Some(rec.hostname_path.clone());
        ctx.user_mounts = Self::user_mounts(rec);
        ctx.recursive_readonly = berth_sys::kernel::has(berth_sys::kernel::Feature::MountSetattr);
        // `container:REF` modes join that container's namespaces while it runs.
        let hc = &rec.host_config;
        for mode in [&hc.network_mode, &hc.pid_mode, &hc.ipc_mode, &hc.uts_mode] {
            let Some(r) = mode.strip_prefix("container:") else {
                continue;
            };
            let Ok(other) = self.get(r) else {
                continue;
            };
            let g = other.lock();
            if g.rec.state.status.is_running() && g.rec.state.pid > 0 {
                ctx.containers.insert(
                    r.to_string(),
                    spec::JoinedContainer {
                        ns_dir: PathBuf::from(format!("/proc/{}/ns", g.rec.state.pid)),
                        shm_path: None,
                    },
                );
            }
        }
        ctx
    }
}

/// The create request a record stands for (its config already merged).
pub(crate) fn request_of(rec: &ContainerRecord) -> ContainerCreateRequest {
    let mut hc = rec.host_config.clone();
    // Network modes other than host are networks (a later issue): a private netns.
    if hc.network_mode != "host" && !hc.network_mode.starts_with("container:") {
        hc.network_mode = String::new();
    }
    ContainerCreateRequest {
        config: rec.config.clone(),
        host_config: Some(hc),
        networking_config: None,
    }
}

pub(crate) fn cgroups_path_of(spec: &oci_spec::runtime::Spec, id: &str) -> String {
    spec.linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("/berth/{id}"))
}

fn default_cgroups_path(rec: &ContainerRecord, parent: &str) -> String {
    let p = if rec.host_config.resources.cgroup_parent.is_empty() {
        parent
    } else {
        &rec.host_config.resources.cgroup_parent
    };
    PathBuf::from(p)
        .join(&rec.id)
        .to_string_lossy()
        .into_owned()
}

/// The daemon's own capability bounding set.
pub(crate) fn host_bounding_caps() -> berth_seccomp::caps::Capabilities {
    let mask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0);
    (0..64u8)
        .filter(|n| mask & (1 << n) != 0)
        .filter_map(berth_seccomp::caps::from_number)
        .collect()
}

/// Docker's checks of the restart policy, log driver and network mode.
/// Whether the host runs the unified (v2) cgroup hierarchy only.
fn host_cgroup_v2() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

fn validate_host_config(hc: &mut HostConfig) -> EngineResult<()> {
    let rp = &hc.restart_policy;
    match rp.name.as_str() {
        "" | "no" | "always" | "unless-stopped" => {
            if rp.maximum_retry_count != 0 {
                return Err(EngineError::BadParameter(format!(
                    "invalid restart policy: maximum retry count can only be used with 'on-failure' (got {:?})",
                    rp.name
                )));
            }
        }
        "on-failure" => {
            if rp.maximum_retry_count < 0 {
                return Err(EngineError::BadParameter(
                    "invalid restart policy: maximum retry count cannot be negative".into(),
                ));
            }
        }
        other => {
            return Err(EngineError::BadParameter(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            )))
        }
    }
    if hc.auto_remove && !matches!(rp.name.as_str(), "" | "no") {
        return Err(EngineError::BadParameter(
            "can't create 'AutoRemove' container with restart policy".into(),
        ));
    }
    if hc.restart_policy.name.is_empty() {
        hc.restart_policy.name = "no".into();
    }
    match hc.log_config.kind.as_str() {
        "" => hc.log_config.kind = "json-file".into(),
        "json-file" | "none" => {}
        other => {
            return Err(EngineError::BadParameter(format!(
                "logger: no log driver named '{other}' is registered"
            )))
        }
    }
    log_limits(&hc.log_config.config)?;
    if hc.network_mode.is_empty() {
        hc.network_mode = "default".into();
    }
    Ok(())
}

/// `max-size` (bytes, with k/m/g) and `max-file` of the json-file driver.
pub(crate) fn log_limits(opts: &BTreeMap<String, String>) -> EngineResult<(u64, u32)> {
    let size = match opts.get("max-size") {
        None => 0,
        Some(v) => parse_size(v).ok_or_else(|| {
            EngineError::BadParameter(format!("invalid log option max-size {v:?}"))
        })?,
    };
    let files = match opts.get("max-file") {
        None => 1,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(EngineError::BadParameter(format!(
                    "invalid log option max-file {v:?}: must be a number of at least 1"
                )))
            }
        },
    };
    for k in opts.keys() {
        if !matches!(
            k.as_str(),
            "max-size" | "max-file" | "compress" | "labels" | "env" | "env-regex" | "tag"
        ) {
            return Err(EngineError::BadParameter(format!(
                "unknown log opt '{k}' for json-file log driver"
            )));
        }
    }
    Ok((size, files))
}

fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim().to_ascii_lowercase();
    let v = v.strip_suffix('b').unwrap_or(&v);
    let (num, mult) = match v.chars().last()? {
        'k' => (&v[..v.len() - 1], 1u64 << 10),
        'm' => (&v[..v.len() - 1], 1 << 20),
        'g' => (&v[..v.len() - 1], 1 << 30),
        _ => (v, 1),
    };
    let n: f64 = num.parse().ok()?;
    (n >= 0.0).then_some((n * mult as f64) as u64)
}

/// dockerd's merge of the image config into the request's.
pub(crate) fn merge_image_config(mut c: ContainerConfig, image: &ImageConfig) -> ContainerConfig {
    let Some(run) = image.config.as_ref() else {
        return c;
    };
    if c.entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
        if c.cmd.as_ref().is_none_or(|e| e.is_empty()) {
            c.cmd = run.cmd.clone();
        }
        if c.entrypoint.is_none() {
            c.entrypoint = run.entrypoint.clone();
        }
    }
    for e in run.env.iter().flatten() {
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
        if !c
            .env
            .iter()
            .any(|r| r.split_once('=').map_or(r.as_str(), |(k, _)| k) == key)
        {
            c.env.push(e.clone());
        }
    }
    if c.working_dir.is_empty() {
        c.working_dir = run.working_dir.clone().unwrap_or_default();
    }
    if c.user.is_empty() {
        c.user = run.user.clone().unwrap_or_default();
    }
    if c.stop_signal.is_empty() {
        c.stop_signal = run.stop_signal.clone().unwrap_or_default();
    }
    let mut labels = run.labels.clone().unwrap_or_default();
    labels.extend(std::mem::take(&mut c.labels));
    c.labels = labels;
    for p in run.exposed_ports.iter().flatten().map(|(k, _)| k) {
        c.exposed_ports.entry(p.clone()).or_default();
    }
    if let Some(vols) = &run.volumes {
        let mine = c.volumes.get_or_insert_with(BTreeMap::new);
        for k in vols.keys() {
            mine.entry(k.clone()).or_default();
        }
    }
    let image_health: Option<HealthConfig> = run
        .healthcheck
        .as_ref()
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    match (c.healthcheck.take(), image_health) {
        (None, h) => c.healthcheck = h,
        (Some(mine), Some(img)) if mine.test.is_empty() => {
            c.healthcheck = Some(HealthConfig {
                test: img.test,
                interval: if mine.interval != 0 {
                    mine.interval
                } else {
                    img.interval
                },
                timeout: if mine.timeout != 0 {
                    mine.timeout
                } else {
                    img.timeout
                },
                start_period: if mine.start_period != 0 {
                    mine.start_period
                } else {
                    img.start_period
                },
                retries: if mine.retries != 0 {
                    mine.retries
                } else {
                    img.retries
                },
            })
        }
        (Some(mine), _) => c.healthcheck = Some(mine),
    }
    c
}

/// Path and args of the merged config; 400 `No command specified` without one.
pub(crate) fn command(c: &ContainerConfig) -> EngineResult<(String, Vec<String>)> {
    let mut all: Vec<String> = match &c.entrypoint {
        Some(e) if !(e.len() == 1 && e[0].is_empty()) => e.clone(),
        _ => Vec::new(),
    };
    all.extend(c.cmd.clone().unwrap_or_default());
    if all.is_empty() || all[0].is_empty() {
        return Err(EngineError::BadParameter("No command specified".into()));
    }
    let path = all.remove(0);
    Ok((path, all))
}

fn hostname_of(rec: &ContainerRecord) -> String {
    if rec.host_config.network_mode == "host" {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| rec.config.hostname.clone())
    } else {
        rec.config.hostname.clone()
    }
}

/// The container's /etc/hosts: the host's with the host's network, else Docker's head
/// and its own name on `own_ips` (written again at each start, with the addresses).
/// `NAME:host-gateway` entries of `--add-host` name `host_gateway` (the default
/// bridge's address).
pub(crate) fn hosts_file(
    rec: &ContainerRecord,
    own_ips: &[std::net::IpAddr],
    host_gateway: Option<std::net::Ipv4Addr>,
) -> String {
    let host_net = rec.host_config.network_mode == "host";
    let host_hosts = host_net.then(|| std::fs::read_to_string("/etc/hosts").unwrap_or_default());
    let extra: Vec<String> = rec
        .host_config
        .extra_hosts
        .iter()
        .map(|h| match (h.split_once(':'), host_gateway) {
            (Some((name, "host-gateway")), Some(gw)) => format!("{name}:{gw}"),
            _ => h.clone(),
        })
        .collect();
    berth_network::etc::hosts(&hostname_of(rec), own_ips, &extra, host_hosts.as_deref())
}

/// /etc/hostname, /etc/hosts and /etc/resolv.conf for the container
/// (berth_network::etc makes them as Docker does).
fn write_etc_files(
    rec: &ContainerRecord,
    host_gateway: Option<std::net::Ipv4Addr>,
) -> EngineResult<()> {
    use berth_network::etc;
    let host_net = rec.host_config.network_mode == "host";
    let hostname = hostname_of(rec);
    let hosts = hosts_file(rec, &[], host_gateway);
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    // systemd-resolved's upstream servers, for when the host's file names only its stub.
    let stub_upstream = std::fs::read_to_string("/run/systemd/resolve/resolv.conf").ok();
    let hc = &rec.host_config;
    let dns = etc::Dns {
        servers: &hc.dns,
        search: &hc.dns_search,
        options: &hc.dns_options,
    };
    let resolv = etc::resolv_conf(&host_resolv, stub_upstream.as_deref(), dns, !host_net);
    for (p, content) in [
        (&rec.hostname_path, format!("{hostname}\n")),
        (&rec.hosts_path, hosts),
        (&rec.resolv_conf_path, resolv),
    ] {
        std::fs::write(p, content).map_err(|e| EngineError::io("writing", p, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10m"), Some(10 << 20));
        assert_eq!(parse_size("1k"), Some(1024));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("x"), None);
    }

    #[test]
    fn commands() {
        let mut c = ContainerConfig {
            entrypoint: Some(vec!["".into()]),
            ..Default::default()
        };
        assert!(command(&c).is_err());
        c.cmd = Some(vec!["sh".into(), "-c".into(), "x".into()]);
        assert_eq!(
            command(&c).unwrap(),
            ("sh".to_string(), vec!["-c".to_string(), "x".to_string()])
        );
    }
}
