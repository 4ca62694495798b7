//! One stage, step by step: FROM (and the base image's ONBUILD triggers), the
//! metadata instructions (a new config, an empty layer), RUN (a container), COPY and
//! ADD (files written into a container's root), each looked up in the cache first.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use berth_image::model::RunConfig;

use super::cache::{CacheIndex, Key};
use super::copy::{self, Owner, Source};
use super::describe::{self, nop, nop_one};
use super::{
    short, BindMount, BuildError, Commit, ContainerSpec, Event, Image, Shared, StageResult,
};
use crate::dockerfile::{Dockerfile, Step};
use crate::flags::{MountType, NetworkMode};
use crate::instruction::{Command, Copy, Healthcheck, Instruction, Run};
use crate::scope::StageScope;
use crate::shell::Lexer;

/// The default PATH a base without one gets (as dockerd adds it).
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct State<'s, 'a> {
    sh: &'s Shared<'a>,
    emit: &'s mut dyn FnMut(Event),
    cache: CacheIndex,
    image: Option<String>,
    config: RunConfig,
    shell: Vec<String>,
    author: Option<String>,
    cmd_set: bool,
    index: usize,
}

pub(crate) fn run_stage(
    sh: &Shared<'_>,
    index: usize,
    offset: usize,
    extra: Option<Step>,
    emit: &mut dyn FnMut(Event),
) -> Result<StageResult, BuildError> {
    let stage = &sh.df.stages[index];
    let mut st = State {
        sh,
        emit,
        cache: CacheIndex::open(&sh.backend.cache_root()),
        image: None,
        config: RunConfig::default(),
        shell: vec!["/bin/sh".into(), "-c".into()],
        author: None,
        cmd_set: false,
        index,
    };
    let lexer = Lexer::new(sh.df.directives.escape);
    let from_step = &stage.steps[0];
    st.step_line(offset + 1, &from_step.original);
    st.from(from_step, lexer)?;
    let base_env = env_pairs(&st.config);
    let mut scope = StageScope::new(sh.global, base_env);
    // The base's ONBUILD triggers run first, and are not inherited.
    let triggers = st.config.on_build.take().unwrap_or_default();
    if !triggers.is_empty() {
        // Three messages, as dockerd sends them.
        st.text(&format!("# Executing {} build trigger", triggers.len()));
        if triggers.len() != 1 {
            st.text("s");
        }
        st.text("\n");
        for t in &triggers {
            let step = parse_trigger(t, sh.df.directives.escape)?;
            st.step(&step, &mut scope)?;
        }
    }
    st.show_image();
    let steps = stage.steps[1..].iter().chain(extra.iter());
    for (k, step) in steps.enumerate() {
        if sh.cancelled.load(Ordering::SeqCst) {
            return Err(BuildError::msg("build cancelled"));
        }
        st.step_line(offset + k + 2, &step.original);
        st.step(step, &mut scope)?;
        st.show_image();
    }
    {
        let mut d = sh.declared.lock().unwrap_or_else(|e| e.into_inner());
        d.extend(scope.declared().iter().cloned());
    }
    let image =
        match &st.image {
            Some(id) => Some(sh.backend.image(id).ok_or_else(|| {
                BuildError::msg(format!("the image {id} the build made is gone"))
            })?),
            None => None,
        };
    Ok(StageResult { image })
}

fn parse_trigger(t: &str, escape: char) -> Result<Step, BuildError> {
    let text = format!("# escape={escape}\nFROM scratch\n{t}\n");
    let df = Dockerfile::parse(&text)
        .map_err(|e| BuildError::msg(format!("ONBUILD trigger {t:?}: {e}")))?;
    let step = df.stages[0]
        .steps
        .get(1)
        .cloned()
        .ok_or_else(|| BuildError::msg(format!("ONBUILD trigger {t:?}: no instruction")))?;
    match step.instruction.keyword() {
        k @ ("FROM" | "ONBUILD" | "MAINTAINER") => Err(BuildError::msg(format!(
            "{k} isn't allowed as an ONBUILD trigger"
        ))),
        _ => Ok(step),
    }
}

/// `k=v k2=v2`: ENV's and LABEL's history text (values unquoted, as dockerd writes them).
fn pairs_text(pairs: &[crate::instruction::KeyValue]) -> String {
    pairs
        .iter()
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect::<Vec<_>>()
        .join(" ")
}

