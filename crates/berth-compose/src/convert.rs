//! A service's container as the Engine API wants it: the create body, the networks
//! to join after create, the files to copy in before start.

use std::collections::BTreeMap;

use berth_api_types::container::{
    ContainerConfig, ContainerCreateRequest, DeviceMapping, EmptyObject, HealthConfig, HostConfig,
    LogConfig, Mount, RestartPolicy, ThrottleDevice, Ulimit, WeightDevice,
};
use berth_api_types::network::{
    EndpointIpamConfig, EndpointSettings, NetworkingConfig, PortBinding,
};

use crate::model::{Project, Service, ServiceNetwork};

/// What a container of a service is made from.
#[derive(Debug, Clone)]
pub struct ContainerPlan {
    pub name: String,
    pub request: ContainerCreateRequest,
    /// Networks beyond the first (API 1.41 takes one endpoint on create): the daemon's
    /// network name and the endpoint, connected before start.
    pub more_networks: Vec<(String, EndpointSettings)>,
    /// Secrets and configs from `environment:` or `content:`: files copied into the
    /// container after create, before start (as docker compose does; file-based ones
    /// are bind-mounted).
    pub files: Vec<InjectedFile>,
}

/// One file copied into a container before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedFile {
    /// Absolute path in the container.
    pub target: String,
    pub data: Vec<u8>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

impl ContainerPlan {
    /// The injected files as one tar archive, to extract at `/`: each file at its
    /// target (relative), parent directories made as the daemon's extraction does.
    pub fn files_archive(&self) -> std::io::Result<Vec<u8>> {
        let mut tar = tar::Builder::new(Vec::new());
        for f in &self.files {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(f.data.len() as u64);
            h.set_mode(f.mode);
            h.set_uid(f.uid);
            h.set_gid(f.gid);
            h.set_mtime(0);
            tar.append_data(&mut h, f.target.trim_start_matches('/'), f.data.as_slice())?;
        }
        tar.into_inner()
    }
}

/// A problem in the project that only shows when its containers are made (a
/// `network_mode: service:X` whose X has no container, …).
#[derive(Debug, thiserror::Error)]
#[error("service {service}: {message}")]
pub struct ConvertError {
    pub service: String,
    pub message: String,
}

/// The inputs beyond the model: the container's number and name, the image id, the
/// config hash, and how `network_mode: service:X` / `container:NAME` resolve.
pub struct Target<'a> {
    pub name: String,
    pub number: u32,
    pub oneoff: bool,
    pub image: String,
    pub image_id: String,
    pub hash: String,
    /// `service:X` → the id of X's first container.
    pub service_container: &'a dyn Fn(&str) -> Option<String>,
}

