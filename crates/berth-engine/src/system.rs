//! `/version` and `/info`: what the daemon says about itself and its host.
//!
//! Everything is read fresh from the host on each call (uname, /proc, the cgroup
//! layout, /etc/os-release): `/info` is rare and the host can change under a
//! long-running daemon. The engine's id is made once and kept in `DATA_ROOT/engine-id`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use berth_api_types::system::{
    Commit, ComponentVersion, IndexInfo, Info, PluginsInfo, RegistryServiceConfig, Runtime,
    SwarmInfo, Version, VersionPlatform, API_VERSION, MIN_API_VERSION,
};
use berth_cgroups::{Layout, Mode};

use crate::timefmt;

/// berth's own version, reported as the engine's.
pub const BERTH_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The runtime every container runs under.
pub const DEFAULT_RUNTIME: &str = "berth-runc";
const ENGINE_ID_FILE: &str = "engine-id";

/// What `/info` needs from the rest of the engine.
#[derive(Debug, Clone, Default)]
pub struct InfoInputs {
    pub containers_running: usize,
    pub containers_paused: usize,
    pub containers_stopped: usize,
    pub images: usize,
    pub data_root: PathBuf,
    pub live_restore: bool,
    /// Path of the berth-runc binary, shown as the default runtime.
    pub runtime_path: PathBuf,
    pub init_path: Option<PathBuf>,
    /// The registry settings (None: dockerd's defaults).
    pub registry: Option<RegistryServiceConfig>,
}

/// The architecture as Go (and so the API) names it: `amd64`, `arm64`, …
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

fn uname_field(f: impl Fn(&rustix::system::Uname) -> &std::ffi::CStr) -> String {
    f(&rustix::system::uname()).to_string_lossy().into_owned()
}

/// The running kernel's release (`uname -r`).
pub fn kernel_version() -> String {
    uname_field(|u| u.release())
}

/// The newer kernel features berth falls back from on this host, one sentence each,
/// for the daemon's start-up log and `berth info`'s warnings. Empty on a kernel with
/// everything (6.8 and newer, outside a seccomp sandbox).
pub fn kernel_fallbacks() -> Vec<String> {
    use berth_image::snapshot::{overlay_api, OverlayApi};
    let mut v: Vec<String> = berth_sys::kernel::features()
        .missing()
        .into_iter()
        .filter(|f| !f.required())
        .map(|f| {
            format!(
                "{} is not available ({}): {}",
                f.name(),
                f.since(),
                f.fallback()
            )
        })
        .collect();
    let api = overlay_api();
    if api != OverlayApi::LowerdirPlus {
        v.push(format!(
            "overlay layers are mounted through {}",
            api.describe()
        ));
    }
    v
}

/// Fails, naming the feature, on a kernel berth cannot run on.
pub fn check_kernel() -> Result<(), String> {
    berth_sys::kernel::features()
        .check_required()
        .map_err(|e| e.to_string())
}

