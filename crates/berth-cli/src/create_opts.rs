//! `run`/`create` flags → `ContainerCreateRequest`, mapped as docker's CLI maps them.

use std::collections::BTreeMap;
use std::path::Path;

use berth_api_types::container::{
    BindOptions, ContainerCreateRequest, DeviceMapping, EmptyObject, HealthConfig, HostConfig,
    LogConfig, Mount, RestartPolicy, TmpfsOptions, Ulimit, VolumeDriverConfig, VolumeOptions,
};
use berth_api_types::network::{NetworkingConfig, PortBinding};

use crate::cli::ContainerFlags;
use crate::units::{parse_go_duration, ram_in_bytes};

/// A flag value the CLI refuses, in docker's words where docker has them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FlagError(pub String);

fn bad(msg: impl Into<String>) -> FlagError {
    FlagError(msg.into())
}

/// What `run`/`create` send: the body, the name and platform query parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatePlan {
    pub request: ContainerCreateRequest,
    pub name: String,
    pub platform: String,
}

/// Reads `KEY=VALUE` lines (docker's env-file and label-file syntax): blank lines
/// and `#` comments are skipped; a bare `KEY` takes its value from our environment
/// when `from_env` (env files) and stays bare otherwise.
fn read_kv_file(path: &str, from_env: bool) -> Result<Vec<String>, FlagError> {
    let text = std::fs::read(Path::new(path)).map_err(|e| bad(format!("open {path}: {e}")))?;
    let text = String::from_utf8(text)
        .map_err(|_| bad(format!("{path}: env file contains invalid utf8 bytes")))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some(("", _)) => return Err(bad(format!("{path}: no variable name on line '{line}'"))),
            Some((k, v)) => {
                if k.contains(char::is_whitespace) {
                    return Err(bad(format!(
                        "{path}: variable '{}' contains whitespaces (line {})",
                        k.trim_end(),
                        i + 1
                    )));
                }
                out.push(format!("{k}={v}"));
            }
            None if from_env => {
                let k = line.trim_end();
                if let Ok(v) = std::env::var(k) {
                    out.push(format!("{k}={v}"));
                }
            }
            None => out.push(line.trim_end().to_string()),
        }
    }
    Ok(out)
}

/// `-e KEY` takes KEY's value from our environment, or stays bare if unset.
fn expand_env(values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|v| {
            if v.contains('=') {
                v.clone()
            } else {
                match std::env::var(v) {
                    Ok(val) => format!("{v}={val}"),
                    Err(_) => v.clone(),
                }
            }
        })
        .collect()
}

/// The environment from `--env-file`s then `-e`s, as docker orders them.
pub fn env_list(env_files: &[String], env: &[String]) -> Result<Vec<String>, FlagError> {
    let mut out = Vec::new();
    for f in env_files {
        out.extend(read_kv_file(f, true)?);
    }
    out.extend(expand_env(env));
    Ok(out)
}

fn labels(files: &[String], flags: &[String]) -> Result<BTreeMap<String, String>, FlagError> {
    let mut all = Vec::new();
    for f in files {
        all.extend(read_kv_file(f, false)?);
    }
    all.extend(flags.iter().cloned());
    Ok(all
        .into_iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l, String::new()),
        })
        .collect())
}

/// `--restart no|always|unless-stopped|on-failure[:N]`.
pub fn restart_policy(s: &str) -> Result<RestartPolicy, FlagError> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (s, None),
    };
    let invalid = || bad(format!("invalid restart policy format: {s}"));
    match (name, count) {
        ("" | "no" | "always" | "unless-stopped", None) => Ok(RestartPolicy {
            name: if name.is_empty() { "no".into() } else { name.into() },
            maximum_retry_count: 0,
        }),
        ("on-failure", c) => {
            let n = match c {
                Some(c) => c
                    .parse::<i64>()
                    .map_err(|_| bad(format!("invalid restart policy format: maximum retry count must be an integer: {c}")))?,
                None => 0,
            };
            Ok(RestartPolicy {
                name: "on-failure".into(),
                maximum_retry_count: n,
            })
        }
        ("no" | "always" | "unless-stopped", Some(_)) => Err(bad(format!(
            "invalid restart policy format: maximum retry count can only be used with 'on-failure': {s}"
        ))),
        _ => Err(invalid()),
    }
}

