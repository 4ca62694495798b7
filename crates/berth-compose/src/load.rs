//! Reading a project: files → merged, interpolated, extended, normalised model.
//!
//! Each file is parsed into a generic tree, interpolated, checked for unknown keys,
//! canonicalised, has its `extends` resolved and the projects it `include`s
//! imported; the trees are merged in order; the merged tree is normalised into
//! [`Project`], then profiles, the default network and cross references are settled.

mod dotenv;
mod extends;
mod include;
mod interpolate;
mod merge;
mod mounts;
mod normalise;
mod paths;
mod ports;
mod schema;
mod tags;
pub(crate) mod units;
mod unsupported;
mod validate;
mod values;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

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

/// The files to read, absolute (`-` kept as is); with the environment read to look
/// for `COMPOSE_FILE` and the directory whose `.env` it came from, when it was read.
fn discover(opts: &LoadOptions) -> Result<(Vec<PathBuf>, Option<EnvOf>), LoadError> {
    let abs = |p: &Path| {
        if p == Path::new("-") {
            p.to_path_buf()
        } else {
            paths::clean(&opts.cwd.join(p))
        }
    };
    if !opts.files.is_empty() {
        return Ok((opts.files.iter().map(|p| abs(p)).collect(), None));
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
        let files = list
            .split(sep)
            .filter(|s| !s.is_empty())
            .map(|p| abs(Path::new(p)))
            .collect();
        return Ok((files, Some((base, env))));
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
                return Ok((files, Some((base, env))));
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
    let files: Vec<(PathBuf, bool)> = if opts.env_files.is_empty() {
        vec![(project_dir.join(".env"), false)]
    } else {
        opts.env_files
            .iter()
            .map(|f| (paths::clean(&opts.cwd.join(f)), true))
            .collect()
    };
    env_over_files(&files, &opts.environment)
}

/// The variables of env `files` (each with whether it must exist), in order, with
/// `base` over them; `${VAR}` in a file takes `base`'s value first.
fn env_over_files(
    files: &[(PathBuf, bool)],
    base: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, LoadError> {
    let mut env = BTreeMap::new();
    for (file, required) in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(e) => {
                return Err(LoadError::in_file(
                    file,
                    format!("cannot read env file: {e}"),
                ))
            }
        };
        let lookup = |k: &str| base.get(k).or_else(|| env.get(k)).cloned();
        let vars = dotenv::parse(&text, &lookup).map_err(|e| LoadError::in_file(file, e))?;
        env.extend(vars);
    }
    env.extend(base.iter().map(|(k, v)| (k.clone(), v.clone())));
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

type Env = BTreeMap<String, String>;

/// A directory and the environment read with its `.env`.
type EnvOf = (PathBuf, Env);

/// Reads a project's files and the projects they include, recording where each key
/// came from and the environment of each included service.
struct Reader<'a> {
    opts: &'a LoadOptions,
    /// Every file read (top-level and included), in order: `origins` indexes it.
    sources: Vec<PathBuf>,
    origins: Origins,
    /// The interpolation environment of each service an include brought in (the
    /// others have the project's).
    service_envs: HashMap<String, Rc<Env>>,
}

