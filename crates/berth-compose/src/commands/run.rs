//! `exec` (a command in a service's running container) and `run` (a one-off container
//! of a service).

use std::io::{IsTerminal, Read};

use super::{images, service_containers, Env};
use crate::cli::{ExecArgs, RunArgs};
use crate::labels;
use crate::model::Port;
use crate::up::{converge, create_named, ensure_resources, selected, ComposeError, UpOptions};

pub fn exec(env: &Env<'_>, a: &ExecArgs) -> Result<i32, ComposeError> {
    let project = env.project()?;
    let list = service_containers(env, &project, std::slice::from_ref(&a.service), false)?;
    let c = list.iter().find(|c| c.number == a.index).ok_or_else(|| {
        ComposeError::msg(format!(
            "service {:?} is not running container #{}",
            a.service, a.index
        ))
    })?;
    if !c.running() {
        return Err(ComposeError::msg(format!(
            "service {:?} is not running container #{}",
            a.service, a.index
        )));
    }
    let mut args = vec!["exec".to_string()];
    if a.detach {
        args.push("-d".into());
    } else {
        args.push("-i".into());
        if !a.no_tty && std::io::stdin().is_terminal() {
            args.push("-t".into());
        }
    }
    if let Some(u) = &a.user {
        args.extend(["-u".into(), u.clone()]);
    }
    if let Some(w) = &a.workdir {
        args.extend(["-w".into(), w.clone()]);
    }
    for e in &a.env {
        args.extend(["-e".into(), e.clone()]);
    }
    if a.privileged {
        args.push("--privileged".into());
    }
    args.push(c.id.clone());
    args.extend(a.command.iter().cloned());
    Ok(env.docker(&args))
}

pub fn run(env: &Env<'_>, a: &RunArgs) -> Result<i32, ComposeError> {
    let project = env.project()?;
    let progress = env.progress();
    let services = selected(&project, std::slice::from_ref(&a.service), a.no_deps)?;
    let deps: std::collections::BTreeMap<String, &crate::model::Service> = services
        .iter()
        .filter(|(n, _)| **n != a.service)
        .map(|(n, s)| (n.clone(), *s))
        .collect();
    let images = images::ensure(
        env,
        &project,
        &services,
        &images::Policy {
            build: a.build,
            ..Default::default()
        },
    )?;
    ensure_resources(env.client, &project, &services, &progress)?;
    if !deps.is_empty() {
        converge(
            env.client,
            &project,
            &deps,
            &images,
            &UpOptions::default(),
            &progress,
        )?;
    }
    let mut service = services[&a.service].clone();
    if !a.command.is_empty() {
        service.command = Some(a.command.clone());
    }
    if let Some(e) = &a.entrypoint {
        service.entrypoint = Some(if e.is_empty() {
            vec![String::new()]
        } else {
            crate::load::units::shell_split(e)
                .map_err(|m| ComposeError::msg(format!("invalid --entrypoint {e:?}: {m}")))?
        });
    }
    for e in &a.env {
        let (k, v) = match e.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (e.clone(), std::env::var(e).ok()),
        };
        service.environment.insert(k, v);
    }
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        service.labels.insert(k.into(), v.into());
    }
    if let Some(u) = &a.user {
        service.user = Some(u.clone());
    }
    if let Some(w) = &a.workdir {
        service.working_dir = Some(w.clone());
    }
    if !a.service_ports {
        service.ports.clear();
    }
    for p in &a.publish {
        service.ports.push(parse_publish(p)?);
    }
    for v in &a.volume {
        let mut parts = v.splitn(3, ':');
        let (src, dst) = (parts.next().unwrap_or(""), parts.next());
        let Some(dst) = dst else {
            return Err(ComposeError::msg(format!(
                "invalid volume {v:?}: expected SOURCE:TARGET[:ro]"
            )));
        };
        let ro = parts
            .next()
            .is_some_and(|o| o.split(',').any(|o| o == "ro"));
        let bind = src.starts_with('/') || src.starts_with('.');
        let source = if src.starts_with('.') {
            project.working_dir.join(src).display().to_string()
        } else {
            src.to_string()
        };
        service.volumes.push(crate::model::ServiceVolume {
            kind: if bind { "bind" } else { "volume" }.into(),
            source: Some(source),
            target: dst.to_string(),
            read_only: ro,
            ..Default::default()
        });
    }
    // A one-off container is not restarted and gets a terminal when we have one.
    service.restart = None;
    let interactive = std::io::stdin().is_terminal();
    service.tty = !a.no_tty && interactive && !a.detach;
    service.stdin_open = !a.detach;
    service.container_name = None;
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}-run-{}", project.name, a.service, random_hex(12)));
    let hash = labels::config_hash(&service);
    let image_id = images.get(&a.service).cloned().unwrap_or_default();
    let id = create_named(
        env.client, &project, &service, 1, true, &name, &image_id, &hash,
    )?;
    if a.detach {
        env.client.start_container(&id, "")?;
        println!("{name}");
        return Ok(0);
    }
    let mut args = vec!["start".to_string(), "-a".into()];
    args.push("-i".into());
    args.push(id.clone());
    let code = env.docker(&args);
    if a.rm {
        let _ = env.client.remove_container(&id, true, true);
    }
    Ok(code)
}

/// `-p [[IP:]HOST:]CONTAINER[/PROTO]` of `run`.
fn parse_publish(p: &str) -> Result<Port, ComposeError> {
    let (spec, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
    let bad = || ComposeError::msg(format!("invalid --publish {p:?}"));
    let target: u16 = parts[0].parse().map_err(|_| bad())?;
    let published = parts
        .get(1)
        .filter(|s| !s.is_empty())
        .map(|s| s.to_string());
    let host_ip = parts
        .get(2)
        .filter(|s| !s.is_empty())
        .map(|s| s.to_string());
    Ok(Port {
        target,
        published,
        host_ip,
        protocol: proto.to_string(),
        mode: "ingress".into(),
        ..Default::default()
    })
}

/// `n` random hex digits (the suffix of a one-off container's name).
fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n.div_ceil(2)];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !ok {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (t >> (8 * (i % 16))) as u8 ^ std::process::id() as u8;
        }
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hex[..n].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_parses() {
        let p = parse_publish("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(
            (
                p.target,
                p.published.as_deref(),
                p.host_ip.as_deref(),
                p.protocol.as_str()
            ),
            (80, Some("8080"), Some("127.0.0.1"), "udp")
        );
        let p = parse_publish("80").unwrap();
        assert_eq!((p.target, p.published), (80, None));
        assert!(parse_publish("x:y").is_err());
        assert_eq!(random_hex(12).len(), 12);
    }
}
