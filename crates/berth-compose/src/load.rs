//! Reading a project: files → merged, interpolated, extended, normalised model.
//!
//! Each file is parsed into a generic tree, interpolated, checked for unknown keys,
//! canonicalised and has its `extends` resolved; the trees are merged in order;
//! the merged tree is normalised into [`Project`], then profiles, the default
//! network and cross references are settled.

mod dotenv;
mod extends;
mod interpolate;
mod merge;
mod mounts;
mod normalise;
mod paths;
mod ports;
mod schema;
mod tags;
pub(crate) mod units;
mod validate;
mod values;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::model::{Project, ServiceNetwork};

/// What to read and with which environment.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f` files in order (later ones override earlier ones); `-` is standard input
    /// (its text in `stdin`). Empty: `compose.yaml`, `compose.yml`,
    /// `docker-compose.yml`, `docker-compose.yaml` in `cwd` or its parents, plus the
    /// matching `*.override.*` file beside it.
    pub files: Vec<PathBuf>,
    /// The text of `-` when it is among `files`.
    pub stdin: Option<String>,
    /// `-p`; else `COMPOSE_PROJECT_NAME` (from `environment` or `.env`); else the
    /// project directory's base name (normalised: lowercase, only `a-z0-9_-`).
    pub project_name: Option<String>,
    /// `--project-directory`; else the first file's directory.
    pub project_directory: Option<PathBuf>,
    /// `--env-file`s; else `.env` in the project directory when it exists.
    pub env_files: Vec<PathBuf>,
    /// `--profile`s (and `COMPOSE_PROFILES`, comma-separated).
    pub profiles: Vec<String>,
    /// The process environment (the caller passes `std::env::vars()`; tests their own).
    pub environment: BTreeMap<String, String>,
    /// The current directory, for relative `-f` paths and the file search.
    pub cwd: PathBuf,
}

/// A project that could not be read: names the file, the service and the key at
/// fault where there is one (`compose.yaml: services.web.ports[1]: …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct LoadError {
    pub file: Option<PathBuf>,
    /// Dotted path of the key at fault (`services.web.ports[1]`).
    pub key: Option<String>,
    pub message: String,
}

impl LoadError {
    fn render(&self) -> String {
        let mut s = String::new();
        if let Some(f) = &self.file {
            s.push_str(&f.display().to_string());
            s.push_str(": ");
        }
        if let Some(k) = &self.key {
            s.push_str(k);
            s.push_str(": ");
        }
        s.push_str(&self.message);
        s
    }

    fn plain(message: impl Into<String>) -> Self {
        Self {
            file: None,
            key: None,
            message: message.into(),
        }
    }

    fn in_file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: Some(file.to_path_buf()),
            key: None,
            message: message.into(),
        }
    }
}

/// A problem at a key, before it is known which file the key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    pub key: String,
    pub message: String,
}

impl Fault {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }

    fn in_file(self, file: Option<&Path>) -> LoadError {
        LoadError {
            file: file.map(Path::to_path_buf),
            key: (!self.key.is_empty()).then_some(self.key),
            message: self.message,
        }
    }
}

const FILE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

fn override_names(base: &str) -> [String; 2] {
    let stem = base.rsplit_once('.').map_or(base, |(s, _)| s);
    [
        format!("{stem}.override.yaml"),
        format!("{stem}.override.yml"),
    ]
}

