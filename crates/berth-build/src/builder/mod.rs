//! The builder: a Dockerfile and a context in, an image out, one image per step as
//! dockerd's classic builder makes them, speaking its stream (`Step 1/4 : …`,
//! ` ---> Using cache`, ` ---> Running in …`, ` ---> <id>`).
//!
//! Beyond the classic builder: stages the target does not need are skipped, and
//! stages that do not depend on each other build at the same time (their output is
//! held back and written in stage order, so the stream reads as a sequential
//! build's); `RUN --mount=type=cache` directories live under the cache root between
//! builds; with a `SOURCE_DATE_EPOCH` build argument every time in the image (created,
//! history, file mtimes newer than it) is that time, so the same inputs give the same
//! digest on any daemon.

pub mod backend;
pub mod cache;
mod copy;
mod describe;
mod steps;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};

pub use backend::{Backend, BindMount, Commit, ContainerSpec, Image, RunLimits, Sink};

use crate::dockerfile::Dockerfile;
use crate::instruction::Instruction;
use crate::scope::{BuildArgs, GlobalScope, Platform, PROXY_ARGS};
use crate::shell::Lexer;

/// A failed build: the message the stream's `errorDetail` carries, and RUN's exit
/// code when a command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BuildError {
    pub message: String,
    pub code: i64,
}

impl BuildError {
    pub fn msg(message: impl Into<String>) -> BuildError {
        BuildError {
            message: message.into(),
            code: 0,
        }
    }
}

/// One build's inputs (the context already on disk).
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// The context's root directory.
    pub context: PathBuf,
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// Its name in the context, for messages.
    pub dockerfile_name: String,
    /// Names to tag the result with (already validated).
    pub tags: Vec<String>,
    /// `--build-arg`s (None: named without a value, so unset).
    pub build_args: BTreeMap<String, Option<String>>,
    /// `--label`s for the final image.
    pub labels: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    /// Remove intermediate containers after each successful step.
    pub rm: bool,
    /// Remove them after a failed one too.
    pub force_rm: bool,
    pub quiet: bool,
    pub limits: RunLimits,
    /// Images whose history may serve as cache.
    pub cache_from: Vec<String>,
    pub platform: Option<String>,
}

/// Build arguments every Dockerfile may use without declaring them, which are
/// therefore never reported as unused.
const BUILTIN_ARGS: [&str; 1] = ["SOURCE_DATE_EPOCH"];

