//! The merged, interpolated tree → the model: every short form into its long form,
//! paths absolute, sizes and durations numbers. Errors name the key at fault.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde_json::{Map, Value};

use super::values::{
    self, mapping, opt_bool, opt_bytes, opt_duration, opt_int, opt_string, string_list,
};
use super::{dotenv, mounts, paths, ports, schema, units, unsupported, Fault};
use crate::model::*;

/// What normalising needs besides the tree.
pub struct Ctx<'a> {
    pub project_dir: &'a Path,
    pub project_name: &'a str,
    /// The interpolation environment (process env over `.env`).
    pub env: &'a BTreeMap<String, String>,
    /// The environments of services an `include` brought in, which take the place
    /// of `env` for them.
    pub service_envs: &'a HashMap<String, Rc<BTreeMap<String, String>>>,
}

impl Ctx<'_> {
    fn home(&self) -> Option<PathBuf> {
        self.env.get("HOME").map(PathBuf::from)
    }

    fn resolve(&self, s: &str) -> String {
        paths::resolve(self.project_dir, self.home().as_deref(), s)
            .display()
            .to_string()
    }
}

/// The model's parts, before profiles split the services.
pub struct Normalised {
    pub services: BTreeMap<String, Service>,
    pub networks: BTreeMap<String, Network>,
    pub volumes: BTreeMap<String, Volume>,
    pub secrets: BTreeMap<String, FileObject>,
    pub configs: BTreeMap<String, FileObject>,
    /// Keys ignored with a warning (see [`unsupported::ignored`]).
    pub warnings: Vec<Fault>,
}

pub fn project(tree: &Value, ctx: &Ctx) -> Result<Normalised, Fault> {
    let empty = Map::new();
    let top = tree.as_object().unwrap_or(&empty);
    let mut services = BTreeMap::new();
    let mut warnings = Vec::new();
    if let Some(s) = mapping(top.get("services"), "services")? {
        for (name, svc) in s {
            warnings.extend(unsupported::ignored(svc, &format!("services.{name}")));
            let env = ctx.service_envs.get(name).map_or(ctx.env, |e| e);
            let ctx = &Ctx { env, ..*ctx };
            let mut svc = service(svc, &format!("services.{name}"), ctx)?;
            svc.name = name.clone();
            services.insert(name.clone(), svc);
        }
    }
    let mut networks = BTreeMap::new();
    if let Some(n) = mapping(top.get("networks"), "networks")? {
        for (key, def) in n {
            networks.insert(
                key.clone(),
                network(key, def, &format!("networks.{key}"), ctx)?,
            );
        }
    }
    let mut volumes = BTreeMap::new();
    if let Some(n) = mapping(top.get("volumes"), "volumes")? {
        for (key, def) in n {
            volumes.insert(
                key.clone(),
                volume(key, def, &format!("volumes.{key}"), ctx)?,
            );
        }
    }
    let mut objects = [BTreeMap::new(), BTreeMap::new()];
    for (i, section) in ["secrets", "configs"].iter().enumerate() {
        if let Some(n) = mapping(top.get(*section), section)? {
            for (key, def) in n {
                objects[i].insert(
                    key.clone(),
                    file_object(key, def, &format!("{section}.{key}"), ctx)?,
                );
            }
        }
    }
    let [secrets, configs] = objects;
    Ok(Normalised {
        services,
        networks,
        volumes,
        secrets,
        configs,
        warnings,
    })
}

/// `external: true` or the legacy `external: {name: x}` → (external, name).
fn external(v: Option<&Value>, key: &str) -> Result<(bool, Option<String>), Fault> {
    match v {
        Some(Value::Object(m)) => Ok((true, opt_string(m.get("name"), &format!("{key}.name"))?)),
        other => Ok((opt_bool(other, key)?.unwrap_or(false), None)),
    }
}

fn daemon_name(ctx: &Ctx, key: &str, name: Option<String>, external: bool) -> String {
    match (name, external) {
        (Some(n), _) => n,
        (None, true) => key.to_owned(),
        (None, false) => format!("{}_{key}", ctx.project_name),
    }
}

