//! `include:` — other compose projects brought into this one, as docker compose v2
//! (compose-go) reads them. Each entry is loaded as a project of its own (its own
//! directory for relative paths, its own interpolation environment, its own
//! includes), then its services, networks, volumes, secrets and configs join the
//! including file's; a name defined on both sides is an error. The loading itself
//! is `load.rs`'s (it shares the file reading with the top-level files); this module
//! reads the entries and imports the resources.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{extends, paths, schema, values, Fault, LoadError};

/// The top-level sections an included project contributes, with the kind each
/// holds (for errors).
const SECTIONS: &[(&str, &str)] = &[
    ("services", "service"),
    ("networks", "network"),
    ("volumes", "volume"),
    ("secrets", "secret"),
    ("configs", "config"),
];

const KEYS: &[&str] = &["path", "project_directory", "env_file"];

/// One `include:` entry, as written (interpolated); each value with the key it was
/// written at, for errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The files, merged in order as `-f` files are; the first one's directory is
    /// the default project directory.
    pub paths: Vec<(String, String)>,
    pub project_directory: Option<(String, String)>,
    /// Replace the default (`.env` in the project directory, when it exists).
    pub env_files: Vec<(String, String)>,
}

/// A string or a list of strings at `key`, each with its own key.
fn strings(v: &Value, key: &str) -> Result<Vec<(String, String)>, Fault> {
    match v {
        Value::String(s) => Ok(vec![(s.clone(), key.to_owned())]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, it)| {
                let k = format!("{key}[{i}]");
                match it {
                    Value::String(s) => Ok((s.clone(), k)),
                    _ => Err(Fault::new(k, "must be a string")),
                }
            })
            .collect(),
        _ => Err(Fault::new(key, "must be a string or a list of strings")),
    }
}

/// A file's `include:` read into its entries: a list of paths or of mappings with
/// `path`, `project_directory` and `env_file`.
pub fn entries(v: &Value) -> Result<Vec<Entry>, Fault> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(Fault::new("include", "must be a list")),
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("include[{i}]");
        let entry = match item {
            Value::String(s) => Entry {
                paths: vec![(s.clone(), at)],
                project_directory: None,
                env_files: Vec::new(),
            },
            Value::Object(m) => {
                schema::keys(m, KEYS, &at)?;
                let k = |s: &str| format!("{at}.{s}");
                let paths = match m.get("path") {
                    None | Some(Value::Null) => return Err(Fault::new(k("path"), "is required")),
                    Some(p) => strings(p, &k("path"))?,
                };
                if paths.is_empty() {
                    return Err(Fault::new(k("path"), "must name at least one file"));
                }
                let project_directory =
                    values::opt_string(m.get("project_directory"), &k("project_directory"))?
                        .map(|d| (d, k("project_directory")));
                let env_files = match m.get("env_file") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(e) => strings(e, &k("env_file"))?,
                };
                Entry {
                    paths,
                    project_directory,
                    env_files,
                }
            }
            _ => {
                return Err(Fault::new(
                    at,
                    "must be a path or a mapping (path, project_directory, env_file)",
                ))
            }
        };
        out.push(entry);
    }
    Ok(out)
}