/// Docker's short id.
pub(crate) fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// Runs a build; the stream goes to `sink`, the final image's id comes back.
pub fn build(
    backend: &dyn Backend,
    req: &BuildRequest,
    sink: &mut dyn Sink,
) -> Result<String, BuildError> {
    let df = Dockerfile::parse_named(&req.dockerfile, &req.dockerfile_name)
        .map_err(|e| BuildError::msg(e.to_string()))?;
    let mut args = BuildArgs {
        build: Platform::host(),
        target: Platform::host(),
        ..BuildArgs::default()
    };
    for (k, v) in &req.build_args {
        if let Some(v) = v {
            args.values.insert(k.clone(), v.clone());
        }
    }
    let epoch = match args.values.get("SOURCE_DATE_EPOCH") {
        None => None,
        Some(v) => Some(v.trim().parse::<i64>().map_err(|_| {
            BuildError::msg(format!(
                "invalid SOURCE_DATE_EPOCH {v:?}: not a number of seconds"
            ))
        })?),
    };
    let lexer = Lexer::new(df.directives.escape);
    let mut global = GlobalScope::new(lexer, args.clone());
    let mut global_steps = Vec::new();
    let mut declared: BTreeSet<String> = BTreeSet::new();
    for step in &df.global_args {
        let ins = global
            .declare(step)
            .map_err(|e| BuildError::msg(e.to_string()))?;
        if let Instruction::Arg(d) = &ins {
            declared.extend(d.iter().map(|a| a.name.clone()));
        }
        global_steps.push(step.clone());
    }
    let target = match &req.target {
        Some(t) => df
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(t.to_ascii_lowercase().as_str()))
            .ok_or_else(|| {
                BuildError::msg(format!("failed to reach build target {t} in Dockerfile"))
            })?,
        None => df.stages.len() - 1,
    };
    let needed = needed_stages(&df, &global, target);
    // Step numbers run over the global ARGs and the stages that are built.
    let mut label_step = None;
    if !req.labels.is_empty() {
        let text = format!(
            "LABEL {}",
            req.labels
                .iter()
                .map(|(k, v)| format!("{}={}", quote_word(k), quote_word(v)))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let parsed = Dockerfile::parse(&format!("FROM scratch\n{text}\n"))
            .map_err(|e| BuildError::msg(format!("--label: {e}")))?;
        label_step = Some(parsed.stages[0].steps[1].clone());
    }
    let mut total = global_steps.len();
    let mut offsets = HashMap::new();
    for &i in &needed {
        offsets.insert(i, total);
        total += df.stages[i].steps.len();
        if i == target && label_step.is_some() {
            total += 1;
        }
    }
    let mut out = Out {
        sink,
        quiet: req.quiet,
        held: Vec::new(),
    };
    for (n, step) in global_steps.iter().enumerate() {
        out.text(&format!("Step {}/{total} : {}", n + 1, step.original))?;
        out.text("\n")?;
    }
    let shared = Shared {
        df: &df,
        global: &global,
        req,
        backend,
        epoch,
        total,
        results: Mutex::new(HashMap::new()),
        done: Condvar::new(),
        cancelled: AtomicBool::new(false),
        declared: Mutex::new(declared),
        cache_sources: req
            .cache_from
            .iter()
            .filter_map(|n| backend.image(n))
            .collect(),
    };
    let (tx, rx) = mpsc::channel::<(usize, Event)>();
    let result = std::thread::scope(|scope| {
        for &i in &needed {
            let tx = tx.clone();
            let shared = &shared;
            let offset = offsets[&i];
            let extra = if i == target {
                label_step.clone()
            } else {
                None
            };
            scope.spawn(move || {
                let mut emit = |e: Event| {
                    let _ = tx.send((i, e));
                };
                let r = steps::run_stage(shared, i, offset, extra, &mut emit);
                let failed = r.is_err();
                shared.finish(i, r.clone());
                emit(Event::Done(Box::new(r)));
                if failed {
                    shared.cancelled.store(true, Ordering::SeqCst);
                }
            });
        }
        drop(tx);
        relay(&rx, &needed, &mut out, &shared)
    });
    let final_id = match result {
        Ok(id) => id,
        Err(e) => {
            // A quiet build that fails shows what it held back.
            out.flush_held();
            return Err(e);
        }
    };
    let unused: Vec<String> = {
        let declared = shared.declared.lock().unwrap_or_else(|e| e.into_inner());
        req.build_args
            .keys()
            .filter(|k| {
                !declared.contains(*k)
                    && !PROXY_ARGS.contains(&k.as_str())
                    && !BUILTIN_ARGS.contains(&k.as_str())
            })
            .cloned()
            .collect()
    };
    if !unused.is_empty() {
        out.text(&format!(
            "[Warning] One or more build-args [{}] were not consumed\n",
            unused.join(" ")
        ))?;
    }
    out.text(&format!("Successfully built {}\n", short(&final_id)))?;
    for t in &req.tags {
        backend.tag(&final_id, t)?;
        out.text(&format!("Successfully tagged {}\n", display_tag(t)))?;
    }
    if req.quiet && !out.sink.stream(&format!("{final_id}\n")) {
        return Err(gone());
    }
    Ok(final_id)
}

/// `name` as `Successfully tagged` shows it: with `:latest` when it has no tag.
fn display_tag(t: &str) -> String {
    let last = t.rsplit('/').next().unwrap_or(t);
    if last.contains(':') || t.contains('@') {
        t.to_string()
    } else {
        format!("{t}:latest")
    }
}

/// A LABEL word, quoted when it needs to be.
fn quote_word(s: &str) -> String {
    if !s.is_empty() && !s.contains([' ', '\t', '"', '\'', '\\', '$', '=']) {
        s.to_string()
    } else {
        format!(
            "\"{}\"",
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('$', "\\$")
        )
    }
}

fn gone() -> BuildError {
    BuildError::msg("the client went away: build cancelled")
}

/// The stages the target needs (itself, the stages its FROM and `--from`s name, and
/// theirs), in file order.
fn needed_stages(df: &Dockerfile, global: &GlobalScope, target: usize) -> Vec<usize> {
    let mut need = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if !need.insert(i) {
            continue;
        }
        for dep in stage_deps(df, global, i) {
            todo.push(dep);
        }
    }
    need.into_iter().collect()
}

/// The earlier stages stage `i` reads from.
pub(crate) fn stage_deps(df: &Dockerfile, global: &GlobalScope, i: usize) -> Vec<usize> {
    let stage = &df.stages[i];
    let mut deps = Vec::new();
    let from = Lexer::new(df.directives.escape)
        .process_word(&stage.base, global.vars())
        .unwrap_or_else(|_| stage.base.clone());
    if let Some(d) = df.stage_ref(&from, i) {
        deps.push(d);
    }
    for step in &stage.steps {
        let words: Vec<&str> = match &step.instruction {
            Instruction::Copy(c) => c.from.iter().map(String::as_str).collect(),
            Instruction::Run(r) => r.mounts.iter().filter_map(|m| m.from.as_deref()).collect(),
            _ => Vec::new(),
        };
        for w in words {
            if let Some(d) = df.stage_ref(w, i) {
                deps.push(d);
            }
        }
    }
    deps
}