/// `/version`: API 1.41, minimum 1.24, berth's version, Go-style os/arch names.
pub fn version() -> Version {
    let kernel = kernel_version();
    let details: BTreeMap<String, String> = [
        ("ApiVersion", API_VERSION.to_string()),
        ("MinAPIVersion", MIN_API_VERSION.to_string()),
        ("Arch", go_arch().to_string()),
        ("Os", "linux".to_string()),
        ("KernelVersion", kernel.clone()),
        ("Experimental", "false".to_string()),
        ("GitCommit", String::new()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Version {
        platform: VersionPlatform {
            name: "berth".into(),
        },
        components: vec![
            ComponentVersion {
                name: "Engine".into(),
                version: BERTH_VERSION.into(),
                details: Some(details),
            },
            ComponentVersion {
                name: DEFAULT_RUNTIME.into(),
                version: BERTH_VERSION.into(),
                details: Some(BTreeMap::from([("GitCommit".to_string(), String::new())])),
            },
        ],
        version: BERTH_VERSION.into(),
        api_version: API_VERSION.to_string(),
        min_api_version: MIN_API_VERSION.to_string(),
        git_commit: String::new(),
        go_version: String::new(),
        os: "linux".into(),
        arch: go_arch().into(),
        kernel_version: kernel,
        experimental: false,
        build_time: String::new(),
    }
}

/// `/info` for this host. Problems reading the host become `Warnings`, never errors:
/// `docker info` must always answer. `NEventsListener` is left 0 for the caller to
/// fill.
pub fn info(inputs: &InfoInputs) -> Info {
    let mut warnings = Vec::new();
    let id = match engine_id(&inputs.data_root) {
        Ok(id) => id,
        Err(e) => {
            warnings.push(format!("WARNING: no persistent engine ID: {e}"));
            String::new()
        }
    };
    warnings.extend(
        kernel_fallbacks()
            .into_iter()
            .map(|w| format!("WARNING: {w}")),
    );
    let caps = CgroupCaps::detect();
    if !caps.memory {
        warnings.push("WARNING: No memory limit support".into());
    }
    if caps.memory && !caps.swap {
        warnings.push("WARNING: No swap limit support".into());
    }
    if !caps.cfs {
        warnings.push("WARNING: No cpu cfs quota support".into());
    }
    let ipv4_forwarding = read_flag("/proc/sys/net/ipv4/ip_forward");
    if !ipv4_forwarding {
        warnings.push("WARNING: IPv4 forwarding is disabled".into());
    }
    let nf_iptables = read_flag("/proc/sys/net/bridge/bridge-nf-call-iptables");
    let nf_ip6tables = read_flag("/proc/sys/net/bridge/bridge-nf-call-ip6tables");
    if !nf_iptables {
        warnings.push("WARNING: bridge-nf-call-iptables is disabled".into());
    }
    if !nf_ip6tables {
        warnings.push("WARNING: bridge-nf-call-ip6tables is disabled".into());
    }
    let os_release = os_release();
    let runtime_path = inputs.runtime_path.to_string_lossy().into_owned();
    let running = inputs.containers_running as i64;
    let paused = inputs.containers_paused as i64;
    let stopped = inputs.containers_stopped as i64;
    Info {
        id,
        containers: running + paused + stopped,
        containers_running: running,
        containers_paused: paused,
        containers_stopped: stopped,
        images: inputs.images as i64,
        driver: "overlay2".into(),
        driver_status: vec![
            [
                "Backing Filesystem".into(),
                backing_filesystem(&inputs.data_root),
            ],
            ["Supports d_type".into(), "true".into()],
            ["Native Overlay Diff".into(), "true".into()],
            ["userxattr".into(), "false".into()],
            [
                "Mount Interface".into(),
                berth_image::snapshot::overlay_api().describe().into(),
            ],
        ],
        docker_root_dir: inputs.data_root.to_string_lossy().into_owned(),
        plugins: PluginsInfo {
            volume: vec!["local".into()],
            network: vec!["bridge".into(), "host".into(), "null".into()],
            authorization: None,
            log: vec!["json-file".into()],
        },
        memory_limit: caps.memory,
        swap_limit: caps.swap,
        kernel_memory: caps.kmem,
        cpu_cfs_period: caps.cfs,
        cpu_cfs_quota: caps.cfs,
        cpu_shares: caps.shares,
        cpu_set: caps.cpuset,
        pids_limit: caps.pids,
        oom_kill_disable: caps.oom_kill_disable,
        ipv4_forwarding,
        bridge_nf_iptables: nf_iptables,
        bridge_nf_ip6tables: nf_ip6tables,
        debug: false,
        nfd: std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as i64),
        ngoroutines: 0,
        system_time: timefmt::now_rfc3339_nano(),
        logging_driver: "json-file".into(),
        cgroup_driver: "cgroupfs".into(),
        cgroup_version: caps.version.into(),
        nevents_listener: 0,
        kernel_version: kernel_version(),
        operating_system: os_release
            .get("PRETTY_NAME")
            .cloned()
            .unwrap_or_else(|| "Linux".into()),
        os_version: os_release.get("VERSION_ID").cloned().unwrap_or_default(),
        os_type: "linux".into(),
        architecture: uname_field(|u| u.machine()),
        ncpu: ncpu(),
        mem_total: mem_total().map_or(0, |b| b as i64),
        index_server_address: "https://index.docker.io/v1/".into(),
        registry_config: Some(
            inputs
                .registry
                .clone()
                .unwrap_or_else(default_registry_config),
        ),
        generic_resources: None,
        http_proxy: proxy_env("HTTP_PROXY"),
        https_proxy: proxy_env("HTTPS_PROXY"),
        no_proxy: proxy_env("NO_PROXY"),
        name: uname_field(|u| u.nodename()),
        labels: Vec::new(),
        experimental_build: false,
        server_version: BERTH_VERSION.into(),
        runtimes: BTreeMap::from([(
            DEFAULT_RUNTIME.to_string(),
            Runtime {
                path: runtime_path,
                runtime_args: Vec::new(),
            },
        )]),
        default_runtime: DEFAULT_RUNTIME.into(),
        swarm: SwarmInfo::inactive(),
        live_restore_enabled: inputs.live_restore,
        isolation: String::new(),
        init_binary: "berth-init".into(),
        containerd_commit: Commit::default(),
        runc_commit: Commit {
            id: BERTH_VERSION.into(),
            expected: BERTH_VERSION.into(),
        },
        init_commit: Commit {
            id: BERTH_VERSION.into(),
            expected: BERTH_VERSION.into(),
        },
        security_options: vec!["name=seccomp,profile=builtin".into()],
        product_license: String::new(),
        default_address_pools: Vec::new(),
        warnings,
    }
}

/// The engine's id: made once (a random UUID) and kept in `DATA_ROOT/engine-id`.
pub fn engine_id(data_root: &Path) -> Result<String, String> {
    let path = data_root.join(ENGINE_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    }
    let id = random_uuid().map_err(|e| format!("reading /dev/urandom: {e}"))?;
    std::fs::create_dir_all(data_root)
        .map_err(|e| format!("creating {}: {e}", data_root.display()))?;
    // Written to a private temporary name and linked into place, so two daemons (or
    // threads) starting at once agree on one id: the loser of the race reads the
    // winner's.
    let tmp = data_root.join(format!(".{ENGINE_ID_FILE}.{id}"));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(id.as_bytes())?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, &path)
    };
    let res = write();
    let _ = std::fs::remove_file(&tmp);
    match res {
        Ok(()) => Ok(id),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read_to_string(&path)
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("reading {}: {e}", path.display())),
        Err(e) => Err(format!("writing {}: {e}", path.display())),
    }
}

