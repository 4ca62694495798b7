//! Create options berth cannot honour here are refused at create, never accepted and
//! dropped: with dockerd's own message where dockerd refuses the same thing (storage
//! options without a quota-capable filesystem, conflicting network options), and with
//! a message naming the option where berth lacks the feature (storage quotas, for
//! one). docs/api-differences.md lists every decision.

use berth_api_types::container::{ContainerConfig, HostConfig};
use berth_api_types::network::NetworkingConfig;
use berth_seccomp::caps::{self, Capabilities};

use crate::api::{EngineError, EngineResult};

/// Where the refusals point for the why and the workaround.
const DOC: &str = "see docs/api-differences.md";

/// What the checks need to know about the host, looked up only when a request asks
/// for something that depends on it.
pub(crate) trait HostFacts {
    /// Whether the data root can enforce a size per container (xfs with project quota).
    fn storage_quota(&self) -> StorageQuota;
    /// The daemon's capability bounding set: what a container can be given at most.
    fn bounding_caps(&self) -> Capabilities;
}

/// The data root's ability to limit a container's writable layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StorageQuota {
    /// Not xfs mounted with project quota: dockerd's overlay2 refuses every option.
    Unsupported,
    /// xfs with `pquota`/`prjquota`: dockerd would set a project quota; berth cannot yet.
    XfsProjectQuota,
}

/// Refuses what berth would otherwise accept and silently not do; returns the
/// warnings dockerd gives for what it accepts and discards.
pub(crate) fn refuse_unsupported(
    config: &ContainerConfig,
    hc: &HostConfig,
    net: Option<&NetworkingConfig>,
    host: &dyn HostFacts,
) -> EngineResult<Vec<String>> {
    let mut warnings = Vec::new();
    network_conflicts(config, hc)?;
    network_features(config, hc, net, &mut warnings)?;
    storage_opts(hc, host)?;
    cap_add(hc, host)?;
    platform(hc)?;
    Ok(warnings)
}

fn bad(msg: impl Into<String>) -> EngineError {
    EngineError::BadParameter(msg.into())
}

/// dockerd's validateNetMode (runconfig/hostconfig_unix.go), with its messages.
fn network_conflicts(config: &ContainerConfig, hc: &HostConfig) -> EngineResult<()> {
    let mode = hc.network_mode.as_str();
    let container = mode.starts_with("container:");
    let host = mode == "host";
    if (container || host) && !hc.links.is_empty() {
        return Err(bad(if host {
            "conflicting options: host type networking can't be used with links. This would result in undefined behavior"
        } else {
            "conflicting options: container type network can't be used with links. This would result in undefined behavior"
        }));
    }
    if container && !hc.dns.is_empty() {
        return Err(bad("conflicting options: dns and the network mode"));
    }
    if container && !hc.extra_hosts.is_empty() {
        return Err(bad(
            "conflicting options: custom host-to-IP mapping and the network mode",
        ));
    }
    if (container || host) && !config.mac_address.is_empty() {
        return Err(bad("conflicting options: mac-address and the network mode"));
    }
    if container && (!hc.port_bindings.is_empty() || hc.publish_all_ports) {
        return Err(bad(
            "conflicting options: port publishing and the container type network mode",
        ));
    }
    if container && !config.exposed_ports.is_empty() {
        return Err(bad(
            "conflicting options: port exposing and the container type network mode",
        ));
    }
    Ok(())
}

/// The parts of container networking berth does not have yet, and checks of the
/// network options that can be made before any network is touched.
fn network_features(
    config: &ContainerConfig,
    hc: &HostConfig,
    net: Option<&NetworkingConfig>,
    warnings: &mut Vec<String>,
) -> EngineResult<()> {
    for (key, bindings) in &hc.port_bindings {
        crate::networks::endpoint::parse_port_key(key)?;
        for b in bindings.iter().flatten() {
            berth_network::ports::parse_host_ip(&b.host_ip).map_err(|e| bad(e.to_string()))?;
            berth_network::ports::parse_host_port(&b.host_port).map_err(|e| bad(e.to_string()))?;
        }
    }
    let published = !hc.port_bindings.is_empty() || hc.publish_all_ports;
    if published && hc.network_mode == "host" {
        // dockerd's own answer: the container uses the host's ports directly.
        warnings.push("Published ports are discarded when using host network mode".into());
    }
    if !config.mac_address.is_empty() {
        berth_types::mac::parse(&config.mac_address).map_err(bad)?;
    }
    for ep in net
        .map(|n| n.endpoints_config.values())
        .into_iter()
        .flatten()
    {
        if !ep.mac_address.is_empty() {
            berth_types::mac::parse(&ep.mac_address).map_err(bad)?;
        }
    }
    Ok(())
}

