//! The daemon's configuration: dockerd's flags (`-H`, `--data-root`, …) and the
//! daemon.json keys of the same names, merged as dockerd merges them: a setting given
//! both ways is an error naming it, and so is an unknown key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use berth_api_types::container::Ulimit;
use berth_engine::{EngineConfig, FirewallBackend};
use serde_json::Value;

use crate::error::DaemonError;
use crate::log::Level;

/// The default API socket.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
const DEFAULT_DATA_ROOT: &str = "/var/lib/berth";
const DEFAULT_EXEC_ROOT: &str = "/run/berth";
const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";
/// dockerd's port for plain TCP when `tcp://host` names none.
const DEFAULT_TCP_PORT: u16 = 2375;

/// Where the API listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    /// `host:port`, as given (resolved at bind time).
    Tcp(String),
}

impl Host {
    /// Parses `unix:///path` or `tcp://host[:port]`.
    pub fn parse(s: &str) -> Result<Host, String> {
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Host::parse(DEFAULT_HOST);
            }
            if !path.starts_with('/') {
                return Err(format!(
                    "invalid host {s:?}: the socket path must be absolute"
                ));
            }
            return Ok(Host::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = s.strip_prefix("tcp://") {
            let addr = addr.trim_end_matches('/');
            if addr.is_empty() {
                return Err(format!("invalid host {s:?}: no address"));
            }
            // `[::1]:2375`, `host:2375`, or a bare host that takes the default port.
            let has_port = match addr.rfind(']') {
                Some(close) => addr[close..].contains(':'),
                None => addr.contains(':'),
            };
            return Ok(Host::Tcp(if has_port {
                addr.to_string()
            } else {
                format!("{addr}:{DEFAULT_TCP_PORT}")
            }));
        }
        Err(format!(
            "invalid host {s:?}: expected unix:///path or tcp://host:port"
        ))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
            Host::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// The daemon's settings after flags, daemon.json and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    pub hosts: Vec<Host>,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub pidfile: PathBuf,
    pub log_level: Level,
    pub bridge: Option<String>,
    pub bip: Option<String>,
    /// None: nftables where `nft` works, else iptables.
    pub firewall_backend: Option<FirewallBackend>,
    /// `--mtu`: the default bridge's MTU (None: 1500).
    pub mtu: Option<u32>,
    pub default_ulimits: Vec<Ulimit>,
    pub live_restore: bool,
    pub init_path: Option<PathBuf>,
    /// `--certs-dir`: per-registry CAs and client certificates (default
    /// /etc/berth/certs.d, laid out as /etc/docker/certs.d).
    pub certs_dir: Option<PathBuf>,
    pub cgroup_parent: Option<String>,
    /// `insecure-registries`: CIDRs or `host[:port]`, beyond 127.0.0.0/8 and localhost.
    pub insecure_registries: Vec<String>,
    /// `registry-mirrors`: Docker Hub mirrors, tried before Docker Hub.
    pub registry_mirrors: Vec<String>,
    /// `max-concurrent-downloads` (default 3).
    pub max_concurrent_downloads: usize,
    /// `max-concurrent-uploads` (default 5).
    pub max_concurrent_uploads: usize,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run(Box<DaemonConfig>),
    Help,
    Version,
}

pub const USAGE: &str = "\
Usage:  berth daemon [OPTIONS]

A self-sufficient runtime for containers (Docker Engine API v1.41).

Options:
      --bip string                 Bridge IP address (CIDR)
  -b, --bridge string              Attach containers to a network bridge
      --cgroup-parent string       Parent cgroup for all containers (default \"/berth\")
      --config-file string         Daemon configuration file (default \"/etc/berth/daemon.json\")
      --data-root string           Root directory of persistent state (default \"/var/lib/berth\")
      --default-ulimit ulimit      Default ulimits for containers, NAME=SOFT[:HARD] (repeatable)
      --exec-root string           Root directory for execution state (default \"/run/berth\")
      --firewall-backend string    nftables or iptables (default: nftables where nft works, else iptables)
  -h, --help                       Print usage
  -H, --host list                  Daemon socket(s) to listen on (default unix:///run/berth/berth.sock)
      --init-path string           Path to the init binary for --init
      --certs-dir string           Registries' CAs and client certificates, HOST[:PORT]/ (default \"/etc/berth/certs.d\")
      --insecure-registry list     Enable insecure registry communication (repeatable)
      --live-restore               Keep containers running while the daemon is down (default true)
  -l, --log-level string           debug, info, warn, error or fatal (default \"info\")
      --mtu int                    Set the containers network MTU (default 1500)
      --max-concurrent-downloads int  Set the max concurrent downloads for each pull (default 3)
      --max-concurrent-uploads int    Set the max concurrent uploads for each push (default 5)
  -p, --pidfile string             Path of the daemon's pid file (default \"<exec-root>/berth.pid\")
      --registry-mirror list       Preferred Docker registry mirror (repeatable)
  -v, --version                    Print version information and quit
";

/// Settings as given by one source (flags or file), before defaults.
#[derive(Debug, Default)]
struct Settings {
    hosts: Option<Vec<String>>,
    data_root: Option<String>,
    exec_root: Option<String>,
    pidfile: Option<String>,
    log_level: Option<String>,
    bridge: Option<String>,
    bip: Option<String>,
    firewall_backend: Option<String>,
    mtu: Option<u32>,
    default_ulimits: Option<Vec<Ulimit>>,
    live_restore: Option<bool>,
    init_path: Option<String>,
    certs_dir: Option<String>,
    cgroup_parent: Option<String>,
    insecure_registries: Option<Vec<String>>,
    registry_mirrors: Option<Vec<String>>,
    max_concurrent_downloads: Option<usize>,
    max_concurrent_uploads: Option<usize>,
}

fn config_err(msg: impl Into<String>) -> DaemonError {
    DaemonError::Config(msg.into())
}

/// Parses `berth daemon`'s arguments (everything after `daemon`) and reads the config
/// file they name (or the default one, if it exists).
pub fn parse_args(args: &[String]) -> Result<Command, DaemonError> {
    let mut flags = Settings::default();
    let mut config_file: Option<String> = None;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        let (name, inline): (&str, Option<&str>) = if let Some(long) = arg.strip_prefix("--") {
            if long.is_empty() {
                if let Some(extra) = args.get(i) {
                    return Err(config_err(format!("unexpected argument {extra:?}")));
                }
                break;
            }
            match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            }
        } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            let letter = short.get(..1).unwrap_or("");
            let rest = short.get(1..).unwrap_or("");
            let long = match letter {
                "H" => "host",
                "b" => "bridge",
                "p" => "pidfile",
                "l" => "log-level",
                "h" => "help",
                "v" => "version",
                _ => {
                    return Err(config_err(format!(
                        "unknown shorthand flag: {letter:?} in {arg}"
                    )))
                }
            };
            let rest = rest.strip_prefix('=').unwrap_or(rest);
            (long, (!rest.is_empty()).then_some(rest))
        } else {
            return Err(config_err(format!(
                "unexpected argument {arg:?}: berth daemon takes only flags"
            )));
        };
        match name {
            "help" => return Ok(Command::Help),
            "version" => return Ok(Command::Version),
            "live-restore" => {
                let value = match inline {
                    None => true,
                    Some(v) => parse_flag_bool(v).ok_or_else(|| {
                        config_err(format!(
                            "invalid argument {v:?} for --live-restore: expected true or false"
                        ))
                    })?,
                };
                flags.live_restore = Some(value);
                continue;
            }
            _ => {}
        }
        let value = match inline {
            Some(v) => v.to_string(),
            None => {
                let v = args
                    .get(i)
                    .ok_or_else(|| config_err(format!("flag needs an argument: --{name}")))?;
                i += 1;
                v.clone()
            }
        };
        match name {
            "host" => flags.hosts.get_or_insert_with(Vec::new).push(value),
            "data-root" => flags.data_root = Some(value),
            "exec-root" => flags.exec_root = Some(value),
            "pidfile" => flags.pidfile = Some(value),
            "log-level" => flags.log_level = Some(value),
            "bridge" => flags.bridge = Some(value),
            "bip" => flags.bip = Some(value),
            "firewall-backend" => flags.firewall_backend = Some(value),
            "mtu" => {
                let n = value.parse::<i64>().map_err(|_| {
                    config_err(format!(
                        "invalid argument {value:?} for --mtu: expected a number"
                    ))
                })?;
                flags.mtu = Some(check_mtu(n).map_err(|e| config_err(format!("--mtu: {e}")))?);
            }
            "init-path" => flags.init_path = Some(value),
            "certs-dir" => flags.certs_dir = Some(value),
            "cgroup-parent" => flags.cgroup_parent = Some(value),
            "config-file" => config_file = Some(value),
            "insecure-registry" => flags
                .insecure_registries
                .get_or_insert_with(Vec::new)
                .push(value),
            "registry-mirror" => flags
                .registry_mirrors
                .get_or_insert_with(Vec::new)
                .push(value),
            "max-concurrent-downloads" | "max-concurrent-uploads" => {
                let n = parse_downloads(&value)
                    .map_err(|e| config_err(format!("invalid --{name} {value:?}: {e}")))?;
                if name == "max-concurrent-downloads" {
                    flags.max_concurrent_downloads = Some(n);
                } else {
                    flags.max_concurrent_uploads = Some(n);
                }
            }
            "default-ulimit" => {
                let u = parse_ulimit(&value)
                    .map_err(|e| config_err(format!("invalid --default-ulimit {value:?}: {e}")))?;
                let list = flags.default_ulimits.get_or_insert_with(Vec::new);
                // A later value for the same resource replaces the earlier one.
                list.retain(|have| have.name != u.name);
                list.push(u);
            }
            other => return Err(config_err(format!("unknown flag: --{other}"))),
        }
    }

    let file = match &config_file {
        Some(path) => Some(read_config_file(Path::new(path))?),
        None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
            Some(read_config_file(Path::new(DEFAULT_CONFIG_FILE))?)
        }
        None => None,
    };
    let merged = match file {
        Some(file) => merge(flags, file)?,
        None => flags,
    };
    finish(merged).map(|c| Command::Run(Box::new(c)))
}

/// A positive count of parallel downloads.
fn parse_downloads(v: &str) -> Result<usize, String> {
    match v.trim().parse::<i64>() {
        Ok(n) if n >= 1 => usize::try_from(n).map_err(|e| e.to_string()),
        Ok(n) => Err(format!("{n} is not a positive number")),
        Err(_) => Err("not a number".into()),
    }
}

/// Go's strconv.ParseBool, which is what dockerd's flag parser uses.
fn parse_flag_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Parses `NAME=SOFT[:HARD]` (HARD defaults to SOFT; -1 is unlimited).
pub fn parse_ulimit(s: &str) -> Result<Ulimit, String> {
    let (name, limits) = s
        .split_once('=')
        .ok_or_else(|| "expected NAME=SOFT[:HARD]".to_string())?;
    if !berth_types::ulimit::daemon_accepts(name) {
        return Err(format!("unknown ulimit {name:?}"));
    }
    let number = |v: &str, what: &str| {
        v.parse::<i64>()
            .map_err(|_| format!("{what} limit {v:?} is not a number"))
    };
    let (soft, hard) = match limits.split_once(':') {
        Some((soft, hard)) => (number(soft, "soft")?, number(hard, "hard")?),
        None => {
            let soft = number(limits, "soft")?;
            (soft, soft)
        }
    };
    check_ulimit(name, soft, hard)?;
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

fn check_ulimit(name: &str, soft: i64, hard: i64) -> Result<(), String> {
    if soft < -1 || hard < -1 {
        return Err(format!("{name}: limits must be -1 (unlimited) or positive"));
    }
    // -1 is unlimited, so it is the largest value.
    let big = |v: i64| if v == -1 { i64::MAX } else { v };
    if big(soft) > big(hard) {
        return Err(format!(
            "{name}: soft limit {soft} is greater than hard limit {hard}"
        ));
    }
    Ok(())
}

/// A default bridge MTU: not negative, and one a device can have.
fn check_mtu(n: i64) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| {
        format!("invalid MTU {n}: expected 0 (the default, 1500) or a positive number")
    })
}

fn read_config_file(path: &Path) -> Result<Settings, DaemonError> {
    let text = std::fs::read_to_string(path).map_err(|source| DaemonError::ReadConfig {
        path: path.to_path_buf(),
        source,
    })?;
    parse_config_json(&text, path)
}

/// Parses daemon.json. Unknown keys are an error listing them all.
fn parse_config_json(text: &str, path: &Path) -> Result<Settings, DaemonError> {
    let shown = path.display();
    if text.trim().is_empty() {
        return Ok(Settings::default());
    }
    let json: Value = serde_json::from_str(text)
        .map_err(|e| config_err(format!("config file {shown} is not valid JSON: {e}")))?;
    let Value::Object(map) = json else {
        return Err(config_err(format!(
            "config file {shown} must hold a JSON object"
        )));
    };
    let mut s = Settings::default();
    let mut unknown = Vec::new();
    let string = |key: &str, v: &Value| -> Result<String, DaemonError> {
        v.as_str().map(str::to_string).ok_or_else(|| {
            config_err(format!(
                "config file {shown}: {key:?} must be a string, found {v}"
            ))
        })
    };
    for (key, v) in &map {
        match key.as_str() {
            "hosts" => {
                let list = v.as_array().ok_or_else(|| {
                    config_err(format!(
                        "config file {shown}: \"hosts\" must be a list of strings"
                    ))
                })?;
                let hosts = list
                    .iter()
                    .map(|h| string("hosts", h))
                    .collect::<Result<Vec<_>, _>>()?;
                s.hosts = Some(hosts);
            }
            "data-root" => s.data_root = Some(string(key, v)?),
            "exec-root" => s.exec_root = Some(string(key, v)?),
            "pidfile" => s.pidfile = Some(string(key, v)?),
            "log-level" => s.log_level = Some(string(key, v)?),
            "bridge" => s.bridge = Some(string(key, v)?),
            "bip" => s.bip = Some(string(key, v)?),
            "firewall-backend" => s.firewall_backend = Some(string(key, v)?),
            "mtu" => {
                let n = v.as_i64().ok_or_else(|| {
                    config_err(format!(
                        "config file {shown}: \"mtu\" must be a number, found {v}"
                    ))
                })?;
                s.mtu = Some(
                    check_mtu(n)
                        .map_err(|e| config_err(format!("config file {shown}: \"mtu\": {e}")))?,
                );
            }
            "init-path" => s.init_path = Some(string(key, v)?),
            "certs-dir" => s.certs_dir = Some(string(key, v)?),
            "cgroup-parent" => s.cgroup_parent = Some(string(key, v)?),
            "insecure-registries" | "registry-mirrors" => {
                let list = v
                    .as_array()
                    .ok_or_else(|| {
                        config_err(format!(
                            "config file {shown}: {key:?} must be a list of strings"
                        ))
                    })?
                    .iter()
                    .map(|h| string(key, h))
                    .collect::<Result<Vec<_>, _>>()?;
                if key == "insecure-registries" {
                    s.insecure_registries = Some(list);
                } else {
                    s.registry_mirrors = Some(list);
                }
            }
            "max-concurrent-downloads" | "max-concurrent-uploads" => {
                let n = v
                    .as_i64()
                    .map(|n| n.to_string())
                    .ok_or_else(|| format!("{v}"))
                    .and_then(|n| parse_downloads(&n))
                    .map_err(|e| {
                        config_err(format!(
                            "config file {shown}: \"{key}\" must be a positive number, found {e}"
                        ))
                    })?;
                if key == "max-concurrent-downloads" {
                    s.max_concurrent_downloads = Some(n);
                } else {
                    s.max_concurrent_uploads = Some(n);
                }
            }
            "live-restore" => {
                s.live_restore = Some(v.as_bool().ok_or_else(|| {
                    config_err(format!(
                        "config file {shown}: \"live-restore\" must be true or false, found {v}"
                    ))
                })?)
            }
            "default-ulimits" => {
                let ulimits: BTreeMap<String, Ulimit> = serde_json::from_value(v.clone())
                    .map_err(|e| {
                        config_err(format!(
                            "config file {shown}: \"default-ulimits\" must map names to {{\"Name\",\"Soft\",\"Hard\"}}: {e}"
                        ))
                    })?;
                let mut list = Vec::new();
                for (name, mut u) in ulimits {
                    if u.name.is_empty() {
                        u.name = name.clone();
                    }
                    if !berth_types::ulimit::daemon_accepts(&u.name) {
                        return Err(config_err(format!(
                            "config file {shown}: \"default-ulimits\": unknown ulimit {:?}",
                            u.name
                        )));
                    }
                    check_ulimit(&u.name, u.soft, u.hard).map_err(|e| {
                        config_err(format!("config file {shown}: \"default-ulimits\": {e}"))
                    })?;
                    list.push(u);
                }
                s.default_ulimits = Some(list);
            }
            _ => unknown.push(key.clone()),
        }
    }
    if !unknown.is_empty() {
        return Err(config_err(format!(
            "config file {shown}: the following directives don't match any configuration option: {}",
            unknown.join(", ")
        )));
    }
    Ok(s)
}

/// Combines flags and file; a setting given by both is an error naming each.
fn merge(flags: Settings, file: Settings) -> Result<Settings, DaemonError> {
    let mut conflicts: Vec<String> = Vec::new();
    fn pick<T: fmt::Debug>(
        key: &str,
        flag: Option<T>,
        file: Option<T>,
        conflicts: &mut Vec<String>,
    ) -> Option<T> {
        match (flag, file) {
            (Some(a), Some(b)) => {
                conflicts.push(format!("{key}: (from flag: {a:?}, from file: {b:?})"));
                Some(a)
            }
            (a, b) => a.or(b),
        }
    }
    let c = &mut conflicts;
    let merged = Settings {
        hosts: pick("hosts", flags.hosts, file.hosts, c),
        data_root: pick("data-root", flags.data_root, file.data_root, c),
        exec_root: pick("exec-root", flags.exec_root, file.exec_root, c),
        pidfile: pick("pidfile", flags.pidfile, file.pidfile, c),
        log_level: pick("log-level", flags.log_level, file.log_level, c),
        bridge: pick("bridge", flags.bridge, file.bridge, c),
        bip: pick("bip", flags.bip, file.bip, c),
        firewall_backend: pick(
            "firewall-backend",
            flags.firewall_backend,
            file.firewall_backend,
            c,
        ),
        mtu: pick("mtu", flags.mtu, file.mtu, c),
        default_ulimits: pick(
            "default-ulimits",
            flags.default_ulimits.map(UlimitList),
            file.default_ulimits.map(UlimitList),
            c,
        )
        .map(|l| l.0),
        live_restore: pick("live-restore", flags.live_restore, file.live_restore, c),
        init_path: pick("init-path", flags.init_path, file.init_path, c),
        certs_dir: pick("certs-dir", flags.certs_dir, file.certs_dir, c),
        cgroup_parent: pick("cgroup-parent", flags.cgroup_parent, file.cgroup_parent, c),
        insecure_registries: pick(
            "insecure-registries",
            flags.insecure_registries,
            file.insecure_registries,
            c,
        ),
        registry_mirrors: pick(
            "registry-mirrors",
            flags.registry_mirrors,
            file.registry_mirrors,
            c,
        ),
        max_concurrent_downloads: pick(
            "max-concurrent-downloads",
            flags.max_concurrent_downloads,
            file.max_concurrent_downloads,
            c,
        ),
        max_concurrent_uploads: pick(
            "max-concurrent-uploads",
            flags.max_concurrent_uploads,
            file.max_concurrent_uploads,
            c,
        ),
    };
    if !conflicts.is_empty() {
        return Err(config_err(format!(
            "the following directives are specified both as a flag and in the configuration file: {}",
            conflicts.join(", ")
        )));
    }
    Ok(merged)
}

/// Ulimits shown as `nofile=1024:2048` in a conflict message.
struct UlimitList(Vec<Ulimit>);

impl fmt::Debug for UlimitList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|u| format!("{}={}:{}", u.name, u.soft, u.hard))
            .collect();
        write!(f, "[{}]", parts.join(" "))
    }
}