fn random_uuid() -> std::io::Result<String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// What the host's cgroups let the engine limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct CgroupCaps {
    version: &'static str,
    memory: bool,
    swap: bool,
    kmem: bool,
    oom_kill_disable: bool,
    cfs: bool,
    shares: bool,
    cpuset: bool,
    pids: bool,
}

impl CgroupCaps {
    fn detect() -> CgroupCaps {
        match Layout::detect() {
            Ok(l) => CgroupCaps::of(&l),
            Err(_) => CgroupCaps {
                version: "1",
                ..CgroupCaps::default()
            },
        }
    }

    fn of(layout: &Layout) -> CgroupCaps {
        if layout.mode() == Mode::Unified {
            let Some(u) = &layout.unified else {
                return CgroupCaps {
                    version: "2",
                    ..CgroupCaps::default()
                };
            };
            let controllers = std::fs::read_to_string(u.mount_point.join("cgroup.controllers"))
                .unwrap_or_default();
            let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
            return CgroupCaps {
                version: "2",
                memory: has("memory"),
                swap: has("memory") && {
                    let own = berth_cgroups::ProcCgroups::of_self()
                        .ok()
                        .and_then(|p| p.unified);
                    swap_accounting_v2(&u.mount_point, own.as_deref(), kernel_accounts_swap())
                },
                kmem: false,
                oom_kill_disable: false,
                cfs: has("cpu"),
                shares: has("cpu"),
                cpuset: has("cpuset"),
                pids: has("pids"),
            };
        }
        let file = |controller: &str, name: &str| {
            layout
                .v1_mount(controller)
                .is_some_and(|m| m.mount_point.join(name).exists())
        };
        CgroupCaps {
            version: "1",
            memory: file("memory", "memory.limit_in_bytes"),
            swap: file("memory", "memory.memsw.limit_in_bytes"),
            kmem: file("memory", "memory.kmem.limit_in_bytes"),
            oom_kill_disable: file("memory", "memory.oom_control"),
            cfs: file("cpu", "cpu.cfs_quota_us"),
            shares: file("cpu", "cpu.shares"),
            cpuset: layout.v1_mount("cpuset").is_some(),
            pids: layout.v1_mount("pids").is_some(),
        }
    }
}