fn network(key: &str, def: &Value, at: &str, ctx: &Ctx) -> Result<Network, Fault> {
    let empty = Map::new();
    let m = mapping(Some(def), at)?.unwrap_or(&empty);
    let k = |s: &str| format!("{at}.{s}");
    unsupported::network(m, at)?;
    let (ext, ext_name) = external(m.get("external"), &k("external"))?;
    let name = opt_string(m.get("name"), &k("name"))?.or(ext_name);
    let ipam = match mapping(m.get("ipam"), &k("ipam"))? {
        None => None,
        Some(i) => {
            let mut config = Vec::new();
            if let Some(v) = i.get("config") {
                let Value::Array(pools) = v else {
                    return Err(Fault::new(k("ipam.config"), "must be a list"));
                };
                for (n, p) in pools.iter().enumerate() {
                    let pk = format!("{at}.ipam.config[{n}]");
                    let empty = Map::new();
                    let p = mapping(Some(p), &pk)?.unwrap_or(&empty);
                    config.push(IpamPool {
                        subnet: opt_string(p.get("subnet"), &format!("{pk}.subnet"))?,
                        ip_range: opt_string(p.get("ip_range"), &format!("{pk}.ip_range"))?,
                        gateway: opt_string(p.get("gateway"), &format!("{pk}.gateway"))?,
                        aux_addresses: values::string_map(
                            p.get("aux_addresses"),
                            &format!("{pk}.aux_addresses"),
                        )?,
                    });
                }
            }
            Some(Ipam {
                driver: opt_string(i.get("driver"), &k("ipam.driver"))?,
                config,
                options: values::string_map(i.get("options"), &k("ipam.options"))?,
            })
        }
    };
    Ok(Network {
        name: daemon_name(ctx, key, name, ext),
        driver: opt_string(m.get("driver"), &k("driver"))?,
        driver_opts: values::string_map(m.get("driver_opts"), &k("driver_opts"))?,
        external: ext,
        internal: opt_bool(m.get("internal"), &k("internal"))?.unwrap_or(false),
        attachable: opt_bool(m.get("attachable"), &k("attachable"))?.unwrap_or(false),
        enable_ipv6: opt_bool(m.get("enable_ipv6"), &k("enable_ipv6"))?.unwrap_or(false),
        ipam,
        labels: values::string_map(m.get("labels"), &k("labels"))?,
    })
}

fn volume(key: &str, def: &Value, at: &str, ctx: &Ctx) -> Result<Volume, Fault> {
    let empty = Map::new();
    let m = mapping(Some(def), at)?.unwrap_or(&empty);
    let k = |s: &str| format!("{at}.{s}");
    let (ext, ext_name) = external(m.get("external"), &k("external"))?;
    let name = opt_string(m.get("name"), &k("name"))?.or(ext_name);
    Ok(Volume {
        name: daemon_name(ctx, key, name, ext),
        driver: opt_string(m.get("driver"), &k("driver"))?,
        driver_opts: values::string_map(m.get("driver_opts"), &k("driver_opts"))?,
        external: ext,
        labels: values::string_map(m.get("labels"), &k("labels"))?,
    })
}

fn file_object(key: &str, def: &Value, at: &str, ctx: &Ctx) -> Result<FileObject, Fault> {
    let empty = Map::new();
    let m = mapping(Some(def), at)?.unwrap_or(&empty);
    let k = |s: &str| format!("{at}.{s}");
    let (ext, ext_name) = external(m.get("external"), &k("external"))?;
    let name = opt_string(m.get("name"), &k("name"))?.or(ext_name);
    let file = opt_string(m.get("file"), &k("file"))?.map(|f| PathBuf::from(ctx.resolve(&f)));
    let environment = opt_string(m.get("environment"), &k("environment"))?;
    let content = opt_string(m.get("content"), &k("content"))?;
    let sources = [
        file.is_some(),
        environment.is_some(),
        content.is_some(),
        ext,
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if sources != 1 {
        return Err(Fault::new(
            at,
            "needs exactly one of file, environment, content or external",
        ));
    }
    let value = match (&environment, &content) {
        (Some(var), _) => ctx.env.get(var).cloned(),
        (_, Some(c)) => Some(c.clone()),
        _ => None,
    };
    Ok(FileObject {
        name: daemon_name(ctx, key, name, ext),
        file,
        environment,
        content,
        value,
        external: ext,
    })
}

fn command(v: Option<&Value>, key: &str) -> Result<Option<Vec<String>>, Fault> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => units::shell_split(s)
            .map(Some)
            .map_err(|e| Fault::new(key, e)),
        Some(Value::Array(_)) => string_list(v, key).map(Some),
        Some(_) => Err(Fault::new(key, "must be a string or a list")),
    }
}

fn with_env(m: BTreeMap<String, Option<String>>, ctx: &Ctx) -> BTreeMap<String, Option<String>> {
    m.into_iter()
        .map(|(k, v)| {
            let v = v.or_else(|| ctx.env.get(&k).cloned());
            (k, v)
        })
        .collect()
}

