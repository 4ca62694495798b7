//! Commands that attach to a container's streams: run, create, start (`-a`), attach,
//! exec. They follow docker's sequence — attach (hijacked) before start, the wait
//! registered before start — and its exit codes: 125 when the CLI or daemon failed,
//! 126 when the command cannot be invoked, 127 when it was not found, else the
//! container's.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use berth_api_types::container::ContainerWaitResponse;
use berth_api_types::exec::{ExecConfig, ExecStartConfig};
use berth_api_types::image::JsonMessage;
use berth_client::{
    copy_raw, demux_to, AttachOptions, Client, ClientError, HijackedStream, JsonStream, WaitHandle,
};
use berth_types::detach::{parse_detach_keys, DetachMatcher};

use super::for_each;
use crate::cli::{AttachArgs, CreateArgs, ExecArgs, RunArgs, StartArgs};
use crate::create_opts::{build_create, env_list, CreatePlan};
use crate::term::{self, RawMode};
use crate::{CliError, Ctx};

/// A failure of run/create: the message (printed with `berth:` and docker's hint)
/// and the exit status.
struct Fail {
    code: i32,
    msg: String,
}

impl Fail {
    fn new(code: i32, msg: impl ToString) -> Fail {
        Fail {
            code,
            msg: msg.to_string(),
        }
    }
}

impl From<ClientError> for Fail {
    fn from(e: ClientError) -> Fail {
        Fail::new(125, e)
    }
}

/// docker's status for a failed start: 127 not found, 126 not invokable, else 125.
pub fn start_error_code(msg: &str) -> i32 {
    if msg.contains("executable file not found")
        || msg.contains("no such file or directory")
        || msg.contains("system cannot find the file specified")
    {
        127
    } else if msg.contains("permission denied")
        || msg.contains("is a directory")
        || msg.contains("cannot invoke")
    {
        126
    } else {
        125
    }
}

fn report(ctx: &mut Ctx<'_>, cmd: &str, f: Fail) -> i32 {
    if f.code == 1 {
        let _ = writeln!(ctx.err, "{}", f.msg);
        return 1;
    }
    let msg = f.msg.trim_end_matches('.');
    let _ = writeln!(ctx.err, "berth: {msg}.\nSee 'berth {cmd} --help'.");
    f.code
}

/// The reference as docker names it when it is missing: `busybox` → `busybox:latest`.
fn familiar_with_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || image.contains('@') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// Prints progress messages (pull, load, import) as docker does on a non-terminal;
/// returns the stream's error message, if any.
pub fn show_progress(stream: JsonStream<JsonMessage>, out: &mut dyn Write) -> Result<(), CliError> {
    for msg in stream {
        let msg = msg?;
        if let Some(e) = &msg.error_detail {
            if !e.message.is_empty() {
                return Err(CliError::msg(e.message.clone()));
            }
        }
        if !msg.error.is_empty() {
            return Err(CliError::msg(msg.error));
        }
        let line = if !msg.stream.is_empty() {
            msg.stream.clone()
        } else if msg.status.is_empty() {
            continue;
        } else if msg.id.is_empty() {
            format!("{}\n", msg.status)
        } else {
            format!("{}: {}\n", msg.id, msg.status)
        };
        out.write_all(line.as_bytes())
            .map_err(CliError::io("writing output"))?;
        let _ = out.flush();
    }
    Ok(())
}

/// Creates the container, pulling its image first when the daemon does not have it
/// (as docker's `run` and `create` do). Returns the container id.
fn create_container(
    ctx: &mut Ctx<'_>,
    plan: &CreatePlan,
    cidfile: Option<&str>,
) -> Result<String, Fail> {
    if let Some(path) = cidfile {
        if std::path::Path::new(path).exists() {
            return Err(Fail::new(
                125,
                format!("Container ID file found, make sure the other container isn't running or delete {path}"),
            ));
        }
    }
    let image = &plan.request.config.image;
    let created = match ctx
        .client
        .create_container(&plan.name, &plan.platform, &plan.request)
    {
        Err(e) if e.is_not_found() && e.to_string().to_ascii_lowercase().contains("image") => {
            let reference = familiar_with_tag(image);
            let _ = writeln!(ctx.err, "Unable to find image '{reference}' locally");
            let (repo, tag, auth) = match berth_types::Reference::parse(&reference) {
                Ok(r) => {
                    let (repo, tag) = super::images::pull_params(&r);
                    (
                        repo,
                        tag,
                        crate::credentials::registry_auth_header(r.domain()),
                    )
                }
                Err(_) => (reference.clone(), String::new(), None),
            };
            let stream = ctx
                .client
                .pull_image(&repo, &tag, &plan.platform, auth.as_deref())?;
            // As docker: the pull's progress goes to stderr, with bars on a terminal.
            let how = if ctx.signals && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                crate::progress::Display::Bars
            } else {
                crate::progress::Display::Lines
            };
            crate::progress::show(stream, ctx.err, how).map_err(|e| Fail::new(125, e))?;
            ctx.client
                .create_container(&plan.name, &plan.platform, &plan.request)?
        }
        other => other?,
    };
    for w in &created.warnings {
        let _ = writeln!(ctx.err, "WARNING: {w}");
    }
    if let Some(path) = cidfile {
        std::fs::write(path, &created.id).map_err(|e| {
            Fail::new(
                125,
                format!("failed to write the container ID to the file: {path}: {e}"),
            )
        })?;
    }
    Ok(created.id)
}

