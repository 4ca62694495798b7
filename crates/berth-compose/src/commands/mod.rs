//! The `berth compose` commands: each reads the project, then works on the daemon
//! through berth-client (and, for what the docker CLI already does — exec, attach,
//! build, pull, push —, through berth-cli's commands, so they behave the same).
//! `config` and `version` need no daemon and never connect to one.

mod config;
mod images;
mod lifecycle;
mod list;
mod run;
mod up;

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use berth_client::Client;
use clap::{CommandFactory, FromArgMatches};

use crate::cli::{ComposeCli, ComposeCmd};
use crate::model::Project;
use crate::up::ComposeError;
use crate::{load, LoadOptions};

/// Runs `berth compose ARGS`; returns the exit status.
pub fn main(args: Vec<String>) -> i32 {
    run(args, &mut io::stdout(), &mut io::stderr(), |host, err| {
        berth_cli::autostart::connect(host, err).map_err(|e| e.to_string())
    })
}

/// [`main`] with its seams open. `connect` makes the daemon client from `-H` (and
/// may report on `err`, as starting a daemon does); only the commands that work on a
/// daemon call it — `config` and `version` read files only, as docker compose's do.
/// Those two print to `out`; every command's closing error goes to `err`. The
/// daemon commands stream to the process's own standard output, which they may
/// hand to a container.
pub fn run(
    args: Vec<String>,
    out: &mut dyn Write,
    err: &mut dyn Write,
    connect: impl FnOnce(Option<&str>, &mut dyn Write) -> Result<Client, String>,
) -> i32 {
    let parsed = ComposeCli::command()
        .try_get_matches_from(std::iter::once("compose".to_string()).chain(args))
        .and_then(|m| ComposeCli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let result = match &cli.command {
        ComposeCmd::Version(v) => version(v.short, out),
        ComposeCmd::Config(a) => config::config(&cli, a, out),
        _ => match connect(cli.host.as_deref(), err) {
            Ok(client) => dispatch(&Env {
                client: &client,
                cli: &cli,
                colour: match cli.ansi.as_str() {
                    "never" => false,
                    "always" => true,
                    _ => io::stdout().is_terminal(),
                },
            }),
            Err(e) => Err(ComposeError::msg(e)),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            1
        }
    }
}

fn version(short: bool, out: &mut dyn Write) -> Result<i32, ComposeError> {
    let text = if short {
        format!("{}\n", crate::labels::COMPOSE_VERSION)
    } else {
        format!(
            "berth compose version {} (compose {})\n",
            env!("CARGO_PKG_VERSION"),
            crate::labels::COMPOSE_VERSION
        )
    };
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| ComposeError::msg(format!("writing to standard output: {e}")))?;
    Ok(0)
}

/// Reads the project the global flags name.
pub(crate) fn read_project(cli: &ComposeCli) -> Result<Project, ComposeError> {
    let cwd = std::env::current_dir()
        .map_err(|e| ComposeError::msg(format!("the current directory: {e}")))?;
    let mut stdin = None;
    if cli.file.iter().any(|f| f == "-") {
        let mut text = String::new();
        io::Read::read_to_string(&mut io::stdin(), &mut text).map_err(|e| {
            ComposeError::msg(format!("reading the compose file from standard input: {e}"))
        })?;
        stdin = Some(text);
    }
    let opts = LoadOptions {
        files: cli.file.iter().map(PathBuf::from).collect(),
        stdin,
        project_name: cli.project_name.clone(),
        project_directory: cli.project_directory.as_ref().map(PathBuf::from),
        env_files: cli.env_file.iter().map(PathBuf::from).collect(),
        profiles: cli.profile.clone(),
        environment: std::env::vars().collect::<BTreeMap<_, _>>(),
        cwd,
    };
    let project = load(&opts).map_err(|e| ComposeError::msg(e.to_string()))?;
    // Keys ignored on Linux: said once per key, on stderr, as docker compose warns.
    let mut err = io::stderr().lock();
    for w in &project.warnings {
        let _ = writeln!(err, "WARN[0000] {w}");
    }
    Ok(project)
}

/// What every command that works on the daemon works with.
pub(crate) struct Env<'a> {
    pub client: &'a Client,
    pub cli: &'a ComposeCli,
    /// Whether to colour log prefixes.
    pub colour: bool,
}