/// Whether the v2 memory controller accounts swap. Its swap files
/// (`memory.swap.max`) are in every non-root cgroup that has the controller and never
/// in the root, so the answer is read from such a cgroup: the daemon's own (`own`, as
/// /proc/self/cgroup names it), else a first-level one. A fresh host may have none yet
/// (nothing below the root, or memory not enabled in the root's subtree_control); the
/// files then come with the first such cgroup if the kernel accounts swap at all,
/// which `kernel_swap` says.
fn swap_accounting_v2(mount: &Path, own: Option<&str>, kernel_swap: bool) -> bool {
    let mut candidates = Vec::new();
    if let Some(own) = own.map(|o| o.trim_matches('/')).filter(|o| !o.is_empty()) {
        candidates.push(mount.join(own));
    }
    if let Ok(d) = std::fs::read_dir(mount) {
        candidates.extend(
            d.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path()),
        );
    }
    match candidates.iter().find(|c| c.join("memory.max").exists()) {
        Some(c) => c.join("memory.swap.max").exists(),
        None => kernel_swap,
    }
}

/// Whether the kernel accounts swap in memory cgroups: it has swap support
/// (/proc/swaps exists with CONFIG_SWAP, swap space or not), and a kernel before 6.1
/// was not booted with `swapaccount=0` (a deprecated no-op since).
fn kernel_accounts_swap() -> bool {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    Path::new("/proc/swaps").exists()
        && !(cmdline.split_whitespace().any(|w| w == "swapaccount=0")
            && kernel_before(&kernel_version(), (6, 1)))
}

/// Whether kernel release `release` ("5.15.0-91-generic") is older than `v`.
fn kernel_before(release: &str, v: (u32, u32)) -> bool {
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0)) < v
}

fn read_flag(path: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|s| s.trim() == "1")
}

fn proxy_env(name: &str) -> String {
    std::env::var(name)
        .or_else(|_| std::env::var(name.to_ascii_lowercase()))
        .unwrap_or_default()
}

/// `KEY=value` pairs of /etc/os-release (or /usr/lib/os-release), unquoted.
fn os_release() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    parse_os_release(&text)
}

fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

/// CPUs this process may run on (Go's `runtime.NumCPU`).
fn ncpu() -> i64 {
    match rustix::thread::sched_getaffinity(None) {
        Ok(set) if set.count() > 0 => i64::from(set.count()),
        _ => std::thread::available_parallelism().map_or(1, |n| n.get() as i64),
    }
}

/// Host memory in bytes, from /proc/meminfo.
pub fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_total(&text)
}

pub(crate) fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The file system the data root lives on, named as `docker info` names them.
fn backing_filesystem(dir: &Path) -> String {
    let mut p = dir.to_path_buf();
    // The data root may not exist yet; its nearest existing ancestor is where it will.
    while !p.exists() {
        if !p.pop() {
            break;
        }
    }
    let Ok(st) = rustix::fs::statfs(&p) else {
        return "unknown".into();
    };
    match st.f_type as u64 {
        0xEF53 => "extfs",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlayfs",
        0x2FC1_2FC1 => "zfs",
        0x6969 => "nfs",
        0xF2F5_2010 => "f2fs",
        _ => "unknown",
    }
    .into()
}

fn default_registry_config() -> RegistryServiceConfig {
    match berth_registry::client::RegistryClient::new(Default::default()) {
        Ok(c) => registry_config(&c),
        Err(_) => RegistryServiceConfig::default(),
    }
}