/// `--ulimit name=soft[:hard]`.
pub fn ulimit(s: &str) -> Result<Ulimit, FlagError> {
    let (name, values) = s
        .split_once('=')
        .ok_or_else(|| bad(format!("invalid ulimit argument: {s}")))?;
    let (soft, hard) = values.split_once(':').unwrap_or((values, values));
    let num = |v: &str| {
        v.parse::<i64>()
            .map_err(|_| bad(format!("invalid ulimit argument: {s}")))
    };
    let (soft, hard) = (num(soft)?, num(hard)?);
    if soft > hard {
        return Err(bad(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

fn valid_perms(p: &str) -> bool {
    !p.is_empty() && p.len() <= 3 && p.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
}

/// `--device host[:container[:perms]]`.
pub fn device(s: &str) -> Result<DeviceMapping, FlagError> {
    let parts: Vec<&str> = s.split(':').collect();
    let (host, ctr, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if valid_perms(p) => (*h, *h, *p),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] if valid_perms(p) => (*h, *c, *p),
        _ => return Err(bad(format!("invalid device specification: {s}"))),
    };
    if !ctr.starts_with('/') {
        return Err(bad(format!("invalid device specification: {s}")));
    }
    Ok(DeviceMapping {
        path_on_host: host.to_string(),
        path_in_container: ctr.to_string(),
        cgroup_permissions: perms.to_string(),
    })
}

/// `--security-opt`: `seccomp=FILE` becomes `seccomp=<the file's JSON, compacted>`.
pub fn security_opts(opts: &[String]) -> Result<Vec<String>, FlagError> {
    let mut out = Vec::with_capacity(opts.len());
    for opt in opts {
        let (key, value) = match opt.split_once('=') {
            Some(kv) => kv,
            None if opt == "no-new-privileges" => {
                out.push(opt.clone());
                continue;
            }
            None => opt
                .split_once(':')
                .ok_or_else(|| bad(format!("Invalid --security-opt: {opt:?}")))?,
        };
        if key == "seccomp" && value != "unconfined" {
            let data = std::fs::read(value)
                .map_err(|e| bad(format!("opening seccomp profile ({value}) failed: {e}")))?;
            let json: serde_json::Value = serde_json::from_slice(&data).map_err(|e| {
                bad(format!(
                    "compacting json for seccomp profile ({value}) failed: {e}"
                ))
            })?;
            out.push(format!("seccomp={json}"));
        } else {
            out.push(format!("{key}={value}"));
        }
    }
    Ok(out)
}

fn duration_ns(flag: &str, v: &Option<String>) -> Result<i64, FlagError> {
    match v {
        None => Ok(0),
        Some(s) => {
            let ns = parse_go_duration(s).map_err(|e| {
                bad(format!(
                    "invalid argument \"{s}\" for \"--{flag}\" flag: {e}"
                ))
            })?;
            if ns < 0 {
                return Err(bad(format!("--{flag} cannot be negative")));
            }
            Ok(ns as i64)
        }
    }
}

fn size(flag: &str, v: &Option<String>) -> Result<i64, FlagError> {
    match v {
        None => Ok(0),
        Some(s) => ram_in_bytes(s).map_err(|e| {
            bad(format!(
                "invalid argument \"{s}\" for \"--{flag}\" flag: {e}"
            ))
        }),
    }
}

/// `--cpus 1.5` → NanoCpus.
pub fn nano_cpus(s: &str) -> Result<i64, FlagError> {
    let v: f64 = s
        .parse()
        .map_err(|_| bad(format!("invalid argument \"{s}\" for \"--cpus\" flag: failed to parse {s} as a rational number")))?;
    let n = (v * 1e9).round();
    if !(0.0..=i64::MAX as f64).contains(&n) {
        return Err(bad(format!("value is too precise or out of range: {s}")));
    }
    Ok(n as i64)
}

/// `--memory-swap`: a size, or -1 for unlimited.
pub fn memory_swap(s: &str) -> Result<i64, FlagError> {
    if s == "-1" {
        return Ok(-1);
    }
    ram_in_bytes(s).map_err(|e| {
        bad(format!(
            "invalid argument \"{s}\" for \"--memory-swap\" flag: {e}"
        ))
    })
}

/// The fields of a `--mount` value: comma-separated, a field in double quotes may
/// hold commas (docker reads the value as one CSV record).
fn csv_fields(value: &str) -> Result<Vec<String>, FlagError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if quoted {
        return Err(bad("extraneous or missing \" in quoted-field"));
    }
    out.push(cur);
    Ok(out)
}

fn flag_bool(key: &str, v: &str) -> Result<bool, FlagError> {
    match v.to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "t" => Ok(true),
        "0" | "false" | "f" => Ok(false),
        _ => Err(bad(format!("invalid value for {key}: {v}"))),
    }
}

/// `--mount type=bind|volume|tmpfs,source=…,target=…,readonly,…` → a `HostConfig.Mounts`
/// entry, with docker's keys and checks (the daemon checks the rest).
pub fn parse_mount(value: &str) -> Result<Mount, FlagError> {
    let mut m = Mount {
        kind: "volume".into(),
        ..Mount::default()
    };
    let mut bind = BindOptions::default();
    let mut has_bind = false;
    let mut vol = VolumeOptions::default();
    let mut has_vol = false;
    let mut driver = VolumeDriverConfig::default();
    let mut tmpfs = TmpfsOptions::default();
    let mut has_tmpfs = false;
    for field in csv_fields(value)? {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.to_string())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let val = match (key.as_str(), val) {
            ("readonly" | "ro" | "volume-nocopy" | "bind-nonrecursive", None) => String::new(),
            (_, None) => {
                return Err(bad(format!(
                    "invalid field '{field}' must be a key=value pair"
                )))
            }
            (_, Some(v)) => v,
        };
        match key.as_str() {
            "type" => m.kind = val.to_ascii_lowercase(),
            "source" | "src" => m.source = val,
            "target" | "dst" | "destination" => m.target = val,
            "readonly" | "ro" => m.read_only = flag_bool(&key, &val)?,
            "consistency" => m.consistency = val,
            "bind-propagation" => {
                has_bind = true;
                bind.propagation = val.to_ascii_lowercase();
            }
            "bind-nonrecursive" => {
                has_bind = true;
                bind.non_recursive = flag_bool(&key, &val)?;
            }
            "bind-recursive" => {
                has_bind = true;
                bind.non_recursive = match val.as_str() {
                    "enabled" => false,
                    "disabled" => true,
                    _ => {
                        return Err(bad(format!(
                            "invalid value for {key}: {val} (berth takes enabled or disabled)"
                        )))
                    }
                };
            }
            "volume-nocopy" => {
                has_vol = true;
                vol.no_copy = flag_bool(&key, &val)?;
            }
            "volume-label" => {
                has_vol = true;
                let (k, v) = val.split_once('=').unwrap_or((val.as_str(), ""));
                vol.labels.insert(k.to_string(), v.to_string());
            }
            "volume-driver" => {
                has_vol = true;
                driver.name = val;
            }
            "volume-opt" => {
                has_vol = true;
                let (k, v) = val.split_once('=').unwrap_or((val.as_str(), ""));
                driver.options.insert(k.to_string(), v.to_string());
            }
            "tmpfs-size" => {
                has_tmpfs = true;
                tmpfs.size_bytes = ram_in_bytes(&val)
                    .map_err(|_| bad(format!("invalid value for {key}: {val}")))?;
            }
            "tmpfs-mode" => {
                has_tmpfs = true;
                tmpfs.mode = u32::from_str_radix(val.trim_start_matches("0o"), 8)
                    .map_err(|_| bad(format!("invalid value for {key}: {val}")))?;
            }
            _ => return Err(bad(format!("unexpected key '{key}' in '{field}'"))),
        }
    }
    let mix = |what: &str| {
        bad(format!(
            "cannot mix '{what}-*' options with mount type '{}'",
            m.kind
        ))
    };
    if m.kind != "bind" && has_bind {
        return Err(mix("bind"));
    }
    if m.kind != "volume" && has_vol {
        return Err(mix("volume"));
    }
    if m.kind != "tmpfs" && has_tmpfs {
        return Err(mix("tmpfs"));
    }
    if m.target.is_empty() {
        return Err(bad("target is required"));
    }
    if has_bind {
        m.bind_options = Some(bind);
    }
    if has_vol {
        if !driver.name.is_empty() || !driver.options.is_empty() {
            vol.driver_config = Some(driver);
        }
        m.volume_options = Some(vol);
    }
    if has_tmpfs {
        m.tmpfs_options = Some(tmpfs);
    }
    Ok(m)
}