fn finish(s: Settings) -> Result<DaemonConfig, DaemonError> {
    let hosts = s
        .hosts
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| vec![DEFAULT_HOST.to_string()])
        .iter()
        .map(|h| Host::parse(h).map_err(config_err))
        .collect::<Result<Vec<_>, _>>()?;
    let log_level = match s.log_level.as_deref() {
        None => Level::Info,
        Some(l) => Level::parse(l).ok_or_else(|| {
            config_err(format!(
                "invalid log level {l:?}: expected debug, info, warn, error or fatal"
            ))
        })?,
    };
    let absolute = |what: &str, p: String| -> Result<PathBuf, DaemonError> {
        let path = PathBuf::from(&p);
        if path.is_absolute() {
            Ok(path)
        } else {
            Err(config_err(format!("{what} {p:?} must be an absolute path")))
        }
    };
    let data_root = absolute(
        "--data-root",
        s.data_root.unwrap_or_else(|| DEFAULT_DATA_ROOT.into()),
    )?;
    let exec_root = absolute(
        "--exec-root",
        s.exec_root.unwrap_or_else(|| DEFAULT_EXEC_ROOT.into()),
    )?;
    let pidfile = match s.pidfile {
        Some(p) => absolute("--pidfile", p)?,
        None => exec_root.join("berth.pid"),
    };
    let init_path = s
        .init_path
        .map(|p| absolute("--init-path", p))
        .transpose()?;
    let certs_dir = s
        .certs_dir
        .map(|p| absolute("--certs-dir", p))
        .transpose()?;
    let firewall_backend = s
        .firewall_backend
        .map(|b| b.parse::<FirewallBackend>().map_err(config_err))
        .transpose()?;
    Ok(DaemonConfig {
        hosts,
        data_root,
        exec_root,
        pidfile,
        log_level,
        bridge: s.bridge,
        bip: s.bip,
        firewall_backend,
        mtu: s.mtu.filter(|m| *m > 0),
        default_ulimits: s.default_ulimits.unwrap_or_default(),
        live_restore: s.live_restore.unwrap_or(true),
        init_path,
        certs_dir,
        cgroup_parent: s.cgroup_parent,
        insecure_registries: s.insecure_registries.unwrap_or_default(),
        registry_mirrors: s.registry_mirrors.unwrap_or_default(),
        max_concurrent_downloads: s
            .max_concurrent_downloads
            .unwrap_or(berth_engine::registry::hosts::DEFAULT_CONCURRENT_DOWNLOADS),
        max_concurrent_uploads: s
            .max_concurrent_uploads
            .unwrap_or(berth_engine::registry::hosts::DEFAULT_CONCURRENT_UPLOADS),
    })
}

