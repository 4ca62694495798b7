//! A Docker create request plus its image's config → the OCI runtime spec berth-runc
//! runs, as dockerd's `daemon/oci_linux.go` builds it: command and environment, user
//! and groups (looked up in the container's own /etc/passwd and /etc/group without
//! leaving its rootfs), Docker's default security profile (14 capabilities, seccomp,
//! masked and read-only paths, device rules), its default mounts, namespaces and
//! cgroup resources. A pure function apart from reading the rootfs's user database and
//! stat-ing device nodes; nothing here creates or mounts anything.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_api_types::container::{ContainerCreateRequest, HostConfig, Ulimit};
use berth_image::model::ImageConfig;
use berth_seccomp::caps::{self, Capabilities, Capability};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCapabilities, LinuxCpu, LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType,
    LinuxMemory, LinuxNamespace, LinuxNamespaceType, LinuxPids, LinuxResources,
    LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder, Mount, PosixRlimit, PosixRlimitBuilder,
    PosixRlimitType, Process, Root, Spec, User,
};

/// `PATH` when neither the image nor the request sets one (Docker's DefaultPathEnv).
pub const DEFAULT_PATH_ENV: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Where the init binary appears inside the container when `HostConfig.Init` is set.
pub const INIT_PATH_IN_CONTAINER: &str = "/dev/init";
/// Docker's default /dev/shm size.
pub const DEFAULT_SHM_SIZE: u64 = 64 * 1024 * 1024;

/// Paths Docker hides from a non-privileged container (bind-mounted over with /dev/null
/// or an empty read-only tmpfs by the runtime).
pub const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only in a non-privileged container.
pub const DEFAULT_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

const CPU_PERIOD_FOR_NANO_CPUS: u64 = 100_000;
const MIN_CPU_SHARES: i64 = 2;
const MAX_CPU_SHARES: i64 = 262_144;
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

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
}

/// A bind, volume or tmpfs mount of the request, resolved on the host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserMount {
    /// Absolute, cleaned.
    pub destination: String,
    /// The host directory or file bound there; None for a tmpfs.
    pub source: Option<PathBuf>,
    /// tmpfs options (`size=64m,mode=1777,ro`).
    pub tmpfs_options: String,
    pub read_only: bool,
    /// `rprivate` (the default), `rshared`, `rslave`, …
    pub propagation: String,
    /// With the source's submounts (`rbind`, the default).
    pub recursive: bool,
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
        Mode::Private => namespaces.push(ns(LinuxNamespaceType::Network, None)),
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
                .unwrap_or_else(|| owned(DEFAULT_MASKED_PATHS)),
        ));
        linux.set_readonly_paths(Some(
            hc.readonly_paths
                .clone()
                .unwrap_or_else(|| owned(DEFAULT_READONLY_PATHS)),
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

// ---------------------------------------------------------------- command and env

/// Docker's precedence: a request entrypoint replaces the image's and drops the
/// image's Cmd; `[""]` (`--entrypoint ""`) clears the entrypoint; without a request
/// entrypoint, the request Cmd replaces the image's.
fn command(
    req_entry: Option<&[String]>,
    req_cmd: Option<&[String]>,
    img_entry: Option<&[String]>,
    img_cmd: Option<&[String]>,
) -> Result<Vec<String>, SpecError> {
    let mut entry: Option<Vec<String>> = req_entry.map(<[String]>::to_vec);
    let mut cmd: Vec<String> = req_cmd.map(<[String]>::to_vec).unwrap_or_default();
    // dockerd's merge with the image config.
    if entry.as_ref().is_none_or(|e| e.is_empty()) {
        if cmd.is_empty() {
            cmd = img_cmd.map(<[String]>::to_vec).unwrap_or_default();
        }
        if entry.is_none() {
            entry = img_entry.map(<[String]>::to_vec);
        }
    }
    if entry
        .as_ref()
        .is_some_and(|e| e.len() == 1 && e[0].is_empty())
    {
        entry = None;
    }
    let mut args = entry.unwrap_or_default();
    args.extend(cmd);
    if args.is_empty() || args[0].is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(args)
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map_or(e, |(k, _)| k)
}

/// Replace entries of `base` by key with those of `over`, append the rest; an
/// override without `=` removes the key (Docker's ReplaceOrAppendEnvValues).
fn replace_or_append(base: &mut Vec<String>, over: &[String]) {
    for o in over {
        let key = env_key(o);
        if o.contains('=') {
            match base.iter_mut().find(|b| env_key(b) == key) {
                Some(b) => *b = o.clone(),
                None => base.push(o.clone()),
            }
        } else {
            base.retain(|b| env_key(b) != key);
        }
    }
}

fn environment(image: &[String], request: &[String], hostname: &str, tty: bool) -> Vec<String> {
    // Create-time merge: the request's entries, then the image's not overridden.
    let mut config: Vec<String> = request.to_vec();
    for e in image {
        if !request.iter().any(|r| env_key(r) == env_key(e)) {
            config.push(e.clone());
        }
    }
    let mut env = vec![
        format!("PATH={DEFAULT_PATH_ENV}"),
        format!("HOSTNAME={hostname}"),
    ];
    if tty {
        env.push("TERM=xterm".to_string());
    }
    replace_or_append(&mut env, &config);
    env
}

fn working_dir(request: &str, image: Option<&str>) -> Result<PathBuf, SpecError> {
    if !request.is_empty() {
        if !request.starts_with('/') {
            return Err(invalid(
                "Config.WorkingDir",
                request,
                "it needs to be an absolute path",
            ));
        }
        return Ok(PathBuf::from(request));
    }
    match image {
        Some(w) if !w.is_empty() => Ok(Path::new("/").join(w)),
        _ => Ok(PathBuf::from("/")),
    }
}

// ---------------------------------------------------------------- user and groups

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Read `rel` (e.g. `etc/passwd`) inside `rootfs`, resolving every symlink as if
/// `rootfs` were `/` so nothing outside it is ever read. A missing file (or one that is
/// no regular file) reads as empty, as in runc.
fn read_in_root(rootfs: &Path, rel: &str) -> Result<String, SpecError> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let io_err = |e: rustix::io::Errno, p: &Path| SpecError::Io {
        path: p.to_path_buf(),
        source: e.into(),
    };
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err(e, rootfs))?;
    let path = rootfs.join(rel);
    let fd = match rustix::fs::openat2(
        &root,
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP) => {
            return Ok(String::new())
        }
        Err(e) => return Err(io_err(e, &path)),
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| io_err(e, &path))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Ok(String::new());
    }
    let mut f = std::fs::File::from(fd);
    let mut s = String::new();
    io::Read::read_to_string(&mut f, &mut s).map_err(|e| SpecError::Io {
        path: path.clone(),
        source: e,
    })?;
    Ok(s)
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

