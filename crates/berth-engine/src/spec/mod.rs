//! A Docker create request plus its image's config → the OCI runtime spec berth-runc
//! runs, as dockerd's `daemon/oci_linux.go` builds it. [`oci_spec`] is the entry point
//! and puts the parts together; each concern has its own file:
//!
//! - `process.rs`: command, environment and working directory;
//! - `users.rs`: user and groups, looked up in the container's own /etc/passwd and
//!   /etc/group without leaving its rootfs;
//! - `security.rs`: Docker's default security profile (14 capabilities, seccomp),
//!   rlimits and sysctls; its masked and read-only paths are berth-runtime's
//!   `defaults::MASKED_PATHS` and `READONLY_PATHS`, the one copy berth keeps;
//! - `namespaces.rs`: host, private or joined namespaces;
//! - `mounts.rs`: Docker's default mounts and the request's binds, volumes and tmpfs;
//! - `devices.rs`: device nodes and device cgroup rules;
//! - `resources.rs`: cgroup resources.
//!
//! A pure function apart from reading the rootfs's user database and stat-ing device
//! nodes; nothing here creates or mounts anything.

mod devices;
mod mounts;
mod namespaces;
mod process;
mod resources;
mod security;
mod users;

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use berth_api_types::container::{ContainerCreateRequest, HostConfig, Ulimit};
use berth_image::model::ImageConfig;
use berth_runtime::defaults::{MASKED_PATHS, READONLY_PATHS};
use berth_seccomp::caps::Capabilities;
use oci_spec::runtime::{LinuxNamespaceType, Process, Root, Spec};

use devices::{
    default_device_rules, device_rule, devices_for_mapping, host_devices, parse_device_cgroup_rule,
    permissions,
};
use mounts::{default_mounts, mount, tmpfs_mount, user_mount};
use namespaces::{mode, ns, Mode};
use process::{command, environment, working_dir};
use resources::resources;
use security::{
    capabilities, capability_sets, oom_score_adj, rlimits, security_options, sysctls, SeccompChoice,
};
use users::resolve_user;

pub use mounts::UserMount;
pub use resources::linux_resources;

/// `PATH` when neither the image nor the request sets one (Docker's DefaultPathEnv).
pub const DEFAULT_PATH_ENV: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Where the init binary appears inside the container when `HostConfig.Init` is set.
pub const INIT_PATH_IN_CONTAINER: &str = "/dev/init";
/// Docker's default /dev/shm size.
pub const DEFAULT_SHM_SIZE: u64 = 64 * 1024 * 1024;