pub fn create(ctx: &mut Ctx<'_>, a: &CreateArgs) -> i32 {
    let console = console_size(ctx, a.flags.tty);
    let plan = match build_create(&a.flags, false, console) {
        Ok(p) => p,
        Err(e) => return report(ctx, "create", Fail::new(125, e)),
    };
    match create_container(ctx, &plan, a.flags.cidfile.as_deref()) {
        Ok(id) => {
            let _ = writeln!(ctx.out, "{id}");
            0
        }
        Err(f) => report(ctx, "create", f),
    }
}

fn console_size(ctx: &Ctx<'_>, tty: bool) -> Option<[u64; 2]> {
    if tty && ctx.terminal {
        term::size().map(|(r, c)| [r as u64, c as u64])
    } else {
        None
    }
}

fn wait_in_background(handle: WaitHandle) -> Receiver<Result<ContainerWaitResponse, ClientError>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(handle.result());
    });
    rx
}

/// Sends the terminal's size now and on every SIGWINCH.
fn follow_size(ctx: &Ctx<'_>, resize: impl Fn(&Client, u16, u16) + Send + 'static) {
    if !ctx.terminal {
        return;
    }
    let client = Client::new(ctx.client.host().clone());
    if let Some((h, w)) = term::size() {
        resize(&client, h, w);
    }
    if ctx.signals {
        let _ = term::on_resize(move || {
            if let Some((h, w)) = term::size() {
                resize(&client, h, w);
            }
        });
    }
}

/// Forwards our signals to the container (`--sig-proxy`).
fn proxy_signals(ctx: &Ctx<'_>, id: &str) {
    if !ctx.signals {
        return;
    }
    let client = Client::new(ctx.client.host().clone());
    let id = id.to_string();
    let _ = term::proxy_signals(move |sig| {
        let _ = client.kill_container(&id, sig);
    });
}