/// `env_file` and `label_file` (`name`): variables from files in the dotenv
/// format, later files over earlier ones. Only `env_file` takes the long form
/// `{path, required}`.
fn var_files(
    v: Option<&Value>,
    at: &str,
    name: &str,
    ctx: &Ctx,
) -> Result<BTreeMap<String, String>, Fault> {
    let mut out = BTreeMap::new();
    let items = match v {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    };
    let what = name.replace('_', " ");
    for (i, item) in items.iter().enumerate() {
        let key = format!("{at}.{name}[{i}]");
        let (path, required) = match item {
            Value::String(s) => (s.clone(), true),
            Value::Object(m) if name == "env_file" => (
                opt_string(m.get("path"), &format!("{key}.path"))?
                    .ok_or_else(|| Fault::new(format!("{key}.path"), "is required"))?,
                opt_bool(m.get("required"), &format!("{key}.required"))?.unwrap_or(true),
            ),
            _ if name == "env_file" => return Err(Fault::new(key, "must be a path or a mapping")),
            _ => return Err(Fault::new(key, "must be a path")),
        };
        let file = ctx.resolve(&path);
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(e) => return Err(Fault::new(key, format!("{what} {file}: {e}"))),
        };
        let lookup = |k: &str| ctx.env.get(k).cloned();
        let vars = dotenv::parse(&text, &lookup)
            .map_err(|e| Fault::new(&key, format!("{what} {file}: {e}")))?;
        out.extend(vars);
    }
    Ok(out)
}

fn build(v: &Value, at: &str, ctx: &Ctx) -> Result<Build, Fault> {
    let m = mapping(Some(v), at)?.ok_or_else(|| Fault::new(at, "must be a path or a mapping"))?;
    let k = |s: &str| format!("{at}.{s}");
    unsupported::build(m, at)?;
    let context = opt_string(m.get("context"), &k("context"))?.unwrap_or_else(|| ".".into());
    let context = if paths::is_remote_context(&context) {
        context
    } else {
        ctx.resolve(&context)
    };
    Ok(Build {
        context,
        dockerfile: opt_string(m.get("dockerfile"), &k("dockerfile"))?
            .unwrap_or_else(|| "Dockerfile".into()),
        dockerfile_inline: opt_string(m.get("dockerfile_inline"), &k("dockerfile_inline"))?,
        args: with_env(values::optional_map(m.get("args"), &k("args"))?, ctx),
        target: opt_string(m.get("target"), &k("target"))?,
        labels: values::string_map(m.get("labels"), &k("labels"))?,
        cache_from: string_list(m.get("cache_from"), &k("cache_from"))?,
        network: opt_string(m.get("network"), &k("network"))?,
        extra_hosts: extra_hosts(m.get("extra_hosts"), &k("extra_hosts"))?,
        shm_size: opt_bytes(m.get("shm_size"), &k("shm_size"))?,
        pull: opt_bool(m.get("pull"), &k("pull"))?.unwrap_or(false),
        no_cache: opt_bool(m.get("no_cache"), &k("no_cache"))?.unwrap_or(false),
        tags: string_list(m.get("tags"), &k("tags"))?,
    })
}

fn extra_hosts(v: Option<&Value>, key: &str) -> Result<Vec<String>, Fault> {
    let mut out = Vec::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (host, ips) in m {
                let hk = format!("{key}.{host}");
                let ips = match ips {
                    Value::Array(_) => string_list(Some(ips), &hk)?,
                    other => vec![values::string(other, &hk)?],
                };
                for ip in ips {
                    out.push(format!("{host}:{ip}"));
                }
            }
        }
        Some(Value::Array(items)) => {
            for (i, it) in items.iter().enumerate() {
                let s = values::string(it, &format!("{key}[{i}]"))?;
                match s.split_once(['=', ':']) {
                    Some((h, ip)) => out.push(format!("{h}:{ip}")),
                    None => {
                        return Err(Fault::new(
                            format!("{key}[{i}]"),
                            format!("{s:?} is not host:ip"),
                        ))
                    }
                }
            }
        }
        Some(_) => return Err(Fault::new(key, "must be a mapping or a list")),
    }
    Ok(out)
}