/// The files to read, absolute (`-` kept as is).
fn discover(opts: &LoadOptions) -> Result<Vec<PathBuf>, LoadError> {
    let abs = |p: &Path| {
        if p == Path::new("-") {
            p.to_path_buf()
        } else {
            paths::clean(&opts.cwd.join(p))
        }
    };
    if !opts.files.is_empty() {
        return Ok(opts.files.iter().map(|p| abs(p)).collect());
    }
    // COMPOSE_FILE from the process environment or, as docker compose reads it, from
    // the `.env` (or `--env-file`s) of the working directory.
    let base = opts
        .project_directory
        .as_ref()
        .map_or_else(|| opts.cwd.clone(), |d| paths::clean(&opts.cwd.join(d)));
    let env = environment(opts, &base)?;
    if let Some(list) = env.get("COMPOSE_FILE").filter(|s| !s.is_empty()) {
        let sep = env
            .get("COMPOSE_PATH_SEPARATOR")
            .map_or(":", String::as_str);
        return Ok(list
            .split(sep)
            .filter(|s| !s.is_empty())
            .map(|p| abs(Path::new(p)))
            .collect());
    }
    let mut dir = Some(opts.cwd.as_path());
    while let Some(d) = dir {
        for name in FILE_NAMES {
            let candidate = d.join(name);
            if candidate.is_file() {
                let mut files = vec![candidate];
                for o in override_names(name) {
                    if d.join(&o).is_file() {
                        files.push(d.join(o));
                        break;
                    }
                }
                return Ok(files);
            }
        }
        dir = d.parent();
    }
    Err(LoadError::plain(format!(
        "no configuration file provided: no compose.yaml, compose.yml, docker-compose.yml or docker-compose.yaml in {} or its parents",
        opts.cwd.display()
    )))
}

fn read_text(path: &Path, opts: &LoadOptions) -> Result<String, LoadError> {
    if path == Path::new("-") {
        return opts
            .stdin
            .clone()
            .ok_or_else(|| LoadError::in_file(path, "standard input was not given"));
    }
    std::fs::read_to_string(path).map_err(|e| LoadError::in_file(path, format!("cannot read: {e}")))
}

fn parse_yaml(text: &str, path: &Path) -> Result<(Value, tags::Replaced), LoadError> {
    let mut o = serde_saphyr::Options::default();
    o.strict_booleans = true;
    o.leading_zero_numbers_as_strings = true;
    o.with_snippet = false;
    tags::parse(text, o).map_err(|e| match e {
        tags::ParseError::Yaml(msg) => {
            let msg = msg.lines().next().unwrap_or_default();
            LoadError::in_file(path, msg.strip_prefix("error: ").unwrap_or(msg).to_owned())
        }
        tags::ParseError::Tag(fault) => fault.in_file(Some(path)),
    })
}

/// One file as the merge needs it: parsed, interpolated, checked, canonical; with
/// the keys it tags `!reset` or `!override`.
fn read_file(
    path: &Path,
    text: &str,
    env: &BTreeMap<String, String>,
) -> Result<(Value, tags::Replaced), LoadError> {
    let (mut tree, replaced) = parse_yaml(text, path)?;
    let lookup = |k: &str| env.get(k).cloned();
    interpolate::interpolate_tree(&mut tree, "", &lookup).map_err(|(key, e)| LoadError {
        file: Some(path.to_path_buf()),
        key: Some(key),
        message: e.to_string(),
    })?;
    schema::check_file(&tree).map_err(|f| f.in_file(Some(path)))?;
    if let Some(Value::Object(services)) = tree.get_mut("services") {
        for (name, svc) in services.iter_mut() {
            merge::canonicalise_service(svc, &format!("services.{name}"))
                .map_err(|f| f.in_file(Some(path)))?;
        }
    }
    Ok((tree, replaced))
}

/// The interpolation environment: the env files (or `.env`), then the process
/// environment over them.
fn environment(
    opts: &LoadOptions,
    project_dir: &Path,
) -> Result<BTreeMap<String, String>, LoadError> {
    let mut env = BTreeMap::new();
    let files: Vec<(PathBuf, bool)> = if opts.env_files.is_empty() {
        vec![(project_dir.join(".env"), false)]
    } else {
        opts.env_files
            .iter()
            .map(|f| (paths::clean(&opts.cwd.join(f)), true))
            .collect()
    };
    for (file, required) in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(e) => {
                return Err(LoadError::in_file(
                    &file,
                    format!("cannot read env file: {e}"),
                ))
            }
        };
        let lookup = |k: &str| opts.environment.get(k).or_else(|| env.get(k)).cloned();
        let vars = dotenv::parse(&text, &lookup).map_err(|e| LoadError::in_file(&file, e))?;
        env.extend(vars);
    }
    env.extend(opts.environment.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(env)
}