fn numeric_id(s: &str, field: &'static str) -> Result<Option<u32>, SpecError> {
    match s.parse::<i64>() {
        Ok(n) if (0..=i64::from(i32::MAX)).contains(&n) => Ok(Some(n as u32)),
        Ok(n) => Err(invalid(field, n, "ids must be between 0 and 2147483647")),
        Err(_) => Ok(None),
    }
}

/// `user[:group]` → uid, gid and supplementary groups, as runc's GetExecUser and
/// dockerd's getUser do; `group_add` entries are appended to the groups.
fn resolve_user(rootfs: &Path, spec: &str, group_add: &[String]) -> Result<User, SpecError> {
    let (user_arg, group_arg) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = parse_passwd(&read_in_root(rootfs, "etc/passwd")?);
    let groups = parse_group(&read_in_root(rootfs, "etc/group")?);

    // No user means root, still looked up for its supplementary groups (runc does).
    let user_arg = if user_arg.is_empty() { "0" } else { user_arg };
    let num = numeric_id(user_arg, "Config.User")?;
    let (uid, mut gid, name) = match passwd
        .iter()
        .find(|p| p.name == user_arg || Some(p.uid) == num)
    {
        Some(p) => (p.uid, p.gid, Some(p.name.clone())),
        None => match num {
            Some(n) => (n, 0, None),
            None => return Err(SpecError::UnknownUser(user_arg.to_string())),
        },
    };
    let mut additional = Vec::new();
    match group_arg {
        Some(g) if !g.is_empty() => {
            let num = numeric_id(g, "Config.User")?;
            match groups.iter().find(|e| e.name == g || Some(e.gid) == num) {
                Some(e) => gid = e.gid,
                None => match num {
                    Some(n) => gid = n,
                    None => return Err(SpecError::UnknownGroup(g.to_string())),
                },
            }
        }
        _ => {
            // Supplementary groups only in the implicit form (runc).
            if let Some(name) = &name {
                additional.extend(
                    groups
                        .iter()
                        .filter(|g| g.members.contains(name))
                        .map(|g| g.gid),
                );
            }
        }
    }
    for g in group_add {
        let num = numeric_id(g, "HostConfig.GroupAdd")?;
        let found = groups.iter().find(|e| e.name == *g || Some(e.gid) == num);
        let gid = match (found, num) {
            (Some(e), _) => e.gid,
            (None, Some(n)) => n,
            (None, None) => return Err(SpecError::UnknownGroup(g.clone())),
        };
        if !additional.contains(&gid) {
            additional.push(gid);
        }
    }
    let mut user = User::default();
    user.set_uid(uid);
    user.set_gid(gid);
    user.set_umask(None);
    user.set_additional_gids((!additional.is_empty()).then_some(additional));
    Ok(user)
}

// ---------------------------------------------------------------- security

enum SeccompChoice {
    Default,
    Unconfined,
    Profile(String),
}

struct SecurityOpts {
    no_new_privileges: bool,
    seccomp: SeccompChoice,
}

