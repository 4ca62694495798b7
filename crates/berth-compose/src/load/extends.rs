//! `extends:` — a service built on another one, in the same file or in another
//! (whose relative paths are resolved against its own directory). The extending
//! service's keys override the base's by the merge rules (`!reset` and
//! `!override` included); the whole chain is followed, and a cycle is an error.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::merge::merge_service;
use super::tags::Replaced;
use super::{paths, values, Fault, LoadError};

/// Reads another file for `extends: {file: …}`: parsed, interpolated, checked and
/// canonical, with the keys it tags `!reset` or `!override`.
pub type ReadFile<'a> = dyn Fn(&Path) -> Result<(Value, Replaced), LoadError> + 'a;

/// Replaces every service of `tree` (a canonical file read from `file`, whose
/// `!reset`/`!override` keys are `replaced`) by its extended form.
pub fn resolve_file(
    tree: &mut Value,
    replaced: &Replaced,
    file: &Path,
    home: Option<&Path>,
    read: &ReadFile,
) -> Result<(), LoadError> {
    let Some(services) = tree.get("services").and_then(Value::as_object).cloned() else {
        return Ok(());
    };
    let mut out = Map::new();
    for name in services.keys() {
        let mut stack = Vec::new();
        let svc = extended(&services, replaced, name, file, home, read, &mut stack)?;
        out.insert(name.clone(), svc);
    }
    if let Some(m) = tree.as_object_mut() {
        m.insert("services".into(), Value::Object(out));
    }
    Ok(())
}

fn err(file: &Path, key: String, message: String) -> LoadError {
    LoadError {
        file: Some(file.to_path_buf()),
        key: Some(key),
        message,
    }
}

fn extended(
    services: &Map<String, Value>,
    replaced: &Replaced,
    name: &str,
    file: &Path,
    home: Option<&Path>,
    read: &ReadFile,
    stack: &mut Vec<(PathBuf, String)>,
) -> Result<Value, LoadError> {
    let mut svc = services.get(name).cloned().unwrap_or(Value::Null);
    let Some(ext) = svc.as_object_mut().and_then(|m| m.remove("extends")) else {
        return Ok(svc);
    };
    let key = format!("services.{name}.extends");
    let fault = |f: Fault| err(file, f.key, f.message);
    let (base_name, other) = match &ext {
        Value::String(s) => (s.clone(), None),
        Value::Object(m) => (
            values::opt_string(m.get("service"), &format!("{key}.service"))
                .map_err(fault)?
                .ok_or_else(|| err(file, format!("{key}.service"), "is required".into()))?,
            values::opt_string(m.get("file"), &format!("{key}.file")).map_err(fault)?,
        ),
        _ => return Err(err(file, key, "must be a service name or a mapping".into())),
    };
    let here = (file.to_path_buf(), name.to_owned());
    if stack.contains(&here) {
        let chain: Vec<String> = stack
            .iter()
            .map(|(_, s)| s.clone())
            .chain([name.to_owned()])
            .collect();
        return Err(err(
            file,
            key,
            format!("extends cycle: {}", chain.join(" -> ")),
        ));
    }
    stack.push(here);
    let dir = file.parent().unwrap_or(Path::new("/"));
    let base = match other {
        None => {
            if !services.contains_key(&base_name) {
                return Err(err(
                    file,
                    key,
                    format!("extends service {base_name:?}, which does not exist"),
                ));
            }
            extended(services, replaced, &base_name, file, home, read, stack)?
        }
        Some(other) => {
            let other_path = paths::resolve(dir, home, &other);
            let (tree, other_replaced) = read(&other_path)?;
            let Some(other_services) = tree.get("services").and_then(Value::as_object) else {
                return Err(err(
                    file,
                    key,
                    format!("{} has no services", other_path.display()),
                ));
            };
            if !other_services.contains_key(&base_name) {
                return Err(err(
                    file,
                    key,
                    format!(
                        "extends service {base_name:?}, which {} does not define",
                        other_path.display()
                    ),
                ));
            }
            let mut base = extended(
                other_services,
                &other_replaced,
                &base_name,
                &other_path,
                home,
                read,
                stack,
            )?;
            let other_dir = other_path.parent().unwrap_or(Path::new("/"));
            absolutise(&mut base, other_dir, home);
            base
        }
    };
    stack.pop();
    let mut merged = base;
    replaced.drop_from(&mut merged, &["services", name]);
    merge_service(&mut merged, svc);
    Ok(merged)
}