fn file_refs(v: Option<&Value>, key: &str, secrets: bool) -> Result<Vec<FileReference>, Fault> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = v else {
        return Err(Fault::new(key, "must be a list"));
    };
    let default_target = |name: &str| {
        if secrets {
            format!("/run/secrets/{name}")
        } else {
            format!("/{name}")
        }
    };
    let mut out: Vec<FileReference> = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let ik = format!("{key}[{i}]");
        let r = match it {
            Value::String(s) => FileReference {
                source: s.clone(),
                target: default_target(s),
                ..Default::default()
            },
            Value::Object(m) => {
                let k = |s: &str| format!("{ik}.{s}");
                let source = opt_string(m.get("source"), &k("source"))?
                    .ok_or_else(|| Fault::new(k("source"), "is required"))?;
                let target = match opt_string(m.get("target"), &k("target"))? {
                    None => default_target(&source),
                    Some(t) if t.starts_with('/') => t,
                    Some(t) => default_target(&t),
                };
                FileReference {
                    source,
                    target,
                    uid: opt_string(m.get("uid"), &k("uid"))?,
                    gid: opt_string(m.get("gid"), &k("gid"))?,
                    mode: values::opt_mode(m.get("mode"), &k("mode"))?,
                }
            }
            _ => return Err(Fault::new(ik, "must be a name or a mapping")),
        };
        match out.iter().position(|o| o.target == r.target) {
            Some(p) => out[p] = r,
            None => out.push(r),
        }
    }
    Ok(out)
}

fn healthcheck(v: &Value, at: &str) -> Result<Healthcheck, Fault> {
    let m = mapping(Some(v), at)?.ok_or_else(|| Fault::new(at, "must be a mapping"))?;
    let k = |s: &str| format!("{at}.{s}");
    let disabled = opt_bool(m.get("disable"), &k("disable"))?.unwrap_or(false);
    let test = if disabled {
        vec!["NONE".to_owned()]
    } else {
        match m.get("test") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec!["CMD-SHELL".to_owned(), s.clone()],
            Some(t @ Value::Array(_)) => {
                let t = string_list(Some(t), &k("test"))?;
                match t.first().map(String::as_str) {
                    Some("NONE" | "CMD" | "CMD-SHELL") | None => t,
                    Some(other) => {
                        return Err(Fault::new(
                            k("test"),
                            format!("must start with CMD, CMD-SHELL or NONE, not {other:?}"),
                        ))
                    }
                }
            }
            Some(_) => return Err(Fault::new(k("test"), "must be a string or a list")),
        }
    };
    Ok(Healthcheck {
        test,
        interval: opt_duration(m.get("interval"), &k("interval"))?,
        timeout: opt_duration(m.get("timeout"), &k("timeout"))?,
        retries: opt_int(m.get("retries"), &k("retries"))?
            .map(|r| u64::try_from(r).map_err(|_| Fault::new(k("retries"), "must not be negative")))
            .transpose()?,
        start_period: opt_duration(m.get("start_period"), &k("start_period"))?,
        start_interval: opt_duration(m.get("start_interval"), &k("start_interval"))?,
    })
}

fn check_restart(r: &str, key: &str) -> Result<(), Fault> {
    let ok = match r.split_once(':') {
        Some(("on-failure", n)) => n.parse::<u32>().is_ok(),
        Some(_) => false,
        None => matches!(r, "no" | "always" | "on-failure" | "unless-stopped"),
    };
    if ok {
        Ok(())
    } else {
        Err(Fault::new(
            key,
            format!("invalid restart policy {r:?} (no, always, on-failure[:N], unless-stopped)"),
        ))
    }
}