fn security_options(
    opts: &[String],
    warnings: &mut Vec<String>,
) -> Result<SecurityOpts, SpecError> {
    let mut out = SecurityOpts {
        no_new_privileges: false,
        seccomp: SeccompChoice::Default,
    };
    for opt in opts {
        if opt == "no-new-privileges" {
            out.no_new_privileges = true;
            continue;
        }
        if opt == "disable" {
            warnings.push("SecurityOpt \"disable\" (SELinux labels) is ignored: berth does not apply SELinux labels".to_string());
            continue;
        }
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .ok_or_else(|| invalid("HostConfig.SecurityOpt", opt, "expected key=value"))?;
        match key {
            "no-new-privileges" => {
                out.no_new_privileges = match value {
                    "true" | "1" | "t" | "T" | "TRUE" | "True" => true,
                    "false" | "0" | "f" | "F" | "FALSE" | "False" => false,
                    _ => return Err(invalid("HostConfig.SecurityOpt", opt, "not a boolean")),
                }
            }
            "seccomp" => {
                out.seccomp = match value {
                    "unconfined" => SeccompChoice::Unconfined,
                    "" => {
                        return Err(invalid(
                            "HostConfig.SecurityOpt",
                            opt,
                            "empty seccomp profile",
                        ))
                    }
                    json => SeccompChoice::Profile(json.to_string()),
                }
            }
            "label" | "apparmor" => warnings.push(format!(
                "SecurityOpt {opt:?} is ignored: berth applies no {} profile",
                if key == "label" {
                    "SELinux"
                } else {
                    "AppArmor"
                }
            )),
            "systempaths" if value == "unconfined" => {
                // The CLI sends this as empty MaskedPaths/ReadonlyPaths already.
            }
            _ => {
                return Err(invalid(
                    "HostConfig.SecurityOpt",
                    opt,
                    "unknown security option",
                ))
            }
        }
    }
    Ok(out)
}

fn cap_name(raw: &str) -> Result<Option<Capability>, SpecError> {
    if raw.eq_ignore_ascii_case("ALL") {
        return Ok(None);
    }
    caps::parse(raw)
        .map(Some)
        .map_err(|_| SpecError::UnknownCapability(raw.to_string()))
}

/// Docker's TweakCapabilities, bounded by what the host can give.
fn capabilities(
    hc: &HostConfig,
    host: &Capabilities,
    warnings: &mut Vec<String>,
) -> Result<Capabilities, SpecError> {
    let add: Vec<Option<Capability>> = hc
        .cap_add
        .iter()
        .map(|c| cap_name(c))
        .collect::<Result<_, _>>()?;
    let drop: Vec<Option<Capability>> = hc
        .cap_drop
        .iter()
        .map(|c| cap_name(c))
        .collect::<Result<_, _>>()?;
    let wanted: Capabilities = if hc.privileged {
        return Ok(host.clone());
    } else if add.contains(&None) {
        host.iter()
            .filter(|c| !drop.contains(&Some(**c)))
            .copied()
            .collect()
    } else if drop.contains(&None) {
        add.iter().flatten().copied().collect()
    } else {
        caps::docker_default()
            .into_iter()
            .filter(|c| !drop.contains(&Some(*c)))
            .chain(add.iter().flatten().copied())
            .collect()
    };
    let mut missing: Vec<&str> = wanted
        .iter()
        .filter(|c| !host.contains(c))
        .map(|c| caps::name(*c))
        .collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        warnings.push(format!(
            "the host's bounding set lacks {}; the container does not get {}",
            missing.join(", "),
            if missing.len() == 1 { "it" } else { "them" }
        ));
    }
    Ok(wanted.into_iter().filter(|c| host.contains(c)).collect())
}

/// Docker's SetCapabilities: root gets the list in bounding, effective and permitted;
/// another user only in bounding, as execve would leave it. Inheritable and ambient
/// stay empty (CVE-2022-24769).
fn capability_sets(caps: &Capabilities, uid: u32) -> LinuxCapabilities {
    let mut c = LinuxCapabilities::default();
    c.set_bounding(Some(caps.clone()));
    c.set_inheritable(Some(Capabilities::new()));
    c.set_ambient(Some(Capabilities::new()));
    if uid == 0 {
        c.set_effective(Some(caps.clone()));
        c.set_permitted(Some(caps.clone()));
    } else {
        c.set_effective(Some(Capabilities::new()));
        c.set_permitted(Some(Capabilities::new()));
    }
    c
}

fn oom_score_adj(v: i64) -> Result<i32, SpecError> {
    if !(-1000..=1000).contains(&v) {
        return Err(invalid(
            "HostConfig.OomScoreAdj",
            v,
            "must be between -1000 and 1000",
        ));
    }
    Ok(v as i32)
}