/// Why no spec could be made. Each variant names the field and the value at fault.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Neither the request nor the image gives a command.
    #[error("no command specified")]
    NoCommand,
    /// `User` names a user the container's /etc/passwd does not have.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    /// `User` or `GroupAdd` names a group the container's /etc/group does not have.
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
    /// A capability name in `CapAdd`/`CapDrop` that is no Linux capability.
    #[error("unknown capability: {0:?}")]
    UnknownCapability(String),
    /// A field whose value cannot be used.
    #[error("invalid {field} {value:?}: {reason}")]
    Invalid {
        /// The Docker API field, e.g. `HostConfig.Memory`.
        field: &'static str,
        /// The value given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// Two fields that cannot be set together.
    #[error("conflicting options: {0}")]
    Conflict(String),
    /// `container:<ref>` for a container the caller did not resolve (not running).
    #[error("{field}: cannot join container {reference:?}: it is not running or does not exist")]
    NoSuchContainer {
        /// `HostConfig.PidMode`, `IpcMode`, `UTSMode` or `NetworkMode`.
        field: &'static str,
        /// What followed `container:`.
        reference: String,
    },
    /// Seccomp wanted but the daemon handed no default profile in.
    #[error("no default seccomp profile configured (SpecContext.seccomp_profile is None)")]
    NoSeccompProfile,
    /// The seccomp profile could not be converted.
    #[error("seccomp profile: {0}")]
    Seccomp(#[from] berth_seccomp::SeccompError),
    /// A file needed (rootfs user database, a device node) could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path, on the host.
        path: PathBuf,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
}

fn invalid(field: &'static str, value: impl ToString, reason: impl Into<String>) -> SpecError {
    SpecError::Invalid {
        field,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// A running container whose namespaces another container may join
/// (`PidMode`/`IpcMode`/`UTSMode`/`NetworkMode` = `container:<ref>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedContainer {
    /// Its init's namespace directory, e.g. `/proc/1234/ns`.
    pub ns_dir: PathBuf,
    /// Its /dev/shm on the host, bind-mounted when sharing its IPC namespace.
    pub shm_path: Option<PathBuf>,
}

/// What the engine knows that the request does not say.
#[derive(Debug, Clone)]
pub struct SpecContext {
    /// The container's full id.
    pub id: String,
    /// The container's root filesystem on the host (already assembled).
    pub rootfs: PathBuf,
    /// Hostname when the request gives none: the first 12 characters of the id.
    pub hostname_default: String,
    /// The daemon's own bounding set (CapBnd of /proc/self/status): no container gets
    /// a capability outside it, even privileged.
    pub host_bounding_caps: Capabilities,
    /// The default seccomp profile in Docker's JSON format. None: a container that
    /// needs one fails with [`SpecError::NoSeccompProfile`]; the daemon always passes
    /// its copy of Docker's default profile.
    pub seccomp_profile: Option<Vec<u8>>,
    /// Parent of the container's cgroup when the request names none, e.g. `/berth`.
    pub cgroup_parent: String,
    /// Architecture for seccomp (`x86_64`/`amd64`, `aarch64`/`arm64`, …).
    pub arch: String,
    /// /dev/shm size when `ShmSize` is 0.
    pub shm_size_default: u64,
    /// The daemon's `--default-ulimit`s; the request's override them by name.
    pub default_ulimits: Vec<Ulimit>,
    /// The init binary on the host, bind-mounted at /dev/init when `Init` is set.
    pub init_path: Option<PathBuf>,
    /// Host files bind-mounted at /etc/resolv.conf, /etc/hosts, /etc/hostname.
    pub resolv_conf: Option<PathBuf>,
    /// See `resolv_conf`.
    pub hosts: Option<PathBuf>,
    /// See `resolv_conf`.
    pub hostname_file: Option<PathBuf>,
    /// Whether the host runs the unified (v2) cgroup hierarchy: Docker's default
    /// cgroup namespace is private there and host on v1/hybrid hosts.
    pub cgroup_v2: bool,
    /// Containers that may be joined with `container:<ref>`, by the reference the
    /// request uses (the caller resolves names and short ids).
    pub containers: BTreeMap<String, JoinedContainer>,
    /// Where host devices are found for `Privileged` (normally /dev).
    pub host_dev: PathBuf,
    /// The binds, volumes and tmpfs mounts the request asked for, resolved on the
    /// host by the engine. They take the place of the default mounts and /etc files
    /// at the same destination, and stay writable under `ReadonlyRootfs`.
    pub user_mounts: Vec<UserMount>,
    /// Read-only binds are made read-only with their submounts (`rro`, which needs
    /// mount_setattr: Linux 5.12), not only at the top.
    pub recursive_readonly: bool,
    /// The network namespace the container joins when its network mode is its own
    /// (bound by the engine, already wired); None: the runtime makes an empty one.
    pub netns_path: Option<PathBuf>,
}

impl SpecContext {
    /// A context with Docker's defaults for container `id` with root filesystem
    /// `rootfs`; the caller fills in the host's bounding set and seccomp profile.
    pub fn new(id: &str, rootfs: impl Into<PathBuf>) -> SpecContext {
        SpecContext {
            id: id.to_string(),
            rootfs: rootfs.into(),
            hostname_default: id.chars().take(12).collect(),
            host_bounding_caps: Capabilities::new(),
            seccomp_profile: None,
            cgroup_parent: "/berth".to_string(),
            arch: std::env::consts::ARCH.to_string(),
            shm_size_default: DEFAULT_SHM_SIZE,
            default_ulimits: Vec::new(),
            init_path: None,
            resolv_conf: None,
            hosts: None,
            hostname_file: None,
            cgroup_v2: Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
            containers: BTreeMap::new(),
            host_dev: PathBuf::from("/dev"),
            user_mounts: Vec::new(),
            recursive_readonly: false,
            netns_path: None,
        }
    }
}

/// The spec, and what was accepted but not honoured (Docker's create warnings).
#[derive(Debug, Clone)]
pub struct GeneratedSpec {
    /// The OCI runtime spec.
    pub spec: Spec,
    /// Human-readable warnings, returned to the client in `Warnings`.
    pub warnings: Vec<String>,
}

/// Build the OCI runtime spec for a container created with `req` from an image with
/// config `image`.
pub fn oci_spec(
    req: &ContainerCreateRequest,
    image: &ImageConfig,
    ctx: &SpecContext,
) -> Result<GeneratedSpec, SpecError> {
    let default_host = HostConfig::default();
    let hc = req.host_config.as_ref().unwrap_or(&default_host);
    let cfg = &req.config;
    let run = image.config.clone().unwrap_or_default();
    let mut warnings = Vec::new();

    // --- process ---
    let args = command(
        cfg.entrypoint.as_deref(),
        cfg.cmd.as_deref(),
        run.entrypoint.as_deref(),
        run.cmd.as_deref(),
    )?;
    let hostname = if cfg.hostname.is_empty() {
        ctx.hostname_default.clone()
    } else {
        cfg.hostname.clone()
    };
    let env = environment(
        run.env.as_deref().unwrap_or_default(),
        &cfg.env,
        &hostname,
        cfg.tty,
    );
    let cwd = working_dir(&cfg.working_dir, run.working_dir.as_deref())?;
    let user_spec = if cfg.user.is_empty() {
        run.user.clone().unwrap_or_default()
    } else {
        cfg.user.clone()
    };
    let user = resolve_user(&ctx.rootfs, &user_spec, &hc.group_add)?;

    let sec = security_options(&hc.security_opt, &mut warnings)?;
    let caps = capabilities(hc, &ctx.host_bounding_caps, &mut warnings)?;
    let mut process = Process::default();
    process.set_terminal(Some(cfg.tty));
    process.set_console_size(None);
    process.set_args(Some(args));
    process.set_env(Some(env));
    process.set_cwd(cwd);
    process.set_capabilities(Some(capability_sets(&caps, user.uid())));
    process.set_rlimits(Some(rlimits(&ctx.default_ulimits, &hc.resources.ulimits)?));
    process.set_no_new_privileges(Some(sec.no_new_privileges));
    process.set_apparmor_profile(None);
    process.set_selinux_label(None);
    process.set_oom_score_adj(Some(oom_score_adj(hc.oom_score_adj)?));
    process.set_user(user);

    // --- namespaces ---
    let mut namespaces = vec![ns(LinuxNamespaceType::Mount, None)];
    let mut mounts = default_mounts(hc.privileged);
    match mode(&hc.network_mode, "HostConfig.NetworkMode", ctx)? {
        Mode::Host => {}
        Mode::Private => namespaces.push(ns(LinuxNamespaceType::Network, ctx.netns_path.clone())),
        Mode::Join(c) => {
            namespaces.push(ns(LinuxNamespaceType::Network, Some(c.ns_dir.join("net"))))
        }
    }
    let uts_host = match mode(&hc.uts_mode, "HostConfig.UTSMode", ctx)? {
        Mode::Host => true,
        Mode::Private => {
            namespaces.push(ns(LinuxNamespaceType::Uts, None));
            false
        }
        Mode::Join(c) => {
            namespaces.push(ns(LinuxNamespaceType::Uts, Some(c.ns_dir.join("uts"))));
            true
        }
    };
    match mode(&hc.pid_mode, "HostConfig.PidMode", ctx)? {
        Mode::Host => {}
        Mode::Private => namespaces.push(ns(LinuxNamespaceType::Pid, None)),
        Mode::Join(c) => namespaces.push(ns(LinuxNamespaceType::Pid, Some(c.ns_dir.join("pid")))),
    }
    let shm_size = match hc.shm_size {
        0 => ctx.shm_size_default,
        n if n < 0 => return Err(invalid("HostConfig.ShmSize", n, "must not be negative")),
        n => n as u64,
    };
    let shm_tmpfs = mount(
        "/dev/shm",
        "tmpfs",
        "shm",
        &[
            "nosuid",
            "noexec",
            "nodev",
            "mode=1777",
            &format!("size={shm_size}"),
        ],
    );
    match hc.ipc_mode.as_str() {
        "none" => {
            namespaces.push(ns(LinuxNamespaceType::Ipc, None));
            mounts.retain(|m| m.destination() != Path::new("/dev/mqueue"));
        }
        "" | "private" | "shareable" => {
            namespaces.push(ns(LinuxNamespaceType::Ipc, None));
            mounts.push(shm_tmpfs);
        }
        _ => match mode(&hc.ipc_mode, "HostConfig.IpcMode", ctx)? {
            Mode::Host => mounts.push(mount(
                "/dev/shm",
                "bind",
                "/dev/shm",
                &["rbind", "rprivate"],
            )),
            Mode::Join(c) => {
                namespaces.push(ns(LinuxNamespaceType::Ipc, Some(c.ns_dir.join("ipc"))));
                if let Some(shm) = &c.shm_path {
                    mounts.push(mount("/dev/shm", "bind", shm, &["rbind", "rprivate"]));
                }
            }
            Mode::Private => unreachable!("handled above"),
        },
    }
    let cgroupns_private = match hc.cgroupns_mode.as_str() {
        "" => ctx.cgroup_v2,
        "private" => true,
        "host" => false,
        other => {
            return Err(invalid(
                "HostConfig.CgroupnsMode",
                other,
                "must be \"private\" or \"host\"",
            ))
        }
    };
    if cgroupns_private {
        namespaces.push(ns(LinuxNamespaceType::Cgroup, None));
    }
    if !matches!(hc.userns_mode.as_str(), "" | "host") {
        warnings.push(format!(
            "UsernsMode {:?} is not supported yet; the container runs in the host's user namespace",
            hc.userns_mode
        ));
    }

    // --- mounts ---
    let user = ctx
        .user_mounts
        .iter()
        .map(|m| user_mount(m, ctx.recursive_readonly))
        .collect::<Result<Vec<_>, _>>()?;
    let user_dests: HashSet<PathBuf> = user.iter().map(|m| m.destination().clone()).collect();
    let mut extra = Vec::new();
    for (dest, opts) in &hc.tmpfs {
        extra.push(tmpfs_mount(dest, opts)?);
    }
    for (host, dest) in [
        (&ctx.resolv_conf, "/etc/resolv.conf"),
        (&ctx.hostname_file, "/etc/hostname"),
        (&ctx.hosts, "/etc/hosts"),
    ] {
        if let Some(host) = host
            .as_ref()
            .filter(|_| !user_dests.contains(Path::new(dest)))
        {
            extra.push(mount(dest, "bind", host, &["rbind", "rprivate"]));
        }
    }
    let taken: HashSet<PathBuf> = extra
        .iter()
        .chain(&user)
        .map(|m| m.destination().clone())
        .collect();
    mounts.retain(|m| !taken.contains(m.destination()));
    if hc.readonly_rootfs {
        for m in mounts.iter_mut().chain(extra.iter_mut()) {
            let d = m.destination().to_string_lossy();
            let keep = matches!(
                d.as_ref(),
                "/proc" | "/dev" | "/dev/pts" | "/dev/shm" | "/dev/mqueue"
            ) || hc.tmpfs.contains_key(d.as_ref());
            let opts = m.options().clone().unwrap_or_default();
            if !keep && !opts.iter().any(|o| o == "ro") {
                let mut opts = opts;
                opts.push("ro".to_string());
                m.set_options(Some(opts));
            }
        }
    }
    mounts.extend(extra);
    // The user's binds and volumes keep their own mode under a read-only rootfs.
    mounts.extend(user);
    let mut process_args = process.args().clone().unwrap_or_default();
    if hc.resources.init == Some(true) {
        let Some(init) = &ctx.init_path else {
            return Err(invalid(
                "HostConfig.Init",
                true,
                "no init binary is configured in the daemon",
            ));
        };
        mounts.push(mount(INIT_PATH_IN_CONTAINER, "bind", init, &["bind", "ro"]));
        process_args.splice(0..0, [INIT_PATH_IN_CONTAINER.to_string(), "--".to_string()]);
        process.set_args(Some(process_args));
    }
    // Parents before children, otherwise in the order given (Docker's sortMounts).
    mounts.sort_by_key(|m| m.destination().components().count());

    // --- devices and cgroup ---
    let mut device_rules = vec![device_rule(false, None, None, None, "rwm")];
    let mut devices = Vec::new();
    if hc.privileged {
        devices = host_devices(&ctx.host_dev)?;
        device_rules.push(device_rule(true, None, None, None, "rwm"));
    } else {
        device_rules.extend(default_device_rules());
        for d in &hc.resources.devices {
            for dev in
                devices_for_mapping(&d.path_on_host, &d.path_in_container, &d.cgroup_permissions)?
            {
                device_rules.push(device_rule(
                    true,
                    Some(dev.typ()),
                    Some(dev.major()),
                    Some(dev.minor()),
                    &permissions(&d.cgroup_permissions)?,
                ));
                devices.push(dev);
            }
        }
        for rule in &hc.resources.device_cgroup_rules {
            device_rules.push(parse_device_cgroup_rule(rule)?);
        }
    }
    let mut resources = resources(hc, &mut warnings)?;
    resources.set_devices(Some(device_rules));
    let parent = if hc.resources.cgroup_parent.is_empty() {
        &ctx.cgroup_parent
    } else {
        &hc.resources.cgroup_parent
    };

    // --- seccomp ---
    let seccomp = if hc.privileged {
        None
    } else {
        match &sec.seccomp {
            SeccompChoice::Unconfined => None,
            SeccompChoice::Profile(json) => Some(berth_seccomp::docker_profile_to_oci(
                json.as_bytes(),
                &caps,
                &ctx.arch,
            )?),
            SeccompChoice::Default => {
                let json = ctx
                    .seccomp_profile
                    .as_ref()
                    .ok_or(SpecError::NoSeccompProfile)?;
                Some(berth_seccomp::docker_profile_to_oci(
                    json, &caps, &ctx.arch,
                )?)
            }
        }
    };

    let sysctls = sysctls(&hc.sysctls, &hc.network_mode, &hc.ipc_mode, uts_host)?;

    let mut linux = oci_spec::runtime::Linux::default();
    linux.set_uid_mappings(None);
    linux.set_gid_mappings(None);
    linux.set_namespaces(Some(namespaces));
    // A shared (or slave) bind needs the container's root to propagate too.
    let props = || ctx.user_mounts.iter().map(|m| m.propagation.as_str());
    if props().any(|p| matches!(p, "shared" | "rshared")) {
        linux.set_rootfs_propagation(Some("rshared".into()));
    } else if props().any(|p| matches!(p, "slave" | "rslave")) {
        linux.set_rootfs_propagation(Some("rslave".into()));
    }
    linux.set_resources(Some(resources));
    linux.set_cgroups_path(Some(PathBuf::from(parent).join(&ctx.id)));
    linux.set_devices(Some(devices));
    linux.set_seccomp(seccomp);
    linux.set_sysctl(if sysctls.is_empty() {
        None
    } else {
        Some(sysctls)
    });
    if hc.privileged {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    } else {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        linux.set_masked_paths(Some(
            hc.masked_paths
                .clone()
                .unwrap_or_else(|| owned(MASKED_PATHS)),
        ));
        linux.set_readonly_paths(Some(
            hc.readonly_paths
                .clone()
                .unwrap_or_else(|| owned(READONLY_PATHS)),
        ));
    }

    let mut root = Root::default();
    root.set_path(ctx.rootfs.clone());
    root.set_readonly(Some(hc.readonly_rootfs));

    let mut spec = Spec::default();
    spec.set_version("1.0.2".to_string());
    spec.set_root(Some(root));
    spec.set_mounts(Some(mounts));
    spec.set_process(Some(process));
    if uts_host {
        spec.set_hostname(None);
        spec.set_domainname(None);
    } else {
        spec.set_hostname(Some(hostname));
        spec.set_domainname((!cfg.domainname.is_empty()).then(|| cfg.domainname.clone()));
    }
    spec.set_hooks(None);
    spec.set_annotations(None);
    spec.set_linux(Some(linux));
    Ok(GeneratedSpec { spec, warnings })
}

#[cfg(test)]
mod tests;