fn service(v: &Value, at: &str, ctx: &Ctx) -> Result<Service, Fault> {
    let empty = Map::new();
    let m = mapping(Some(v), at)?.unwrap_or(&empty);
    let k = |s: &str| format!("{at}.{s}");
    let s_ = |n: &str| opt_string(m.get(n), &k(n));
    let list = |n: &str| string_list(m.get(n), &k(n));
    let flag = |n: &str| opt_bool(m.get(n), &k(n)).map(|b| b.unwrap_or(false));
    unsupported::service(m, at)?;

    let mut environment: BTreeMap<String, Option<String>> =
        var_files(m.get("env_file"), at, "env_file", ctx)?
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect();
    environment.extend(with_env(
        values::optional_map(m.get("environment"), &k("environment"))?,
        ctx,
    ));

    let mut port_list: Vec<Port> = Vec::new();
    if let Some(p) = m.get("ports").filter(|p| !p.is_null()) {
        let Value::Array(items) = p else {
            return Err(Fault::new(k("ports"), "must be a list"));
        };
        for (i, it) in items.iter().enumerate() {
            for port in ports::parse_entry(it, &format!("{at}.ports[{i}]"))? {
                if !port_list.contains(&port) {
                    port_list.push(port);
                }
            }
        }
    }
    let mut expose: Vec<String> = Vec::new();
    if let Some(p) = m.get("expose").filter(|p| !p.is_null()) {
        let Value::Array(items) = p else {
            return Err(Fault::new(k("expose"), "must be a list"));
        };
        for (i, it) in items.iter().enumerate() {
            let e = ports::parse_expose(it, &format!("{at}.expose[{i}]"))?;
            if !expose.contains(&e) {
                expose.push(e);
            }
        }
    }
    let resolve = |s: &str| ctx.resolve(s);
    let mut volumes = Vec::new();
    if let Some(p) = m.get("volumes").filter(|p| !p.is_null()) {
        let Value::Array(items) = p else {
            return Err(Fault::new(k("volumes"), "must be a list"));
        };
        for (i, it) in items.iter().enumerate() {
            volumes.push(mounts::parse_entry(
                it,
                &format!("{at}.volumes[{i}]"),
                &resolve,
            )?);
        }
    }
    let mut networks = BTreeMap::new();
    if let Some(n) = mapping(m.get("networks"), &k("networks"))? {
        for (name, def) in n {
            let nk = format!("{at}.networks.{name}");
            let empty = Map::new();
            let d = mapping(Some(def), &nk)?.unwrap_or(&empty);
            unsupported::service_network(d, &nk)?;
            let link_local_ips =
                string_list(d.get("link_local_ips"), &format!("{nk}.link_local_ips"))?;
            for (i, ip) in link_local_ips.iter().enumerate() {
                if ip.parse::<std::net::IpAddr>().is_err() {
                    return Err(Fault::new(
                        format!("{nk}.link_local_ips[{i}]"),
                        format!("{ip:?} is not an IP address"),
                    ));
                }
            }
            networks.insert(
                name.clone(),
                ServiceNetwork {
                    aliases: string_list(d.get("aliases"), &format!("{nk}.aliases"))?,
                    ipv4_address: opt_string(d.get("ipv4_address"), &format!("{nk}.ipv4_address"))?,
                    ipv6_address: opt_string(d.get("ipv6_address"), &format!("{nk}.ipv6_address"))?,
                    priority: opt_int(d.get("priority"), &format!("{nk}.priority"))?,
                    link_local_ips,
                    mac_address: mac(d.get("mac_address"), &format!("{nk}.mac_address"))?,
                    driver_opts: values::string_map(
                        d.get("driver_opts"),
                        &format!("{nk}.driver_opts"),
                    )?,
                },
            );
        }
    }
    let mut depends_on = BTreeMap::new();
    if let Some(d) = mapping(m.get("depends_on"), &k("depends_on"))? {
        for (name, def) in d {
            let dk = format!("{at}.depends_on.{name}");
            let empty = Map::new();
            let d = mapping(Some(def), &dk)?.unwrap_or(&empty);
            let condition = match opt_string(d.get("condition"), &format!("{dk}.condition"))?.as_deref() {
                None | Some("service_started") => Condition::ServiceStarted,
                Some("service_healthy") => Condition::ServiceHealthy,
                Some("service_completed_successfully") => Condition::ServiceCompletedSuccessfully,
                Some(other) => {
                    return Err(Fault::new(
                        format!("{dk}.condition"),
                        format!("invalid condition {other:?} (service_started, service_healthy, service_completed_successfully)"),
                    ))
                }
            };
            depends_on.insert(
                name.clone(),
                Dependency {
                    condition,
                    restart: opt_bool(d.get("restart"), &format!("{dk}.restart"))?.unwrap_or(false),
                    required: opt_bool(d.get("required"), &format!("{dk}.required"))?
                        .unwrap_or(true),
                },
            );
        }
    }
    let restart = s_("restart")?;
    if let Some(r) = &restart {
        check_restart(r, &k("restart"))?;
    }
    let mut ulimits = BTreeMap::new();
    if let Some(u) = mapping(m.get("ulimits"), &k("ulimits"))? {
        for (name, def) in u {
            let uk = format!("{at}.ulimits.{name}");
            let lim = match def {
                Value::Object(l) => Ulimit {
                    soft: opt_int(l.get("soft"), &format!("{uk}.soft"))?
                        .ok_or_else(|| Fault::new(format!("{uk}.soft"), "is required"))?,
                    hard: opt_int(l.get("hard"), &format!("{uk}.hard"))?
                        .ok_or_else(|| Fault::new(format!("{uk}.hard"), "is required"))?,
                },
                other => {
                    let n = values::int(other, &uk)?;
                    Ulimit { soft: n, hard: n }
                }
            };
            ulimits.insert(name.clone(), lim);
        }
    }
    let logging = match mapping(m.get("logging"), &k("logging"))? {
        None => None,
        Some(l) => Some(Logging {
            driver: opt_string(l.get("driver"), &k("logging.driver"))?,
            options: values::string_map(l.get("options"), &k("logging.options"))?,
        }),
    };
    let devices = match m.get("devices") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for (i, it) in items.iter().enumerate() {
                let dk = format!("{at}.devices[{i}]");
                out.push(match it {
                    Value::Object(d) => {
                        let src = opt_string(d.get("source"), &format!("{dk}.source"))?
                            .ok_or_else(|| Fault::new(format!("{dk}.source"), "is required"))?;
                        let tgt = opt_string(d.get("target"), &format!("{dk}.target"))?
                            .unwrap_or_else(|| src.clone());
                        match opt_string(d.get("permissions"), &format!("{dk}.permissions"))? {
                            Some(p) => format!("{src}:{tgt}:{p}"),
                            None => format!("{src}:{tgt}"),
                        }
                    }
                    other => values::string(other, &dk)?,
                });
            }
            out
        }
        Some(_) => return Err(Fault::new(k("devices"), "must be a list")),
    };
    let (deploy, deploy_res) = match mapping(m.get("deploy"), &k("deploy"))? {
        None => (None, None),
        Some(d) => {
            let restart_policy =
                match mapping(d.get("restart_policy"), &k("deploy.restart_policy"))? {
                    None => None,
                    Some(r) => Some(RestartPolicy {
                        condition: opt_string(
                            r.get("condition"),
                            &k("deploy.restart_policy.condition"),
                        )?,
                        max_attempts: opt_int(
                            r.get("max_attempts"),
                            &k("deploy.restart_policy.max_attempts"),
                        )?
                        .map(|n| n.max(0) as u64),
                    }),
                };
            (
                Some(Deploy {
                    replicas: values::opt_u32(d.get("replicas"), &k("deploy.replicas"))?,
                    labels: values::string_map(d.get("labels"), &k("deploy.labels"))?,
                    restart_policy,
                }),
                mapping(d.get("resources"), &k("deploy.resources"))?,
            )
        }
    };
    let cpus = |v: Option<&Value>, key: &str| {
        v.filter(|v| !v.is_null())
            .map(|v| values::float(v, key))
            .transpose()
    };
    let mut resources = Resources {
        memory: opt_bytes(m.get("mem_limit"), &k("mem_limit"))?,
        memory_reservation: opt_bytes(m.get("mem_reservation"), &k("mem_reservation"))?,
        memory_swap: opt_bytes(m.get("memswap_limit"), &k("memswap_limit"))?,
        cpus: cpus(m.get("cpus"), &k("cpus"))?,
        cpu_shares: opt_int(m.get("cpu_shares"), &k("cpu_shares"))?,
        cpuset: s_("cpuset")?,
        pids_limit: opt_int(m.get("pids_limit"), &k("pids_limit"))?,
    };
    if let Some(r) = deploy_res {
        if let Some(l) = mapping(r.get("limits"), &k("deploy.resources.limits"))? {
            let lk = |s: &str| format!("{at}.deploy.resources.limits.{s}");
            if let Some(v) = opt_bytes(l.get("memory"), &lk("memory"))? {
                resources.memory = Some(v);
            }
            if let Some(v) = cpus(l.get("cpus"), &lk("cpus"))? {
                resources.cpus = Some(v);
            }
            if let Some(v) = opt_int(l.get("pids"), &lk("pids"))? {
                resources.pids_limit = Some(v);
            }
        }
        if let Some(l) = mapping(r.get("reservations"), &k("deploy.resources.reservations"))? {
            if let Some(v) = opt_bytes(l.get("memory"), &k("deploy.resources.reservations.memory"))?
            {
                resources.memory_reservation = Some(v);
            }
        }
    }
    let mut sysctls = values::string_map(m.get("sysctls"), &k("sysctls"))?;
    sysctls.retain(|k, _| !k.is_empty());
    // Labels from files, under the ones given explicitly.
    let mut labels = var_files(m.get("label_file"), at, "label_file", ctx)?;
    labels.extend(values::string_map(m.get("labels"), &k("labels"))?);
    let one_of = |n: &str, allowed: &[&str]| -> Result<Option<String>, Fault> {
        match s_(n)? {
            Some(v) if !allowed.contains(&v.as_str()) => Err(Fault::new(
                k(n),
                format!("invalid value {v:?} (use {})", allowed.join(" or ")),
            )),
            v => Ok(v),
        }
    };
    let device_cgroup_rules = list("device_cgroup_rules")?;
    for (i, rule) in device_cgroup_rules.iter().enumerate() {
        berth_types::device::DeviceCgroupRule::parse(rule).map_err(|form| {
            Fault::new(
                format!("{at}.device_cgroup_rules[{i}]"),
                format!("invalid device cgroup rule {rule:?}: {form}"),
            )
        })?;
    }

    let mut svc = Service {
        name: String::new(),
        profiles: list("profiles")?,
        image: s_("image")?,
        build: m
            .get("build")
            .filter(|b| !b.is_null())
            .map(|b| build(b, &k("build"), ctx))
            .transpose()?,
        pull_policy: s_("pull_policy")?,
        platform: s_("platform")?,
        container_name: s_("container_name")?,
        command: command(m.get("command"), &k("command"))?,
        entrypoint: command(m.get("entrypoint"), &k("entrypoint"))?,
        environment,
        ports: port_list,
        expose,
        volumes,
        volumes_from: list("volumes_from")?,
        tmpfs: list("tmpfs")?,
        networks,
        network_mode: s_("network_mode")?,
        links: list("links")?,
        depends_on,
        healthcheck: m
            .get("healthcheck")
            .filter(|h| !h.is_null())
            .map(|h| healthcheck(h, &k("healthcheck")))
            .transpose()?,
        restart,
        deploy,
        scale: values::opt_u32(m.get("scale"), &k("scale"))?,
        labels,
        user: s_("user")?,
        working_dir: s_("working_dir")?,
        hostname: s_("hostname")?,
        domainname: s_("domainname")?,
        extra_hosts: extra_hosts(m.get("extra_hosts"), &k("extra_hosts"))?,
        dns: list("dns")?,
        dns_search: list("dns_search")?,
        dns_opt: list("dns_opt")?,
        cap_add: list("cap_add")?,
        cap_drop: list("cap_drop")?,
        security_opt: list("security_opt")?,
        group_add: list("group_add")?,
        privileged: flag("privileged")?,
        read_only: flag("read_only")?,
        tty: flag("tty")?,
        stdin_open: flag("stdin_open")?,
        init: opt_bool(m.get("init"), &k("init"))?,
        ulimits,
        sysctls,
        devices,
        shm_size: opt_bytes(m.get("shm_size"), &k("shm_size"))?,
        pid: s_("pid")?,
        ipc: s_("ipc")?,
        stop_signal: s_("stop_signal")?,
        stop_grace_period: opt_duration(m.get("stop_grace_period"), &k("stop_grace_period"))?,
        logging,
        secrets: file_refs(m.get("secrets"), &k("secrets"), true)?,
        configs: file_refs(m.get("configs"), &k("configs"), false)?,
        attach: opt_bool(m.get("attach"), &k("attach"))?,
        blkio_config: blkio_config(m.get("blkio_config"), &k("blkio_config"))?,
        cgroup: one_of("cgroup", &["host", "private"])?,
        cgroup_parent: s_("cgroup_parent")?,
        cpu_period: opt_int(m.get("cpu_period"), &k("cpu_period"))?,
        cpu_quota: opt_int(m.get("cpu_quota"), &k("cpu_quota"))?,
        cpu_rt_period: values::opt_micros(m.get("cpu_rt_period"), &k("cpu_rt_period"))?,
        cpu_rt_runtime: values::opt_micros(m.get("cpu_rt_runtime"), &k("cpu_rt_runtime"))?,
        device_cgroup_rules,
        external_links: list("external_links")?,
        mac_address: mac(m.get("mac_address"), &k("mac_address"))?,
        mem_swappiness: values::opt_int_in(m.get("mem_swappiness"), &k("mem_swappiness"), 0..=100)?,
        oom_kill_disable: flag("oom_kill_disable")?,
        oom_score_adj: values::opt_int_in(
            m.get("oom_score_adj"),
            &k("oom_score_adj"),
            -1000..=1000,
        )?,
        post_start: hooks(m.get("post_start"), &k("post_start"), ctx)?,
        pre_stop: hooks(m.get("pre_stop"), &k("pre_stop"), ctx)?,
        runtime: s_("runtime")?,
        storage_opt: values::string_map(m.get("storage_opt"), &k("storage_opt"))?,
        userns_mode: one_of("userns_mode", &["host"])?,
        uts: one_of("uts", &["host"])?,
        volume_driver: s_("volume_driver")?,
        resources,
    };
    implicit_dependencies(&mut svc);
    Ok(svc)
}

