//! The container's process: its command (Docker's entrypoint and cmd precedence),
//! its environment and its working directory.

use std::path::{Path, PathBuf};

use super::{invalid, SpecError, DEFAULT_PATH_ENV};

/// Docker's precedence: a request entrypoint replaces the image's and drops the
/// image's Cmd; `[""]` (`--entrypoint ""`) clears the entrypoint; without a request
/// entrypoint, the request Cmd replaces the image's.
pub(super) fn command(
    req_entry: Option<&[String]>,
    req_cmd: Option<&[String]>,
    img_entry: Option<&[String]>,
    img_cmd: Option<&[String]>,
) -> Result<Vec<String>, SpecError> {
    let mut entry: Option<Vec<String>> = req_entry.map(<[String]>::to_vec);
    let mut cmd: Vec<String> = req_cmd.map(<[String]>::to_vec).unwrap_or_default();
    // dockerd's merge with the image config.
    if entry.as_ref().is_none_or(|e| e.is_empty()) {
        if cmd.is_empty() {
            cmd = img_cmd.map(<[String]>::to_vec).unwrap_or_default();
        }
        if entry.is_none() {
            entry = img_entry.map(<[String]>::to_vec);
        }
    }
    if entry
        .as_ref()
        .is_some_and(|e| e.len() == 1 && e[0].is_empty())
    {
        entry = None;
    }
    let mut args = entry.unwrap_or_default();
    args.extend(cmd);
    if args.is_empty() || args[0].is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(args)
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map_or(e, |(k, _)| k)
}

/// Replace entries of `base` by key with those of `over`, append the rest; an
/// override without `=` removes the key (Docker's ReplaceOrAppendEnvValues).
fn replace_or_append(base: &mut Vec<String>, over: &[String]) {
    for o in over {
        let key = env_key(o);
        if o.contains('=') {
            match base.iter_mut().find(|b| env_key(b) == key) {
                Some(b) => *b = o.clone(),
                None => base.push(o.clone()),
            }
        } else {
            base.retain(|b| env_key(b) != key);
        }
    }
}

pub(super) fn environment(
    image: &[String],
    request: &[String],
    hostname: &str,
    tty: bool,
) -> Vec<String> {
    // Create-time merge: the request's entries, then the image's not overridden.
    let mut config: Vec<String> = request.to_vec();
    for e in image {
        if !request.iter().any(|r| env_key(r) == env_key(e)) {
            config.push(e.clone());
        }
    }
    let mut env = vec![
        format!("PATH={DEFAULT_PATH_ENV}"),
        format!("HOSTNAME={hostname}"),
    ];
    if tty {
        env.push("TERM=xterm".to_string());
    }
    replace_or_append(&mut env, &config);
    env
}

pub(super) fn working_dir(request: &str, image: Option<&str>) -> Result<PathBuf, SpecError> {
    if !request.is_empty() {
        if !request.starts_with('/') {
            return Err(invalid(
                "Config.WorkingDir",
                request,
                "it needs to be an absolute path",
            ));
        }
        return Ok(PathBuf::from(request));
    }
    match image {
        Some(w) if !w.is_empty() => Ok(Path::new("/").join(w)),
        _ => Ok(PathBuf::from("/")),
    }
}