/// The create request for one container of `service`.
pub fn container_plan(
    project: &Project,
    service: &Service,
    t: &Target<'_>,
) -> Result<ContainerPlan, ConvertError> {
    let fail = |message: String| ConvertError {
        service: service.name.clone(),
        message,
    };
    let labels =
        crate::labels::container_labels(project, service, t.number, t.oneoff, &t.hash, &t.image_id);
    let mut exposed: BTreeMap<String, EmptyObject> = BTreeMap::new();
    for e in &service.expose {
        let (ports, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        let (lo, hi) = port_range(ports).ok_or_else(|| fail(format!("expose: bad port {e:?}")))?;
        for p in lo..=hi {
            exposed.insert(format!("{p}/{proto}"), EmptyObject {});
        }
    }
    let mut bindings: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
    for p in &service.ports {
        let key = format!("{}/{}", p.target, p.protocol);
        exposed.insert(key.clone(), EmptyObject {});
        let entry = bindings.entry(key).or_insert_with(|| Some(Vec::new()));
        if let Some(list) = entry {
            list.push(PortBinding {
                host_ip: p.host_ip.clone().unwrap_or_default(),
                host_port: p.published.clone().unwrap_or_default(),
            });
        }
    }
    let env: Vec<String> = service
        .environment
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    let healthcheck = service.healthcheck.as_ref().map(|h| HealthConfig {
        test: h.test.clone(),
        interval: h.interval.map_or(0, |d| d.as_nanos()),
        timeout: h.timeout.map_or(0, |d| d.as_nanos()),
        start_period: h.start_period.map_or(0, |d| d.as_nanos()),
        retries: h.retries.map_or(0, |r| r as i64),
    });
    let config = ContainerConfig {
        hostname: service.hostname.clone().unwrap_or_default(),
        domainname: service.domainname.clone().unwrap_or_default(),
        user: service.user.clone().unwrap_or_default(),
        exposed_ports: exposed,
        tty: service.tty,
        open_stdin: service.stdin_open,
        attach_stdout: !t.oneoff,
        attach_stderr: !t.oneoff,
        env,
        cmd: service.command.clone(),
        healthcheck,
        image: t.image.clone(),
        working_dir: service.working_dir.clone().unwrap_or_default(),
        entrypoint: service.entrypoint.clone(),
        labels,
        stop_signal: service.stop_signal.clone().unwrap_or_default(),
        stop_timeout: service.stop_grace_period.map(|d| d.as_secs()),
        // API 1.41 takes the MAC address on the config (later versions on the
        // endpoint, where a network's own `mac_address` goes).
        mac_address: service.mac_address.clone().unwrap_or_default(),
        ..Default::default()
    };

    let mut mounts = Vec::new();
    for v in &service.volumes {
        let mut m = Mount {
            kind: v.kind.clone(),
            target: v.target.clone(),
            read_only: v.read_only,
            consistency: v.consistency.clone().unwrap_or_default(),
            ..Default::default()
        };
        match v.kind.as_str() {
            "volume" => {
                if let Some(key) = &v.source {
                    let vol = project
                        .volumes
                        .get(key)
                        .ok_or_else(|| fail(format!("volumes: volume {key:?} is not declared")))?;
                    m.source = vol.name.clone();
                }
                let nocopy = v.volume.as_ref().is_some_and(|o| o.nocopy);
                if nocopy {
                    m.volume_options = Some(berth_api_types::container::VolumeOptions {
                        no_copy: true,
                        ..Default::default()
                    });
                }
            }
            "bind" => {
                let src = v.source.clone().ok_or_else(|| {
                    fail(format!("volumes: bind to {} without a source", v.target))
                })?;
                let create = v.bind.as_ref().is_none_or(|b| b.create_host_path);
                if create && !std::path::Path::new(&src).exists() {
                    std::fs::create_dir_all(&src)
                        .map_err(|e| fail(format!("volumes: creating {src}: {e}")))?;
                }
                m.source = src;
                if let Some(p) = v.bind.as_ref().and_then(|b| b.propagation.clone()) {
                    m.bind_options = Some(berth_api_types::container::BindOptions {
                        propagation: p,
                        ..Default::default()
                    });
                }
            }
            "tmpfs" => {
                if let Some(o) = &v.tmpfs {
                    m.tmpfs_options = Some(berth_api_types::container::TmpfsOptions {
                        size_bytes: o.size.unwrap_or(0),
                        mode: o.mode.unwrap_or(0),
                    });
                }
            }
            other => return Err(fail(format!("volumes: type {other:?} is not supported"))),
        }
        mounts.push(m);
    }
    let mut files = Vec::new();
    for (refs, objects, kind) in [
        (&service.secrets, &project.secrets, "secret"),
        (&service.configs, &project.configs, "config"),
    ] {
        for r in refs {
            let obj = objects
                .get(&r.source)
                .ok_or_else(|| fail(format!("{kind} {:?} is not declared", r.source)))?;
            if let Some(file) = &obj.file {
                mounts.push(Mount {
                    kind: "bind".into(),
                    source: file.display().to_string(),
                    target: r.target.clone(),
                    read_only: true,
                    ..Default::default()
                });
                continue;
            }
            let what = format!("{kind} {:?}", r.source);
            let data = match (&obj.value, &obj.environment) {
                (Some(v), _) => v.clone().into_bytes(),
                (None, Some(var)) => {
                    return Err(fail(format!(
                        "{what}: environment variable {var:?} is not set"
                    )))
                }
                (None, None) => {
                    return Err(fail(format!(
                        "{what}: external {kind}s are swarm's; give it a file, \
                         environment or content"
                    )))
                }
            };
            let id = |v: &Option<String>, field: &str| -> Result<u64, ConvertError> {
                v.as_deref().map_or(Ok(0), |s| {
                    s.parse()
                        .map_err(|_| fail(format!("{what}: {field} {s:?} is not a number")))
                })
            };
            files.push(InjectedFile {
                target: r.target.clone(),
                data,
                mode: r.mode.unwrap_or(0o444),
                uid: id(&r.uid, "uid")?,
                gid: id(&r.gid, "gid")?,
            });
        }
    }
    let mut tmpfs = BTreeMap::new();
    for t in &service.tmpfs {
        let (path, opts) = t.split_once(':').unwrap_or((t, ""));
        tmpfs.insert(path.to_string(), opts.to_string());
    }

    let restart = match service.restart.as_deref() {
        Some(r) => {
            let (name, count) = r.split_once(':').unwrap_or((r, "0"));
            RestartPolicy {
                name: if name == "no" { "" } else { name }.to_string(),
                maximum_retry_count: count.parse().unwrap_or(0),
            }
        }
        None => match service
            .deploy
            .as_ref()
            .and_then(|d| d.restart_policy.as_ref())
        {
            Some(p) => RestartPolicy {
                name: match p.condition.as_deref() {
                    Some("none") => "",
                    Some("on-failure") => "on-failure",
                    _ => "always",
                }
                .to_string(),
                maximum_retry_count: p.max_attempts.unwrap_or(0) as i64,
            },
            None => RestartPolicy::default(),
        },
    };

    let mut resources = berth_api_types::container::Resources {
        memory: service.resources.memory.unwrap_or(0),
        memory_reservation: service.resources.memory_reservation.unwrap_or(0),
        memory_swap: service.resources.memory_swap.unwrap_or(0),
        nano_cpus: service
            .resources
            .cpus
            .map_or(0, |c| (c * 1e9).round() as i64),
        cpu_shares: service.resources.cpu_shares.unwrap_or(0),
        cpuset_cpus: service.resources.cpuset.clone().unwrap_or_default(),
        pids_limit: service.resources.pids_limit,
        init: service.init,
        cgroup_parent: service.cgroup_parent.clone().unwrap_or_default(),
        cpu_period: service.cpu_period.unwrap_or(0),
        cpu_quota: service.cpu_quota.unwrap_or(0),
        cpu_realtime_period: service.cpu_rt_period.unwrap_or(0),
        cpu_realtime_runtime: service.cpu_rt_runtime.unwrap_or(0),
        device_cgroup_rules: service.device_cgroup_rules.clone(),
        memory_swappiness: service.mem_swappiness,
        oom_kill_disable: service.oom_kill_disable.then_some(true),
        ..Default::default()
    };
    if let Some(b) = &service.blkio_config {
        let throttle = |list: &[crate::model::ThrottleDevice]| -> Vec<ThrottleDevice> {
            list.iter()
                .map(|d| ThrottleDevice {
                    path: d.path.clone(),
                    rate: d.rate,
                })
                .collect()
        };
        resources.blkio_weight = b.weight.unwrap_or(0);
        resources.blkio_weight_device = b
            .weight_device
            .iter()
            .map(|d| WeightDevice {
                path: d.path.clone(),
                weight: d.weight,
            })
            .collect();
        resources.blkio_device_read_bps = throttle(&b.device_read_bps);
        resources.blkio_device_write_bps = throttle(&b.device_write_bps);
        resources.blkio_device_read_iops = throttle(&b.device_read_iops);
        resources.blkio_device_write_iops = throttle(&b.device_write_iops);
    }
    resources.ulimits = service
        .ulimits
        .iter()
        .map(|(name, u)| Ulimit {
            name: name.clone(),
            soft: u.soft,
            hard: u.hard,
        })
        .collect();
    for d in &service.devices {
        let mut parts = d.splitn(3, ':');
        let host = parts.next().unwrap_or_default().to_string();
        let inner = parts.next().map_or_else(|| host.clone(), str::to_string);
        let perms = parts.next().unwrap_or("rwm").to_string();
        resources.devices.push(DeviceMapping {
            path_on_host: host,
            path_in_container: inner,
            cgroup_permissions: perms,
        });
    }

    // `links` and `external_links`, on the HostConfig and on every endpoint, as
    // docker compose sends them: on a user-defined network a link is its endpoint's.
    let links: Vec<String> = service
        .links
        .iter()
        .map(|l| link(project, l))
        .chain(service.external_links.iter().map(|l| external_link(l)))
        .collect();
    // Networks: the first (highest priority, then by name) on create, the others
    // connected before start.
    let mut nets: Vec<(&String, &ServiceNetwork)> = service.networks.iter().collect();
    nets.sort_by_key(|(name, n)| (-n.priority.unwrap_or(0), (*name).clone()));
    let mut endpoints = Vec::new();
    for (key, n) in nets {
        let net = project
            .networks
            .get(key)
            .ok_or_else(|| fail(format!("networks: network {key:?} is not declared")))?;
        let mut aliases = vec![service.name.clone()];
        if !t.oneoff {
            aliases.push(t.name.clone());
        }
        aliases.extend(n.aliases.iter().cloned());
        let ipam =
            (n.ipv4_address.is_some() || n.ipv6_address.is_some() || !n.link_local_ips.is_empty())
                .then(|| EndpointIpamConfig {
                    ipv4_address: n.ipv4_address.clone().unwrap_or_default(),
                    ipv6_address: n.ipv6_address.clone().unwrap_or_default(),
                    link_local_ips: n.link_local_ips.clone(),
                });
        endpoints.push((
            net.name.clone(),
            EndpointSettings {
                ipam_config: ipam,
                aliases,
                links: links.clone(),
                mac_address: n.mac_address.clone().unwrap_or_default(),
                driver_opts: (!n.driver_opts.is_empty()).then(|| n.driver_opts.clone()),
                ..Default::default()
            },
        ));
    }
    let network_mode = match service.network_mode.as_deref() {
        Some(m) if m.starts_with("service:") => {
            let other = &m["service:".len()..];
            let id = (t.service_container)(other).ok_or_else(|| {
                fail(format!(
                    "network_mode: service {other:?} has no container to share a network with"
                ))
            })?;
            format!("container:{id}")
        }
        Some(m) => m.to_string(),
        None => endpoints
            .first()
            .map(|(n, _)| n.clone())
            .unwrap_or_default(),
    };
    let mut endpoints = endpoints.into_iter();
    let networking_config = endpoints.next().map(|(name, e)| NetworkingConfig {
        endpoints_config: BTreeMap::from([(name, e)]),
    });
    let host_config = HostConfig {
        log_config: service
            .logging
            .as_ref()
            .map(|l| LogConfig {
                kind: l.driver.clone().unwrap_or_default(),
                config: l.options.clone(),
            })
            .unwrap_or_default(),
        network_mode,
        port_bindings: bindings,
        restart_policy: restart,
        volumes_from: service.volumes_from.clone(),
        cap_add: service.cap_add.clone(),
        cap_drop: service.cap_drop.clone(),
        dns: service.dns.clone(),
        dns_options: service.dns_opt.clone(),
        dns_search: service.dns_search.clone(),
        extra_hosts: service.extra_hosts.clone(),
        group_add: service.group_add.clone(),
        ipc_mode: service.ipc.clone().unwrap_or_default(),
        links,
        pid_mode: service.pid.clone().unwrap_or_default(),
        privileged: service.privileged,
        readonly_rootfs: service.read_only,
        security_opt: service.security_opt.clone(),
        tmpfs,
        shm_size: service.shm_size.unwrap_or(0),
        sysctls: service.sysctls.clone(),
        cgroupns_mode: service.cgroup.clone().unwrap_or_default(),
        oom_score_adj: service.oom_score_adj.unwrap_or(0),
        runtime: service.runtime.clone().unwrap_or_default(),
        storage_opt: service.storage_opt.clone(),
        userns_mode: service.userns_mode.clone().unwrap_or_default(),
        uts_mode: service.uts.clone().unwrap_or_default(),
        volume_driver: service.volume_driver.clone().unwrap_or_default(),
        resources,
        mounts,
        ..Default::default()
    };
    Ok(ContainerPlan {
        name: t.name.clone(),
        request: ContainerCreateRequest {
            config,
            host_config: Some(host_config),
            networking_config,
        },
        more_networks: endpoints.collect(),
        files,
    })
}

/// `db` or `db:database` → `PROJECT-db-1:db` / `PROJECT-db-1:database` (a link to a
/// service is to its first container).
fn link(project: &Project, l: &str) -> String {
    let (service, alias) = l.split_once(':').unwrap_or((l, l));
    match project.services.get(service) {
        Some(s) => format!(
            "{}:{alias}",
            crate::labels::container_name(&project.name, s, 1)
        ),
        None => format!("{service}:{alias}"),
    }
}

/// An `external_links` entry: `NAME` → `NAME:NAME`; `NAME:ALIAS` as it is.
fn external_link(l: &str) -> String {
    match l.split_once(':') {
        Some(_) => l.to_string(),
        None => format!("{l}:{l}"),
    }
}

/// `"80"` → (80, 80); `"8000-8002"` → (8000, 8002).
fn port_range(s: &str) -> Option<(u16, u16)> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (a.parse().ok()?, b.parse().ok()?);
            (a <= b).then_some((a, b))
        }
        None => s.parse().ok().map(|p| (p, p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FileObject, FileReference, Network, Port, ServiceVolume, Volume};

    fn project() -> Project {
        let mut p = Project {
            name: "shop".into(),
            ..Default::default()
        };
        p.networks.insert(
            "default".into(),
            Network {
                name: "shop_default".into(),
                ..Default::default()
            },
        );
        p.networks.insert(
            "back".into(),
            Network {
                name: "shop_back".into(),
                ..Default::default()
            },
        );
        p.volumes.insert(
            "data".into(),
            Volume {
                name: "shop_data".into(),
                ..Default::default()
            },
        );
        p
    }

    fn target(name: &str) -> Target<'static> {
        Target {
            name: name.into(),
            number: 1,
            oneoff: false,
            image: "busybox".into(),
            image_id: "sha256:abc".into(),
            hash: "h".into(),
            service_container: &|_| None,
        }
    }

    #[test]
    fn a_service_becomes_a_create_request() {
        let p = project();
        let mut s = Service {
            name: "web".into(),
            image: Some("busybox".into()),
            command: Some(vec!["httpd".into(), "-f".into()]),
            ..Default::default()
        };
        s.environment.insert("A".into(), Some("1".into()));
        s.environment.insert("UNSET".into(), None);
        s.ports.push(Port {
            target: 80,
            published: Some("8080".into()),
            host_ip: Some("127.0.0.1".into()),
            protocol: "tcp".into(),
            mode: "ingress".into(),
            ..Default::default()
        });
        s.expose.push("9000-9001/udp".into());
        s.volumes.push(ServiceVolume {
            kind: "volume".into(),
            source: Some("data".into()),
            target: "/data".into(),
            read_only: true,
            ..Default::default()
        });
        s.networks.insert("default".into(), Default::default());
        s.networks.insert(
            "back".into(),
            ServiceNetwork {
                aliases: vec!["www".into()],
                priority: Some(10),
                ..Default::default()
            },
        );
        s.resources.cpus = Some(0.5);
        s.restart = Some("on-failure:3".into());
        let plan = container_plan(&p, &s, &target("shop-web-1")).unwrap();
        let c = &plan.request.config;
        assert_eq!(c.env, vec!["A=1"]);
        assert_eq!(c.labels["com.docker.compose.service"], "web");
        assert_eq!(c.labels["com.docker.compose.project"], "shop");
        assert_eq!(c.labels["com.docker.compose.container-number"], "1");
        assert!(c.exposed_ports.contains_key("80/tcp"));
        assert!(c.exposed_ports.contains_key("9001/udp"));
        let h = plan.request.host_config.as_ref().unwrap();
        assert_eq!(
            h.port_bindings["80/tcp"].as_ref().unwrap()[0].host_port,
            "8080"
        );
        assert_eq!(h.mounts[0].source, "shop_data");
        assert!(h.mounts[0].read_only);
        assert_eq!(h.resources.nano_cpus, 500_000_000);
        assert_eq!(h.restart_policy.name, "on-failure");
        assert_eq!(h.restart_policy.maximum_retry_count, 3);
        // back has the higher priority: it is the create's network.
        assert_eq!(h.network_mode, "shop_back");
        let eps = &plan
            .request
            .networking_config
            .as_ref()
            .unwrap()
            .endpoints_config;
        assert_eq!(eps["shop_back"].aliases, vec!["web", "shop-web-1", "www"]);
        assert_eq!(plan.more_networks.len(), 1);
        assert_eq!(plan.more_networks[0].0, "shop_default");
    }

    #[test]
    fn the_host_config_keys_reach_the_create_request() {
        use crate::model::{BlkioConfig, ThrottleDevice as Rate, WeightDevice as Weight};
        let p = project();
        let rate = |r| {
            vec![Rate {
                path: "/dev/sda".into(),
                rate: r,
            }]
        };
        let mut s = Service {
            name: "web".into(),
            image: Some("busybox".into()),
            blkio_config: Some(BlkioConfig {
                weight: Some(300),
                weight_device: vec![Weight {
                    path: "/dev/sda".into(),
                    weight: 400,
                }],
                device_read_bps: rate(1 << 20),
                device_write_bps: rate(1024),
                device_read_iops: rate(120),
                device_write_iops: rate(30),
            }),
            cgroup: Some("private".into()),
            cgroup_parent: Some("/compose-tests".into()),
            cpu_period: Some(100_000),
            cpu_quota: Some(50_000),
            cpu_rt_period: Some(1_000_000),
            cpu_rt_runtime: Some(950_000),
            device_cgroup_rules: vec!["c 1:3 mr".into()],
            links: vec![],
            external_links: vec!["outside".into(), "other-db:db".into()],
            mac_address: Some("02:42:ac:11:00:99".into()),
            mem_swappiness: Some(0),
            oom_kill_disable: true,
            oom_score_adj: Some(-500),
            runtime: Some("berth-runc".into()),
            userns_mode: Some("host".into()),
            uts: Some("host".into()),
            volume_driver: Some("local".into()),
            ..Default::default()
        };
        s.storage_opt.insert("size".into(), "1G".into());
        s.networks.insert(
            "back".into(),
            ServiceNetwork {
                link_local_ips: vec!["169.254.10.10".into()],
                mac_address: Some("02:42:ac:11:00:aa".into()),
                driver_opts: BTreeMap::from([("o".into(), "1".into())]),
                ..Default::default()
            },
        );
        let plan = container_plan(&p, &s, &target("shop-web-1")).expect("plan");
        assert_eq!(plan.request.config.mac_address, "02:42:ac:11:00:99");
        let h = plan.request.host_config.as_ref().expect("host config");
        let r = &h.resources;
        assert_eq!(r.blkio_weight, 300);
        assert_eq!(
            r.blkio_weight_device,
            [WeightDevice {
                path: "/dev/sda".into(),
                weight: 400
            }]
        );
        let rates = |l: &[ThrottleDevice]| l.iter().map(|d| d.rate).collect::<Vec<_>>();
        assert_eq!(rates(&r.blkio_device_read_bps), [1 << 20]);
        assert_eq!(rates(&r.blkio_device_write_bps), [1024]);
        assert_eq!(rates(&r.blkio_device_read_iops), [120]);
        assert_eq!(rates(&r.blkio_device_write_iops), [30]);
        assert_eq!(h.cgroupns_mode, "private");
        assert_eq!(r.cgroup_parent, "/compose-tests");
        assert_eq!((r.cpu_period, r.cpu_quota), (100_000, 50_000));
        assert_eq!(
            (r.cpu_realtime_period, r.cpu_realtime_runtime),
            (1_000_000, 950_000)
        );
        assert_eq!(r.device_cgroup_rules, ["c 1:3 mr"]);
        assert_eq!(h.links, ["outside:outside", "other-db:db"]);
        assert_eq!(r.memory_swappiness, Some(0));
        assert_eq!(r.oom_kill_disable, Some(true));
        assert_eq!(h.oom_score_adj, -500);
        assert_eq!(h.runtime, "berth-runc");
        assert_eq!(h.storage_opt["size"], "1G");
        assert_eq!(
            (h.userns_mode.as_str(), h.uts_mode.as_str()),
            ("host", "host")
        );
        assert_eq!(h.volume_driver, "local");
        let eps = &plan
            .request
            .networking_config
            .as_ref()
            .expect("networking config")
            .endpoints_config;
        let ep = &eps["shop_back"];
        assert_eq!(ep.links, ["outside:outside", "other-db:db"]);
        assert_eq!(ep.mac_address, "02:42:ac:11:00:aa");
        assert_eq!(
            ep.ipam_config.as_ref().expect("ipam").link_local_ips,
            ["169.254.10.10"]
        );
        assert_eq!(ep.driver_opts.as_ref().expect("driver opts")["o"], "1");

        // Unset, nothing is sent: the daemon's defaults hold.
        let plain = Service {
            name: "web".into(),
            ..Default::default()
        };
        let plan = container_plan(&p, &plain, &target("shop-web-1")).expect("plan");
        let h = plan.request.host_config.expect("host config");
        assert_eq!(h.resources.memory_swappiness, None);
        assert_eq!(h.resources.oom_kill_disable, None);
        assert_eq!((h.oom_score_adj, h.resources.cpu_quota), (0, 0));
        assert!(h.links.is_empty() && h.cgroupns_mode.is_empty());
    }

    #[test]
    fn undeclared_things_are_named() {
        let p = project();
        let mut s = Service {
            name: "web".into(),
            ..Default::default()
        };
        s.networks.insert("nope".into(), Default::default());
        let e = container_plan(&p, &s, &target("x")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "service web: networks: network \"nope\" is not declared"
        );
        let s = Service {
            name: "web".into(),
            network_mode: Some("service:db".into()),
            ..Default::default()
        };
        let e = container_plan(&p, &s, &target("x")).unwrap_err();
        assert!(
            e.to_string().contains("service \"db\" has no container"),
            "{e}"
        );
    }

    fn with_files(p: &mut Project) -> Service {
        p.secrets.insert(
            "token".into(),
            FileObject {
                name: "shop_token".into(),
                environment: Some("TOKEN".into()),
                value: Some("s3cret".into()),
                ..Default::default()
            },
        );
        p.secrets.insert(
            "cert".into(),
            FileObject {
                name: "shop_cert".into(),
                file: Some("/srv/cert.pem".into()),
                ..Default::default()
            },
        );
        p.configs.insert(
            "app".into(),
            FileObject {
                name: "shop_app".into(),
                content: Some("port=80\n".into()),
                value: Some("port=80\n".into()),
                ..Default::default()
            },
        );
        let reference = |source: &str, target: &str| FileReference {
            source: source.into(),
            target: target.into(),
            ..Default::default()
        };
        Service {
            name: "web".into(),
            secrets: vec![
                FileReference {
                    uid: Some("100".into()),
                    gid: Some("101".into()),
                    mode: Some(0o400),
                    ..reference("token", "/run/secrets/token")
                },
                reference("cert", "/run/secrets/cert"),
            ],
            configs: vec![reference("app", "/etc/app.conf")],
            ..Default::default()
        }
    }

    #[test]
    fn secrets_and_configs_from_values_are_copied_in_files_are_bound() {
        let mut p = project();
        let s = with_files(&mut p);
        let plan = container_plan(&p, &s, &target("shop-web-1")).expect("plan");
        let host = plan.request.host_config.as_ref().expect("host config");
        let binds: Vec<_> = host
            .mounts
            .iter()
            .map(|m| (m.source.as_str(), m.target.as_str(), m.read_only))
            .collect();
        assert_eq!(binds, [("/srv/cert.pem", "/run/secrets/cert", true)]);
        assert_eq!(
            plan.files,
            [
                InjectedFile {
                    target: "/run/secrets/token".into(),
                    data: b"s3cret".to_vec(),
                    mode: 0o400,
                    uid: 100,
                    gid: 101,
                },
                InjectedFile {
                    target: "/etc/app.conf".into(),
                    data: b"port=80\n".to_vec(),
                    mode: 0o444,
                    uid: 0,
                    gid: 0,
                },
            ]
        );
        let archive = plan.files_archive().expect("archive");
        let mut tar = tar::Archive::new(archive.as_slice());
        let mut seen = Vec::new();
        for e in tar.entries().expect("entries") {
            let mut e = e.expect("entry");
            let h = e.header().clone();
            let mut data = String::new();
            std::io::Read::read_to_string(&mut e, &mut data).expect("read");
            seen.push((
                e.path().expect("path").display().to_string(),
                h.mode().expect("mode"),
                h.uid().expect("uid"),
                h.gid().expect("gid"),
                data,
            ));
        }
        assert_eq!(
            seen,
            [
                ("run/secrets/token".into(), 0o400, 100, 101, "s3cret".into()),
                ("etc/app.conf".into(), 0o444, 0, 0, "port=80\n".into()),
            ]
        );
    }

    #[test]
    fn an_unset_variable_or_a_bad_owner_names_the_secret() {
        let mut p = project();
        let s = with_files(&mut p);
        let mut unset = p.clone();
        unset.secrets.get_mut("token").expect("token").value = None;
        let e = container_plan(&unset, &s, &target("shop-web-1")).expect_err("unset variable");
        assert_eq!(
            e.to_string(),
            "service web: secret \"token\": environment variable \"TOKEN\" is not set"
        );
        let mut bad = s.clone();
        bad.secrets[0].uid = Some("www".into());
        let e = container_plan(&p, &bad, &target("shop-web-1")).expect_err("bad uid");
        assert_eq!(
            e.to_string(),
            "service web: secret \"token\": uid \"www\" is not a number"
        );
        let mut external = p.clone();
        external.configs.insert(
            "app".into(),
            FileObject {
                name: "app".into(),
                external: true,
                ..Default::default()
            },
        );
        let e = container_plan(&external, &s, &target("shop-web-1")).expect_err("external");
        assert!(
            e.to_string()
                .starts_with("service web: config \"app\": external"),
            "{e}"
        );
    }
}