/// A MAC address, as the daemon will check it (`berth_types::mac`).
fn mac(v: Option<&Value>, key: &str) -> Result<Option<String>, Fault> {
    let Some(s) = opt_string(v, key)? else {
        return Ok(None);
    };
    berth_types::mac::parse(&s).map_err(|e| Fault::new(key, e))?;
    Ok(Some(s))
}

const BLKIO: &[&str] = &[
    "weight",
    "weight_device",
    "device_read_bps",
    "device_write_bps",
    "device_read_iops",
    "device_write_iops",
];

/// A `blkio_config` list entry: its `path`, the entry, and its key.
type DeviceEntry<'a> = (String, &'a Map<String, Value>, String);

fn blkio_config(v: Option<&Value>, key: &str) -> Result<Option<BlkioConfig>, Fault> {
    let Some(m) = mapping(v, key)? else {
        return Ok(None);
    };
    schema::keys(m, BLKIO, key)?;
    let weight = |v: Option<&Value>, k: &str| -> Result<Option<u16>, Fault> {
        Ok(values::opt_int_in(v, k, 10..=1000)?.map(|w| w as u16))
    };
    // Each list entry is `{path, weight}` or `{path, rate}`.
    let entries = |name: &str| -> Result<Vec<DeviceEntry<'_>>, Fault> {
        let lk = format!("{key}.{name}");
        let items = match m.get(name) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(Fault::new(lk, "must be a list")),
        };
        let mut out = Vec::new();
        for (i, it) in items.iter().enumerate() {
            let ik = format!("{lk}[{i}]");
            let d = mapping(Some(it), &ik)?.ok_or_else(|| Fault::new(&ik, "must be a mapping"))?;
            let path = opt_string(d.get("path"), &format!("{ik}.path"))?
                .ok_or_else(|| Fault::new(format!("{ik}.path"), "is required"))?;
            out.push((path, d, ik));
        }
        Ok(out)
    };
    let mut weight_device = Vec::new();
    for (path, d, ik) in entries("weight_device")? {
        schema::keys(d, &["path", "weight"], &ik)?;
        let wk = format!("{ik}.weight");
        let weight = weight(d.get("weight"), &wk)?.ok_or_else(|| Fault::new(wk, "is required"))?;
        weight_device.push(WeightDevice { path, weight });
    }
    let throttle = |name: &str, bytes: bool| -> Result<Vec<ThrottleDevice>, Fault> {
        let mut out = Vec::new();
        for (path, d, ik) in entries(name)? {
            schema::keys(d, &["path", "rate"], &ik)?;
            let rk = format!("{ik}.rate");
            let rate = if bytes {
                opt_bytes(d.get("rate"), &rk)?
            } else {
                opt_int(d.get("rate"), &rk)?
            }
            .ok_or_else(|| Fault::new(&rk, "is required"))?;
            let rate = u64::try_from(rate).map_err(|_| Fault::new(&rk, "must not be negative"))?;
            out.push(ThrottleDevice { path, rate });
        }
        Ok(out)
    };
    Ok(Some(BlkioConfig {
        weight: weight(m.get("weight"), &format!("{key}.weight"))?,
        weight_device,
        device_read_bps: throttle("device_read_bps", true)?,
        device_write_bps: throttle("device_write_bps", true)?,
        device_read_iops: throttle("device_read_iops", false)?,
        device_write_iops: throttle("device_write_iops", false)?,
    }))
}