fn env_pairs(c: &RunConfig) -> Vec<(String, String)> {
    c.env
        .iter()
        .flatten()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (e.clone(), String::new()),
        })
        .collect()
}

/// Pull progress during FROM, passed on.
struct Relay<'e>(&'e mut dyn FnMut(Event));

impl super::Sink for Relay<'_> {
    fn stream(&mut self, text: &str) -> bool {
        (self.0)(Event::Text(text.to_string()));
        true
    }
    fn message(&mut self, m: serde_json::Value) -> bool {
        (self.0)(Event::Message(m));
        true
    }
    fn aux(&mut self, _: serde_json::Value) -> bool {
        true
    }
}

impl State<'_, '_> {
    fn text(&mut self, s: &str) {
        (self.emit)(Event::Text(s.to_string()));
    }

    /// `Step N/M : text`, and the newline as a message of its own (as dockerd).
    fn step_line(&mut self, n: usize, original: &str) {
        let s = format!("Step {n}/{} : {original}", self.sh.total);
        self.text(&s);
        self.text("\n");
    }

    fn show_image(&mut self) {
        let s = format!(
            " ---> {}\n",
            self.image.as_deref().map(short).unwrap_or_default()
        );
        self.text(&s);
    }

    fn backend(&self) -> &dyn super::Backend {
        self.sh.backend
    }