/// dockerd's overlay2: any storage option needs xfs with project quota, and only
/// `size` is known. On such a filesystem berth still cannot set the quota, and says so.
fn storage_opts(hc: &HostConfig, host: &dyn HostFacts) -> EngineResult<()> {
    if hc.storage_opt.is_empty() {
        return Ok(());
    }
    if host.storage_quota() == StorageQuota::Unsupported {
        return Err(bad(
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option",
        ));
    }
    if let Some(key) = hc
        .storage_opt
        .keys()
        .find(|k| !k.eq_ignore_ascii_case("size"))
    {
        return Err(bad(format!("Unknown option {key}")));
    }
    Err(bad(format!(
        "--storage-opt size is not supported yet: the data root is xfs with project quota, but berth does not set project quotas; {DOC}"
    )))
}

/// An explicitly added capability the daemon itself does not have can never be given
/// to the container: refused by name rather than left to fail inside the runtime.
/// (`--privileged` and `--cap-add ALL` mean "all this host has" and are trimmed.)
fn cap_add(hc: &HostConfig, host: &dyn HostFacts) -> EngineResult<()> {
    if hc.privileged || hc.cap_add.is_empty() {
        return Ok(());
    }
    let wanted: Vec<caps::Capability> = hc
        .cap_add
        .iter()
        .filter(|c| !c.eq_ignore_ascii_case("ALL"))
        // Unknown names are the spec's to refuse, with its own message.
        .filter_map(|c| caps::parse(c).ok())
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let bounding = host.bounding_caps();
    let mut missing: Vec<&str> = wanted
        .iter()
        .filter(|c| !bounding.contains(c))
        .map(|c| caps::name(*c))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    match missing.as_slice() {
        [] => Ok(()),
        [one] => Err(bad(format!(
            "capability {one} is not in the bounding set of this host (the daemon runs without it), so --cap-add cannot grant it"
        ))),
        many => Err(bad(format!(
            "capabilities {} are not in the bounding set of this host (the daemon runs without them), so --cap-add cannot grant them",
            many.join(", ")
        ))),
    }
}

/// Fields that only mean something on Windows, or that berth has no driver for.
fn platform(hc: &HostConfig) -> EngineResult<()> {
    if !matches!(hc.isolation.as_str(), "" | "default") {
        return Err(bad(format!(
            "Invalid isolation: {:?} - linux only supports 'default'",
            hc.isolation
        )));
    }
    if !matches!(hc.runtime.as_str(), "" | crate::system::DEFAULT_RUNTIME) {
        return Err(bad(format!("Unknown runtime specified {}", hc.runtime)));
    }
    let r = &hc.resources;
    if r.io_maximum_bandwidth != 0 || r.io_maximum_iops != 0 {
        return Err(bad(
            "Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps",
        ));
    }
    if r.cpu_count != 0 || r.cpu_percent != 0 {
        return Err(bad(
            "CpuCount and CpuPercent are Windows-only settings; use --cpus (NanoCpus) or --cpu-quota on Linux",
        ));
    }
    if let Some(d) = r.device_requests.first() {
        // Go's %v of a [][]string: [[gpu utility]].
        let caps: Vec<String> = d
            .capabilities
            .iter()
            .map(|set| format!("[{}]", set.join(" ")))
            .collect();
        return Err(bad(format!(
            "could not select device driver {:?} with capabilities: [{}]",
            d.driver,
            caps.join(" ")
        )));
    }
    if !hc.cgroup.is_empty() {
        return Err(bad(format!(
            "HostConfig.Cgroup ({:?}) is not supported: berth does not join another container's cgroup; {DOC}",
            hc.cgroup
        )));
    }
    Ok(())
}

