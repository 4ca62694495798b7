//! The commands: each takes a [`Ctx`] (client, output, input) and returns the exit
//! status, so tests can drive them against a fake daemon.

pub mod build;
pub mod containers;
pub mod cp;
pub mod images;
pub mod networks;
pub mod registry;
pub mod run;
pub mod system;
pub mod volumes;

use berth_api_types::Filters;

use crate::cli::{
    BuilderCmd, Cmd, ContainerCmd, ImageCmd, InspectArgs, NetworkCmd, SystemCmd, VolumeCmd,
};
use crate::{CliError, Ctx};

/// Runs one parsed command; errors are printed here.
pub fn dispatch(ctx: &mut Ctx<'_>, cmd: Cmd) -> i32 {
    let result = match cmd {
        Cmd::Run(a) | Cmd::Container(ContainerCmd::Run(a)) => return run::run(ctx, &a),
        Cmd::Build(a) => return build::build(ctx, &a),
        Cmd::Image(ImageCmd::Build(a)) | Cmd::Builder(BuilderCmd::Build(a)) => {
            return build::build(ctx, &a)
        }
        Cmd::Builder(BuilderCmd::Prune(a)) => build::prune(ctx, &a),
        Cmd::Create(a) | Cmd::Container(ContainerCmd::Create(a)) => return run::create(ctx, &a),
        Cmd::Start(a) | Cmd::Container(ContainerCmd::Start(a)) => run::start(ctx, &a),
        Cmd::Attach(a) | Cmd::Container(ContainerCmd::Attach(a)) => run::attach(ctx, &a),
        Cmd::Exec(a) | Cmd::Container(ContainerCmd::Exec(a)) => run::exec(ctx, &a),
        Cmd::Stop(a) | Cmd::Container(ContainerCmd::Stop(a)) => containers::stop(ctx, &a),
        Cmd::Restart(a) | Cmd::Container(ContainerCmd::Restart(a)) => containers::restart(ctx, &a),
        Cmd::Kill(a) | Cmd::Container(ContainerCmd::Kill(a)) => containers::kill(ctx, &a),
        Cmd::Rm(a) | Cmd::Container(ContainerCmd::Rm(a)) => containers::rm(ctx, &a),
        Cmd::Ps(a) | Cmd::Container(ContainerCmd::Ls(a)) => containers::ps(ctx, &a),
        Cmd::Logs(a) | Cmd::Container(ContainerCmd::Logs(a)) => containers::logs(ctx, &a),
        Cmd::Inspect(a) => containers::inspect(ctx, &a),
        Cmd::Container(ContainerCmd::Inspect(a)) => containers::inspect(
            ctx,
            &InspectArgs {
                format: a.format,
                size: a.size,
                kind: Some("container".into()),
                names: a.names,
            },
        ),
        Cmd::Image(ImageCmd::Inspect(a)) => containers::inspect(
            ctx,
            &InspectArgs {
                format: a.format,
                size: false,
                kind: Some("image".into()),
                names: a.names,
            },
        ),
        Cmd::Top(a) | Cmd::Container(ContainerCmd::Top(a)) => containers::top(ctx, &a),
        Cmd::Diff(a) | Cmd::Container(ContainerCmd::Diff(a)) => containers::diff(ctx, &a),
        Cmd::Cp(a) | Cmd::Container(ContainerCmd::Cp(a)) => cp::cp(ctx, &a),
        Cmd::Commit(a) | Cmd::Container(ContainerCmd::Commit(a)) => containers::commit(ctx, &a),
        Cmd::Export(a) | Cmd::Container(ContainerCmd::Export(a)) => containers::export(ctx, &a),
        Cmd::Wait(a) | Cmd::Container(ContainerCmd::Wait(a)) => containers::wait(ctx, &a),
        Cmd::Pause(a) | Cmd::Container(ContainerCmd::Pause(a)) => containers::pause(ctx, &a, true),
        Cmd::Unpause(a) | Cmd::Container(ContainerCmd::Unpause(a)) => {
            containers::pause(ctx, &a, false)
        }
        Cmd::Rename(a) | Cmd::Container(ContainerCmd::Rename(a)) => containers::rename(ctx, &a),
        Cmd::Update(a) | Cmd::Container(ContainerCmd::Update(a)) => containers::update(ctx, &a),
        Cmd::Port(a) | Cmd::Container(ContainerCmd::Port(a)) => containers::port(ctx, &a),
        Cmd::Login(a) => registry::login(ctx, &a),
        Cmd::Logout(a) => registry::logout(ctx, &a),
        Cmd::Search(a) => registry::search(ctx, &a),
        Cmd::Container(ContainerCmd::Prune(a)) => containers::prune(ctx, &a),
        Cmd::Stats(a) | Cmd::Container(ContainerCmd::Stats(a)) => system::stats(ctx, &a),
        Cmd::Events(a) | Cmd::System(SystemCmd::Events(a)) => system::events(ctx, &a),
        Cmd::Info(a) | Cmd::System(SystemCmd::Info(a)) => system::info(ctx, &a),
        Cmd::Version(a) => system::version(ctx, &a),
        Cmd::System(SystemCmd::Df(a)) => system::df(ctx, &a),
        Cmd::Images(a) | Cmd::Image(ImageCmd::Ls(a)) => images::images(ctx, &a),
        Cmd::Tag(a) | Cmd::Image(ImageCmd::Tag(a)) => images::tag(ctx, &a),
        Cmd::Rmi(a) | Cmd::Image(ImageCmd::Rm(a)) => images::rmi(ctx, &a),
        Cmd::Import(a) | Cmd::Image(ImageCmd::Import(a)) => images::import(ctx, &a),
        Cmd::Load(a) | Cmd::Image(ImageCmd::Load(a)) => images::load(ctx, &a),
        Cmd::Pull(a) | Cmd::Image(ImageCmd::Pull(a)) => images::pull(ctx, &a),
        Cmd::Push(a) | Cmd::Image(ImageCmd::Push(a)) => images::push(ctx, &a),
        Cmd::Save(a) | Cmd::Image(ImageCmd::Save(a)) => images::save(ctx, &a),
        Cmd::History(a) | Cmd::Image(ImageCmd::History(a)) => images::history(ctx, &a),
        Cmd::Image(ImageCmd::Prune(a)) => images::prune(ctx, &a),
        Cmd::Volume(VolumeCmd::Create(a)) => volumes::create(ctx, &a),
        Cmd::Volume(VolumeCmd::Ls(a)) => volumes::ls(ctx, &a),
        Cmd::Volume(VolumeCmd::Inspect(a)) => volumes::inspect(ctx, &a),
        Cmd::Volume(VolumeCmd::Rm(a)) => volumes::rm(ctx, &a),
        Cmd::Volume(VolumeCmd::Prune(a)) => volumes::prune(ctx, &a),
        Cmd::Network(NetworkCmd::Create(a)) => networks::create(ctx, &a),
        Cmd::Network(NetworkCmd::Ls(a)) => networks::ls(ctx, &a),
        Cmd::Network(NetworkCmd::Inspect(a)) => networks::inspect(ctx, &a),
        Cmd::Network(NetworkCmd::Rm(a)) => networks::rm(ctx, &a),
        Cmd::Network(NetworkCmd::Prune(a)) => networks::prune(ctx, &a),
        Cmd::Network(NetworkCmd::Connect(a)) => networks::connect(ctx, &a),
        Cmd::Network(NetworkCmd::Disconnect(a)) => networks::disconnect(ctx, &a),
    };
    match result {
        Ok(code) => code,
        Err(CliError::Status(code)) => code,
        Err(e) => {
            let _ = writeln!(ctx.err, "{e}");
            1
        }
    }
}