    fn from(&mut self, step: &Step, lexer: Lexer) -> Result<(), BuildError> {
        let Instruction::From(f) = &step.instruction else {
            return Err(BuildError::msg("a stage must start with FROM"));
        };
        let vars = self.sh.global.vars();
        let sub = |w: &str| {
            lexer.process_word(w, vars).map_err(|e| {
                BuildError::msg(format!("dockerfile parse error on line {}: {e}", step.line))
            })
        };
        let name = sub(&f.image)?;
        let platform = f.platform.as_deref().map(sub).transpose()?;
        if name.is_empty() {
            return Err(BuildError::msg(format!(
                "dockerfile parse error on line {}: FROM requires the name of an image",
                step.line
            )));
        }
        let base: Option<Image> = if name.eq_ignore_ascii_case("scratch") {
            None
        } else if let Some(d) = self.sh.df.stage_ref(&name, self.index) {
            self.sh.wait_for(d)?.image
        } else {
            let pull = self.sh.req.pull;
            let mut relay = Relay(&mut *self.emit);
            Some(
                self.sh
                    .backend
                    .base_image(&name, platform.as_deref(), pull, &mut relay)?,
            )
        };
        if let Some(img) = &base {
            self.image = Some(img.id.clone());
            self.config = img.config.config.clone().unwrap_or_default();
            self.author = img.config.author.clone();
            if let Some(sh) = self
                .config
                .other
                .get("Shell")
                .and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok())
            {
                if !sh.is_empty() {
                    self.shell = sh;
                }
            }
        }
        let env = self.config.env.get_or_insert_with(Vec::new);
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.push(DEFAULT_PATH.to_string());
        }
        Ok(())
    }

    /// One instruction after FROM.
    fn step(&mut self, step: &Step, scope: &mut StageScope<'_>) -> Result<(), BuildError> {
        let ins = scope
            .apply(step)
            .map_err(|e| BuildError::msg(e.to_string()))?;
        match &ins {
            Instruction::Run(r) => self.run(r, scope, step),
            Instruction::Copy(c) => self.copy(c, "COPY", step),
            Instruction::Add(c) => self.copy(c, "ADD", step),
            Instruction::Workdir(w) => self.workdir(w),
            Instruction::Env(pairs) => {
                let comment = format!("ENV {}", pairs_text(pairs));
                self.config.env = Some(
                    scope
                        .env()
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect(),
                );
                self.metadata(&nop(&self.shell.clone(), &comment))
            }
            other => {
                // After SHELL, its own entry already uses the new shell.
                let comment = self.apply_metadata(other)?;
                let created_by = nop(&self.shell.clone(), &comment);
                self.metadata(&created_by)
            }
        }
    }

    /// A config-only instruction: changes `self.config`, returns the history comment.
    fn apply_metadata(&mut self, ins: &Instruction) -> Result<String, BuildError> {
        let c = &mut self.config;
        Ok(match ins {
            Instruction::Label(pairs) => {
                let labels = c.labels.get_or_insert_with(BTreeMap::new);
                for kv in pairs {
                    labels.insert(kv.key.clone(), kv.value.clone());
                }
                format!("LABEL {}", pairs_text(pairs))
            }
            Instruction::Maintainer(m) => {
                self.author = Some(m.clone());
                format!("MAINTAINER {m}")
            }
            Instruction::Expose(ports) => {
                let exposed = c.exposed_ports.get_or_insert_with(BTreeMap::new);
                let mut shown: Vec<String> = Vec::new();
                for p in ports {
                    let full = if p.contains('/') {
                        p.to_ascii_lowercase()
                    } else {
                        format!("{p}/tcp")
                    };
                    exposed.insert(full, serde_json::json!({}));
                    shown.push(p.clone());
                }
                shown.sort();
                format!("EXPOSE {}", shown.join(" "))
            }
            Instruction::User(u) => {
                c.user = Some(u.clone());
                format!("USER {u}")
            }
            Instruction::Volume(v) => {
                let vols = c.volumes.get_or_insert_with(BTreeMap::new);
                for p in v {
                    if p.trim().is_empty() {
                        return Err(BuildError::msg(
                            "VOLUME specified can not be an empty string",
                        ));
                    }
                    vols.insert(p.clone(), serde_json::json!({}));
                }
                format!("VOLUME {}", describe::plain_list(v))
            }
            Instruction::Stopsignal(s) => {
                c.stop_signal = Some(s.clone());
                format!("STOPSIGNAL {s}")
            }
            Instruction::Healthcheck(h) => {
                let (test, i, t, sp, r, json) = match h {
                    Healthcheck::None => (
                        vec!["NONE".to_string()],
                        Default::default(),
                        Default::default(),
                        Default::default(),
                        0,
                        serde_json::json!({"Test": ["NONE"]}),
                    ),
                    Healthcheck::Check {
                        command,
                        interval,
                        timeout,
                        start_period,
                        start_interval,
                        retries,
                    } => {
                        let test = match command {
                            Command::Exec(v) => std::iter::once("CMD".to_string())
                                .chain(v.iter().cloned())
                                .collect(),
                            Command::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
                        };
                        let mut j = serde_json::Map::new();
                        j.insert("Test".into(), serde_json::json!(test));
                        let ns = |d: &Option<std::time::Duration>| {
                            d.map(|d| d.as_nanos() as u64).unwrap_or(0)
                        };
                        for (k, v) in [
                            ("Interval", ns(interval)),
                            ("Timeout", ns(timeout)),
                            ("StartPeriod", ns(start_period)),
                            ("StartInterval", ns(start_interval)),
                        ] {
                            if v > 0 {
                                j.insert(k.into(), serde_json::json!(v));
                            }
                        }
                        if let Some(r) = retries.filter(|r| *r > 0) {
                            j.insert("Retries".into(), serde_json::json!(r));
                        }
                        (
                            test,
                            interval.unwrap_or_default(),
                            timeout.unwrap_or_default(),
                            start_period.unwrap_or_default(),
                            retries.unwrap_or(0),
                            serde_json::Value::Object(j),
                        )
                    }
                };
                c.healthcheck = Some(json);
                format!("HEALTHCHECK {}", describe::healthcheck(&test, i, t, sp, r))
            }
            Instruction::Shell(v) => {
                c.other.insert("Shell".into(), serde_json::json!(v));
                self.shell = v.clone();
                format!("SHELL {}", describe::plain_list(v))
            }
            Instruction::Onbuild { expression, .. } => {
                c.on_build
                    .get_or_insert_with(Vec::new)
                    .push(expression.clone());
                format!("ONBUILD {expression}")
            }
            Instruction::Entrypoint(cmd) => {
                let v = self.command_words(cmd);
                let c = &mut self.config;
                c.entrypoint = Some(v.clone());
                if !self.cmd_set {
                    c.cmd = None;
                }
                format!("ENTRYPOINT {}", describe::quoted_list(&v))
            }
            Instruction::Cmd(cmd) => {
                let v = self.command_words(cmd);
                self.config.cmd = Some(v.clone());
                self.cmd_set = true;
                format!("CMD {}", describe::quoted_list(&v))
            }
            Instruction::Arg(decls) => format!(
                "ARG {}",
                decls
                    .iter()
                    .map(|d| match &d.default {
                        Some(v) => format!("{}={v}", d.name),
                        None => d.name.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            other => {
                return Err(BuildError::msg(format!(
                    "{} is not allowed here",
                    other.keyword()
                )))
            }
        })
    }

    fn command_words(&self, cmd: &Command) -> Vec<String> {
        match cmd {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => {
                let mut v = self.shell.clone();
                v.push(s.clone());
                v
            }
        }
    }

    fn key(&self, created_by: &str, extra: &str) -> Key {
        let config = serde_json::to_string(&self.config).unwrap_or_default();
        let epoch = self.sh.epoch.map(|e| e.to_string()).unwrap_or_default();
        let author = self.author.clone().unwrap_or_default();
        Key::new(
            self.image.as_deref(),
            &[created_by, &config, extra, &epoch, &author],
        )
    }

    /// The cached image for `key` (or from a `--cache-from` image whose history has
    /// this step next), if any and not `--no-cache`.
    fn cached(&mut self, key: &Key, created_by: &str) -> bool {
        if self.sh.req.no_cache {
            return false;
        }
        let found = match self.cache.get(key) {
            Some(id) if self.backend().image(&id).is_some() => Some(id),
            _ => self.cache_source_hit(created_by),
        };
        let Some(id) = found else {
            return false;
        };
        if self.cache.put(key, &id).is_err() {
            return false;
        }
        self.text(" ---> Using cache\n");
        self.adopt(id);
        true
    }

    /// dockerd's `--cache-from` match: a source whose history and layers start with the
    /// current image's and whose next entry is this step.
    fn cache_source_hit(&self, created_by: &str) -> Option<String> {
        if self.sh.cache_sources.is_empty() {
            return None;
        }
        let parent = match &self.image {
            Some(id) => Some(self.backend().image(id)?.config),
            None => None,
        };
        let (hist, diffs) = match &parent {
            Some(p) => (p.history.as_slice(), p.rootfs.diff_ids.as_slice()),
            None => (&[][..], &[][..]),
        };
        for src in &self.sh.cache_sources {
            let t = &src.config;
            let prefix = hist.len() < t.history.len()
                && diffs.len() <= t.rootfs.diff_ids.len()
                && t.history[..hist.len()] == *hist
                && t.rootfs.diff_ids[..diffs.len()] == *diffs;
            if !prefix || t.history[hist.len()].created_by.as_deref() != Some(created_by) {
                continue;
            }
            if t.history.len() == hist.len() + 1 {
                return Some(src.id.clone());
            }
            return self
                .backend()
                .restore(self.image.as_deref(), &src.id, hist.len(), &self.config)
                .ok();
        }
        None
    }

    fn adopt(&mut self, id: String) {
        self.image = Some(id);
    }

    fn record(&mut self, key: &Key, id: String) -> Result<(), BuildError> {
        self.cache
            .put(key, &id)
            .map_err(|e| BuildError::msg(format!("recording the build cache: {e}")))?;
        self.adopt(id);
        Ok(())
    }

    fn commit(&self, container: Option<&str>, created_by: &str) -> Result<String, BuildError> {
        self.backend().commit(&Commit {
            parent: self.image.as_deref(),
            container,
            config: &self.config,
            created_by,
            epoch: self.sh.epoch,
            author: self.author.as_deref(),
        })
    }

    fn metadata(&mut self, created_by: &str) -> Result<(), BuildError> {
        let key = self.key(created_by, "");
        if self.cached(&key, created_by) {
            return Ok(());
        }
        let id = self.commit(None, created_by)?;
        self.record(&key, id)
    }

    fn workdir(&mut self, w: &str) -> Result<(), BuildError> {
        let base = self.config.working_dir.clone().unwrap_or_default();
        let joined = if w.starts_with('/') {
            w.to_string()
        } else {
            format!("{}/{w}", if base.is_empty() { "/" } else { &base })
        };
        let dir = crate::ignore::clean(&joined);
        self.config.working_dir = Some(dir.clone());
        let created_by = nop_one(&self.shell, &format!("WORKDIR {dir}"));
        let key = self.key(&created_by, "");
        if self.cached(&key, &created_by) {
            return Ok(());
        }
        // The directory is made in the image (a scratch stage has no filesystem yet).
        let container = match &self.image {
            Some(_) => {
                let cid = self
                    .backend()
                    .create(self.image.as_deref(), &ContainerSpec::default())?;
                let made = self.backend().with_rootfs(&cid, &mut |root| {
                    let fd = berth_image::copy::open_root_dir(root)
                        .map_err(|e| BuildError::msg(e.to_string()))?;
                    use std::os::fd::AsFd;
                    berth_image::copy::make_dirs_in_root(fd.as_fd(), &dir, 0, 0)
                        .map_err(|e| BuildError::msg(format!("WORKDIR {dir}: {e}")))
                });
                if let Err(e) = made {
                    self.backend().remove(&cid);
                    return Err(e);
                }
                Some(cid)
            }
            None => None,
        };
        let r = self.commit(container.as_deref(), &created_by);
        if let Some(c) = &container {
            self.backend().remove(c);
        }
        self.record(&key, r?)
    }

    fn run(&mut self, r: &Run, scope: &StageScope<'_>, step: &Step) -> Result<(), BuildError> {
        let mut cmd = match &r.command {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => {
                let script = heredoc_script(s, &r.heredocs);
                let mut v = self.shell.clone();
                v.push(script);
                v
            }
        };
        if cmd.is_empty() {
            return Err(BuildError::msg(format!(
                "dockerfile parse error on line {}: RUN requires at least one argument",
                step.line
            )));
        }
        // Declared ARGs with a value that no ENV overrides: in the environment and,
        // as `|N k=v …`, in the history (and so in the cache key).
        let vars = scope.vars();
        let env_keys: std::collections::BTreeSet<&str> =
            scope.env().iter().map(|(k, _)| k.as_str()).collect();
        let mut args: Vec<String> = scope
            .declared()
            .iter()
            .filter(|k| !env_keys.contains(k.as_str()))
            .filter_map(|k| vars.get(k).map(|v| format!("{k}={v}")))
            .collect();
        args.sort();
        let proxies: Vec<String> = crate::scope::PROXY_ARGS
            .iter()
            .filter(|p| !scope.declared().contains(**p) && !env_keys.contains(**p))
            .filter_map(|p| vars.get(*p).map(|v| format!("{p}={v}")))
            .collect();
        let created_by = if args.is_empty() {
            cmd.join(" ")
        } else {
            format!("|{} {} {}", args.len(), args.join(" "), cmd.join(" "))
        };
        let (binds, tmpfs) = self.run_mounts(r)?;
        let network = r.network.map(|n| match n {
            NetworkMode::Default => String::new(),
            NetworkMode::None => "none".into(),
            NetworkMode::Host => "host".into(),
        });
        let extra = format!("{:?}|{:?}|{:?}", r.mounts, network, proxies);
        let key = self.key(&created_by, &extra);
        if self.cached(&key, &created_by) {
            return Ok(());
        }
        let mut env: Vec<String> = self.config.env.clone().unwrap_or_default();
        env.extend(args);
        env.extend(proxies);
        let spec = ContainerSpec {
            cmd: std::mem::take(&mut cmd),
            env,
            user: self.config.user.clone().unwrap_or_default(),
            working_dir: self.config.working_dir.clone().unwrap_or_default(),
            limits: self.sh.req.limits.clone(),
            network,
            binds,
            tmpfs,
        };
        let cid = self.backend().create(self.image.as_deref(), &spec)?;
        self.text(&format!(" ---> Running in {}\n", short(&cid)));
        let code = {
            let emit = &mut *self.emit;
            // stderr in red, as dockerd marks it.
            self.sh.backend.run(&cid, &mut |err, b| {
                let text = String::from_utf8_lossy(b);
                emit(Event::Text(if err {
                    format!("\u{1b}[91m{text}\u{1b}[0m")
                } else {
                    text.into_owned()
                }))
            })
        };
        let code = match code {
            Ok(c) => c,
            Err(e) => {
                if self.sh.req.force_rm {
                    self.backend().remove(&cid);
                }
                return Err(e);
            }
        };
        if code != 0 {
            if self.sh.req.force_rm {
                self.backend().remove(&cid);
            }
            return Err(BuildError {
                message: format!(
                    "The command '{}' returned a non-zero code: {code}",
                    spec.cmd.join(" ")
                ),
                code,
            });
        }
        let id = self.commit(Some(&cid), &created_by);
        if self.sh.req.rm || self.sh.req.force_rm {
            if id.is_ok() {
                self.text(&format!(
                    "Removing intermediate container {}\n",
                    short(&cid)
                ));
            }
            self.backend().remove(&cid);
        }
        self.record(&key, id?)
    }

    /// `RUN --mount`: cache directories (kept under the cache root), tmpfs, binds of
    /// the context.
    fn run_mounts(&self, r: &Run) -> Result<(Vec<BindMount>, Vec<String>), BuildError> {
        let mut binds = Vec::new();
        let mut tmpfs = Vec::new();
        for m in &r.mounts {
            let target = m
                .target
                .clone()
                .ok_or_else(|| BuildError::msg("RUN --mount: target is required"))?;
            let target =
                copy::absolute_dest(&target, self.config.working_dir.as_deref().unwrap_or("/"));
            let target = target.trim_end_matches('/').to_string();
            match m.kind {
                MountType::Cache => {
                    let id = m.id.clone().unwrap_or_else(|| target.clone());
                    let dir = self
                        .backend()
                        .cache_root()
                        .join("mounts")
                        .join(super::cache::Key::new(None, &[&id]).0);
                    std::fs::create_dir_all(&dir).map_err(|e| {
                        BuildError::msg(format!("RUN --mount=type=cache {}: {e}", dir.display()))
                    })?;
                    if let (Some(u), Some(g)) = (m.uid, m.gid) {
                        let _ = std::os::unix::fs::chown(&dir, Some(u), Some(g));
                    }
                    binds.push(BindMount {
                        source: dir,
                        target,
                        readonly: m.readonly,
                    });
                }
                MountType::Tmpfs => tmpfs.push(target),
                MountType::Bind => {
                    if m.from.is_some() {
                        return Err(BuildError::msg(
                            "RUN --mount=type=bind,from=…: binding another stage is not supported; COPY --from it instead",
                        ));
                    }
                    let src = m.source.clone().unwrap_or_else(|| ".".into());
                    let found = copy::resolve(&self.sh.req.context, &[src], "RUN --mount")?;
                    binds.push(BindMount {
                        source: found[0].host.clone(),
                        target,
                        readonly: true,
                    });
                }
                MountType::Secret | MountType::Ssh => {
                    return Err(BuildError::msg(format!(
                    "RUN --mount=type={}: secrets and ssh agents are not supported by this builder",
                    if m.kind == MountType::Secret {
                        "secret"
                    } else {
                        "ssh"
                    }
                )))
                }
            }
        }
        Ok((binds, tmpfs))
    }

    fn copy(&mut self, c: &Copy, what: &str, step: &Step) -> Result<(), BuildError> {
        if c.sources.is_empty() && c.heredocs.is_empty() {
            return Err(BuildError::msg(format!(
                "dockerfile parse error on line {}: {what} requires at least two arguments",
                step.line
            )));
        }
        if let Some(u) = c.sources.iter().find(|s| is_url(s)) {
            if what == "COPY" {
                return Err(BuildError::msg(format!(
                    "source can't be a URL for COPY: {u}"
                )));
            }
        }
        // Where the sources are: the context, heredocs, or another stage or image.
        let mut tmp: Option<tempfile::TempDir> = None;
        let mut src_container: Option<String> = None;
        let root: PathBuf = if let Some(from) = &c.from {
            let image = match self.sh.df.stage_ref(from, self.index) {
                Some(d) => self.sh.wait_for(d)?.image,
                None => {
                    let mut relay = Relay(&mut *self.emit);
                    Some(self.sh.backend.base_image(from, None, false, &mut relay)?)
                }
            };
            let Some(image) = image else {
                return Err(BuildError::msg(format!(
                    "{what} --from={from}: the stage has no filesystem"
                )));
            };
            src_container = Some(
                self.backend()
                    .create(Some(&image.id), &ContainerSpec::default())?,
            );
            PathBuf::new()
        } else if what == "ADD" && c.sources.iter().any(|s| is_url(s)) {
            if !c.sources.iter().all(|s| is_url(s)) {
                return Err(BuildError::msg(
                    "ADD with both URLs and local files: give them in separate ADD instructions",
                ));
            }
            let t = temp_dir(&self.backend().cache_root())?;
            let proxies: Vec<(String, String)> = self
                .sh
                .req
                .build_args
                .iter()
                .filter(|(k, _)| crate::scope::PROXY_ARGS.contains(&k.as_str()))
                .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
                .collect();
            let mut names = Vec::new();
            for (n, url) in c.sources.iter().enumerate() {
                let sub = t.path().join(n.to_string());
                std::fs::create_dir(&sub)
                    .map_err(|e| BuildError::msg(format!("ADD {url}: {e}")))?;
                let dl = crate::add::download(url, &sub, c.checksum.as_deref(), &proxies)
                    .map_err(|e| BuildError::msg(e.to_string()))?;
                if dl.file_name.is_empty() && c.dest.ends_with('/') {
                    return Err(BuildError::msg(format!(
                        "cannot determine filename for source {url}"
                    )));
                }
                let name = if dl.file_name.is_empty() {
                    "__unnamed__".to_string()
                } else {
                    dl.file_name.clone()
                };
                let rel = format!("{n}/{name}");
                if dl.path != t.path().join(&rel) {
                    std::fs::rename(&dl.path, t.path().join(&rel))
                        .map_err(|e| BuildError::msg(format!("ADD {url}: {e}")))?;
                }
                names.push(rel);
            }
            let root = t.path().to_path_buf();
            // URLs are never extracted: copied as files.
            let plain = Copy {
                sources: names.clone(),
                ..c.clone()
            };
            let r = self.copy_from(&plain, "ADD-URL", &root, &names);
            drop(t);
            return r;
        } else if !c.heredocs.is_empty() {
            let t = temp_dir(&self.backend().cache_root())?;
            for h in &c.heredocs {
                std::fs::write(t.path().join(&h.name), &h.content)
                    .map_err(|e| BuildError::msg(format!("{what} heredoc {}: {e}", h.name)))?;
            }
            let p = t.path().to_path_buf();
            tmp = Some(t);
            p
        } else {
            self.sh.req.context.clone()
        };
        let names: Vec<String> = if c.heredocs.is_empty() {
            c.sources.clone()
        } else {
            c.heredocs.iter().map(|h| h.name.clone()).collect()
        };
        let result = match &src_container {
            Some(sc) => {
                let mut out = Err(BuildError::msg("no source"));
                let backend = self.sh.backend;
                let r = backend.with_rootfs(sc, &mut |src_root| {
                    out = self.copy_from(c, what, src_root, &names);
                    Ok(())
                });
                backend.remove(sc);
                r.and(out)
            }
            None => self.copy_from(c, what, &root, &names),
        };
        drop(tmp);
        result
    }

    fn copy_from(
        &mut self,
        c: &Copy,
        what: &str,
        root: &Path,
        names: &[String],
    ) -> Result<(), BuildError> {
        // Downloaded URLs are ADD's, but never extracted.
        let (what, extract) = match what {
            "ADD-URL" => ("ADD", false),
            w => (w, w == "ADD"),
        };
        let sources = copy::resolve(root, names, what)?;
        let origin = if c.from.is_some() {
            copy::Origin::Image
        } else {
            copy::Origin::Context
        };
        let checksum = copy::checksum(&sources, origin)?;
        let workdir = self.config.working_dir.clone().unwrap_or_default();
        let dest = copy::absolute_dest(&c.dest, &workdir);
        let several = sources.len() > 1 || names.iter().any(|n| crate::ignore::has_wildcard(n));
        if sources.len() > 1 && !dest.ends_with('/') {
            return Err(BuildError::msg(format!(
                "When using {what} with more than one source file, the destination must be a directory and end with a /"
            )));
        }
        // dockerd writes the flags straight before the checksum, without a space.
        let mut flags = String::new();
        if let Some(o) = &c.chown {
            flags.push_str(&format!("--chown={o}"));
        }
        if let Some(m) = &c.chmod {
            flags.push_str(&format!("--chmod={m}"));
        }
        let created_by = nop_one(&self.shell, &format!("{what} {flags}{checksum} in {dest} "));
        let key = self.key(&created_by, "");
        if self.cached(&key, &created_by) {
            return Ok(());
        }
        let chmod = c.chmod.as_deref().map(copy::chmod_bits).transpose()?;
        let cid = self
            .backend()
            .create(self.image.as_deref(), &ContainerSpec::default())?;
        let add = extract;
        let res = self.sh.backend.with_rootfs(&cid, &mut |dest_root| {
            let (uid, gid) = match &c.chown {
                Some(spec) => copy::chown_ids(dest_root, spec)?,
                None => (0, 0),
            };
            let own = Owner { uid, gid, chmod };
            place(
                dest_root,
                &sources,
                &dest,
                several,
                add,
                c.chown.is_some(),
                own,
            )
        });
        let id = res.and_then(|_| self.commit(Some(&cid), &created_by));
        self.backend().remove(&cid);
        self.record(&key, id?)
    }
}

/// Writes the sources into `root` at `dest` by Docker's rules.
fn place(
    root: &Path,
    sources: &[Source],
    dest: &str,
    several: bool,
    add: bool,
    chown: bool,
    own: Owner,
) -> Result<(), BuildError> {
    use std::os::fd::AsFd;
    let fd = berth_image::copy::open_root_dir(root).map_err(|e| BuildError::msg(e.to_string()))?;
    let dest_trim = dest.trim_end_matches('/');
    let dest_trim = if dest_trim.is_empty() { "/" } else { dest_trim };
    let dest_is_dir = dest.ends_with('/')
        || several
        || matches!(
            berth_image::copy::file_type_in_root(fd.as_fd(), dest_trim),
            Ok(Some(rustix::fs::FileType::Directory))
        );
    for s in sources {
        // Where it lands: a directory to extract into and the entry name there.
        let (dir, name, archive) = if s.is_dir {
            (dest_trim.to_string(), String::new(), None)
        } else if let Some(a) = if add { open_archive(&s.host)? } else { None } {
            (dest_trim.to_string(), String::new(), Some(a))
        } else if dest_is_dir {
            (dest_trim.to_string(), s.name.clone(), None)
        } else {
            let (parent, base) = dest_trim.rsplit_once('/').unwrap_or(("", dest_trim));
            (
                if parent.is_empty() {
                    "/".into()
                } else {
                    parent.to_string()
                },
                base.to_string(),
                None,
            )
        };
        berth_image::copy::make_dirs_in_root(fd.as_fd(), &dir, own.uid, own.gid)
            .map_err(|e| BuildError::msg(format!("creating {dir}: {e}")))?;
        let extract_opts = berth_image::copy::ExtractOptions {
            copy_uid_gid: true,
            ..Default::default()
        };
        let err = |e: &dyn std::fmt::Display| {
            BuildError::msg(format!("copying {} to {dest}: {e}", s.host.display()))
        };
        match archive {
            Some(reader) => {
                let _ = chown; // archives keep their owners
                berth_image::copy::extract_into(root, &dir, reader, extract_opts)
                    .map_err(|e| err(&e))?;
            }
            None => {
                let (r, w) = io::pipe().map_err(|e| err(&e))?;
                let host = s.host.clone();
                let writer = std::thread::spawn(move || -> io::Result<()> {
                    let mut tar = tar::Builder::new(io::BufWriter::with_capacity(1 << 20, w));
                    tar.follow_symlinks(false);
                    copy::append(&mut tar, &host, &name, own)?;
                    tar.into_inner()?.flush()
                });
                let res = berth_image::copy::extract_into(root, &dir, r, extract_opts);
                let wr = writer
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("tar writer panicked")));
                res.map_err(|e| err(&e))?;
                wr.map_err(|e| err(&e))?;
            }
        }
    }
    Ok(())
}