/// What one stage's thread reports.
pub(crate) enum Event {
    Text(String),
    Message(serde_json::Value),
    Done(Box<Result<StageResult, BuildError>>),
}

/// A finished stage: its image (None for an empty `FROM scratch`).
#[derive(Debug, Clone)]
pub(crate) struct StageResult {
    pub image: Option<Image>,
}

/// State the stage threads share.
pub(crate) struct Shared<'a> {
    pub df: &'a Dockerfile,
    pub global: &'a GlobalScope,
    pub req: &'a BuildRequest,
    pub backend: &'a dyn Backend,
    pub epoch: Option<i64>,
    pub total: usize,
    results: Mutex<HashMap<usize, Result<StageResult, BuildError>>>,
    done: Condvar,
    pub cancelled: AtomicBool,
    /// Every ARG name declared anywhere (for the unused build-args warning).
    pub declared: Mutex<BTreeSet<String>>,
    /// `--cache-from` images found locally.
    pub cache_sources: Vec<Image>,
}

impl Shared<'_> {
    fn finish(&self, i: usize, r: Result<StageResult, BuildError>) {
        let mut g = self.results.lock().unwrap_or_else(|e| e.into_inner());
        g.insert(i, r);
        self.done.notify_all();
    }

    /// Waits for stage `i` (an earlier one this stage depends on).
    pub fn wait_for(&self, i: usize) -> Result<StageResult, BuildError> {
        let mut g = self.results.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = g.get(&i) {
                return r
                    .clone()
                    .map_err(|_| BuildError::msg(format!("stage {i} failed")));
            }
            if self.cancelled.load(Ordering::SeqCst) {
                return Err(BuildError::msg("build cancelled"));
            }
            g = self
                .done
                .wait_timeout(g, std::time::Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The sink, with `-q` applied: only the final id gets through, or, when the build
/// fails, everything held back.
struct Out<'s> {
    sink: &'s mut dyn Sink,
    quiet: bool,
    held: Vec<String>,
}

impl Out<'_> {
    fn text(&mut self, s: &str) -> Result<(), BuildError> {
        if self.quiet {
            self.held.push(s.to_string());
            Ok(())
        } else if self.sink.stream(s) {
            Ok(())
        } else {
            Err(gone())
        }
    }

    fn flush_held(&mut self) {
        for t in std::mem::take(&mut self.held) {
            if !self.sink.stream(&t) {
                return;
            }
        }
    }
}

/// Writes the stages' events in stage order: the first unfinished stage's live, the
/// later ones' held until it is done. Returns the target's image id.
fn relay(
    rx: &mpsc::Receiver<(usize, Event)>,
    order: &[usize],
    out: &mut Out<'_>,
    shared: &Shared<'_>,
) -> Result<String, BuildError> {
    let mut held: HashMap<usize, Vec<Event>> = HashMap::new();
    let mut pos = 0;
    let mut last: Option<StageResult> = None;
    let mut failure: Option<BuildError> = None;
    let deliver = |e: Event,
                   pos: &mut usize,
                   last: &mut Option<StageResult>,
                   failure: &mut Option<BuildError>,
                   out: &mut Out<'_>| {
        match e {
            Event::Text(t) => {
                if failure.is_none() && out.text(&t).is_err() {
                    shared.cancelled.store(true, Ordering::SeqCst);
                    *failure = Some(gone());
                }
            }
            Event::Message(m) => {
                if failure.is_none() && !out.quiet && !out.sink.message(m) {
                    shared.cancelled.store(true, Ordering::SeqCst);
                    *failure = Some(gone());
                }
            }
            Event::Done(r) => {
                *pos += 1;
                match *r {
                    Ok(s) => {
                        // Every finished stage's image, as dockerd reports it.
                        if let Some(img) = &s.image {
                            if failure.is_none()
                                && !out.quiet
                                && !out.sink.aux(serde_json::json!({ "ID": img.id }))
                            {
                                *failure = Some(gone());
                            }
                        }
                        *last = Some(s)
                    }
                    Err(e) => {
                        if failure.is_none() {
                            *failure = Some(e);
                        }
                    }
                }
            }
        }
    };
    for (stage, e) in rx.iter() {
        if pos < order.len() && stage == order[pos] {
            deliver(e, &mut pos, &mut last, &mut failure, out);
            // Later stages' held events, now their turn, in order.
            while pos < order.len() {
                let Some(evs) = held.remove(&order[pos]) else {
                    break;
                };
                let before = pos;
                for e in evs {
                    deliver(e, &mut pos, &mut last, &mut failure, out);
                }
                if pos == before {
                    break;
                }
            }
        } else {
            held.entry(stage).or_default().push(e);
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    match last.and_then(|s| s.image) {
        Some(img) => Ok(img.id),
        None => Err(BuildError::msg(
            "No image was generated. Is your Dockerfile empty?",
        )),
    }
}
