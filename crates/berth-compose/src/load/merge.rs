//! Overriding one file's tree with the next, by the Compose Specification's merge
//! rules. Before merging, each service is put into a canonical shape
//! ([`canonicalise_service`]) so that the list and mapping forms of the same key
//! merge by key.

use serde_json::{Map, Value};

use super::Fault;

/// Service keys whose list form (`K=V`) is merged by key as a mapping.
const KEYED_LISTS: &[&str] = &["environment", "labels", "sysctls", "annotations"];
/// Service keys where a single string is a one-entry list.
const STRING_OR_LIST: &[&str] = &["env_file", "dns", "dns_search", "tmpfs", "dns_opt"];
/// Service keys the override replaces rather than merges.
const REPLACED: &[&str] = &["command", "entrypoint"];

/// `["A=1", "B"]` → `{A: "1", B: null}`; a mapping is kept.
pub fn list_to_map(v: &Value, key: &str, sep: &[char]) -> Result<Value, Fault> {
    match v {
        Value::Object(_) => Ok(v.clone()),
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Array(items) => {
            let mut m = Map::new();
            for (i, item) in items.iter().enumerate() {
                let Value::String(s) = item else {
                    return Err(Fault::new(format!("{key}[{i}]"), "must be a string"));
                };
                match s.split_once(sep) {
                    Some((k, val)) => m.insert(k.trim().to_owned(), Value::String(val.to_owned())),
                    None => m.insert(s.trim().to_owned(), Value::Null),
                };
            }
            Ok(Value::Object(m))
        }
        _ => Err(Fault::new(key, "must be a mapping or a list")),
    }
}

fn list_of_names_to_map(v: &Value, key: &str, entry: Value) -> Result<Value, Fault> {
    match v {
        Value::Object(_) => Ok(v.clone()),
        Value::Array(items) => {
            let mut m = Map::new();
            for (i, item) in items.iter().enumerate() {
                let Value::String(s) = item else {
                    return Err(Fault::new(format!("{key}[{i}]"), "must be a string"));
                };
                m.insert(s.clone(), entry.clone());
            }
            Ok(Value::Object(m))
        }
        _ => Err(Fault::new(key, "must be a mapping or a list")),
    }
}

/// Puts a service's keys into the shapes merging works on (`key` is
/// `services.NAME`).
pub fn canonicalise_service(svc: &mut Value, key: &str) -> Result<(), Fault> {
    let Value::Object(m) = svc else {
        if svc.is_null() {
            *svc = Value::Object(Map::new());
            return Ok(());
        }
        return Err(Fault::new(key, "must be a mapping"));
    };
    for k in KEYED_LISTS {
        if let Some(v) = m.get_mut(*k) {
            *v = list_to_map(v, &format!("{key}.{k}"), &['='])?;
        }
    }
    if let Some(v) = m.get_mut("extra_hosts") {
        *v = list_to_map(v, &format!("{key}.extra_hosts"), &['=', ':'])?;
    }
    for k in STRING_OR_LIST {
        if let Some(v) = m.get_mut(*k) {
            if v.is_string() || v.is_object() {
                *v = Value::Array(vec![v.take()]);
            }
        }
    }
    if let Some(v) = m.get_mut("networks") {
        *v = list_of_names_to_map(v, &format!("{key}.networks"), Value::Null)?;
    }
    if let Some(v) = m.get_mut("depends_on") {
        *v = list_of_names_to_map(v, &format!("{key}.depends_on"), Value::Object(Map::new()))?;
    }
    if let Some(v) = m.get_mut("build") {
        if let Value::String(s) = v {
            let mut b = Map::new();
            b.insert("context".into(), Value::String(s.clone()));
            *v = Value::Object(b);
        }
        if let Value::Object(b) = v {
            for k in ["args", "labels"] {
                if let Some(a) = b.get_mut(k) {
                    *a = list_to_map(a, &format!("{key}.build.{k}"), &['='])?;
                }
            }
            if let Some(a) = b.get_mut("extra_hosts") {
                *a = list_to_map(a, &format!("{key}.build.extra_hosts"), &['=', ':'])?;
            }
        }
    }
    if let Some(Value::Object(d)) = m.get_mut("deploy") {
        if let Some(l) = d.get_mut("labels") {
            *l = list_to_map(l, &format!("{key}.deploy.labels"), &['='])?;
        }
    }
    Ok(())
}

/// Generic merge: mappings recursively, sequences appended, anything else replaced.
pub fn deep_merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(o)) => b.extend(o),
        (b, o) => *b = o,
    }
}