impl Env<'_> {
    /// Reads the project the global flags name.
    pub fn project(&self) -> Result<Project, ComposeError> {
        read_project(self.cli)
    }

    /// The project, or — for commands that only need its name (`down -p NAME` with
    /// no compose file at hand) — an empty project of that name.
    pub fn project_or_name(&self) -> Result<Project, ComposeError> {
        match self.project() {
            Ok(p) => Ok(p),
            Err(e) => match &self.cli.project_name {
                Some(name) if self.cli.file.is_empty() => Ok(Project {
                    name: name.clone(),
                    ..Default::default()
                }),
                _ => Err(e),
            },
        }
    }

    /// Progress lines go to stderr.
    pub fn progress(&self) -> crate::state::Progress {
        crate::state::Progress::new(Box::new(io::stderr()))
    }

    /// Runs a docker CLI command line (`["exec", "-i", ID, "sh"]`) with our
    /// terminal.
    pub fn docker(&self, args: &[String]) -> i32 {
        let stdout = io::stdout();
        let mut out = stdout.lock();
        let mut err = io::stderr();
        let mut ctx = berth_cli::Ctx {
            client: self.client,
            out: &mut out,
            err: &mut err,
            stdin: Some(Box::new(io::stdin())),
            terminal: io::stdin().is_terminal(),
            out_terminal: io::stdout().is_terminal(),
            signals: true,
        };
        let code = berth_cli::run_in(&mut ctx, args);
        let _ = ctx.out.flush();
        code
    }
}

fn dispatch(env: &Env<'_>) -> Result<i32, ComposeError> {
    match &env.cli.command {
        ComposeCmd::Up(a) => up::up(env, a),
        ComposeCmd::Create(a) => up::create(env, a),
        ComposeCmd::Down(a) => up::down(env, a),
        ComposeCmd::Ps(a) => list::ps(env, a),
        ComposeCmd::Logs(a) => list::logs(env, a),
        ComposeCmd::Top(a) => list::top(env, a),
        ComposeCmd::Images(a) => list::images(env, a),
        ComposeCmd::Port(a) => list::port(env, a),
        ComposeCmd::Ls(a) => list::ls(env, a),
        ComposeCmd::Exec(a) => run::exec(env, a),
        ComposeCmd::Run(a) => run::run(env, a),
        ComposeCmd::Build(a) => images::build(env, a),
        ComposeCmd::Pull(a) => images::pull(env, a),
        ComposeCmd::Push(a) => images::push(env, a),
        ComposeCmd::Start(a) => lifecycle::start(env, a),
        ComposeCmd::Stop(a) => lifecycle::stop(env, a),
        ComposeCmd::Restart(a) => lifecycle::restart(env, a),
        ComposeCmd::Rm(a) => lifecycle::rm(env, a),
        ComposeCmd::Kill(a) => lifecycle::kill(env, a),
        ComposeCmd::Pause(a) => lifecycle::pause(env, a, true),
        ComposeCmd::Unpause(a) => lifecycle::pause(env, a, false),
        ComposeCmd::Version(_) | ComposeCmd::Config(_) => {
            unreachable!("`run` answers version and config without a daemon")
        }
    }
}

/// The project's containers of the named services (all when none are named), in
/// service then number order; `oneoff` includes `run` containers.
pub(crate) fn service_containers(
    env: &Env<'_>,
    project: &Project,
    services: &[String],
    oneoff: bool,
) -> Result<Vec<crate::state::Existing>, ComposeError> {
    for s in services {
        if project.service(s).is_none() && !project.services.is_empty() {
            return Err(ComposeError::msg(format!("no such service: {s}")));
        }
    }
    Ok(crate::state::containers(env.client, &project.name, oneoff)?
        .into_iter()
        .filter(|c| services.is_empty() || services.contains(&c.service))
        .collect())
}

/// Runs `f` on each item in parallel threads; the first error wins.
pub(crate) fn parallel<T: Sync>(
    items: &[T],
    f: impl Fn(&T) -> Result<(), ComposeError> + Sync,
) -> Result<(), ComposeError> {
    let errors: Vec<ComposeError> = std::thread::scope(|scope| {
        let handles: Vec<_> = items.iter().map(|i| scope.spawn(|| f(i))).collect();
        handles
            .into_iter()
            .filter_map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(ComposeError::msg("a worker thread panicked")))
                    .err()
            })
            .collect()
    });
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