impl Reader<'_> {
    /// One file of a project whose relative paths are against `dir` and whose
    /// variables are `env`: read, with its includes imported, then its `extends`
    /// resolved (so a service may extend an included one, as in compose-go).
    /// `chain` holds the files including it, outermost first.
    fn file(
        &mut self,
        path: &Path,
        dir: &Path,
        env: &Rc<Env>,
        chain: &[PathBuf],
    ) -> Result<(Value, tags::Replaced), LoadError> {
        let opts = self.opts;
        let text = read_text(path, opts)?;
        let (mut tree, replaced) = read_file(path, &text, env)?;
        let self_path = if path == Path::new("-") {
            dir.join("-")
        } else {
            path.to_path_buf()
        };
        let idx = self.sources.len();
        self.sources.push(path.to_path_buf());

        let entries = match tree.as_object_mut().and_then(|m| m.remove("include")) {
            Some(v) => include::entries(&v).map_err(|f| f.in_file(Some(path)))?,
            None => Vec::new(),
        };
        let chain: Vec<PathBuf> = chain.iter().cloned().chain([self_path.clone()]).collect();
        let mut imported_by = HashMap::new();
        for entry in &entries {
            let (imported, from) = self.include(path, entry, dir, env, &chain)?;
            include::import(&mut tree, imported, path, &from, &mut imported_by)?;
        }

        let home = env.get("HOME").map(PathBuf::from);
        // Another file named by `extends` (its own extends are followed lazily).
        let read_other = |p: &Path| -> Result<(Value, tags::Replaced), LoadError> {
            let text = read_text(p, opts)?;
            read_file(p, &text, env)
        };
        extends::resolve_file(
            &mut tree,
            &replaced,
            &self_path,
            home.as_deref(),
            &read_other,
        )?;
        // The imported resources were recorded as their own files' keys.
        self.origins
            .record(&include::without(&tree, imported_by.keys()), idx);
        Ok((tree, replaced))
    }

    /// The project one of `file`'s includes describes (`dir`, `env`, `chain`: the
    /// including project's, as for [`Reader::file`]): its files merged, its
    /// relative paths absolute; with its first file.
    fn include(
        &mut self,
        file: &Path,
        entry: &include::Entry,
        dir: &Path,
        env: &Env,
        chain: &[PathBuf],
    ) -> Result<(Value, PathBuf), LoadError> {
        let fault = |key: &str, message: String| Fault::new(key, message).in_file(Some(file));
        let must_be_file = |path: &Path, key: &str| match std::fs::metadata(path) {
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => Err(fault(key, format!("{} is not a file", path.display()))),
            Err(e) => Err(fault(key, format!("cannot read {}: {e}", path.display()))),
        };
        let home = env.get("HOME").map(PathBuf::from);
        let resolve = |s: &str| paths::resolve(dir, home.as_deref(), s);
        let mut files = Vec::new();
        for (p, key) in &entry.paths {
            let path = resolve(p);
            if let Some(start) = chain.iter().position(|c| *c == path) {
                let cycle: Vec<String> = chain[start..]
                    .iter()
                    .chain([&path])
                    .map(|p| p.display().to_string())
                    .collect();
                return Err(fault(key, format!("include cycle: {}", cycle.join(" -> "))));
            }
            must_be_file(&path, key)?;
            files.push(path);
        }
        let first = files
            .first()
            .cloned()
            .expect("include::entries gives every entry a path");
        let project_dir = match &entry.project_directory {
            Some((d, _)) => resolve(d),
            None => first
                .parent()
                .map_or_else(|| dir.to_path_buf(), Path::to_path_buf),
        };
        // Relative env files are the including project's, as in docker compose.
        let mut env_files = Vec::new();
        for (f, key) in &entry.env_files {
            let path = resolve(f);
            must_be_file(&path, key)?;
            env_files.push((path, true));
        }
        if env_files.is_empty() {
            env_files.push((project_dir.join(".env"), false));
        }
        // The including project's variables win, as in docker compose: an include's
        // env files only add the ones it lacks.
        let own_env = Rc::new(env_over_files(&env_files, env)?);

        let mut merged = Value::Object(serde_json::Map::new());
        for path in &files {
            let (tree, replaced) = self.file(path, &project_dir, &own_env, chain)?;
            replaced.drop_from(&mut merged, &[]);
            merge::merge_file(&mut merged, tree);
        }
        let own_home = own_env.get("HOME").map(PathBuf::from);
        include::absolutise(&mut merged, &project_dir, own_home.as_deref());
        if let Some(Value::Object(services)) = merged.get("services") {
            for name in services.keys() {
                self.service_envs
                    .entry(name.clone())
                    .or_insert_with(|| own_env.clone());
            }
        }
        Ok((merged, first))
    }
}