fn rlimits(defaults: &[Ulimit], request: &[Ulimit]) -> Result<Vec<PosixRlimit>, SpecError> {
    let mut merged: Vec<&Ulimit> = defaults
        .iter()
        .filter(|d| !request.iter().any(|r| r.name == d.name))
        .collect();
    merged.extend(request);
    merged
        .into_iter()
        .map(|u| {
            let name = format!("RLIMIT_{}", u.name.to_ascii_uppercase());
            let typ: PosixRlimitType = serde_json::from_value(serde_json::Value::String(name))
                .map_err(|_| invalid("HostConfig.Ulimits", &u.name, "unknown ulimit"))?;
            let limit = |v: i64| match v {
                -1 => Ok(u64::MAX),
                v if v < 0 => Err(invalid(
                    "HostConfig.Ulimits",
                    format!("{}={v}", u.name),
                    "negative limit",
                )),
                v => Ok(v as u64),
            };
            let (soft, hard) = (limit(u.soft)?, limit(u.hard)?);
            if soft > hard {
                return Err(invalid(
                    "HostConfig.Ulimits",
                    format!("{}={}:{}", u.name, u.soft, u.hard),
                    "soft limit must be less than or equal to hard limit",
                ));
            }
            Ok(PosixRlimitBuilder::default()
                .typ(typ)
                .soft(soft)
                .hard(hard)
                .build()
                .expect("every field of a rlimit is set"))
        })
        .collect()
}

/// Sysctls Docker lets a container set: those of namespaces it owns.
fn sysctls(
    given: &BTreeMap<String, String>,
    network_mode: &str,
    ipc_mode: &str,
    uts_host: bool,
) -> Result<HashMap<String, String>, SpecError> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    for key in given.keys() {
        let refuse = |why: &str| Err(invalid("HostConfig.Sysctls", key, why.to_string()));
        if IPC.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            if ipc_mode == "host" || ipc_mode.starts_with("container:") {
                return refuse("not allowed with a shared IPC namespace");
            }
        } else if key.starts_with("net.") {
            if network_mode == "host" || network_mode.starts_with("container:") {
                return refuse("not allowed with a shared network namespace");
            }
        } else if key == "kernel.domainname" || key == "kernel.hostname" {
            if uts_host {
                return refuse("not allowed with a shared UTS namespace");
            }
        } else {
            return refuse("not a namespaced sysctl a container may set");
        }
    }
    Ok(given.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

// ---------------------------------------------------------------- namespaces

enum Mode<'a> {
    Private,
    Host,
    Join(&'a JoinedContainer),
}

fn mode<'a>(value: &str, field: &'static str, ctx: &'a SpecContext) -> Result<Mode<'a>, SpecError> {
    match value {
        "host" => Ok(Mode::Host),
        v => {
            match v.strip_prefix("container:") {
                Some("") => Err(invalid(field, v, "no container given after \"container:\"")),
                Some(r) => ctx.containers.get(r).map(Mode::Join).ok_or_else(|| {
                    SpecError::NoSuchContainer {
                        field,
                        reference: r.to_string(),
                    }
                }),
                None => match (field, v) {
                    (_, "" | "private") => Ok(Mode::Private),
                    // Network modes name networks; those are set up elsewhere.
                    ("HostConfig.NetworkMode", _) => Ok(Mode::Private),
                    _ => Err(invalid(
                        field,
                        v,
                        "expected \"\", \"private\", \"host\" or \"container:<id>\"",
                    )),
                },
            }
        }
    }
}

fn ns(typ: LinuxNamespaceType, path: Option<PathBuf>) -> LinuxNamespace {
    let mut n = LinuxNamespace::default();
    n.set_typ(typ);
    n.set_path(path);
    n
}

// ---------------------------------------------------------------- mounts

fn mount(dest: &str, typ: &str, source: impl AsRef<Path>, opts: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(source.as_ref().to_path_buf()));
    m.set_options(Some(opts.iter().map(|s| s.to_string()).collect()));
    m
}

/// Docker's default mounts, /dev/shm apart (it depends on the IPC mode).
fn default_mounts(privileged: bool) -> Vec<Mount> {
    let sys_ro: &[&str] = if privileged {
        &["nosuid", "noexec", "nodev"]
    } else {
        &["nosuid", "noexec", "nodev", "ro"]
    };
    let cgroup_opts: &[&str] = if privileged {
        &["nosuid", "noexec", "nodev"]
    } else {
        &["ro", "nosuid", "noexec", "nodev"]
    };
    vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount("/sys", "sysfs", "sysfs", sys_ro),
        mount("/sys/fs/cgroup", "cgroup", "cgroup", cgroup_opts),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
    ]
}

/// Mutually exclusive tmpfs flags: a later one of a pair replaces an earlier one.
const TMPFS_FLAG_PAIRS: &[(&str, &str)] = &[
    ("ro", "rw"),
    ("exec", "noexec"),
    ("suid", "nosuid"),
    ("dev", "nodev"),
    ("atime", "noatime"),
    ("diratime", "nodiratime"),
    ("relatime", "norelatime"),
    ("strictatime", "nostrictatime"),
    ("sync", "async"),
    ("mand", "nomand"),
    ("dirsync", "dirsync"),
];
const TMPFS_PROPAGATION: &[&str] = &[
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
];
const TMPFS_KEYS: &[&str] = &[
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
    "mpol",
    "huge",
];

