//! `build`, `pull`, `push`, and the images `up`/`run` need: built or pulled as the
//! service and the flags say, through the docker CLI's own build/pull/push.

use std::collections::BTreeMap;

use super::Env;
use crate::cli::{BuildArgs, PullArgs, PushArgs};
use crate::labels;
use crate::model::{Project, Service};
use crate::up::{selected, ComposeError};

/// How `up`/`run` get images.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// `--build`: build every service that has a build section.
    pub build: bool,
    /// `--no-build`: never build (a missing image is an error).
    pub no_build: bool,
    /// `--pull always|missing|never`.
    pub pull: Option<String>,
    pub quiet: bool,
}

/// Builds or pulls what `services` need; returns each service's image id.
pub fn ensure(
    env: &Env<'_>,
    project: &Project,
    services: &BTreeMap<String, &Service>,
    policy: &Policy,
) -> Result<BTreeMap<String, String>, ComposeError> {
    let mut ids = BTreeMap::new();
    for (name, s) in services {
        let image = labels::image_name(&project.name, s);
        let present = env.client.inspect_image(&image).ok().map(|i| i.id);
        let pull_policy = policy
            .pull
            .clone()
            .or_else(|| s.pull_policy.clone())
            .unwrap_or_else(|| "missing".into());
        let id = match (&s.build, present) {
            (Some(_), present)
                if !policy.no_build
                    && (policy.build || present.is_none() || pull_policy == "build") =>
            {
                build_one(env, project, s, &[], false, false, false)?;
                image_id(env, &image)?
            }
            (_, Some(id)) if pull_policy != "always" => id,
            (None, _) | (Some(_), Some(_)) if pull_policy != "never" => {
                pull_one(env, &image, policy.quiet)?;
                image_id(env, &image)?
            }
            _ => {
                return Err(ComposeError::msg(format!(
                    "service {name:?}: image {image} is not present (and neither building nor pulling is allowed)"
                )))
            }
        };
        ids.insert(name.clone(), id);
    }
    Ok(ids)
}

fn image_id(env: &Env<'_>, image: &str) -> Result<String, ComposeError> {
    Ok(env.client.inspect_image(image)?.id)
}

fn pull_one(env: &Env<'_>, image: &str, quiet: bool) -> Result<(), ComposeError> {
    let mut args = vec!["pull".to_string()];
    if quiet {
        args.push("-q".into());
    }
    args.push(image.to_string());
    match env.docker(&args) {
        0 => Ok(()),
        _ => Err(ComposeError::msg(format!("pulling {image} failed"))),
    }
}

/// Builds one service's image with the docker CLI's build (classic builder).
fn build_one(
    env: &Env<'_>,
    project: &Project,
    s: &Service,
    extra_args: &[String],
    no_cache: bool,
    pull: bool,
    quiet: bool,
) -> Result<(), ComposeError> {
    let Some(b) = &s.build else {
        return Ok(());
    };
    let image = labels::image_name(&project.name, s);
    let mut args = vec!["build".to_string(), "-t".into(), image.clone()];
    for t in &b.tags {
        args.extend(["-t".into(), t.clone()]);
    }
    // An inline Dockerfile is written beside nothing: a temporary file outside the
    // context, as `-f` allows.
    let inline_dir;
    if let Some(text) = &b.dockerfile_inline {
        inline_dir = tempfile::tempdir().map_err(|e| {
            ComposeError::msg(format!("a directory for the inline Dockerfile: {e}"))
        })?;
        let path = inline_dir.path().join("Dockerfile");
        std::fs::write(&path, text)
            .map_err(|e| ComposeError::msg(format!("writing {}: {e}", path.display())))?;
        args.extend(["-f".into(), path.display().to_string()]);
    } else if !b.dockerfile.is_empty() {
        let path = std::path::Path::new(&b.dockerfile);
        let full = if path.is_absolute() || b.context.contains("://") {
            b.dockerfile.clone()
        } else {
            std::path::Path::new(&b.context)
                .join(path)
                .display()
                .to_string()
        };
        args.extend(["-f".into(), full]);
    }
    for (k, v) in &b.args {
        if let Some(v) = v {
            args.extend(["--build-arg".into(), format!("{k}={v}")]);
        }
    }
    args.extend(extra_args.iter().cloned());
    if let Some(t) = &b.target {
        args.extend(["--target".into(), t.clone()]);
    }
    for (k, v) in &b.labels {
        args.extend(["--label".into(), format!("{k}={v}")]);
    }
    for c in &b.cache_from {
        args.extend(["--cache-from".into(), c.clone()]);
    }
    if let Some(n) = &b.network {
        args.extend(["--network".into(), n.clone()]);
    }
    for h in &b.extra_hosts {
        args.extend(["--add-host".into(), h.clone()]);
    }
    if let Some(size) = b.shm_size {
        args.extend(["--shm-size".into(), size.to_string()]);
    }
    if no_cache || b.no_cache {
        args.push("--no-cache".into());
    }
    if pull || b.pull {
        args.push("--pull".into());
    }
    if quiet {
        args.push("-q".into());
    }
    args.push(b.context.clone());
    match env.docker(&args) {
        0 => Ok(()),
        code => Err(ComposeError::msg(format!(
            "service {:?} failed to build: the build of {image} exited with {code}",
            s.name
        ))),
    }
}

pub fn build(env: &Env<'_>, a: &BuildArgs) -> Result<i32, ComposeError> {
    let project = env.project()?;
    let services = selected(&project, &a.services, true)?;
    let extra: Vec<String> = a
        .build_arg
        .iter()
        .flat_map(|b| ["--build-arg".to_string(), b.clone()])
        .collect();
    for s in services.values() {
        build_one(env, &project, s, &extra, a.no_cache, a.pull, a.quiet)?;
    }
    Ok(0)
}

pub fn pull(env: &Env<'_>, a: &PullArgs) -> Result<i32, ComposeError> {
    let project = env.project()?;
    let services = selected(&project, &a.services, true)?;
    for s in services.values() {
        if s.image.is_none() {
            continue;
        }
        let image = labels::image_name(&project.name, s);
        match pull_one(env, &image, a.quiet) {
            Ok(()) => {}
            Err(e) if a.ignore_pull_failures => eprintln!("{e}"),
            Err(e) => return Err(e),
        }
    }
    Ok(0)
}

pub fn push(env: &Env<'_>, a: &PushArgs) -> Result<i32, ComposeError> {
    let project = env.project()?;
    let services = selected(&project, &a.services, true)?;
    for s in services.values() {
        if s.image.is_none() {
            continue;
        }
        let image = labels::image_name(&project.name, s);
        if env.docker(&["push".into(), image.clone()]) != 0 && !a.ignore_push_failures {
            return Err(ComposeError::msg(format!("pushing {image} failed")));
        }
    }
    Ok(0)
}