/// The container path a `volumes:` or `devices:` entry mounts on.
fn mount_target(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(parts.get(1).unwrap_or(&parts[0]).to_string())
        }
        Value::Object(m) => m.get("target").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

fn merge_by_target(base: &mut Vec<Value>, over: Vec<Value>) {
    for item in over {
        let t = mount_target(&item);
        match base
            .iter()
            .position(|b| t.is_some() && mount_target(b) == t)
        {
            Some(i) => base[i] = item,
            None => base.push(item),
        }
    }
}

/// Merges one (canonical) service over another.
pub fn merge_service(base: &mut Value, over: Value) {
    let (Value::Object(b), Value::Object(o)) = (&mut *base, over.clone()) else {
        *base = over;
        return;
    };
    for (k, v) in o {
        let Some(existing) = b.get_mut(&k) else {
            b.insert(k, v);
            continue;
        };
        match k.as_str() {
            k if REPLACED.contains(&k) => *existing = v,
            "volumes" | "devices" => match (existing, v) {
                (Value::Array(e), Value::Array(n)) => merge_by_target(e, n),
                (e, n) => *e = n,
            },
            "healthcheck" => {
                if let (Value::Object(e), Value::Object(mut n)) = (&mut *existing, v.clone()) {
                    if let Some(t) = n.remove("test") {
                        e.insert("test".into(), t);
                    }
                    deep_merge(existing, Value::Object(n));
                } else {
                    *existing = v;
                }
            }
            "logging" => {
                let driver = |x: &Value| x.get("driver").cloned();
                if driver(existing).is_some()
                    && driver(&v).is_some()
                    && driver(existing) != driver(&v)
                {
                    *existing = v;
                } else {
                    deep_merge(existing, v);
                }
            }
            "ulimits" => match (existing, v) {
                (Value::Object(e), Value::Object(n)) => e.extend(n),
                (e, n) => *e = n,
            },
            _ => deep_merge(existing, v),
        }
    }
}

/// Merges a whole (canonical) file tree over the tree merged so far.
pub fn merge_file(base: &mut Value, over: Value) {
    let (Value::Object(b), Value::Object(o)) = (&mut *base, over) else {
        return;
    };
    for (k, v) in o {
        match (k.as_str(), b.get_mut(&k)) {
            ("services", Some(Value::Object(services))) => {
                if let Value::Object(new) = v {
                    for (name, svc) in new {
                        match services.get_mut(&name) {
                            Some(existing) => merge_service(existing, svc),
                            None => {
                                services.insert(name, svc);
                            }
                        }
                    }
                }
            }
            (_, Some(existing)) => deep_merge(existing, v),
            (_, None) => {
                b.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: Value) -> Value {
        let mut v = v;
        canonicalise_service(&mut v, "services.x").expect("canonical");
        v
    }

    #[test]
    fn services_merge_by_the_rules() {
        let mut base = canon(json!({
            "image": "a", "command": ["x", "y"], "environment": ["A=1", "B=2"],
            "ports": ["80:80"], "volumes": ["./a:/data", "/b"], "networks": ["front"],
            "build": ".", "dns": "1.1.1.1", "healthcheck": {"test": ["CMD", "a"], "retries": 3},
            "labels": {"l": "1"}, "extra_hosts": ["h1:1.1.1.1"]
        }));
        let over = canon(json!({
            "image": "b", "command": "z", "environment": {"B": "3", "C": null},
            "ports": ["81:81"], "volumes": [{"type": "bind", "source": "./c", "target": "/data"}],
            "networks": {"back": {"aliases": ["x"]}}, "build": {"dockerfile": "D"},
            "dns": ["8.8.8.8"], "healthcheck": {"test": "true"}, "labels": ["m=2"],
            "extra_hosts": {"h2": "2.2.2.2"}
        }));
        merge_service(&mut base, over);
        assert_eq!(
            base,
            json!({
                "image": "b", "command": "z", "environment": {"A": "1", "B": "3", "C": null},
                "ports": ["80:80", "81:81"],
                "volumes": [{"type": "bind", "source": "./c", "target": "/data"}, "/b"],
                "networks": {"front": null, "back": {"aliases": ["x"]}},
                "build": {"context": ".", "dockerfile": "D"}, "dns": ["1.1.1.1", "8.8.8.8"],
                "healthcheck": {"test": "true", "retries": 3},
                "labels": {"l": "1", "m": "2"},
                "extra_hosts": {"h1": "1.1.1.1", "h2": "2.2.2.2"}
            })
        );
    }

    #[test]
    fn wrong_shapes_are_named() {
        let mut v = json!({"environment": 5});
        let e = canonicalise_service(&mut v, "services.x").unwrap_err();
        assert_eq!(e.key, "services.x.environment");
    }
}