/// `-p [ip:][hostPort:]containerPort[/proto]` → (port key, binding).
fn publish(spec: &str) -> Result<(String, PortBinding), FlagError> {
    let (addr, proto) = spec.rsplit_once('/').unwrap_or((spec, "tcp"));
    let parts: Vec<&str> = if addr.starts_with('[') {
        // [::1]:8080:80
        let end = addr
            .find(']')
            .ok_or_else(|| bad(format!("invalid IP address: {spec}")))?;
        let ip = &addr[1..end];
        let mut v = vec![ip];
        v.extend(addr[end + 1..].trim_start_matches(':').split(':'));
        v
    } else {
        addr.split(':').collect()
    };
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [i, h, c] => (*i, *h, *c),
        _ => return Err(bad(format!("invalid port format: {spec}"))),
    };
    if ctr.is_empty() || ctr.parse::<u16>().is_err() {
        return Err(bad(format!("invalid containerPort: {ctr}")));
    }
    if !host.is_empty() && host.parse::<u16>().is_err() {
        return Err(bad(format!("invalid hostPort: {host}")));
    }
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(bad(format!("invalid proto: {proto}")));
    }
    Ok((
        format!("{ctr}/{proto}"),
        PortBinding {
            host_ip: ip.to_string(),
            host_port: host.to_string(),
        },
    ))
}