/// A bind or volume (`rbind` unless non-recursive, `rprivate` unless told, `ro` and,
/// where the kernel can, `rro`) or a tmpfs of the request.
fn user_mount(m: &UserMount, recursive_readonly: bool) -> Result<Mount, SpecError> {
    let Some(src) = &m.source else {
        return tmpfs_mount(&m.destination, &m.tmpfs_options);
    };
    let mut opts = vec![if m.recursive { "rbind" } else { "bind" }];
    opts.push(if m.propagation.is_empty() {
        "rprivate"
    } else {
        &m.propagation
    });
    if m.read_only {
        opts.push("ro");
        if m.recursive && recursive_readonly {
            opts.push("rro");
        }
    }
    Ok(mount(&m.destination, "bind", src, &opts))
}

/// `--tmpfs /dst:opts`: Docker starts from `noexec,nosuid,nodev,rprivate`, appends the
/// user's options and merges them, a later option winning over an earlier one.
fn tmpfs_mount(dest: &str, data: &str) -> Result<Mount, SpecError> {
    if !dest.starts_with('/') || dest == "/" {
        return Err(invalid(
            "HostConfig.Tmpfs",
            dest,
            "the destination must be an absolute path other than /",
        ));
    }
    let mut merged: Vec<String> = Vec::new();
    let user = data.split(',').filter(|s| !s.is_empty());
    for opt in ["noexec", "nosuid", "nodev", "rprivate"]
        .into_iter()
        .chain(user)
    {
        let group: Vec<&str> = if let Some((k, _)) = opt.split_once('=') {
            if !TMPFS_KEYS.contains(&k) {
                return Err(invalid(
                    "HostConfig.Tmpfs",
                    format!("{dest}:{data}"),
                    format!("invalid tmpfs option {opt:?}"),
                ));
            }
            merged.retain(|m| m.split_once('=').is_none_or(|(mk, _)| mk != k));
            merged.push(opt.to_string());
            continue;
        } else if let Some((a, b)) = TMPFS_FLAG_PAIRS
            .iter()
            .find(|(a, b)| *a == opt || *b == opt)
        {
            vec![a, b]
        } else if TMPFS_PROPAGATION.contains(&opt) {
            TMPFS_PROPAGATION.to_vec()
        } else {
            return Err(invalid(
                "HostConfig.Tmpfs",
                format!("{dest}:{data}"),
                format!("invalid tmpfs option {opt:?}"),
            ));
        };
        merged.retain(|m| !group.contains(&m.as_str()));
        merged.push(opt.to_string());
    }
    let opts: Vec<&str> = merged.iter().map(String::as_str).collect();
    Ok(mount(dest, "tmpfs", "tmpfs", &opts))
}

// ---------------------------------------------------------------- devices

fn device_rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow);
    r.set_typ(typ);
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

/// What every container may use after the initial deny-all (Docker's defaults with
/// runc's): mknod of anything; null, zero, full, random, urandom, tty, console, ptmx,
/// the pty slaves and tun.
fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{B, C};
    let rwm = |maj, min| device_rule(true, Some(C), Some(maj), min, "rwm");
    vec![
        device_rule(true, Some(C), None, None, "m"),
        device_rule(true, Some(B), None, None, "m"),
        rwm(1, Some(3)),
        rwm(1, Some(5)),
        rwm(1, Some(7)),
        rwm(1, Some(8)),
        rwm(1, Some(9)),
        rwm(5, Some(0)),
        rwm(5, Some(1)),
        rwm(5, Some(2)),
        rwm(136, None),
        rwm(10, Some(200)),
    ]
}

fn permissions(p: &str) -> Result<String, SpecError> {
    if p.is_empty() {
        return Ok("rwm".to_string());
    }
    if p.len() > 3 || !p.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(invalid(
            "HostConfig.Devices",
            p,
            "permissions must be a combination of r, w and m",
        ));
    }
    Ok(p.to_string())
}

fn device_from_metadata(path_in_container: &Path, md: &std::fs::Metadata) -> Option<LinuxDevice> {
    let typ = if md.file_type().is_char_device() {
        LinuxDeviceType::C
    } else if md.file_type().is_block_device() {
        LinuxDeviceType::B
    } else {
        return None;
    };
    let mut d = LinuxDevice::default();
    d.set_path(path_in_container.to_path_buf());
    d.set_typ(typ);
    d.set_major(i64::from(rustix::fs::major(md.rdev())));
    d.set_minor(i64::from(rustix::fs::minor(md.rdev())));
    d.set_file_mode(Some(md.mode() & 0o7777));
    d.set_uid(Some(md.uid()));
    d.set_gid(Some(md.gid()));
    Some(d)
}