/// Docker compose's normalisation of a project name.
fn project_name(raw: &str) -> Result<String, LoadError> {
    let name: String = raw
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    if name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Ok(name)
    } else {
        Err(LoadError::plain(format!(
            "invalid project name {raw:?}: it must contain only lowercase letters, digits, dashes and underscores, and start with a letter or a digit"
        )))
    }
}

/// Which file each service (and each of its keys) and each top-level entry last
/// came from, to name it in errors found after merging.
#[derive(Default)]
struct Origins(HashMap<String, usize>);

impl Origins {
    fn record(&mut self, tree: &Value, idx: usize) {
        let Some(top) = tree.as_object() else { return };
        for (section, v) in top {
            self.0.insert(section.clone(), idx);
            if let Some(m) = v.as_object() {
                for (name, entry) in m {
                    let key = format!("{section}.{name}");
                    if section == "services" {
                        if let Some(keys) = entry.as_object() {
                            for k in keys.keys() {
                                self.0.insert(format!("{key}.{k}"), idx);
                            }
                        }
                        self.0.entry(key).or_insert(idx);
                    } else {
                        self.0.insert(key, idx);
                    }
                }
            }
        }
    }

    fn file_of<'a>(&self, key: &str, files: &'a [PathBuf]) -> Option<&'a Path> {
        let mut k = key;
        loop {
            if let Some(i) = self.0.get(k) {
                return files.get(*i).map(PathBuf::as_path);
            }
            match k.rfind(['.', '[']) {
                Some(p) => k = &k[..p],
                None => return files.first().map(PathBuf::as_path),
            }
        }
    }
}

