//! The keys of the Compose Specification berth reads but cannot honour. Where a key
//! would change what a container or an image is, it is refused, naming the key and
//! why; where docker compose on Linux ignores it too (Windows-only settings, keys for
//! tools berth does not have), it is ignored with a warning. Nothing is dropped
//! silently. docs/compose.md lists every decision.

use serde_json::{Map, Value};

use super::values;
use super::Fault;

/// Service keys that cannot be honoured: (key, why).
const REFUSED_SERVICE: &[(&str, &str)] = &[(
    "gpus",
    "GPU device requests need a device driver, such as NVIDIA's container toolkit, which berth does not have",
)];

/// `services.X.networks.N` keys that cannot be honoured (when not their default).
const REFUSED_SERVICE_NETWORK: &[(&str, &str)] = &[
    (
        "gw_priority",
        "berth's endpoints have no gateway priority (Engine API 1.48); the container's default gateway is its first network's",
    ),
    (
        "interface_name",
        "berth names a container's interfaces eth0, eth1, … in the order it joins networks",
    ),
];

/// `build` keys berth's builder (the classic one, through `berth build`) has no
/// counterpart for.
const REFUSED_BUILD: &[(&str, &str)] = &[
    ("ssh", "berth's builder forwards no SSH agent or keys"),
    ("cache_to", "berth's builder exports no build cache"),
    (
        "additional_contexts",
        "berth's builder takes one build context",
    ),
    (
        "isolation",
        "a Windows-only setting; Linux builds have the default isolation only",
    ),
    (
        "platforms",
        "berth's builder builds for this machine's platform only",
    ),
    (
        "entitlements",
        "berth's builder grants no entitlements (network.host, security.insecure)",
    ),
    ("provenance", "berth's builder writes no attestations"),
    ("sbom", "berth's builder writes no attestations"),
];

/// Service keys docker compose on Linux ignores, and so does berth, with a warning.
const IGNORED_SERVICE: &[(&str, &str)] = &[
    (
        "cpu_count",
        "a Windows-only setting (use cpus or cpu_quota on Linux)",
    ),
    (
        "cpu_percent",
        "a Windows-only setting (use cpus or cpu_quota on Linux)",
    ),
    ("credential_spec", "a Windows-only setting"),
    (
        "isolation",
        "a Windows-only setting; Linux containers have the default isolation only",
    ),
    (
        "develop",
        "it configures `compose watch`, which berth does not have",
    ),
];

fn refuse(m: &Map<String, Value>, at: &str, table: &[(&str, &str)]) -> Result<(), Fault> {
    for (key, why) in table {
        if m.get(*key).is_some_and(|v| !v.is_null()) {
            return Err(Fault::new(
                format!("{at}.{key}"),
                format!("{key} is not supported by berth ({why})"),
            ));
        }
    }
    Ok(())
}

/// Refuses the keys of service `m` (at `services.NAME`) that berth cannot honour.
pub fn service(m: &Map<String, Value>, at: &str) -> Result<(), Fault> {
    refuse(m, at, REFUSED_SERVICE)
}

/// Refuses what one of a service's networks (at `services.NAME.networks.N`) asks
/// that berth cannot honour; `gw_priority: 0` is the default, and passes.
pub fn service_network(m: &Map<String, Value>, at: &str) -> Result<(), Fault> {
    let mut m = m.clone();
    let key = format!("{at}.gw_priority");
    if values::opt_int(m.get("gw_priority"), &key)? == Some(0) {
        m.remove("gw_priority");
    }
    refuse(&m, at, REFUSED_SERVICE_NETWORK)
}

/// Refuses the build keys (at `services.NAME.build`) berth's builder cannot honour.
pub fn build(m: &Map<String, Value>, at: &str) -> Result<(), Fault> {
    refuse(m, at, REFUSED_BUILD)
}

/// A top-level network (at `networks.N`): IPv4 cannot be turned off.
pub fn network(m: &Map<String, Value>, at: &str) -> Result<(), Fault> {
    let key = format!("{at}.enable_ipv4");
    match values::opt_bool(m.get("enable_ipv4"), &key)? {
        Some(false) => Err(Fault::new(
            key,
            "enable_ipv4: false is not supported by berth (its bridge networks always have IPv4)",
        )),
        _ => Ok(()),
    }
}

/// The keys of service `svc` (at `services.NAME`) that are ignored: one warning
/// each, `FILE`-less (the loader names the file).
pub fn ignored(svc: &Value, at: &str) -> Vec<Fault> {
    let Some(m) = svc.as_object() else {
        return Vec::new();
    };
    IGNORED_SERVICE
        .iter()
        .filter(|(key, _)| m.get(*key).is_some_and(|v| !v.is_null()))
        .map(|(key, why)| Fault::new(format!("{at}.{key}"), *why))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().expect("a mapping").clone()
    }

    #[test]
    fn refusals_name_the_key_and_why() {
        let e = service(&obj(json!({"gpus": "all"})), "services.web").unwrap_err();
        assert_eq!(e.key, "services.web.gpus");
        assert!(e.message.starts_with("gpus is not supported by berth ("));
        assert!(service(&obj(json!({"gpus": null, "image": "x"})), "services.web").is_ok());
        let at = "services.web.networks.front";
        assert!(service_network(&obj(json!({"gw_priority": 0})), at).is_ok());
        let e = service_network(&obj(json!({"gw_priority": 10})), at).unwrap_err();
        assert_eq!(e.key, "services.web.networks.front.gw_priority");
        let e = service_network(&obj(json!({"gw_priority": "x"})), at).unwrap_err();
        assert!(e.message.contains("integer"), "{}", e.message);
        let e = build(
            &obj(json!({"platforms": ["linux/amd64"]})),
            "services.web.build",
        )
        .unwrap_err();
        assert_eq!(e.key, "services.web.build.platforms");
        assert!(network(&obj(json!({"enable_ipv4": true})), "networks.n").is_ok());
        let e = network(&obj(json!({"enable_ipv4": "false"})), "networks.n").unwrap_err();
        assert_eq!(e.key, "networks.n.enable_ipv4");
    }

    #[test]
    fn windows_and_tool_keys_are_ignored_with_a_warning_each() {
        let w = ignored(
            &json!({"cpu_count": 2, "isolation": "process", "develop": {}, "credential_spec": null}),
            "services.web",
        );
        let keys: Vec<&str> = w.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "services.web.cpu_count",
                "services.web.isolation",
                "services.web.develop"
            ]
        );
    }
}
