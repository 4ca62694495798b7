//! Checks across the resolved project: references between services and to the
//! top-level networks, volumes, secrets and configs; dependency cycles; container
//! names; services without an image or a build.

use std::collections::{BTreeMap, BTreeSet};

use super::Fault;
use crate::model::{Project, Service};

/// Checks `project` (its enabled and disabled services).
pub fn project(p: &Project) -> Result<(), Fault> {
    let all: BTreeMap<&String, &Service> = p.services.iter().chain(p.disabled.iter()).collect();
    for (name, svc) in &all {
        let at = format!("services.{name}");
        if svc.image.is_none() && svc.build.is_none() {
            return Err(Fault::new(at, "has neither an image nor a build"));
        }
        for (i, l) in svc.links.iter().enumerate() {
            let target = l.split(':').next().unwrap_or(l);
            if !all.contains_key(&target.to_owned()) {
                return Err(Fault::new(
                    format!("{at}.links[{i}]"),
                    format!("links to undefined service {target:?}"),
                ));
            }
        }
        for (i, v) in svc.volumes_from.iter().enumerate() {
            if v.starts_with("container:") {
                continue;
            }
            let source = v.split(':').next().unwrap_or(v);
            if !all.contains_key(&source.to_owned()) {
                return Err(Fault::new(
                    format!("{at}.volumes_from[{i}]"),
                    format!("takes volumes from undefined service {source:?}"),
                ));
            }
        }
        for (key, mode) in [
            ("network_mode", &svc.network_mode),
            ("ipc", &svc.ipc),
            ("pid", &svc.pid),
        ] {
            if let Some(other) = mode.as_deref().and_then(|m| m.strip_prefix("service:")) {
                if !all.contains_key(&other.to_owned()) {
                    return Err(Fault::new(
                        format!("{at}.{key}"),
                        format!("refers to undefined service {other:?}"),
                    ));
                }
            }
        }
        for dep in svc.depends_on.keys() {
            if !all.contains_key(dep) {
                return Err(Fault::new(
                    format!("{at}.depends_on"),
                    format!("depends on undefined service {dep:?}"),
                ));
            }
        }
        if svc.network_mode.is_some() && !svc.networks.is_empty() {
            return Err(Fault::new(
                format!("{at}.network_mode"),
                "cannot be used together with networks",
            ));
        }
        for net in svc.networks.keys() {
            if !p.networks.contains_key(net) {
                return Err(Fault::new(
                    format!("{at}.networks.{net}"),
                    format!("network {net:?} is not declared under the top-level networks"),
                ));
            }
        }
        for (i, v) in svc.volumes.iter().enumerate() {
            if let (true, Some(src)) = (v.kind == "volume", &v.source) {
                if !p.volumes.contains_key(src) {
                    return Err(Fault::new(
                        format!("{at}.volumes[{i}]"),
                        format!("named volume {src:?} is not declared under the top-level volumes"),
                    ));
                }
            }
        }
        for (section, refs, declared) in [
            ("secrets", &svc.secrets, &p.secrets),
            ("configs", &svc.configs, &p.configs),
        ] {
            for (i, r) in refs.iter().enumerate() {
                if !declared.contains_key(&r.source) {
                    return Err(Fault::new(
                        format!("{at}.{section}[{i}]"),
                        format!(
                            "{:?} is not declared under the top-level {section}",
                            r.source
                        ),
                    ));
                }
            }
        }
        if let Some(cn) = &svc.container_name {
            let replicas = svc
                .deploy
                .as_ref()
                .and_then(|d| d.replicas)
                .or(svc.scale)
                .unwrap_or(1);
            if replicas > 1 {
                return Err(Fault::new(
                    format!("{at}.container_name"),
                    format!("{cn:?} cannot be used with {replicas} replicas (container names must be unique)"),
                ));
            }
            for (other_name, other) in &all {
                if other_name < name && other.container_name.as_ref() == Some(cn) {
                    return Err(Fault::new(
                        format!("{at}.container_name"),
                        format!("{cn:?} is also the container name of service {other_name:?}"),
                    ));
                }
            }
        }
    }
    cycles(&all)
}

fn cycles(all: &BTreeMap<&String, &Service>) -> Result<(), Fault> {
    // 0 unvisited, 1 on the path, 2 done.
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    fn visit<'a>(
        name: &'a str,
        all: &BTreeMap<&String, &'a Service>,
        state: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Result<(), Fault> {
        match state.get(name) {
            Some(2) => return Ok(()),
            Some(1) => {
                let start = path.iter().position(|p| *p == name).unwrap_or(0);
                let mut chain: Vec<&str> = path[start..].to_vec();
                chain.push(name);
                return Err(Fault::new(
                    format!("services.{}.depends_on", path[path.len() - 1]),
                    format!("dependency cycle: {}", chain.join(" -> ")),
                ));
            }
            _ => {}
        }
        state.insert(name, 1);
        path.push(name);
        if let Some(svc) = all.get(&name.to_owned()) {
            for dep in svc.depends_on.keys() {
                visit(dep, all, state, path)?;
            }
        }
        path.pop();
        state.insert(name, 2);
        Ok(())
    }
    let names: BTreeSet<&str> = all.keys().map(|s| s.as_str()).collect();
    for n in names {
        visit(n, all, &mut state, &mut Vec::new())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Condition, Dependency};

    fn svc(deps: &[&str]) -> Service {
        let mut s = Service {
            image: Some("x".into()),
            ..Default::default()
        };
        for d in deps {
            s.depends_on.insert(
                (*d).to_owned(),
                Dependency {
                    condition: Condition::ServiceStarted,
                    restart: false,
                    required: true,
                },
            );
        }
        s
    }

    #[test]
    fn cycles_are_found() {
        let mut p = Project::default();
        p.services.insert("a".into(), svc(&["b"]));
        p.services.insert("b".into(), svc(&["a"]));
        let e = project(&p).unwrap_err();
        assert!(e.message.contains("a -> b -> a"), "{}", e.message);
        p.services.insert("b".into(), svc(&[]));
        assert!(project(&p).is_ok());
    }

    #[test]
    fn a_service_needs_an_image_or_a_build() {
        let mut p = Project::default();
        p.services.insert("a".into(), Service::default());
        assert_eq!(project(&p).unwrap_err().key, "services.a");
    }
}