/// `--filter key=value` flags as the API's filters.
pub fn parse_filters(flags: &[String]) -> Result<Filters, CliError> {
    let mut f = Filters::new();
    for flag in flags {
        let (k, v) = flag
            .split_once('=')
            .ok_or_else(|| CliError::msg("bad format of filter (expected name=value)"))?;
        f.add(&k.trim().to_ascii_lowercase(), v.to_string());
    }
    Ok(f)
}

/// Runs `op` on every target as docker's multi-target commands do: each success
/// prints the target, each failure goes to stderr, and any failure makes the status 1.
pub fn for_each(
    ctx: &mut Ctx<'_>,
    targets: &[String],
    print: bool,
    mut op: impl FnMut(&berth_client::Client, &str) -> Result<(), CliError>,
) -> Result<i32, CliError> {
    let mut failed = false;
    for t in targets {
        match op(ctx.client, t) {
            Ok(()) => {
                if print {
                    writeln!(ctx.out, "{t}").map_err(CliError::io("writing output"))?;
                }
            }
            Err(e) => {
                failed = true;
                let _ = writeln!(ctx.err, "{e}");
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// Asks `warning [y/N]` on stdout, as docker's prune commands do; only `y` (any case)
/// goes on, and no answer (no stdin, end of input) is a no.
pub(crate) fn confirm(ctx: &mut crate::Ctx<'_>, warning: &str) -> Result<bool, crate::CliError> {
    use std::io::BufRead;
    write!(ctx.out, "{warning} [y/N] ").map_err(crate::CliError::io("writing output"))?;
    let _ = ctx.out.flush();
    let mut answer = String::new();
    if let Some(stdin) = ctx.stdin.as_mut() {
        let _ = std::io::BufReader::new(stdin).read_line(&mut answer);
    }
    Ok(answer.trim().eq_ignore_ascii_case("y"))
}

/// A prune's report as the docker CLI prints it: `HEADING:` and the lines (when there
/// are any), a blank line, then `Total reclaimed space: …`.
pub(crate) fn prune_report(heading: &str, lines: &[String], reclaimed: u64) -> String {
    let mut text = String::new();
    if !lines.is_empty() {
        text.push_str(heading);
        text.push_str(":\n");
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        text.push('\n');
    }
    text.push_str(&format!(
        "Total reclaimed space: {}\n",
        crate::units::human_size(reclaimed as f64)
    ));
    text
}