impl DaemonConfig {
    /// The engine's configuration: the runtime and init binaries are found next to
    /// the daemon's own executable.
    pub fn engine_config(&self) -> EngineConfig {
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let mut c = EngineConfig::new(&self.data_root, &self.exec_root);
        if let Some(dir) = &exe_dir {
            c.runtime = dir.join("berth-runc");
        }
        c.init_path = self.init_path.clone().or_else(|| {
            exe_dir
                .as_ref()
                .map(|d| d.join("berth-init"))
                .filter(|p| p.exists())
        });
        c.default_ulimits = self.default_ulimits.clone();
        c.live_restore = self.live_restore;
        c.bridge = self.bridge.clone();
        c.bip = self.bip.clone();
        c.firewall_backend = self.firewall_backend;
        c.mtu = self.mtu;
        if let Some(parent) = &self.cgroup_parent {
            c.cgroup_parent = parent.clone();
        }
        c.registry.insecure_registries = self.insecure_registries.clone();
        c.registry.mirrors = self.registry_mirrors.clone();
        c.registry.max_concurrent_downloads = self.max_concurrent_downloads;
        c.registry.max_concurrent_uploads = self.max_concurrent_uploads;
        if let Some(dir) = &self.certs_dir {
            c.registry.certs_dir = dir.clone();
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        // Point the config file at a path that cannot exist so the host's
        // /etc/berth/daemon.json never leaks into a test.
        let mut v: Vec<String> = Vec::new();
        if !list.iter().any(|a| a.starts_with("--config-file")) {
            v.push("--config-file=/dev/null".into());
        }
        v.extend(list.iter().map(|s| s.to_string()));
        v
    }

    fn run(list: &[&str]) -> Result<DaemonConfig, DaemonError> {
        match parse_args(&args(list))? {
            Command::Run(c) => Ok(*c),
            other => panic!("expected a run, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = run(&[]).unwrap();
        assert_eq!(c.hosts, vec![Host::Unix("/run/berth/berth.sock".into())]);
        assert_eq!(c.data_root, PathBuf::from("/var/lib/berth"));
        assert_eq!(c.pidfile, PathBuf::from("/run/berth/berth.pid"));
        assert!(c.live_restore);
        assert_eq!(c.log_level, Level::Info);
        let e = c.engine_config();
        assert_eq!(e.cgroup_parent, "/berth");
        assert!(e.runtime.ends_with("berth-runc"));
    }

    #[test]
    fn both_flag_spellings_and_repeats() {
        let c = run(&[
            "-H",
            "unix:///tmp/a.sock",
            "--host=tcp://127.0.0.1:2999",
            "-Htcp://localhost",
            "--exec-root",
            "/tmp/x",
            "--live-restore=false",
            "--default-ulimit",
            "nofile=10:20",
            "--default-ulimit=nproc=5",
            "--default-ulimit=nofile=30",
            "-l",
            "debug",
        ])
        .unwrap();
        assert_eq!(
            c.hosts,
            vec![
                Host::Unix("/tmp/a.sock".into()),
                Host::Tcp("127.0.0.1:2999".into()),
                Host::Tcp("localhost:2375".into())
            ]
        );
        assert_eq!(c.pidfile, PathBuf::from("/tmp/x/berth.pid"));
        assert!(!c.live_restore);
        assert_eq!(c.log_level, Level::Debug);
        let ul: Vec<(String, i64, i64)> = c
            .default_ulimits
            .iter()
            .map(|u| (u.name.clone(), u.soft, u.hard))
            .collect();
        assert_eq!(ul, vec![("nproc".into(), 5, 5), ("nofile".into(), 30, 30)]);
        assert!(run(&["--live-restore"]).unwrap().live_restore);
    }

    #[test]
    fn registry_settings_from_flags_and_file() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("daemon.json");
        std::fs::write(
            &f,
            r#"{"insecure-registries":["10.0.0.0/8","reg:5000"],"registry-mirrors":["https://m.example"],"max-concurrent-downloads":5}"#,
        )
        .unwrap();
        let file = format!("--config-file={}", f.display());
        let c = run(&[file.as_str()]).unwrap();
        assert_eq!(c.insecure_registries, ["10.0.0.0/8", "reg:5000"]);
        assert_eq!(c.registry_mirrors, ["https://m.example"]);
        assert_eq!(c.max_concurrent_downloads, 5);
        let e = c.engine_config();
        assert_eq!(e.registry.max_concurrent_downloads, 5);
        assert_eq!(e.registry.mirrors, ["https://m.example"]);
        let c = run(&["--insecure-registry", "a:1", "--insecure-registry=b:2"]).unwrap();
        assert_eq!(c.insecure_registries, ["a:1", "b:2"]);
        assert_eq!(c.max_concurrent_downloads, 3);
        assert_eq!(c.max_concurrent_uploads, 5);
        assert_eq!(
            c.engine_config().registry.certs_dir,
            PathBuf::from("/etc/berth/certs.d")
        );
        let certs = run(&["--certs-dir", "/tmp/certs.d"]).expect("certs-dir flag");
        assert_eq!(
            certs.engine_config().registry.certs_dir,
            PathBuf::from("/tmp/certs.d")
        );
        let e = run(&["--certs-dir", "rel/ative"]).unwrap_err().to_string();
        assert!(e.contains("--certs-dir"), "{e}");
        let up = run(&["--max-concurrent-uploads", "2"]).expect("uploads flag");
        assert_eq!(up.engine_config().registry.max_concurrent_uploads, 2);
        let e = run(&["--max-concurrent-uploads=0"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("max-concurrent-uploads"), "{e}");
        let e = run(&["--max-concurrent-downloads=0"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("max-concurrent-downloads"), "{e}");
        let both = run(&[file.as_str(), "--max-concurrent-downloads", "2"])
            .unwrap_err()
            .to_string();
        assert!(both.contains("max-concurrent-downloads"), "{both}");
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse_args(&args(&["-h"])).unwrap(), Command::Help);
        assert_eq!(parse_args(&args(&["--version"])).unwrap(), Command::Version);
    }

    #[test]
    fn bad_flags_are_named() {
        let e = run(&["--frobnicate"]).unwrap_err().to_string();
        assert!(e.contains("--frobnicate"), "{e}");
        let e = run(&["--data-root"]).unwrap_err().to_string();
        assert!(e.contains("needs an argument: --data-root"), "{e}");
        let e = run(&["--log-level=loud"]).unwrap_err().to_string();
        assert!(e.contains("loud"), "{e}");
        let e = run(&["-H", "http://x"]).unwrap_err().to_string();
        assert!(e.contains("http://x"), "{e}");
        let e = run(&["stray"]).unwrap_err().to_string();
        assert!(e.contains("stray"), "{e}");
        let e = run(&["--live-restore=maybe"]).unwrap_err().to_string();
        assert!(e.contains("maybe"), "{e}");
    }

    #[test]
    fn bad_ulimits() {
        for (bad, want) in [
            ("nofile", "NAME=SOFT"),
            ("bogus=1", "unknown ulimit \"bogus\""),
            ("nofile=x", "soft limit \"x\""),
            ("nofile=10:y", "hard limit \"y\""),
            ("nofile=20:10", "greater than hard limit"),
        ] {
            let e = run(&["--default-ulimit", bad]).unwrap_err().to_string();
            assert!(e.contains(want), "{bad}: {e}");
            assert!(e.contains("--default-ulimit"), "{bad}: {e}");
        }
        assert_eq!(parse_ulimit("core=-1").unwrap().hard, -1);
        assert!(parse_ulimit("core=0:-1").is_ok());
    }
}