/// ADD's local archives (extracted instead of copied).
fn open_archive(path: &Path) -> Result<Option<Box<dyn io::Read + Send>>, BuildError> {
    crate::add::open_archive(path)
        .map_err(|e| BuildError::msg(format!("reading {}: {e}", path.display())))
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// A shell-form RUN with heredocs: `RUN <<EOF` alone runs the body as the script;
/// otherwise the heredocs follow the command for the shell to read.
fn heredoc_script(cmd: &str, heredocs: &[crate::lines::Heredoc]) -> String {
    if heredocs.is_empty() {
        return cmd.to_string();
    }
    let only = cmd.trim().trim_start_matches("<<").trim_start_matches('-');
    let only = only.trim_matches(|c| c == '"' || c == '\'');
    if heredocs.len() == 1 && only == heredocs[0].name {
        return heredocs[0].content.clone();
    }
    let mut s = cmd.to_string();
    for h in heredocs {
        s.push('\n');
        s.push_str(&h.content);
        s.push_str(&h.name);
    }
    s
}

/// A private directory under `CACHE_ROOT/tmp`, removed when dropped.
fn temp_dir(root: &Path) -> Result<tempfile::TempDir, BuildError> {
    let base = root.join("tmp");
    std::fs::create_dir_all(&base)
        .and_then(|()| tempfile::Builder::new().prefix("step-").tempdir_in(&base))
        .map_err(|e| {
            BuildError::msg(format!(
                "creating a directory under {}: {e}",
                base.display()
            ))
        })
}