/// Makes a (canonical) service's relative host paths absolute against `dir`.
pub fn absolutise(svc: &mut Value, dir: &Path, home: Option<&Path>) {
    let fix = |s: &str| paths::resolve(dir, home, s).display().to_string();
    let Some(m) = svc.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(b)) = m.get_mut("build") {
        match b.get_mut("context") {
            Some(Value::String(c)) if !paths::is_remote_context(c) => *c = fix(c),
            None => {
                b.insert("context".into(), Value::String(fix(".")));
            }
            _ => {}
        }
    }
    if let Some(Value::Array(files)) = m.get_mut("env_file") {
        for f in files {
            match f {
                Value::String(s) => *s = fix(s),
                Value::Object(o) => {
                    if let Some(Value::String(p)) = o.get_mut("path") {
                        *p = fix(p);
                    }
                }
                _ => {}
            }
        }
    }
    if let Some(Value::Array(vols)) = m.get_mut("volumes") {
        for v in vols {
            match v {
                Value::String(s) => {
                    if let Some((src, rest)) = s.split_once(':') {
                        if paths::is_host_path(src) {
                            *s = format!("{}:{rest}", fix(src));
                        }
                    }
                }
                Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("bind") => {
                    if let Some(Value::String(src)) = o.get_mut("source") {
                        *src = fix(src);
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `tree` resolved as the file `path`, which tags nothing and extends no other.
    fn resolve_alone(tree: &mut Value, path: &str) -> Result<(), LoadError> {
        resolve_file(tree, &Replaced::default(), Path::new(path), None, &no_files)
    }

    fn no_files(p: &Path) -> Result<(Value, Replaced), LoadError> {
        Err(LoadError {
            file: Some(p.to_path_buf()),
            key: None,
            message: "unexpected read".into(),
        })
    }

    #[test]
    fn chains_merge_in_order() {
        let mut tree = json!({"services": {
            "a": {"image": "a", "environment": {"X": "1", "Y": "1"}},
            "b": {"extends": "a", "environment": {"Y": "2"}},
            "c": {"extends": {"service": "b"}, "command": ["c"]},
        }});
        resolve_alone(&mut tree, "/p/compose.yaml").expect("resolves");
        assert_eq!(
            tree["services"]["c"],
            json!({"image": "a", "environment": {"X": "1", "Y": "2"}, "command": ["c"]})
        );
    }

    #[test]
    fn cycles_and_missing_bases_are_errors() {
        let mut tree = json!({"services": {"a": {"extends": "a"}}});
        let e = resolve_alone(&mut tree, "/p/c.yaml").unwrap_err();
        assert!(e.message.contains("cycle"), "{e}");
        let mut tree = json!({"services": {"a": {"extends": "zzz"}}});
        let e = resolve_alone(&mut tree, "/p/c.yaml").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("services.a.extends"));
    }

    #[test]
    fn other_files_paths_are_their_own() {
        let mut svc = json!({"build": {"context": "app"}, "env_file": ["x.env"], "volumes": ["./d:/d", "named:/n"]});
        absolutise(&mut svc, Path::new("/other"), None);
        assert_eq!(
            svc,
            json!({"build": {"context": "/other/app"}, "env_file": ["/other/x.env"], "volumes": ["/other/d:/d", "named:/n"]})
        );
    }
}