/// Makes an included project's relative host paths absolute against its project
/// directory `dir` (already absolute ones, such as those of its own includes, are
/// kept).
pub fn absolutise(tree: &mut Value, dir: &Path, home: Option<&Path>) {
    if let Some(Value::Object(services)) = tree.get_mut("services") {
        for svc in services.values_mut() {
            extends::absolutise(svc, dir, home);
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(Value::Object(objects)) = tree.get_mut(section) {
            for def in objects.values_mut() {
                if let Some(Value::String(f)) = def.get_mut("file") {
                    *f = paths::resolve(dir, home, f).display().to_string();
                }
            }
        }
    }
}

/// Adds the resources of `imported` (included from `from`) to `tree` (the file
/// `file`). A name `tree` already has is an error naming both definitions, unless
/// they are the same (one project included twice). `imported_by` holds, for each
/// `SECTION.NAME` an earlier include of `file` gave `tree`, the file it came from.
pub fn import(
    tree: &mut Value,
    imported: Value,
    file: &Path,
    from: &Path,
    imported_by: &mut HashMap<String, PathBuf>,
) -> Result<(), LoadError> {
    let Value::Object(mut imported) = imported else {
        return Ok(());
    };
    let Some(top) = tree.as_object_mut() else {
        return Ok(());
    };
    for (section, kind) in SECTIONS {
        let Some(Value::Object(new)) = imported.remove(*section) else {
            continue;
        };
        let existing = top
            .entry(*section)
            .or_insert_with(|| Value::Object(Map::new()));
        if existing.is_null() {
            *existing = Value::Object(Map::new());
        }
        let Value::Object(existing) = existing else {
            continue;
        };
        for (name, def) in new {
            let key = format!("{section}.{name}");
            match existing.get(&name) {
                Some(old) if *old == def => {}
                Some(_) => {
                    let here = match imported_by.get(&key) {
                        Some(p) => format!("by {}", p.display()),
                        None => "here".to_owned(),
                    };
                    return Err(LoadError {
                        file: Some(file.to_path_buf()),
                        key: Some(key),
                        message: format!(
                            "conflicts with imported resource: {kind} {name:?} is defined {here} and by {}",
                            from.display()
                        ),
                    });
                }
                None => {
                    imported_by.insert(key, from.to_path_buf());
                    existing.insert(name, def);
                }
            }
        }
    }
    Ok(())
}

/// `tree` without the resources named (`SECTION.NAME`) in `keys`.
pub fn without<'a>(tree: &Value, keys: impl Iterator<Item = &'a String>) -> Value {
    let mut out = tree.clone();
    for key in keys {
        if let Some((section, name)) = key.split_once('.') {
            if let Some(Value::Object(m)) = out.get_mut(section) {
                m.remove(name);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_and_long_forms() {
        let e = entries(&json!([
            "a/compose.yaml",
            {"path": ["b.yaml", "b.override.yaml"], "project_directory": "b", "env_file": "b.env"},
        ]))
        .expect("reads");
        assert_eq!(
            e[0].paths,
            [("a/compose.yaml".to_owned(), "include[0]".to_owned())]
        );
        assert_eq!(e[0].project_directory, None);
        assert_eq!(
            e[1].paths,
            [
                ("b.yaml".to_owned(), "include[1].path[0]".to_owned()),
                (
                    "b.override.yaml".to_owned(),
                    "include[1].path[1]".to_owned()
                )
            ]
        );
        assert_eq!(
            e[1].project_directory,
            Some(("b".to_owned(), "include[1].project_directory".to_owned()))
        );
        assert_eq!(
            e[1].env_files,
            [("b.env".to_owned(), "include[1].env_file".to_owned())]
        );
    }

    #[test]
    fn malformed_entries_are_named() {
        let key = |v: Value| entries(&v).unwrap_err().key;
        assert_eq!(key(json!("a.yaml")), "include");
        assert_eq!(key(json!([5])), "include[0]");
        assert_eq!(key(json!([{"project_directory": "x"}])), "include[0].path");
        assert_eq!(key(json!([{"path": []}])), "include[0].path");
        assert_eq!(key(json!([{"path": ["a", 1]}])), "include[0].path[1]");
        assert_eq!(
            key(json!([{"path": "a", "envfile": "x"}])),
            "include[0].envfile"
        );
        assert_eq!(
            key(json!([{"path": "a", "env_file": {}}])),
            "include[0].env_file"
        );
    }

    #[test]
    fn included_paths_are_their_own() {
        let mut t = json!({
            "services": {"s": {"build": {"context": "app"}, "volumes": ["./d:/d", "/abs:/abs"]}},
            "secrets": {"k": {"file": "./key"}, "e": {"environment": "E"}},
        });
        absolutise(&mut t, Path::new("/inc"), None);
        assert_eq!(
            t,
            json!({
                "services": {"s": {"build": {"context": "/inc/app"}, "volumes": ["/inc/d:/d", "/abs:/abs"]}},
                "secrets": {"k": {"file": "/inc/key"}, "e": {"environment": "E"}},
            })
        );
    }

    #[test]
    fn conflicts_name_both_files_and_equal_definitions_pass() {
        let mut tree = json!({"services": {"web": {"image": "a"}}});
        let mut by = HashMap::new();
        let file = Path::new("/p/compose.yaml");
        import(
            &mut tree,
            json!({"services": {"db": {"image": "d"}}, "volumes": {"data": null}}),
            file,
            Path::new("/p/db.yaml"),
            &mut by,
        )
        .expect("no conflict");
        import(
            &mut tree,
            json!({"services": {"db": {"image": "d"}}}),
            file,
            Path::new("/p/db2.yaml"),
            &mut by,
        )
        .expect("the same definition twice");
        let e = import(
            &mut tree,
            json!({"services": {"web": {"image": "b"}}}),
            file,
            Path::new("/p/web.yaml"),
            &mut by,
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("services.web"));
        assert!(e.message.contains("defined here and by /p/web.yaml"), "{e}");
        let e = import(
            &mut tree,
            json!({"services": {"db": {"image": "other"}}}),
            file,
            Path::new("/p/db3.yaml"),
            &mut by,
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("service \"db\" is defined by /p/db.yaml and by /p/db3.yaml"),
            "{e}"
        );
        assert_eq!(tree["volumes"], json!({"data": null}));
    }
}