/// `--device host[:container[:perms]]` (already split by the client): the node itself,
/// or every node under a directory.
fn devices_for_mapping(
    host: &str,
    in_container: &str,
    perms: &str,
) -> Result<Vec<LinuxDevice>, SpecError> {
    let value = format!("{host}:{in_container}:{perms}");
    if !host.starts_with('/') {
        return Err(invalid(
            "HostConfig.Devices",
            value,
            "the host path must be absolute",
        ));
    }
    permissions(perms)?;
    let dest = if in_container.is_empty() {
        host
    } else {
        in_container
    };
    if !dest.starts_with('/') {
        return Err(invalid(
            "HostConfig.Devices",
            value,
            "the container path must be absolute",
        ));
    }
    let md = std::fs::metadata(host).map_err(|e| SpecError::Io {
        path: PathBuf::from(host),
        source: e,
    })?;
    if let Some(d) = device_from_metadata(Path::new(dest), &md) {
        return Ok(vec![d]);
    }
    if md.is_dir() {
        let mut out = Vec::new();
        walk_devices(Path::new(host), Path::new(dest), &mut out, &[])?;
        if out.is_empty() {
            return Err(invalid(
                "HostConfig.Devices",
                value,
                "no device nodes under this directory",
            ));
        }
        return Ok(out);
    }
    Err(invalid("HostConfig.Devices", value, "not a device node"))
}