/// docker's capability spelling: upper case with `CAP_` (except `ALL`), no repeats.
pub fn normalize_caps(caps: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in caps {
        let mut c = c.trim().to_ascii_uppercase();
        if c != "ALL" && !c.starts_with("CAP_") {
            c = format!("CAP_{c}");
        }
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

fn kv_map(values: &[String], what: &str) -> Result<BTreeMap<String, String>, FlagError> {
    values
        .iter()
        .map(|v| {
            v.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| bad(format!("invalid {what} format: {v}")))
        })
        .collect()
}

/// Builds the create request from `run`/`create` flags. `detach` is `run -d`;
/// `console_size` is `[height, width]` of our terminal when `-t` is given.
pub fn build_create(
    f: &ContainerFlags,
    detach: bool,
    console_size: Option<[u64; 2]>,
) -> Result<CreatePlan, FlagError> {
    let (image, cmd) = f
        .args
        .split_first()
        .ok_or_else(|| bad("\"create\" requires at least 1 argument."))?;
    let mut req = ContainerCreateRequest::default();
    let c = &mut req.config;
    c.image = image.clone();
    c.cmd = if cmd.is_empty() {
        None
    } else {
        Some(cmd.to_vec())
    };
    c.entrypoint = match &f.entrypoint {
        Some(e) if e.is_empty() => Some(vec![String::new()]),
        Some(e) => Some(vec![e.clone()]),
        None => None,
    };
    c.hostname = f.hostname.clone().unwrap_or_default();
    c.domainname = f.domainname.clone().unwrap_or_default();
    c.user = f.user.clone().unwrap_or_default();
    c.working_dir = f.workdir.clone().unwrap_or_default();
    c.tty = f.tty;
    c.open_stdin = f.interactive;
    c.env = env_list(&f.env_file, &f.env)?;
    c.labels = labels(&f.label_file, &f.label)?;
    c.stop_signal = f.stop_signal.clone().unwrap_or_default();
    c.stop_timeout = f.stop_timeout;

    // docker: -a picks streams; without -a, stdout and stderr; -i adds stdin.
    for a in &f.attach {
        if !matches!(
            a.to_ascii_lowercase().as_str(),
            "stdin" | "stdout" | "stderr"
        ) {
            return Err(bad(format!(
                "invalid argument \"{a}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"
            )));
        }
    }
    let has = |s: &str| f.attach.iter().any(|a| a.eq_ignore_ascii_case(s));
    c.attach_stdin = has("stdin") || f.interactive;
    c.attach_stdout = has("stdout") || f.attach.is_empty();
    c.attach_stderr = has("stderr") || f.attach.is_empty();
    if detach {
        if !f.attach.is_empty() {
            return Err(bad("Conflicting options: -a and -d"));
        }
        c.attach_stdin = false;
        c.attach_stdout = false;
        c.attach_stderr = false;
    }
    c.stdin_once = c.attach_stdin && !detach;

    // Health check.
    let health_set = f.health_cmd.is_some()
        || f.health_interval.is_some()
        || f.health_timeout.is_some()
        || f.health_start_period.is_some()
        || f.health_retries.is_some();
    if f.no_healthcheck {
        if health_set {
            return Err(bad("--no-healthcheck conflicts with --health-* options"));
        }
        c.healthcheck = Some(HealthConfig {
            test: vec!["NONE".into()],
            ..HealthConfig::default()
        });
    } else if health_set {
        let retries = f.health_retries.unwrap_or(0);
        if retries < 0 {
            return Err(bad("--health-retries cannot be negative"));
        }
        c.healthcheck = Some(HealthConfig {
            test: match &f.health_cmd {
                Some(cmd) if !cmd.is_empty() => vec!["CMD-SHELL".into(), cmd.clone()],
                _ => Vec::new(),
            },
            interval: duration_ns("health-interval", &f.health_interval)?,
            timeout: duration_ns("health-timeout", &f.health_timeout)?,
            start_period: duration_ns("health-start-period", &f.health_start_period)?,
            retries,
        });
    }

    // Volumes: `-v /data` is an anonymous volume, `-v src:dst[:mode]` a bind.
    let mut binds = Vec::new();
    let mut volumes = BTreeMap::new();
    for v in &f.volume {
        if v.contains(':') {
            binds.push(v.clone());
        } else {
            volumes.insert(v.clone(), EmptyObject {});
        }
    }
    c.volumes = Some(volumes);

    // Ports.
    let mut port_bindings: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
    for p in &f.publish {
        let (key, binding) = publish(p)?;
        c.exposed_ports.insert(key.clone(), EmptyObject {});
        port_bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(binding);
    }
    for e in &f.expose {
        let key = if e.contains('/') {
            e.clone()
        } else {
            format!("{e}/tcp")
        };
        c.exposed_ports.insert(key, EmptyObject {});
    }

    let restart = match &f.restart {
        Some(r) => restart_policy(r)?,
        None => RestartPolicy {
            name: "no".into(),
            maximum_retry_count: 0,
        },
    };
    if f.rm && restart.name != "no" {
        return Err(bad("Conflicting options: --restart and --rm"));
    }

    let mounts = f
        .mount
        .iter()
        .map(|m| {
            parse_mount(m).map_err(|e| {
                bad(format!(
                    "invalid argument \"{m}\" for \"--mount\" flag: {}",
                    e.0
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut h = HostConfig {
        binds,
        mounts,
        container_id_file: f.cidfile.clone().unwrap_or_default(),
        log_config: LogConfig {
            kind: f.log_driver.clone().unwrap_or_default(),
            config: kv_map(&f.log_opt, "log-opt")?,
        },
        network_mode: f.network.clone().unwrap_or_else(|| "default".into()),
        port_bindings,
        restart_policy: restart,
        auto_remove: f.rm,
        volumes_from: f.volumes_from.clone(),
        console_size: console_size.unwrap_or([0, 0]),
        cap_add: normalize_caps(&f.cap_add),
        cap_drop: normalize_caps(&f.cap_drop),
        cgroupns_mode: f.cgroupns.clone().unwrap_or_default(),
        dns: f.dns.clone(),
        dns_options: f.dns_option.clone(),
        dns_search: f.dns_search.clone(),
        extra_hosts: f.add_host.clone(),
        group_add: f.group_add.clone(),
        ipc_mode: f.ipc.clone().unwrap_or_default(),
        oom_score_adj: f.oom_score_adj.unwrap_or(0),
        pid_mode: f.pid.clone().unwrap_or_default(),
        privileged: f.privileged,
        publish_all_ports: f.publish_all,
        readonly_rootfs: f.read_only,
        security_opt: security_opts(&f.security_opt)?,
        storage_opt: kv_map(&f.storage_opt, "storage-opt")?,
        tmpfs: f
            .tmpfs
            .iter()
            .map(|t| match t.split_once(':') {
                Some((p, o)) => (p.to_string(), o.to_string()),
                None => (t.clone(), String::new()),
            })
            .collect(),
        uts_mode: f.uts.clone().unwrap_or_default(),
        userns_mode: f.userns.clone().unwrap_or_default(),
        shm_size: size("shm-size", &f.shm_size)?,
        sysctls: kv_map(&f.sysctl, "sysctl")?,
        runtime: f.runtime.clone().unwrap_or_default(),
        ..HostConfig::default()
    };
    if f.init {
        h.resources.init = Some(true);
    }
    let r = &mut h.resources;
    r.memory = size("memory", &f.memory)?;
    r.memory_reservation = size("memory-reservation", &f.memory_reservation)?;
    r.memory_swap = match &f.memory_swap {
        Some(s) => memory_swap(s)?,
        None => 0,
    };
    r.memory_swappiness = f.memory_swappiness.filter(|v| *v != -1);
    if let Some(cpus) = &f.cpus {
        r.nano_cpus = nano_cpus(cpus)?;
    }
    r.cpu_shares = f.cpu_shares.unwrap_or(0);
    r.cpu_period = f.cpu_period.unwrap_or(0);
    r.cpu_quota = f.cpu_quota.unwrap_or(0);
    r.cpuset_cpus = f.cpuset_cpus.clone().unwrap_or_default();
    r.cpuset_mems = f.cpuset_mems.clone().unwrap_or_default();
    r.blkio_weight = f.blkio_weight.unwrap_or(0);
    r.pids_limit = f.pids_limit;
    r.cgroup_parent = f.cgroup_parent.clone().unwrap_or_default();
    r.ulimits = f
        .ulimit
        .iter()
        .map(|u| ulimit(u))
        .collect::<Result<_, _>>()?;
    r.devices = f
        .device
        .iter()
        .map(|d| device(d))
        .collect::<Result<_, _>>()?;
    if f.oom_kill_disable {
        r.oom_kill_disable = Some(true);
    }

    h.links = f.link.clone();
    c.mac_address = f.mac_address.clone().unwrap_or_default();

    // docker names the endpoint after the network (the default one when none is
    // given); the daemon decides what it can honour. On a user-defined network the
    // links are the endpoint's too (dockerd ignores HostConfig.Links there).
    let mut networking = NetworkingConfig::default();
    let static_ips = f.ip.is_some() || f.ip6.is_some() || !f.link_local_ip.is_empty();
    let user_network = f.network.as_deref().is_some_and(|n| {
        !matches!(n, "default" | "bridge" | "host" | "none") && !n.starts_with("container:")
    });
    let endpoint_links = if user_network {
        f.link.clone()
    } else {
        Vec::new()
    };
    if !f.network_alias.is_empty() || static_ips || !endpoint_links.is_empty() {
        let ipam = static_ips.then(|| berth_api_types::network::EndpointIpamConfig {
            ipv4_address: f.ip.clone().unwrap_or_default(),
            ipv6_address: f.ip6.clone().unwrap_or_default(),
            link_local_ips: f.link_local_ip.clone(),
        });
        networking.endpoints_config.insert(
            f.network.clone().unwrap_or_else(|| "default".into()),
            berth_api_types::network::EndpointSettings {
                aliases: f.network_alias.clone(),
                ipam_config: ipam,
                links: endpoint_links,
                ..Default::default()
            },
        );
    }

    req.host_config = Some(h);
    req.networking_config = Some(networking);
    Ok(CreatePlan {
        request: req,
        name: f.name.clone().unwrap_or_default(),
        platform: f.platform.clone().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Cmd};
    use clap::Parser;

    fn plan(args: &[&str]) -> CreatePlan {
        let cli = Cli::try_parse_from(["berth", "run"].iter().chain(args.iter()).copied())
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let Some(Cmd::Run(run)) = cli.command else {
            panic!("not run")
        };
        build_create(&run.flags, run.detach, None).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn err(args: &[&str]) -> String {
        let cli = Cli::try_parse_from(["berth", "run"].iter().chain(args.iter()).copied()).unwrap();
        let Some(Cmd::Run(run)) = cli.command else {
            panic!("not run")
        };
        build_create(&run.flags, run.detach, None).unwrap_err().0
    }

    fn host(p: &CreatePlan) -> &HostConfig {
        p.request.host_config.as_ref().unwrap()
    }

    #[test]
    fn env_from_flags_and_files_in_docker_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("env");
        std::fs::write(&file, "# comment\n\nFROM_FILE=1\n  SPACED=two words\n").unwrap();
        let p = plan(&[
            "--env-file",
            file.to_str().unwrap(),
            "-e",
            "A=B",
            "--env=C=D=E",
            "busybox",
        ]);
        assert_eq!(
            p.request.config.env,
            ["FROM_FILE=1", "SPACED=two words", "A=B", "C=D=E"]
        );
        assert!(err(&["--env-file", "/nonexistent/env", "busybox"]).contains("/nonexistent/env"));
    }

    #[test]
    fn resources_map_to_host_config() {
        let p = plan(&[
            "--memory",
            "512m",
            "--cpus",
            "1.5",
            "--memory-swap=-1",
            "--pids-limit",
            "100",
            "-c",
            "512",
            "--ulimit",
            "nofile=1024:2048",
            "--ulimit",
            "nproc=64",
            "busybox",
        ]);
        let r = &host(&p).resources;
        assert_eq!(r.memory, 536_870_912);
        assert_eq!(r.nano_cpus, 1_500_000_000);
        assert_eq!(r.memory_swap, -1);
        assert_eq!(r.pids_limit, Some(100));
        assert_eq!(r.cpu_shares, 512);
        assert_eq!(
            r.ulimits,
            [
                Ulimit {
                    name: "nofile".into(),
                    soft: 1024,
                    hard: 2048
                },
                Ulimit {
                    name: "nproc".into(),
                    soft: 64,
                    hard: 64
                }
            ]
        );
        assert!(err(&["--memory", "lots", "busybox"]).contains("invalid size: 'lots'"));
    }

    #[test]
    fn endpoint_settings_go_where_docker_puts_them() {
        let endpoints = |p: &CreatePlan| {
            p.request
                .networking_config
                .as_ref()
                .unwrap()
                .endpoints_config
                .clone()
        };
        let p = plan(&[
            "--link-local-ip",
            "169.254.1.1",
            "--link-local-ip",
            "fe80::1",
            "busybox",
        ]);
        let eps = endpoints(&p);
        let ipam = eps["default"].ipam_config.as_ref().unwrap();
        assert_eq!(ipam.link_local_ips, ["169.254.1.1", "fe80::1"]);
        assert_eq!(ipam.ipv4_address, "");
        let p = plan(&["--network", "un", "--ip", "10.1.0.9", "busybox"]);
        let ipam = endpoints(&p)["un"].ipam_config.clone().unwrap();
        assert_eq!(
            (ipam.ipv4_address.as_str(), ipam.link_local_ips.len()),
            ("10.1.0.9", 0)
        );
        assert!(endpoints(&plan(&["busybox"])).is_empty());
        // --link: the endpoint's on a user-defined network only, as the docker CLI.
        let p = plan(&["--network", "un", "--link", "db:store", "busybox"]);
        assert_eq!(endpoints(&p)["un"].links, ["db:store"]);
        assert_eq!(host(&p).links, ["db:store"]);
        for net in ["bridge", "default", "none"] {
            let p = plan(&["--network", net, "--link", "db:store", "busybox"]);
            assert!(endpoints(&p).is_empty(), "{net}");
        }
        assert!(endpoints(&plan(&["--link", "db", "busybox"])).is_empty());
    }

    #[test]
    fn restart_policies() {
        let p = plan(&["--restart", "on-failure:3", "busybox"]);
        assert_eq!(
            host(&p).restart_policy,
            RestartPolicy {
                name: "on-failure".into(),
                maximum_retry_count: 3
            }
        );
        assert_eq!(host(&plan(&["busybox"])).restart_policy.name, "no");
        assert_eq!(
            host(&plan(&["--restart=always", "busybox"]))
                .restart_policy
                .name,
            "always"
        );
        assert!(err(&["--restart", "sometimes", "busybox"]).contains("invalid restart policy"));
        assert_eq!(
            err(&["--rm", "--restart", "always", "busybox"]),
            "Conflicting options: --restart and --rm"
        );
    }

    #[test]
    fn entrypoint_empty_string_resets_it() {
        assert_eq!(
            plan(&["--entrypoint", "", "busybox"])
                .request
                .config
                .entrypoint,
            Some(vec![String::new()])
        );
        assert_eq!(
            plan(&["--entrypoint=/bin/sh", "busybox"])
                .request
                .config
                .entrypoint,
            Some(vec!["/bin/sh".into()])
        );
        assert_eq!(plan(&["busybox"]).request.config.entrypoint, None);
        // The JSON carries [""] (not null) so the daemon clears the image's.
        let json = serde_json::to_value(&plan(&["--entrypoint", "", "busybox"]).request).unwrap();
        assert_eq!(json["Entrypoint"], serde_json::json!([""]));
    }

    #[test]
    fn security_opts_inline_seccomp_files() {
        let p = plan(&[
            "--security-opt",
            "seccomp=unconfined",
            "--security-opt",
            "no-new-privileges",
            "busybox",
        ]);
        assert_eq!(
            host(&p).security_opt,
            ["seccomp=unconfined", "no-new-privileges"]
        );
        let dir = tempfile::tempdir().unwrap();
        let prof = dir.path().join("p.json");
        std::fs::write(&prof, "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n").unwrap();
        let p = plan(&[
            "--security-opt",
            &format!("seccomp={}", prof.display()),
            "busybox",
        ]);
        assert_eq!(
            host(&p).security_opt,
            [r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#]
        );
        assert!(
            err(&["--security-opt", "seccomp=/nonexistent.json", "busybox"])
                .starts_with("opening seccomp profile (/nonexistent.json) failed")
        );
    }

    #[test]
    fn mounts_parse_as_docker_parses_them() {
        let m = parse_mount("type=bind,src=/srv,dst=/data,ro,bind-propagation=rshared").unwrap();
        assert_eq!(
            (m.kind.as_str(), m.source.as_str(), m.target.as_str()),
            ("bind", "/srv", "/data")
        );
        assert!(m.read_only);
        assert_eq!(m.bind_options.unwrap().propagation, "rshared");
        let m = parse_mount(
            "target=/v,source=vol,volume-nocopy,volume-label=a=b,volume-opt=type=tmpfs,volume-opt=device=tmpfs,readonly=false",
        )
        .unwrap();
        assert_eq!(m.kind, "volume", "volume is the default type");
        assert!(!m.read_only);
        let v = m.volume_options.unwrap();
        assert!(v.no_copy);
        assert_eq!(v.labels["a"], "b");
        assert_eq!(v.driver_config.unwrap().options["type"], "tmpfs");
        let m = parse_mount("type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1770").unwrap();
        let t = m.tmpfs_options.unwrap();
        assert_eq!((t.size_bytes, t.mode), (64 << 20, 0o1770));
        let m = parse_mount(r#"type=bind,"source=/a,b",target=/c"#).unwrap();
        assert_eq!(m.source, "/a,b");
        let merr = |s: &str| parse_mount(s).unwrap_err().0;
        assert_eq!(merr("type=bind,src=/a"), "target is required");
        assert_eq!(
            merr("type=bind,bogus,target=/x"),
            "invalid field 'bogus' must be a key=value pair"
        );
        assert_eq!(
            merr("type=bind,what=1,target=/x"),
            "unexpected key 'what' in 'what=1'"
        );
        assert_eq!(
            merr("type=bind,src=/a,target=/x,volume-nocopy"),
            "cannot mix 'volume-*' options with mount type 'bind'"
        );
        assert_eq!(
            merr("type=volume,target=/x,ro=maybe"),
            "invalid value for ro: maybe"
        );
        let p = plan(&["--mount", "type=tmpfs,target=/t", "busybox"]);
        assert_eq!(host(&p).mounts.len(), 1);
        let e = err(&["--mount", "type=bind", "busybox"]);
        assert!(
            e.contains("invalid argument \"type=bind\" for \"--mount\" flag: target is required"),
            "{e}"
        );
    }

    #[test]
    fn tmpfs_devices_and_sysctls() {
        let p = plan(&[
            "--tmpfs",
            "/run:size=64m",
            "--tmpfs",
            "/tmp",
            "--device",
            "/dev/fuse",
            "--device",
            "/dev/sda:/dev/xvda:r",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "busybox",
        ]);
        let h = host(&p);
        assert_eq!(h.tmpfs.get("/run").map(String::as_str), Some("size=64m"));
        assert_eq!(h.tmpfs.get("/tmp").map(String::as_str), Some(""));
        assert_eq!(
            h.resources.devices,
            [
                DeviceMapping {
                    path_on_host: "/dev/fuse".into(),
                    path_in_container: "/dev/fuse".into(),
                    cgroup_permissions: "rwm".into()
                },
                DeviceMapping {
                    path_on_host: "/dev/sda".into(),
                    path_in_container: "/dev/xvda".into(),
                    cgroup_permissions: "r".into()
                },
            ]
        );
        assert_eq!(
            h.sysctls.get("net.ipv4.ip_forward").map(String::as_str),
            Some("1")
        );
    }

    #[test]
    fn trailing_command_keeps_its_flags_and_attach_defaults() {
        let p = plan(&[
            "-it", "--rm", "--name", "web", "busybox", "sh", "-c", "ls -l", "-e", "X",
        ]);
        let c = &p.request.config;
        assert_eq!(c.image, "busybox");
        assert_eq!(
            c.cmd,
            Some(vec![
                "sh".into(),
                "-c".into(),
                "ls -l".into(),
                "-e".into(),
                "X".into()
            ])
        );
        assert!(c.attach_stdin && c.attach_stdout && c.attach_stderr);
        assert!(c.open_stdin && c.stdin_once && c.tty);
        assert!(host(&p).auto_remove);
        assert_eq!(host(&p).network_mode, "default");
        assert_eq!(p.name, "web");
        let d = plan(&["-d", "busybox"]);
        assert!(!d.request.config.attach_stdout && !d.request.config.stdin_once);
        assert_eq!(d.request.config.cmd, None);
    }

    #[test]
    fn capabilities_are_normalised() {
        let caps = plan(&[
            "--cap-add",
            "net_admin",
            "--cap-add",
            "CAP_NET_ADMIN",
            "--cap-drop",
            "all",
            "busybox",
        ]);
        assert_eq!(host(&caps).cap_add, ["CAP_NET_ADMIN"]);
        assert_eq!(host(&caps).cap_drop, ["ALL"]);
    }

    #[test]
    fn labels_health_ports_and_volumes() {
        let p = plan(&[
            "-l",
            "a=b",
            "--label",
            "flag",
            "--health-cmd",
            "true",
            "--health-interval",
            "10s",
            "--health-retries",
            "3",
            "-p",
            "127.0.0.1:8080:80",
            "-p",
            "53/udp",
            "-v",
            "/srv:/data:ro",
            "-v",
            "/cache",
            "--stop-timeout",
            "5",
            "busybox",
        ]);
        let c = &p.request.config;
        assert_eq!(c.labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(c.labels.get("flag").map(String::as_str), Some(""));
        let hc = c.healthcheck.as_ref().unwrap();
        assert_eq!(hc.test, ["CMD-SHELL", "true"]);
        assert_eq!(hc.interval, 10_000_000_000);
        assert_eq!(hc.retries, 3);
        assert!(c.exposed_ports.contains_key("80/tcp") && c.exposed_ports.contains_key("53/udp"));
        let b = host(&p)
            .port_bindings
            .get("80/tcp")
            .unwrap()
            .as_ref()
            .unwrap();
        assert_eq!(
            (b[0].host_ip.as_str(), b[0].host_port.as_str()),
            ("127.0.0.1", "8080")
        );
        assert_eq!(host(&p).binds, ["/srv:/data:ro"]);
        assert!(c.volumes.as_ref().unwrap().contains_key("/cache"));
        assert_eq!(c.stop_timeout, Some(5));
        let none = plan(&["--no-healthcheck", "busybox"]);
        assert_eq!(none.request.config.healthcheck.unwrap().test, ["NONE"]);
    }
}