/// `/info`'s `RegistryConfig`: the insecure CIDRs and registries, Docker Hub and its
/// mirrors, as dockerd reports them.
pub fn registry_config(client: &berth_registry::client::RegistryClient) -> RegistryServiceConfig {
    let mirrors: Vec<String> = client
        .options()
        .mirrors
        .iter()
        .filter_map(|m| berth_registry::client::hosts::normalize_mirror(m).ok())
        .collect();
    let mut index_configs = BTreeMap::from([(
        "docker.io".to_string(),
        IndexInfo {
            name: "docker.io".into(),
            mirrors: mirrors.clone(),
            secure: true,
            official: true,
        },
    )]);
    // `localhost` is insecure by default; like dockerd's defaults it is not listed.
    for h in client
        .insecure()
        .hosts()
        .iter()
        .filter(|h| client.options().insecure_registries.contains(h))
    {
        index_configs.insert(
            h.clone(),
            IndexInfo {
                name: h.clone(),
                mirrors: Vec::new(),
                secure: false,
                official: false,
            },
        );
    }
    RegistryServiceConfig {
        insecure_registry_cidrs: client.insecure().cidrs(),
        index_configs,
        mirrors,
        ..RegistryServiceConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_berth_and_the_api() {
        let v = version();
        assert_eq!(v.api_version, "1.41");
        assert_eq!(v.min_api_version, "1.24");
        assert_eq!(v.version, BERTH_VERSION);
        assert_eq!(v.os, "linux");
        if cfg!(target_arch = "x86_64") {
            assert_eq!(v.arch, "amd64");
        }
        assert!(!v.kernel_version.is_empty());
        assert_eq!(v.platform.name, "berth");
        let names: Vec<&str> = v.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Engine", "berth-runc"]);
        let engine = v.components[0].details.as_ref().unwrap();
        assert_eq!(engine["ApiVersion"], "1.41");
        // The JSON carries the fields the docker CLI's version template reads.
        let j = serde_json::to_value(&v).unwrap();
        for k in [
            "Version",
            "ApiVersion",
            "MinAPIVersion",
            "Os",
            "Arch",
            "KernelVersion",
            "GitCommit",
            "GoVersion",
            "Components",
            "Platform",
        ] {
            assert!(j.get(k).is_some(), "missing {k} in {j}");
        }
    }

    #[test]
    fn info_describes_this_host() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = InfoInputs {
            containers_running: 2,
            containers_paused: 1,
            containers_stopped: 3,
            images: 4,
            data_root: dir.path().join("root"),
            live_restore: true,
            runtime_path: PathBuf::from("/usr/bin/berth-runc"),
            init_path: None,
            registry: None,
        };
        let i = info(&inputs);
        assert_eq!(i.containers, 6);
        let reg = i.registry_config.as_ref().unwrap();
        assert_eq!(reg.insecure_registry_cidrs, ["127.0.0.0/8", "::1/128"]);
        assert!(reg.index_configs["docker.io"].secure);
        assert_eq!(
            (
                i.containers_running,
                i.containers_paused,
                i.containers_stopped
            ),
            (2, 1, 3)
        );
        assert_eq!(i.images, 4);
        assert_eq!(i.driver, "overlay2");
        assert_eq!(i.os_type, "linux");
        assert!(i.ncpu >= 1);
        assert!(i.mem_total > 0);
        assert!(!i.kernel_version.is_empty());
        assert!(!i.name.is_empty());
        assert!(!i.operating_system.is_empty());
        assert_eq!(i.architecture, std::env::consts::ARCH);
        assert!(i.cgroup_version == "1" || i.cgroup_version == "2");
        assert_eq!(i.default_runtime, "berth-runc");
        assert_eq!(i.runtimes["berth-runc"].path, "/usr/bin/berth-runc");
        assert_eq!(i.docker_root_dir, dir.path().join("root").to_string_lossy());
        assert!(i.live_restore_enabled);
        assert_eq!(i.swarm.local_node_state, "inactive");
        assert!(timefmt::parse_rfc3339(&i.system_time).is_some());
        // The id is made once and kept.
        assert_eq!(i.id.len(), 36, "{}", i.id);
        assert_eq!(info(&inputs).id, i.id);
        // What `docker info` decodes: the swagger's field names, lists never null.
        let j = serde_json::to_value(&i).unwrap();
        for k in [
            "ID",
            "Containers",
            "Images",
            "Driver",
            "DriverStatus",
            "Plugins",
            "MemoryLimit",
            "SwapLimit",
            "CpuCfsPeriod",
            "CPUShares",
            "PidsLimit",
            "IPv4Forwarding",
            "NGoroutines",
            "SystemTime",
            "LoggingDriver",
            "CgroupDriver",
            "CgroupVersion",
            "KernelVersion",
            "OperatingSystem",
            "OSType",
            "Architecture",
            "NCPU",
            "MemTotal",
            "IndexServerAddress",
            "RegistryConfig",
            "DockerRootDir",
            "Name",
            "Labels",
            "ServerVersion",
            "Runtimes",
            "DefaultRuntime",
            "Swarm",
            "SecurityOptions",
            "Warnings",
            "InitBinary",
            "Isolation",
        ] {
            assert!(j.get(k).is_some(), "missing {k}");
        }
        assert!(j["Labels"].is_array() && j["SecurityOptions"].is_array());
        let back: Info = serde_json::from_value(j).unwrap();
        assert_eq!(back, i);
    }

    #[test]
    fn engine_ids_are_shared_by_racing_callers() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<String> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| engine_id(dir.path()).unwrap()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.iter().all(|i| i == &ids[0]), "{ids:?}");
    }

    #[test]
    fn os_release_and_meminfo_parse() {
        let m = parse_os_release("NAME=\"Debian GNU/Linux\"\nVERSION_ID='12'\nID=debian\n");
        assert_eq!(m["NAME"], "Debian GNU/Linux");
        assert_eq!(m["VERSION_ID"], "12");
        assert_eq!(m["ID"], "debian");
        assert_eq!(
            parse_mem_total("MemTotal:       16384 kB\nMemFree: 1 kB\n"),
            Some(16 << 20)
        );
        assert_eq!(parse_mem_total("nothing"), None);
    }

    #[test]
    fn cgroup_capabilities_follow_the_layout() {
        let v2 = CgroupCaps::of(&Layout::unified_at("/nonexistent-berth-cgroup"));
        assert_eq!(v2.version, "2");
        assert!(!v2.memory);
    }

    #[test]
    fn v2_swap_accounting_is_read_where_the_memory_controller_is() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let touch = |dir: &str, files: &[&str]| {
            let p = root.join(dir);
            std::fs::create_dir_all(&p).unwrap();
            for f in files {
                std::fs::write(p.join(f), "max\n").unwrap();
            }
        };
        touch("", &["cgroup.controllers"]);
        // A fresh host: nothing below the root yet, so the kernel decides.
        assert!(swap_accounting_v2(root, Some("/"), true));
        assert!(!swap_accounting_v2(root, None, false));
        // A first-level cgroup without the memory controller tells nothing.
        touch("init.scope", &["cgroup.procs"]);
        assert!(swap_accounting_v2(root, Some("/init.scope"), true));
        assert!(!swap_accounting_v2(root, Some("/init.scope"), false));
        // One with it says what the kernel does, whatever else is believed.
        touch("system.slice", &["memory.max", "memory.swap.max"]);
        assert!(swap_accounting_v2(root, Some("/init.scope"), false));
        // The daemon's own cgroup, deeper down, comes first.
        touch("a/b", &["memory.max"]);
        assert!(!swap_accounting_v2(root, Some("/a/b"), true));
        touch("a/b", &["memory.max", "memory.swap.max"]);
        assert!(swap_accounting_v2(root, Some("/a/b/"), false));
        assert!(kernel_before("5.15.0-91-generic", (6, 1)));
        assert!(!kernel_before("6.1.0-27-amd64", (6, 1)));
        assert!(!kernel_before("6.18.2", (6, 1)));
    }
}