/// The real host: the data root's filesystem, the daemon's bounding set.
pub(crate) struct RealHost<'a> {
    pub data_root: &'a std::path::Path,
}

impl HostFacts for RealHost<'_> {
    fn storage_quota(&self) -> StorageQuota {
        storage_quota_of(self.data_root)
    }
    fn bounding_caps(&self) -> Capabilities {
        super::create::host_bounding_caps()
    }
}

/// xfs's superblock magic, as statfs reports it.
const XFS_SUPER_MAGIC: i64 = 0x5846_5342;

/// Whether `path` is on xfs mounted with project quota enforcement (what dockerd's
/// overlay2 needs for `size=`): statfs says xfs, and the mount's super options in
/// mountinfo carry `prjquota` (or `pquota`, as it may be spelled at mount time).
pub(crate) fn storage_quota_of(path: &std::path::Path) -> StorageQuota {
    // f_type is i64 on x86_64 but narrower on some architectures.
    #[allow(clippy::unnecessary_cast)]
    let xfs = rustix::fs::statfs(path).is_ok_and(|s| s.f_type as i64 == XFS_SUPER_MAGIC);
    if !xfs {
        return StorageQuota::Unsupported;
    }
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    match mount_super_options(&mountinfo, &path) {
        Some((fstype, opts))
            if fstype == "xfs" && opts.split(',').any(|o| matches!(o, "prjquota" | "pquota")) =>
        {
            StorageQuota::XfsProjectQuota
        }
        _ => StorageQuota::Unsupported,
    }
}