const HOOK: &[&str] = &[
    "command",
    "user",
    "privileged",
    "working_dir",
    "environment",
];

/// `post_start:` / `pre_stop:` — a list of commands to exec in the container.
fn hooks(v: Option<&Value>, key: &str, ctx: &Ctx) -> Result<Vec<Hook>, Fault> {
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Fault::new(key, "must be a list")),
    };
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let hk = format!("{key}[{i}]");
        let h = mapping(Some(it), &hk)?.ok_or_else(|| Fault::new(&hk, "must be a mapping"))?;
        schema::keys(h, HOOK, &hk)?;
        let k = |s: &str| format!("{hk}.{s}");
        let command = command(h.get("command"), &k("command"))?
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Fault::new(k("command"), "is required"))?;
        out.push(Hook {
            command,
            user: opt_string(h.get("user"), &k("user"))?,
            privileged: opt_bool(h.get("privileged"), &k("privileged"))?.unwrap_or(false),
            working_dir: opt_string(h.get("working_dir"), &k("working_dir"))?,
            environment: with_env(
                values::optional_map(h.get("environment"), &k("environment"))?,
                ctx,
            ),
        });
    }
    Ok(out)
}

/// `links`, `volumes_from` and `network_mode: service:X` order services as
/// `depends_on` does (docker compose adds them the same way).
fn implicit_dependencies(svc: &mut Service) {
    let mut names: Vec<String> = Vec::new();
    for l in &svc.links {
        names.push(l.split(':').next().unwrap_or(l).to_owned());
    }
    for v in &svc.volumes_from {
        if !v.starts_with("container:") {
            names.push(v.split(':').next().unwrap_or(v).to_owned());
        }
    }
    for mode in [&svc.network_mode, &svc.ipc, &svc.pid]
        .into_iter()
        .flatten()
    {
        if let Some(s) = mode.strip_prefix("service:") {
            names.push(s.to_owned());
        }
    }
    for n in names {
        svc.depends_on.entry(n).or_insert(Dependency {
            condition: Condition::ServiceStarted,
            restart: false,
            required: true,
        });
    }
}