fn walk_devices(
    dir: &Path,
    dest: &Path,
    out: &mut Vec<LinuxDevice>,
    skip: &[&str],
) -> Result<(), SpecError> {
    let entries = std::fs::read_dir(dir).map_err(|e| SpecError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    for e in entries.flatten() {
        let name = e.file_name();
        let name_s = name.to_string_lossy();
        let Ok(md) = std::fs::symlink_metadata(e.path()) else {
            continue; // gone meanwhile
        };
        if md.is_dir() {
            if !skip.contains(&name_s.as_ref()) {
                // Unreadable subdirectories are left out rather than failing the container.
                let _ = walk_devices(&e.path(), &dest.join(&name), out, skip);
            }
        } else if name_s != "console" {
            if let Some(d) = device_from_metadata(&dest.join(&name), &md) {
                out.push(d);
            }
        }
    }
    Ok(())
}

/// Every char and block device under the host's /dev, as runc's HostDevices (which
/// skips console and the pts, shm, fd, mqueue directories).
fn host_devices(dev: &Path) -> Result<Vec<LinuxDevice>, SpecError> {
    let mut out = Vec::new();
    walk_devices(
        dev,
        Path::new("/dev"),
        &mut out,
        &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"],
    )?;
    out.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(out)
}

/// `"c 1:3 rwm"`, `"a *:* rwm"`, `"b 8:* r"`.
fn parse_device_cgroup_rule(rule: &str) -> Result<LinuxDeviceCgroup, SpecError> {
    let bad = || {
        invalid(
            "HostConfig.DeviceCgroupRules",
            rule,
            "expected \"<a|b|c> <major|*>:<minor|*> <rwm>\"",
        )
    };
    let parts: Vec<&str> = rule.split_whitespace().collect();
    let [typ, nums, access] = parts[..] else {
        return Err(bad());
    };
    let typ = match typ {
        "a" => LinuxDeviceType::A,
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        _ => return Err(bad()),
    };
    let (maj, min) = nums.split_once(':').ok_or_else(bad)?;
    let num = |s: &str| -> Result<Option<i64>, SpecError> {
        if s == "*" {
            Ok(None)
        } else {
            s.parse::<u32>()
                .map(|n| Some(i64::from(n)))
                .map_err(|_| bad())
        }
    };
    if access.is_empty()
        || access.len() > 3
        || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
    {
        return Err(bad());
    }
    Ok(device_rule(true, Some(typ), num(maj)?, num(min)?, access))
}

fn throttle_device_numbers(path: &str, field: &'static str) -> Result<(i64, i64), SpecError> {
    let md = std::fs::metadata(path).map_err(|e| SpecError::Io {
        path: PathBuf::from(path),
        source: e,
    })?;
    if !md.file_type().is_block_device() {
        return Err(invalid(field, path, "not a block device"));
    }
    Ok((
        i64::from(rustix::fs::major(md.rdev())),
        i64::from(rustix::fs::minor(md.rdev())),
    ))
}

// ---------------------------------------------------------------- resources

/// The cgroup resources of `hc` alone (no device rules), with their warnings: what
/// `docker update` hands the runtime for a running container.
pub fn linux_resources(hc: &HostConfig) -> Result<(LinuxResources, Vec<String>), SpecError> {
    let mut warnings = Vec::new();
    let r = resources(hc, &mut warnings)?;
    Ok((r, warnings))
}

fn resources(hc: &HostConfig, warnings: &mut Vec<String>) -> Result<LinuxResources, SpecError> {
    let r = &hc.resources;
    for (field, v) in [
        ("HostConfig.Memory", r.memory),
        ("HostConfig.MemoryReservation", r.memory_reservation),
        ("HostConfig.KernelMemory", r.kernel_memory),
        ("HostConfig.CpuQuota", r.cpu_quota.max(-1)),
        ("HostConfig.CpuPeriod", r.cpu_period),
        ("HostConfig.NanoCpus", r.nano_cpus),
        ("HostConfig.CpuRealtimePeriod", r.cpu_realtime_period),
        ("HostConfig.CpuRealtimeRuntime", r.cpu_realtime_runtime),
    ] {
        if v < 0 {
            return Err(invalid(field, v, "must not be negative"));
        }
    }
    if r.memory_swap < -1 {
        return Err(invalid(
            "HostConfig.MemorySwap",
            r.memory_swap,
            "must be -1 (unlimited) or positive",
        ));
    }
    if r.memory > 0 && r.memory < MIN_MEMORY {
        return Err(invalid(
            "HostConfig.Memory",
            r.memory,
            "the minimum memory limit allowed is 6MB",
        ));
    }
    if r.memory_swap > 0 && r.memory == 0 {
        return Err(SpecError::Conflict(
            "MemorySwap requires a Memory limit".to_string(),
        ));
    }
    if r.memory > 0 && r.memory_swap > 0 && r.memory_swap < r.memory {
        return Err(SpecError::Conflict(format!(
            "MemorySwap ({}) must be larger than Memory ({})",
            r.memory_swap, r.memory
        )));
    }
    if r.memory > 0 && r.memory_reservation > 0 && r.memory < r.memory_reservation {
        return Err(SpecError::Conflict(format!(
            "Memory ({}) can not be less than MemoryReservation ({})",
            r.memory, r.memory_reservation
        )));
    }
    let mut memory = LinuxMemory::default();
    let mut any_memory = false;
    if r.memory > 0 {
        memory.set_limit(Some(r.memory));
        // Docker's default: swap as large again as memory.
        memory.set_swap(Some(if r.memory_swap == 0 {
            r.memory * 2
        } else {
            r.memory_swap
        }));
        any_memory = true;
    } else if r.memory_swap == -1 {
        memory.set_swap(Some(-1));
        any_memory = true;
    }
    if r.memory_reservation > 0 {
        memory.set_reservation(Some(r.memory_reservation));
        any_memory = true;
    }
    if r.kernel_memory > 0 {
        memory.set_kernel(Some(r.kernel_memory));
        warnings.push("KernelMemory is deprecated and ignored by most kernels".to_string());
        any_memory = true;
    }
    if r.kernel_memory_tcp > 0 {
        memory.set_kernel_tcp(Some(r.kernel_memory_tcp));
        any_memory = true;
    }
    match r.memory_swappiness {
        Some(-1) | None => {}
        Some(s) if (0..=100).contains(&s) => {
            memory.set_swappiness(Some(s as u64));
            any_memory = true;
        }
        Some(s) => {
            return Err(invalid(
                "HostConfig.MemorySwappiness",
                s,
                "must be between 0 and 100, or -1",
            ))
        }
    }
    if let Some(d) = r.oom_kill_disable {
        memory.set_disable_oom_killer(Some(d));
        any_memory = true;
        if d && r.memory == 0 {
            warnings.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources".to_string());
        }
    }

    let mut cpu = LinuxCpu::default();
    let mut any_cpu = false;
    if r.nano_cpus > 0 && r.cpu_period > 0 {
        return Err(SpecError::Conflict(
            "NanoCpus and CpuPeriod cannot both be set".to_string(),
        ));
    }
    if r.nano_cpus > 0 && r.cpu_quota > 0 {
        return Err(SpecError::Conflict(
            "NanoCpus and CpuQuota cannot both be set".to_string(),
        ));
    }
    if r.cpu_shares != 0 {
        let shares = if r.cpu_shares < 0 {
            return Err(invalid(
                "HostConfig.CpuShares",
                r.cpu_shares,
                "must not be negative",
            ));
        } else if r.cpu_shares < MIN_CPU_SHARES {
            warnings.push(format!(
                "changing requested CpuShares of {} to minimum allowed of {MIN_CPU_SHARES}",
                r.cpu_shares
            ));
            MIN_CPU_SHARES
        } else if r.cpu_shares > MAX_CPU_SHARES {
            warnings.push(format!(
                "changing requested CpuShares of {} to maximum allowed of {MAX_CPU_SHARES}",
                r.cpu_shares
            ));
            MAX_CPU_SHARES
        } else {
            r.cpu_shares
        };
        cpu.set_shares(Some(shares as u64));
        any_cpu = true;
    }
    if r.nano_cpus > 0 {
        cpu.set_period(Some(CPU_PERIOD_FOR_NANO_CPUS));
        cpu.set_quota(Some(
            (i128::from(r.nano_cpus) * i128::from(CPU_PERIOD_FOR_NANO_CPUS) / 1_000_000_000) as i64,
        ));
        any_cpu = true;
    }
    if r.cpu_period > 0 {
        if !(1000..=1_000_000).contains(&r.cpu_period) {
            return Err(invalid(
                "HostConfig.CpuPeriod",
                r.cpu_period,
                "must be between 1000 and 1000000 (µs)",
            ));
        }
        cpu.set_period(Some(r.cpu_period as u64));
        any_cpu = true;
    }
    if r.cpu_quota > 0 {
        if r.cpu_quota < 1000 {
            return Err(invalid(
                "HostConfig.CpuQuota",
                r.cpu_quota,
                "must be at least 1000 (1ms)",
            ));
        }
        cpu.set_quota(Some(r.cpu_quota));
        any_cpu = true;
    }
    if r.cpu_realtime_period > 0 {
        cpu.set_realtime_period(Some(r.cpu_realtime_period as u64));
        any_cpu = true;
    }
    if r.cpu_realtime_runtime > 0 {
        cpu.set_realtime_runtime(Some(r.cpu_realtime_runtime));
        any_cpu = true;
    }
    if r.cpu_realtime_period > 0 && r.cpu_realtime_runtime > r.cpu_realtime_period {
        return Err(SpecError::Conflict(
            "CpuRealtimeRuntime can not be greater than CpuRealtimePeriod".to_string(),
        ));
    }
    for (field, v) in [
        ("HostConfig.CpusetCpus", &r.cpuset_cpus),
        ("HostConfig.CpusetMems", &r.cpuset_mems),
    ] {
        if !v.is_empty()
            && !v
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == '-')
        {
            return Err(invalid(field, v, "expected a list like 0-3,5"));
        }
    }
    if !r.cpuset_cpus.is_empty() {
        cpu.set_cpus(Some(r.cpuset_cpus.clone()));
        any_cpu = true;
    }
    if !r.cpuset_mems.is_empty() {
        cpu.set_mems(Some(r.cpuset_mems.clone()));
        any_cpu = true;
    }

    let mut blkio = LinuxBlockIo::default();
    let mut any_blkio = false;
    if r.blkio_weight != 0 {
        if !(10..=1000).contains(&r.blkio_weight) {
            return Err(invalid(
                "HostConfig.BlkioWeight",
                r.blkio_weight,
                "must be between 10 and 1000",
            ));
        }
        blkio.set_weight(Some(r.blkio_weight));
        any_blkio = true;
    }
    if !r.blkio_weight_device.is_empty() {
        let mut v = Vec::new();
        for d in &r.blkio_weight_device {
            if !(10..=1000).contains(&d.weight) {
                return Err(invalid(
                    "HostConfig.BlkioWeightDevice",
                    format!("{}:{}", d.path, d.weight),
                    "weight must be between 10 and 1000",
                ));
            }
            let (maj, min) = throttle_device_numbers(&d.path, "HostConfig.BlkioWeightDevice")?;
            v.push(
                LinuxWeightDeviceBuilder::default()
                    .major(maj)
                    .minor(min)
                    .weight(d.weight)
                    .build()
                    .expect("every field of a weight device is set"),
            );
        }
        blkio.set_weight_device(Some(v));
        any_blkio = true;
    }
    let throttles = [
        ("HostConfig.BlkioDeviceReadBps", &r.blkio_device_read_bps),
        ("HostConfig.BlkioDeviceWriteBps", &r.blkio_device_write_bps),
        ("HostConfig.BlkioDeviceReadIOps", &r.blkio_device_read_iops),
        (
            "HostConfig.BlkioDeviceWriteIOps",
            &r.blkio_device_write_iops,
        ),
    ];
    for (i, (field, list)) in throttles.into_iter().enumerate() {
        if list.is_empty() {
            continue;
        }
        let mut v = Vec::new();
        for d in list {
            let (maj, min) = throttle_device_numbers(&d.path, field)?;
            v.push(
                LinuxThrottleDeviceBuilder::default()
                    .major(maj)
                    .minor(min)
                    .rate(d.rate)
                    .build()
                    .expect("every field of a throttle device is set"),
            );
        }
        match i {
            0 => blkio.set_throttle_read_bps_device(Some(v)),
            1 => blkio.set_throttle_write_bps_device(Some(v)),
            2 => blkio.set_throttle_read_iops_device(Some(v)),
            _ => blkio.set_throttle_write_iops_device(Some(v)),
        };
        any_blkio = true;
    }

    let mut res = LinuxResources::default();
    res.set_memory(any_memory.then_some(memory));
    res.set_cpu(any_cpu.then_some(cpu));
    res.set_block_io(any_blkio.then_some(blkio));
    res.set_pids(r.pids_limit.map(|n| {
        let mut p = LinuxPids::default();
        p.set_limit(if n <= 0 { -1 } else { n });
        p
    }));
    Ok(res)
}

#[cfg(test)]
mod tests;
