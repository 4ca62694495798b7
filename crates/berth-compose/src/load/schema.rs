//! Which keys a compose file may hold (the Compose Specification's schema, plus the
//! version-2 keys): an unknown key — usually a typo — is refused, naming it. `x-`
//! extension keys are allowed wherever the specification allows them. Types are
//! checked later, as values are normalised.

use serde_json::{Map, Value};

use super::{include, Fault};

const TOP: &[&str] = &[
    "version", "name", "include", "services", "networks", "volumes", "secrets", "configs",
];

const SERVICE: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "build",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "label_file",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "profiles",
    "pull_policy",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
    "volume_driver",
    "working_dir",
];

const BUILD: &[&str] = &[
    "context",
    "dockerfile",
    "dockerfile_inline",
    "args",
    "ssh",
    "labels",
    "cache_from",
    "cache_to",
    "no_cache",
    "additional_contexts",
    "network",
    "pull",
    "target",
    "shm_size",
    "extra_hosts",
    "isolation",
    "privileged",
    "secrets",
    "tags",
    "ulimits",
    "platforms",
    "entitlements",
    "provenance",
    "sbom",
];
const HEALTHCHECK: &[&str] = &[
    "test",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "start_interval",
    "disable",
];
const DEPLOY: &[&str] = &[
    "mode",
    "endpoint_mode",
    "replicas",
    "labels",
    "rollback_config",
    "update_config",
    "resources",
    "restart_policy",
    "placement",
];
const RESOURCES: &[&str] = &["limits", "reservations"];
const LIMITS: &[&str] = &["cpus", "memory", "pids", "devices", "generic_resources"];
const LOGGING: &[&str] = &["driver", "options"];
const DEPENDS: &[&str] = &["condition", "restart", "required"];
const SVC_NETWORK: &[&str] = &[
    "aliases",
    "ipv4_address",
    "ipv6_address",
    "link_local_ips",
    "mac_address",
    "driver_opts",
    "priority",
    "gw_priority",
    "interface_name",
];
const PORT: &[&str] = &[
    "name",
    "target",
    "published",
    "host_ip",
    "protocol",
    "mode",
    "app_protocol",
];
const VOLUME_MOUNT: &[&str] = &[
    "type",
    "source",
    "target",
    "read_only",
    "consistency",
    "bind",
    "volume",
    "tmpfs",
    "image",
];
const EXTENDS: &[&str] = &["service", "file"];
const NETWORK: &[&str] = &[
    "name",
    "driver",
    "driver_opts",
    "ipam",
    "external",
    "internal",
    "enable_ipv4",
    "enable_ipv6",
    "attachable",
    "labels",
];
const VOLUME: &[&str] = &["name", "driver", "driver_opts", "external", "labels"];
const FILE_OBJECT: &[&str] = &[
    "name",
    "file",
    "environment",
    "content",
    "external",
    "labels",
    "driver",
    "driver_opts",
    "template_driver",
];

/// Refuses keys of `m` outside `allowed` (and `x-…`).
pub(super) fn keys(m: &Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), Fault> {
    for k in m.keys() {
        if !allowed.contains(&k.as_str()) && !k.starts_with("x-") {
            let key = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            return Err(Fault::new(
                key,
                "unknown key (not in the Compose Specification)",
            ));
        }
    }
    Ok(())
}

fn obj(v: Option<&Value>) -> Option<&Map<String, Value>> {
    v.and_then(Value::as_object)
}

/// Checks one file's tree (as parsed, interpolated).
pub fn check_file(tree: &Value) -> Result<(), Fault> {
    let Some(top) = tree.as_object() else {
        return Err(Fault::new(
            "",
            "a compose file must be a mapping at its top level",
        ));
    };
    keys(top, TOP, "")?;
    if let Some(i) = top.get("include") {
        include::entries(i)?;
    }
    if let Some(s) = top.get("services") {
        let Some(services) = s.as_object() else {
            return Err(Fault::new("services", "must be a mapping"));
        };
        for (name, svc) in services {
            check_service(svc, &format!("services.{name}"))?;
        }
    }
    for (section, allowed) in [
        ("networks", NETWORK),
        ("volumes", VOLUME),
        ("secrets", FILE_OBJECT),
        ("configs", FILE_OBJECT),
    ] {
        match top.get(section) {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (name, def) in m {
                    match def {
                        Value::Null => {}
                        Value::Object(d) => keys(d, allowed, &format!("{section}.{name}"))?,
                        _ => {
                            return Err(Fault::new(
                                format!("{section}.{name}"),
                                "must be a mapping",
                            ))
                        }
                    }
                }
            }
            Some(_) => return Err(Fault::new(section, "must be a mapping")),
        }
    }
    Ok(())
}

/// Checks one service (`at` is `services.NAME`).
pub fn check_service(svc: &Value, at: &str) -> Result<(), Fault> {
    let s = match svc {
        Value::Null => return Ok(()),
        Value::Object(s) => s,
        _ => return Err(Fault::new(at, "must be a mapping")),
    };
    keys(s, SERVICE, at)?;
    if let Some(b) = obj(s.get("build")) {
        keys(b, BUILD, &format!("{at}.build"))?;
    }
    if let Some(h) = obj(s.get("healthcheck")) {
        keys(h, HEALTHCHECK, &format!("{at}.healthcheck"))?;
    }
    if let Some(l) = obj(s.get("logging")) {
        keys(l, LOGGING, &format!("{at}.logging"))?;
    }
    if let Some(e) = obj(s.get("extends")) {
        keys(e, EXTENDS, &format!("{at}.extends"))?;
    }
    if let Some(d) = obj(s.get("deploy")) {
        keys(d, DEPLOY, &format!("{at}.deploy"))?;
        if let Some(r) = obj(d.get("resources")) {
            keys(r, RESOURCES, &format!("{at}.deploy.resources"))?;
            for part in RESOURCES {
                if let Some(l) = obj(r.get(*part)) {
                    keys(l, LIMITS, &format!("{at}.deploy.resources.{part}"))?;
                }
            }
        }
    }
    if let Some(d) = obj(s.get("depends_on")) {
        for (name, dep) in d {
            if let Some(dep) = dep.as_object() {
                keys(dep, DEPENDS, &format!("{at}.depends_on.{name}"))?;
            }
        }
    }
    if let Some(n) = obj(s.get("networks")) {
        for (name, net) in n {
            if let Some(net) = net.as_object() {
                keys(net, SVC_NETWORK, &format!("{at}.networks.{name}"))?;
            }
        }
    }
    for (list, allowed) in [("ports", PORT), ("volumes", VOLUME_MOUNT)] {
        if let Some(Value::Array(items)) = s.get(list) {
            for (i, item) in items.iter().enumerate() {
                if let Some(m) = item.as_object() {
                    keys(m, allowed, &format!("{at}.{list}[{i}]"))?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typos_are_named() {
        let t = json!({"services": {"web": {"image": "x", "enviroment": []}}});
        assert_eq!(check_file(&t).unwrap_err().key, "services.web.enviroment");
        let t = json!({"servics": {}});
        assert_eq!(check_file(&t).unwrap_err().key, "servics");
        let t = json!({"services": {"web": {"healthcheck": {"intervl": "1s"}}}});
        assert_eq!(
            check_file(&t).unwrap_err().key,
            "services.web.healthcheck.intervl"
        );
    }

    #[test]
    fn extensions_pass() {
        let t = json!({"x-a": 1, "services": {"web": {"x-b": 2, "image": "x"}}, "networks": {"n": {"x-c": 3}}});
        assert!(check_file(&t).is_ok());
    }
}