/// Reads the project `opts` describe.
pub fn load(opts: &LoadOptions) -> Result<Project, LoadError> {
    let files = discover(opts)?;
    let first = files
        .first()
        .ok_or_else(|| LoadError::plain("no compose file given"))?;
    let project_dir = match &opts.project_directory {
        Some(d) => paths::clean(&opts.cwd.join(d)),
        None if first == Path::new("-") => opts.cwd.clone(),
        None => first
            .parent()
            .map_or_else(|| opts.cwd.clone(), Path::to_path_buf),
    };
    let env = environment(opts, &project_dir)?;
    let home = env.get("HOME").map(PathBuf::from);

    // Another file named by `extends` (its own extends are followed lazily).
    let read_other = |path: &Path| -> Result<(Value, tags::Replaced), LoadError> {
        let text = read_text(path, opts)?;
        read_file(path, &text, &env)
    };

    let mut merged = Value::Object(serde_json::Map::new());
    let mut origins = Origins::default();
    for (idx, path) in files.iter().enumerate() {
        let text = read_text(path, opts)?;
        let (mut tree, replaced) = read_file(path, &text, &env)?;
        let self_path = if path == Path::new("-") {
            project_dir.join("-")
        } else {
            path.clone()
        };
        extends::resolve_file(
            &mut tree,
            &replaced,
            &self_path,
            home.as_deref(),
            &read_other,
        )?;
        origins.record(&tree, idx);
        // `!reset` and `!override`: what earlier files gave those keys goes first.
        replaced.drop_from(&mut merged, &[]);
        merge::merge_file(&mut merged, tree);
    }

    let raw_name = match (
        &opts.project_name,
        env.get("COMPOSE_PROJECT_NAME").filter(|s| !s.is_empty()),
    ) {
        (Some(n), _) => n.clone(),
        (None, Some(n)) => n.clone(),
        (None, None) => match merged.get("name").and_then(Value::as_str) {
            Some(n) => n.to_owned(),
            None => project_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        },
    };
    let name = project_name(&raw_name)?;

    let ctx = normalise::Ctx {
        project_dir: &project_dir,
        project_name: &name,
        env: &env,
    };
    let to_error = |f: Fault| {
        let file = origins.file_of(&f.key, &files).map(Path::to_path_buf);
        f.in_file(file.as_deref())
    };
    let n = normalise::project(&merged, &ctx).map_err(to_error)?;

    let mut active: Vec<String> = opts.profiles.clone();
    if let Some(p) = env.get("COMPOSE_PROFILES") {
        active.extend(
            p.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
    }
    let mut project = Project {
        name: name.clone(),
        working_dir: project_dir.clone(),
        config_files: files.clone(),
        networks: n.networks,
        volumes: n.volumes,
        secrets: n.secrets,
        configs: n.configs,
        ..Default::default()
    };
    let mut needs_default = false;
    for (svc_name, mut svc) in n.services {
        let enabled =
            svc.profiles.is_empty() || svc.profiles.iter().any(|p| p == "*" || active.contains(p));
        let enabled = enabled || active.iter().any(|a| a == "*");
        if svc.network_mode.is_none() && svc.networks.is_empty() {
            svc.networks
                .insert("default".into(), ServiceNetwork::default());
            needs_default |= enabled;
        }
        if enabled {
            project.services.insert(svc_name, svc);
        } else {
            project.disabled.insert(svc_name, svc);
        }
    }
    if needs_default && !project.networks.contains_key("default") {
        project.networks.insert(
            "default".into(),
            crate::model::Network {
                name: format!("{name}_default"),
                ..Default::default()
            },
        );
    }
    validate::project(&project).map_err(to_error)?;
    settle_disabled_dependencies(&mut project).map_err(to_error)?;
    Ok(project)
}

/// An enabled service needing a disabled one is an error, unless the dependency is
/// `required: false` (then it is dropped).
fn settle_disabled_dependencies(p: &mut Project) -> Result<(), Fault> {
    for (name, svc) in p.services.iter_mut() {
        let mut dropped = Vec::new();
        for (dep, d) in &svc.depends_on {
            if p.disabled.contains_key(dep) {
                if d.required {
                    return Err(Fault::new(
                        format!("services.{name}.depends_on.{dep}"),
                        format!("depends on service {dep:?}, which is disabled (none of its profiles is active)"),
                    ));
                }
                dropped.push(dep.clone());
            }
        }
        for d in dropped {
            svc.depends_on.remove(&d);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_are_normalised_as_docker_compose_does() {
        assert_eq!(project_name("My.App_1").as_deref(), Ok("myapp_1"));
        assert_eq!(project_name("web-Stack").as_deref(), Ok("web-stack"));
        assert!(project_name("_x").is_err());
        assert!(project_name("...").is_err());
    }

    #[test]
    fn override_files_follow_the_base_name() {
        assert_eq!(
            override_names("compose.yaml"),
            ["compose.override.yaml", "compose.override.yml"]
        );
        assert_eq!(
            override_names("docker-compose.yml"),
            [
                "docker-compose.override.yaml",
                "docker-compose.override.yml"
            ]
        );
    }

    #[test]
    fn errors_after_merging_name_the_file_that_set_the_key() {
        let files = [PathBuf::from("/a.yaml"), PathBuf::from("/b.yaml")];
        let mut o = Origins::default();
        o.record(
            &serde_json::json!({"services": {"web": {"image": "x", "ports": []}}}),
            0,
        );
        o.record(
            &serde_json::json!({"services": {"web": {"ports": ["1"]}}}),
            1,
        );
        assert_eq!(
            o.file_of("services.web.ports[0]", &files),
            Some(Path::new("/b.yaml"))
        );
        assert_eq!(
            o.file_of("services.web.image", &files),
            Some(Path::new("/a.yaml"))
        );
        assert_eq!(
            o.file_of("services.web", &files),
            Some(Path::new("/a.yaml"))
        );
        assert_eq!(o.file_of("nowhere", &files), Some(Path::new("/a.yaml")));
    }

    #[test]
    fn process_environment_wins_over_dotenv() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(".env"), "A=dotenv\nB=dotenv\n").expect("writes .env");
        let opts = LoadOptions {
            environment: BTreeMap::from([("A".to_owned(), "process".to_owned())]),
            ..Default::default()
        };
        let env = environment(&opts, dir.path()).expect("reads");
        assert_eq!(env.get("A").map(String::as_str), Some("process"));
        assert_eq!(env.get("B").map(String::as_str), Some("dotenv"));
    }
}