/// The filesystem type and super options of the mount `path` lives on (the last
/// mountinfo line with the longest mount point that is a prefix of `path`).
fn mount_super_options(mountinfo: &str, path: &std::path::Path) -> Option<(String, String)> {
    let mut best: Option<(usize, String, String)> = None;
    for line in mountinfo.lines() {
        let mut fields = line.split(" - ");
        let (Some(left), Some(right)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some(mount_point) = left.split(' ').nth(4) else {
            continue;
        };
        // mountinfo escapes spaces and the like as octal (\040).
        let mount_point = mount_point.replace("\\040", " ");
        if !path.starts_with(&mount_point) {
            continue;
        }
        let mut r = right.split(' ');
        let (Some(fstype), Some(_source), Some(opts)) = (r.next(), r.next(), r.next()) else {
            continue;
        };
        let len = mount_point.len();
        if best.as_ref().is_none_or(|(l, _, _)| len >= *l) {
            best = Some((len, fstype.to_string(), opts.to_string()));
        }
    }
    best.map(|(_, t, o)| (t, o))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use berth_api_types::network::{EndpointIpamConfig, EndpointSettings, PortBinding};

    use super::*;

    struct Fake {
        quota: StorageQuota,
        bounding: Capabilities,
    }

    impl HostFacts for Fake {
        fn storage_quota(&self) -> StorageQuota {
            self.quota
        }
        fn bounding_caps(&self) -> Capabilities {
            self.bounding.clone()
        }
    }

    /// This test machine's shape: ext4, and a bounding set without CAP_SYS_RESOURCE.
    fn host() -> Fake {
        Fake {
            quota: StorageQuota::Unsupported,
            bounding: (0..41u8)
                .filter_map(caps::from_number)
                .filter(|c| *c != caps::Capability::SysResource)
                .collect(),
        }
    }

    fn refuse(config: &ContainerConfig, hc: &HostConfig) -> EngineResult<Vec<String>> {
        refuse_unsupported(config, hc, None, &host())
    }

    fn message(r: EngineResult<Vec<String>>) -> String {
        match r {
            Err(EngineError::BadParameter(m)) => m,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn a_plain_request_passes() {
        let hc = HostConfig {
            network_mode: "default".into(),
            dns: vec!["10.0.0.1".into()],
            extra_hosts: vec!["db:10.0.0.2".into()],
            cap_add: vec!["NET_ADMIN".into(), "ALL".into()],
            ..HostConfig::default()
        };
        refuse(&ContainerConfig::default(), &hc).expect("nothing unsupported");
        for mode in ["", "bridge", "none", "host", "container:abc"] {
            let hc = HostConfig {
                network_mode: mode.into(),
                ..HostConfig::default()
            };
            refuse(&ContainerConfig::default(), &hc).expect(mode);
        }
    }

    #[test]
    fn storage_opts_get_dockerds_answers() {
        let mut hc = HostConfig::default();
        hc.storage_opt.insert("size".into(), "10G".into());
        let c = ContainerConfig::default();
        assert_eq!(
            message(refuse(&c, &hc)),
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"
        );
        let xfs = Fake {
            quota: StorageQuota::XfsProjectQuota,
            ..host()
        };
        let m = message(refuse_unsupported(&c, &hc, None, &xfs));
        assert!(m.contains("berth does not set project quotas"), "{m}");
        hc.storage_opt.insert("iops".into(), "1".into());
        assert_eq!(
            message(refuse_unsupported(&c, &hc, None, &xfs)),
            "Unknown option iops"
        );
    }

    #[test]
    fn port_specifications_and_macs_are_checked_at_create() {
        let c = ContainerConfig::default();
        let mut hc = HostConfig::default();
        hc.port_bindings.insert(
            "80/tcp".into(),
            Some(vec![PortBinding {
                host_ip: String::new(),
                host_port: "8080".into(),
            }]),
        );
        refuse(&c, &hc).expect("a published port");
        // With the host's network there is nothing to publish: dockerd's warning.
        let host_net = HostConfig {
            network_mode: "host".into(),
            ..hc.clone()
        };
        assert_eq!(
            refuse(&c, &host_net).expect("host network"),
            ["Published ports are discarded when using host network mode"]
        );
        hc.port_bindings.insert("80/bogus".into(), None);
        assert_eq!(message(refuse(&c, &hc)), "invalid proto: bogus");
        let mut hc = HostConfig::default();
        hc.port_bindings.insert(
            "80/tcp".into(),
            Some(vec![PortBinding {
                host_ip: "not-an-ip".into(),
                host_port: "8080".into(),
            }]),
        );
        assert!(message(refuse(&c, &hc)).contains("not-an-ip"));
        let mac = ContainerConfig {
            mac_address: "02:42:ac:11:00".into(),
            ..ContainerConfig::default()
        };
        assert!(message(refuse(&mac, &HostConfig::default())).contains("not a valid mac address"));
    }

    #[test]
    fn endpoint_settings_are_checked() {
        let c = ContainerConfig::default();
        let hc = HostConfig::default();
        let net = NetworkingConfig {
            endpoints_config: BTreeMap::from([(
                "bridge".to_string(),
                EndpointSettings {
                    ipam_config: Some(EndpointIpamConfig {
                        ipv4_address: "172.17.0.9".into(),
                        ..EndpointIpamConfig::default()
                    }),
                    ..EndpointSettings::default()
                },
            )]),
        };
        refuse_unsupported(&c, &hc, Some(&net), &host()).expect("a static IPv4 address");
        // A static IPv6 address and link-local addresses are checked at start, as
        // dockerd does.
        let with = |ipam: EndpointIpamConfig| NetworkingConfig {
            endpoints_config: BTreeMap::from([(
                "v6net".to_string(),
                EndpointSettings {
                    ipam_config: Some(ipam),
                    ..EndpointSettings::default()
                },
            )]),
        };
        let v6 = with(EndpointIpamConfig {
            ipv6_address: "fd00:1::9".into(),
            ..EndpointIpamConfig::default()
        });
        refuse_unsupported(&c, &hc, Some(&v6), &host()).expect("a static IPv6 address");
        let ll = with(EndpointIpamConfig {
            link_local_ips: vec!["169.254.1.1".into()],
            ..EndpointIpamConfig::default()
        });
        refuse_unsupported(&c, &hc, Some(&ll), &host()).expect("a link-local address");
        // So are an endpoint's links (dockerd does not check them at all).
        let linked = NetworkingConfig {
            endpoints_config: BTreeMap::from([(
                "usernet".to_string(),
                EndpointSettings {
                    links: vec!["db:store".into(), "a:b:c".into()],
                    ..EndpointSettings::default()
                },
            )]),
        };
        refuse_unsupported(&c, &hc, Some(&linked), &host()).expect("an endpoint's links");
        // An endpoint with nothing set (as the docker CLI sends for --network) passes.
        let net = NetworkingConfig {
            endpoints_config: BTreeMap::from([("host".to_string(), EndpointSettings::default())]),
        };
        refuse_unsupported(&c, &hc, Some(&net), &host()).expect("empty endpoint");
    }

    #[test]
    fn container_network_conflicts_use_dockerds_messages() {
        let c = ContainerConfig::default();
        let hc = HostConfig {
            network_mode: "container:abc".into(),
            dns: vec!["1.1.1.1".into()],
            ..HostConfig::default()
        };
        assert_eq!(
            message(refuse(&c, &hc)),
            "conflicting options: dns and the network mode"
        );
        let hc = HostConfig {
            network_mode: "host".into(),
            links: vec!["a:b".into()],
            ..HostConfig::default()
        };
        assert!(message(refuse(&c, &hc)).starts_with("conflicting options: host type"));
    }

    #[test]
    fn a_capability_the_host_lacks_is_refused_by_name() {
        let hc = HostConfig {
            cap_add: vec!["SYS_RESOURCE".into(), "NET_ADMIN".into()],
            ..HostConfig::default()
        };
        let m = message(refuse(&ContainerConfig::default(), &hc));
        assert!(
            m.starts_with("capability CAP_SYS_RESOURCE is not in the bounding set of this host"),
            "{m}"
        );
        // --privileged means "everything this host has": trimmed by the spec, not refused.
        let hc = HostConfig {
            privileged: true,
            ..hc
        };
        refuse(&ContainerConfig::default(), &hc).expect("privileged");
    }

    #[test]
    fn windows_and_driver_only_fields_are_refused() {
        let c = ContainerConfig::default();
        let hc = HostConfig {
            isolation: "hyperv".into(),
            ..HostConfig::default()
        };
        assert!(message(refuse(&c, &hc)).starts_with("Invalid isolation"));
        let hc = HostConfig {
            runtime: "kata".into(),
            ..HostConfig::default()
        };
        assert_eq!(message(refuse(&c, &hc)), "Unknown runtime specified kata");
        let mut hc = HostConfig::default();
        hc.resources.cpu_count = 2;
        assert!(message(refuse(&c, &hc)).contains("Windows-only"));
        let mut hc = HostConfig::default();
        hc.resources
            .device_requests
            .push(berth_api_types::container::DeviceRequest {
                count: -1,
                capabilities: vec![vec!["gpu".into()]],
                ..Default::default()
            });
        assert_eq!(
            message(refuse(&c, &hc)),
            "could not select device driver \"\" with capabilities: [[gpu]]"
        );
    }

    #[test]
    fn the_mount_a_path_lives_on_is_the_longest_match() {
        let mi = "\
22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
30 22 8:2 / /var/lib rw,relatime - xfs /dev/sdb1 rw,attr2,inode64,prjquota
31 22 8:3 / /var/lib/other rw - ext4 /dev/sdc1 rw
";
        assert_eq!(
            mount_super_options(mi, std::path::Path::new("/var/lib/berth")),
            Some(("xfs".into(), "rw,attr2,inode64,prjquota".into()))
        );
        assert_eq!(
            mount_super_options(mi, std::path::Path::new("/var/lib/other/x")),
            Some(("ext4".into(), "rw".into()))
        );
        assert_eq!(
            mount_super_options(mi, std::path::Path::new("/tmp")),
            Some(("ext4".into(), "rw".into()))
        );
    }

    #[test]
    fn procfs_has_no_project_quota() {
        assert_eq!(
            storage_quota_of(std::path::Path::new("/proc")),
            StorageQuota::Unsupported
        );
    }
}