/// Copies our stdin to the stream (half-closing it at EOF) on a thread, and the
/// stream to our stdout/stderr here, until the daemon closes it. Returns whether the
/// user typed the detach keys (the daemon then ends the stream with the container
/// still running).
fn pump(
    ctx: &mut Ctx<'_>,
    stream: HijackedStream,
    tty: bool,
    send_stdin: bool,
    detach_keys: &str,
) -> io::Result<bool> {
    let (reader, mut writer) = stream.split();
    let detached = Arc::new(AtomicBool::new(false));
    if send_stdin {
        if let Some(mut input) = ctx.stdin.take() {
            // Keys the daemon would refuse never detach: no sequence to watch for.
            let mut matcher =
                DetachMatcher::new(parse_detach_keys(detach_keys).unwrap_or_default());
            let mut forwarded = Vec::new();
            let flag = Arc::clone(&detached);
            thread::spawn(move || {
                let mut buf = [0u8; 8192];
                loop {
                    let n = match input.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    // Mark the detach before the keys reach the daemon, which ends
                    // the stream as soon as it sees them.
                    forwarded.clear();
                    if matcher.feed(&buf[..n], &mut forwarded) {
                        flag.store(true, Ordering::SeqCst);
                    }
                    if writer.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
                let _ = writer.close_write();
            });
        }
    }
    if tty {
        copy_raw(reader, ctx.out)?;
    } else {
        demux_to(reader, ctx.out, ctx.err)?;
    }
    Ok(detached.load(Ordering::SeqCst))
}

/// The exit status once the output stream has ended: 0 when the user detached (the
/// container runs on), else the container's, from the wait registered before start.
fn exit_status(
    detached: bool,
    rx: Receiver<Result<ContainerWaitResponse, ClientError>>,
) -> Result<i32, Fail> {
    if detached {
        return Ok(0);
    }
    let Ok(result) = rx.recv() else {
        return Ok(0);
    };
    let resp = result?;
    if let Some(e) = resp.error.filter(|e| !e.message.is_empty()) {
        return Err(Fail::new(125, e.message));
    }
    Ok(resp.status_code as i32)
}

pub fn run(ctx: &mut Ctx<'_>, a: &RunArgs) -> i32 {
    match run_inner(ctx, a) {
        Ok(code) => code,
        Err(f) => report(ctx, "run", f),
    }
}

fn run_inner(ctx: &mut Ctx<'_>, a: &RunArgs) -> Result<i32, Fail> {
    let f = &a.flags;
    let plan =
        build_create(f, a.detach, console_size(ctx, f.tty)).map_err(|e| Fail::new(125, e))?;
    let config = plan.request.config.clone();
    // docker refuses -it without a terminal to put in raw mode.
    if config.tty && config.attach_stdin && !ctx.terminal {
        return Err(Fail::new(1, "the input device is not a TTY"));
    }
    let auto_remove = f.rm;
    let id = create_container(ctx, &plan, f.cidfile.as_deref())?;
    let detach_keys = f.detach_keys.clone().unwrap_or_default();

    if a.detach {
        ctx.client
            .start_container(&id, &detach_keys)
            .map_err(|e| Fail::new(start_error_code(&e.to_string()), e))?;
        let _ = writeln!(ctx.out, "{id}");
        return Ok(0);
    }

    let attached = config.attach_stdin || config.attach_stdout || config.attach_stderr;
    let stream = if attached {
        Some(ctx.client.attach(
            &id,
            &AttachOptions {
                stream: true,
                stdin: config.attach_stdin,
                stdout: config.attach_stdout,
                stderr: config.attach_stderr,
                detach_keys: detach_keys.clone(),
                ..AttachOptions::default()
            },
        )?)
    } else {
        None
    };
    let condition = if auto_remove { "removed" } else { "next-exit" };
    let waiter = wait_in_background(ctx.client.wait_container(&id, condition)?);

    let _raw = if config.tty && config.attach_stdin && ctx.terminal {
        RawMode::enable()
            .map_err(|e| Fail::new(125, format!("setting the terminal to raw mode: {e}")))?
    } else {
        None
    };
    if let Err(e) = ctx.client.start_container(&id, &detach_keys) {
        let code = start_error_code(&e.to_string());
        // With --rm the daemon removes the container; wait for that as docker does.
        if auto_remove {
            let _ = waiter.recv_timeout(Duration::from_secs(5));
        }
        return Err(Fail::new(code, e));
    }
    if config.tty {
        let cid = id.clone();
        follow_size(ctx, move |c, h, w| {
            let _ = c.resize_container(&cid, h, w);
        });
    } else if f.sig_proxy.unwrap_or(true) {
        proxy_signals(ctx, &id);
    }
    let mut detached = false;
    if let Some(stream) = stream {
        detached = pump(ctx, stream, config.tty, config.attach_stdin, &detach_keys)
            .map_err(|e| Fail::new(125, format!("reading the output of container {id}: {e}")))?;
    }
    exit_status(detached, waiter)
}

pub fn start(ctx: &mut Ctx<'_>, a: &StartArgs) -> Result<i32, CliError> {
    let keys = a.detach_keys.clone().unwrap_or_default();
    if !(a.attach || a.interactive) {
        let mut failed = Vec::new();
        let code = for_each(ctx, &a.containers, true, |c, id| {
            c.start_container(id, &keys).map_err(|e| {
                failed.push(id.to_string());
                CliError::from(e)
            })
        })?;
        if !failed.is_empty() {
            let _ = writeln!(
                ctx.err,
                "Error: failed to start containers: {}",
                failed.join(", ")
            );
        }
        return Ok(code);
    }
    if a.containers.len() > 1 {
        return Err(CliError::msg(
            "you cannot start and attach multiple containers at once",
        ));
    }
    let id = &a.containers[0];
    let info = ctx.client.inspect_container(id, false)?;
    let config = info.config.unwrap_or_default();
    let auto_remove = info.host_config.map(|h| h.auto_remove).unwrap_or(false);
    let stdin = a.interactive && config.open_stdin;
    let stream = ctx.client.attach(
        id,
        &AttachOptions {
            stream: true,
            stdin,
            stdout: true,
            stderr: true,
            detach_keys: keys.clone(),
            ..AttachOptions::default()
        },
    )?;
    let condition = if auto_remove { "removed" } else { "next-exit" };
    let waiter = wait_in_background(ctx.client.wait_container(id, condition)?);
    let _raw = if config.tty && stdin && ctx.terminal {
        RawMode::enable().map_err(CliError::io("setting the terminal to raw mode"))?
    } else {
        None
    };
    if let Err(e) = ctx.client.start_container(id, &keys) {
        let _ = writeln!(ctx.err, "{e}");
        return Ok(start_error_code(&e.to_string()));
    }
    if config.tty {
        let cid = id.clone();
        follow_size(ctx, move |c, h, w| {
            let _ = c.resize_container(&cid, h, w);
        });
    } else {
        proxy_signals(ctx, id);
    }
    let detached = pump(ctx, stream, config.tty, stdin, &keys).map_err(CliError::io(format!(
        "reading the output of container {id}"
    )))?;
    exit_status(detached, waiter).map_err(|f| CliError::Msg(f.msg))
}

pub fn attach(ctx: &mut Ctx<'_>, a: &AttachArgs) -> Result<i32, CliError> {
    let info = ctx.client.inspect_container(&a.container, false)?;
    let state = info.state.unwrap_or_default();
    if !state.running {
        return Err(CliError::msg(
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if state.paused {
        return Err(CliError::msg(
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    let config = info.config.unwrap_or_default();
    let stdin = !a.no_stdin && config.open_stdin;
    let id = if info.id.is_empty() {
        a.container.clone()
    } else {
        info.id.clone()
    };
    let keys = a.detach_keys.clone().unwrap_or_default();
    let waiter = wait_in_background(ctx.client.wait_container(&id, "not-running")?);
    let stream = ctx.client.attach(
        &id,
        &AttachOptions {
            stream: true,
            stdin,
            stdout: true,
            stderr: true,
            detach_keys: keys.clone(),
            ..AttachOptions::default()
        },
    )?;
    let _raw = if config.tty && stdin && ctx.terminal {
        RawMode::enable().map_err(CliError::io("setting the terminal to raw mode"))?
    } else {
        None
    };
    if config.tty {
        let cid = id.clone();
        follow_size(ctx, move |c, h, w| {
            let _ = c.resize_container(&cid, h, w);
        });
    } else if a.sig_proxy.unwrap_or(true) {
        proxy_signals(ctx, &id);
    }
    let detached = pump(ctx, stream, config.tty, stdin, &keys).map_err(CliError::io(format!(
        "reading the output of container {id}"
    )))?;
    exit_status(detached, waiter).map_err(|f| CliError::Msg(f.msg))
}

pub fn exec(ctx: &mut Ctx<'_>, a: &ExecArgs) -> Result<i32, CliError> {
    let (container, cmd) = a
        .args
        .split_first()
        .ok_or_else(|| CliError::msg("\"exec\" requires at least 2 arguments."))?;
    if a.tty && a.interactive && !a.detach && !ctx.terminal {
        return Err(CliError::msg("the input device is not a TTY"));
    }
    let console = console_size(ctx, a.tty);
    let cfg = ExecConfig {
        user: a.user.clone().unwrap_or_default(),
        privileged: a.privileged,
        tty: a.tty,
        console_size: console,
        attach_stdin: a.interactive && !a.detach,
        attach_stdout: !a.detach,
        attach_stderr: !a.detach,
        detach: a.detach,
        detach_keys: a.detach_keys.clone().unwrap_or_default(),
        env: env_list(&a.env_file, &a.env)?,
        working_dir: a.workdir.clone().unwrap_or_default(),
        cmd: cmd.to_vec(),
    };
    let exec_id = ctx.client.exec_create(container, &cfg)?.id;
    let start = ExecStartConfig {
        detach: a.detach,
        tty: a.tty,
        console_size: console,
    };
    if a.detach {
        ctx.client.exec_start_detached(&exec_id, &start)?;
        return Ok(0);
    }
    let _raw = if a.tty && a.interactive && ctx.terminal {
        RawMode::enable().map_err(CliError::io("setting the terminal to raw mode"))?
    } else {
        None
    };
    let stream = match ctx.client.exec_start_attached(&exec_id, &start) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(ctx.err, "{e}");
            return Ok(start_error_code(&e.to_string()).max(126));
        }
    };
    if a.tty {
        let eid = exec_id.clone();
        follow_size(ctx, move |c, h, w| {
            let _ = c.exec_resize(&eid, h, w);
        });
    }
    let keys = a.detach_keys.clone().unwrap_or_default();
    let detached = pump(ctx, stream, a.tty, a.interactive, &keys).map_err(CliError::io(
        format!("reading the output of exec {exec_id}"),
    ))?;
    if detached {
        return Ok(0);
    }
    let info = ctx.client.exec_inspect(&exec_id)?;
    Ok(info.exit_code.unwrap_or(0) as i32)
}