/// Reads the project `opts` describe.
pub fn load(opts: &LoadOptions) -> Result<Project, LoadError> {
    let (files, read) = discover(opts)?;
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
    let env = match read {
        // The same `.env` the discovery read: not read again.
        Some((dir, env)) if dir == project_dir => env,
        _ => environment(opts, &project_dir)?,
    };
    let env = Rc::new(env);

    let mut reader = Reader {
        opts,
        sources: Vec::new(),
        origins: Origins::default(),
        service_envs: HashMap::new(),
    };
    let mut merged = Value::Object(serde_json::Map::new());
    for path in &files {
        let (tree, replaced) = reader.file(path, &project_dir, &env, &[])?;
        // `!reset` and `!override`: what earlier files gave those keys goes first.
        replaced.drop_from(&mut merged, &[]);
        merge::merge_file(&mut merged, tree);
    }
    let Reader {
        sources,
        origins,
        service_envs,
        ..
    } = reader;

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
        service_envs: &service_envs,
    };
    let to_error = |f: Fault| {
        let file = origins.file_of(&f.key, &sources).map(Path::to_path_buf);
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
        warnings: n
            .warnings
            .into_iter()
            .map(|w| {
                let file = origins.file_of(&w.key, &sources);
                let at = file.map_or_else(String::new, |f| format!("{}: ", f.display()));
                format!("{at}{} is ignored: {}", w.key, w.message)
            })
            .collect(),
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

    /// Writes `files` (path, text) under a new directory and loads its
    /// `compose.yaml` with `env` as the process environment.
    fn load_files(
        files: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> (tempfile::TempDir, Result<Project, LoadError>) {
        let dir = tempfile::tempdir().expect("tempdir");
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().expect("has a parent")).expect("mkdir");
            std::fs::write(p, text).expect("writes");
        }
        let opts = LoadOptions {
            cwd: dir.path().to_path_buf(),
            environment: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        };
        let project = load(&opts);
        (dir, project)
    }

    fn image(p: &Project, service: &str) -> String {
        p.services[service].image.clone().unwrap_or_default()
    }

    #[test]
    fn includes_have_their_own_environment_under_the_includers() {
        let (_dir, p) = load_files(
            &[
                (
                    "compose.yaml",
                    "include: [{path: sub/compose.yaml, env_file: [sub.env]}]\nservices:\n  top:\n    image: top-${SUB_ONLY:-unset}\n",
                ),
                (".env", "SHARED=dotenv\n"),
                ("sub.env", "SHARED=sub\nSUB_ONLY=sub\nPROC=sub\n"),
                (
                    "sub/compose.yaml",
                    "services:\n  s:\n    image: ${SHARED}-${SUB_ONLY}-${PROC}\n    environment: [SUB_ONLY]\n",
                ),
                // Not read: the include's env_file replaces its .env.
                ("sub/.env", "SUB_ONLY=dotenv\n"),
            ],
            &[("PROC", "process")],
        );
        let p = p.expect("loads");
        assert_eq!(image(&p, "s"), "dotenv-sub-process");
        assert_eq!(
            p.services["s"].environment.get("SUB_ONLY"),
            Some(&Some("sub".to_owned()))
        );
        assert_eq!(image(&p, "top"), "top-unset");
    }

    #[test]
    fn a_project_included_twice_is_one_and_a_cycle_is_named() {
        let (_dir, p) = load_files(
            &[
                ("compose.yaml", "include: [a.yaml, b.yaml]\n"),
                (
                    "a.yaml",
                    "include: [c.yaml]\nservices:\n  a:\n    image: a\n",
                ),
                (
                    "b.yaml",
                    "include: [c.yaml]\nservices:\n  b:\n    image: b\n",
                ),
                ("c.yaml", "services:\n  c:\n    image: c\n"),
            ],
            &[],
        );
        let names: Vec<String> = p.expect("loads").services.into_keys().collect();
        assert_eq!(names, ["a", "b", "c"]);

        let (dir, p) = load_files(
            &[
                ("compose.yaml", "include: [{path: [a.yaml, b.yaml]}]\n"),
                ("a.yaml", "services:\n  a:\n    image: a\n"),
                ("b.yaml", "include: [compose.yaml]\n"),
            ],
            &[],
        );
        let e = p.unwrap_err();
        assert_eq!(e.file.as_deref(), Some(dir.path().join("b.yaml").as_path()));
        assert_eq!(e.key.as_deref(), Some("include[0]"));
        let d = dir.path().display();
        assert_eq!(
            e.message,
            format!("include cycle: {d}/compose.yaml -> {d}/b.yaml -> {d}/compose.yaml")
        );
    }
}
